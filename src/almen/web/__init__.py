"""The web app: dashboards for nation, region, cluster and clinic, and a JSON API
(issue 7). `almen serve` runs it; `almen demo` builds demo data and users first."""

from __future__ import annotations

from almen.web.app import create_app

__all__ = ["create_app"]
