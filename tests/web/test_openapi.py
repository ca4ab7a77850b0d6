"""Schemathesis against the OpenAPI spec (issue 7): no input makes the server fail (5xx),
signed in as a national user and as a clinic user (CSRF token included).

The examples are the same on every run, so CI does not flicker; `ALMEN_FUZZ=1 pytest
tests/web/test_openapi.py` draws new ones (that is how a 500 on a request id beyond 64
bits was found)."""

from __future__ import annotations

import contextlib
import os
from collections import Counter

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from tests.web.conftest import PASSWORD, Site


def _auth(site: Site, user: str) -> tuple[dict[str, str], dict[str, str]]:
    c = TestClient(site.app)  # type: ignore[arg-type]
    r = c.post("/api/login", json={"username": user, "password": PASSWORD})
    return dict(c.cookies), {"X-CSRF-Token": r.json()["csrf"]}


def test_no_server_error(site: Site) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", site.app)
    auth = [_auth(site, u) for u in ("nat", "klinik")]
    # logging in and out are tested on their own (tests/web/test_asvs.py): fuzzed, they
    # would end the sessions used here and lock the test address out
    operations = [op for op in (r.ok() for r in schema.get_all_operations())
                  if op.path not in ("/api/login", "/api/logout")]  # fmt: skip
    assert len(operations) >= 20
    failures: list[str] = []
    seen: Counter[int] = Counter()
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=os.environ.get("ALMEN_FUZZ") is None,
                  database=None)  # fmt: skip
        def check(case) -> None:  # type: ignore[no-untyped-def]
            for cookies, headers in auth:
                response = case.call(cookies=cookies, headers=headers)
                seen[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")
                    raise AssertionError(failures[-1])

        with contextlib.suppress(AssertionError):
            check()
    assert not failures, failures
    assert seen[200] > 50 and seen[403] > 0 and seen[422] > 0, seen  # signed in, and tried
