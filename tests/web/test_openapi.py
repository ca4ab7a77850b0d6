"""Schemathesis against the OpenAPI spec (issue 7): no input makes the server fail (5xx),
signed in as a national user and as a clinic user (CSRF token included); and every
answer is what the spec declares (issue 15 item 8: a typed model for every operation,
``almen.web.models``, validated against the real answers with unknown fields refused).

The examples are the same on every run, so CI does not flicker; `ALMEN_FUZZ=1 pytest
tests/web/test_openapi.py` draws new ones (that is how a 500 on a request id beyond 64
bits was found)."""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel, ValidationError

from almen.web import models
from tests.web.conftest import PASSWORD, Site


def declared(app: object, method: str, path: str, status: int) -> type[BaseModel]:
    """The model the spec declares for this answer of the operation behind ``path``
    (its component is named after the class in ``almen.web.models``)."""
    doc = app.openapi()  # type: ignore[attr-defined]
    bare = path.split("?")[0]
    for template, ops in doc["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), bare) and method.lower() in ops:
            answer = ops[method.lower()]["responses"][str(status)]
            ref = answer["content"]["application/json"]["schema"]["$ref"]
            return getattr(models, ref.rsplit("/", 1)[1])  # type: ignore[no-any-return]
    raise LookupError(f"no operation for {method} {path}")


def conforms(app: object, method: str, path: str, response) -> str | None:  # type: ignore[no-untyped-def]
    """None if a JSON success answer validates against its declared model, else why."""
    if response.status_code not in (200, 201):
        return None
    kind = response.headers.get("content-type", "")
    kind = kind[0] if isinstance(kind, list) and kind else kind  # schemathesis: a list
    if not str(kind).startswith("application/json"):
        return None  # ?format=csv or parquet: a file
    try:
        declared(app, method, path, response.status_code).model_validate(response.json())
    except ValidationError as exc:
        return f"{method} {path}: {exc.errors()[:3]}"
    except (LookupError, AttributeError) as exc:  # not declared: a failure as well
        return f"{method} {path}: {exc}"
    return None


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
                if why := conforms(site.app, case.method, case.formatted_path, response):
                    failures.append(why)
                    raise AssertionError(why)

        with contextlib.suppress(AssertionError):
            check()
    assert not failures, failures
    assert seen[200] > 50 and seen[403] > 0 and seen[422] > 0, seen  # signed in, and tried


def test_every_operation_declares_typed_answers(site: Site) -> None:
    """Issue 15 item 8: each operation of the spec has a success answer that refers to a
    named model (no bare object) and the error answer ``{"detail": ...}``."""
    doc = TestClient(site.app).get("/openapi.json").json()  # type: ignore[arg-type]
    ops = [(p, m, o) for p, ms in doc["paths"].items() for m, o in ms.items()]
    assert len(ops) >= 35
    for path, method, op in ops:
        ok = [r for code, r in op["responses"].items() if code in ("200", "201")]
        assert len(ok) == 1, (method, path)
        ref = ok[0]["content"]["application/json"]["schema"].get("$ref", "")
        assert ref.startswith("#/components/schemas/"), (method, path)
        assert "4XX" in op["responses"], (method, path)
    schemas = doc["components"]["schemas"]
    row = schemas["CapacityNeedRow"]["properties"]
    assert row["relative_capacity"]["anyOf"][0]["type"] == "number"  # typed column by column


def test_the_real_answer_of_every_operation_matches_its_model(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """One call of every operation as a role that may make it; each answer validates
    against the declared model with no field left undeclared."""
    nat, kl = as_user("nat"), as_user("klinik")
    pn, pid = site.clinic, site.patient
    gets = [(nat, "/api/me"), (nat, "/api/users"), (nat, "/api/health"), (nat, "/api/clinics"),
            (kl, f"/api/clinics/{pn}/settlement"), (kl, f"/api/clinics/{pn}/dashboard"),
            (nat, f"/api/clinics/{pn}/dashboard"), (kl, f"/api/clinics/{pn}/returned"),
            (kl, f"/api/clinics/{pn}/ceiling"), (kl, f"/api/clinics/{pn}/s96-statement"),
            (kl, f"/api/clinics/{pn}/overview"), (nat, "/api/frame"),
            (kl, f"/api/clinics/{pn}/findings"), (nat, f"/api/clinics/{pn}/findings"),
            (nat, "/api/findings"), (nat, f"/api/indicators?cluster={site.cluster}"),
            (kl, f"/api/patients/{pid}"), (kl, f"/api/clinics/{pn}/audit"),
            (kl, f"/api/patients/{pid}/audit"), (kl, f"/api/patients/{pid}/careplans"),
            (nat, "/api/capacity/need"), (nat, "/api/capacity/workforce"),
            (nat, "/api/capacity/distribute"), (nat, "/api/capacity/limits"),
            (kl, f"/api/clinics/{pn}/inbox"), (nat, f"/api/ooh/plan?region={site.region}")]  # fmt: skip
    bad = []
    seen = set()
    for u, path in gets:
        r = u.http.get(path)
        assert r.status_code == 200, (path, r.status_code)
        bad.append(conforms(site.app, "get", path, r))
        seen.add(declared(site.app, "get", path, 200).__name__)
    h = {"X-CSRF-Token": kl.csrf}
    posts = [
        (nat, "/api/fees/compare", {"content": 'name = "t"\n[change_percent]\n"0120" = 10.0\n'}),
        (kl, f"/api/patients/{pid}/careplans", {"json": {"title": "Årskontrol"}}),
        (kl, f"/api/clinics/{pn}/inbox", {"json": {"patient_id": str(pid), "reason": "rash"}}),
    ]  # fmt: skip
    for u, path, kw in posts:
        r = u.http.post(path, headers={"X-CSRF-Token": u.csrf}, **kw)
        assert r.status_code in (200, 201), (path, r.text)
        bad.append(conforms(site.app, "post", path, r))
    rid = r.json()["id"]
    for action, body in (("reply", {"message": "Ring gerne i morgen."}), ("complete", None)):
        r = kl.http.post(f"/api/inbox/{rid}/{action}", headers=h, json=body)
        assert r.status_code == 200, r.text
        bad.append(conforms(site.app, "post", f"/api/inbox/{rid}/{action}", r))
    assert [b for b in bad if b] == []
    assert len(seen) >= 24
