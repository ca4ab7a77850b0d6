"""Access: triage of patient requests, the clinic's inbox, access simulation and
out-of-hours planning (seed 003 "Tilgængelighed til klinikken", "Prioritering af den
praktiserende læges tid"; seed 002 §3 and §9.2). Methods in docs/access.md.
"""

from __future__ import annotations

from almen.access.triage import (
    Decision,
    Request,
    TriageRules,
    default_rules,
    load_rules,
    triage,
)

__all__ = ["Decision", "Request", "TriageRules", "default_rules", "load_rules", "triage"]
