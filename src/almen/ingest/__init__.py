"""Ingest: real extracts into the warehouse, every row accepted or rejected with its reason.

Stages: ``open_extract`` (read and map the header; a malformed file is an ``InputError``
and nothing is written) → ``validate_*`` (row by row → ``Validated(accepted, rejects)``,
with ``rows_read == accepted + rejected``) → ``write_validated`` (one warehouse
transaction: the table, the reject rows and the ingest log).
"""

from __future__ import annotations

from almen.ingest.claims import validate_claims
from almen.ingest.patient_list import validate_patient_list
from almen.ingest.population import validate_population
from almen.ingest.validated import Reject, Validated, write_validated

__all__ = [
    "Reject",
    "Validated",
    "validate_claims",
    "validate_patient_list",
    "validate_population",
    "write_validated",
]
