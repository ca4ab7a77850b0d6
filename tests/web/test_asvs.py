"""OWASP ASVS 4.0.3 level 1, the requirements issue 15 touches: one test per requirement,
named after it (docs/web.md, "Security", lists what is covered and what is not)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from almen import records
from almen.cli import app as cli
from almen.config import get_settings
from almen.errors import ParameterError
from almen.warehouse import Warehouse
from almen.web import app as web_app
from almen.web import auth, create_app
from tests.web.conftest import PASSWORD, Site, build_site


@pytest.fixture
def fresh(site: Site, tmp_path: Path) -> Site:
    """A private copy of the web site (these tests lock users out and change them)."""
    data = tmp_path / "data"
    shutil.copytree(site.data, data)
    return build_site(data)


def _login(app: object, user: str, password: str = PASSWORD) -> TestClient:
    http = TestClient(app)  # type: ignore[arg-type]
    r = http.post("/api/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    http.headers["X-CSRF-Token"] = r.json()["csrf"]
    return http


def _events(site: Site, user: str) -> list[str]:
    return [str(e["event"]) for e in auth.auth_events(records.connect(site.data), user)]


def test_asvs_2_2_1_failed_logins_lock_the_account_and_are_logged(fresh: Site) -> None:
    """Before: 200 wrong passwords, then the right one, logged in, and nothing was
    logged. Now the 5th failure locks the user name for 15 minutes (429 with
    Retry-After, even with the right password), and every attempt is in the log."""
    http = TestClient(fresh.app)  # type: ignore[arg-type]
    before = len(_events(fresh, "nat"))
    for _ in range(auth.LOCK_AFTER_USER):
        r = http.post("/api/login", json={"username": "nat", "password": "wrong wrong wrong"})
        assert r.status_code == 401
    right = http.post("/api/login", json={"username": "nat", "password": PASSWORD})
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    got = _events(fresh, "nat")[before:]
    assert got.count("login_failed") == auth.LOCK_AFTER_USER
    assert "lockout" in got and got[-1] == "login_refused_locked"
    # the lock ends LOCK_MINUTES after the last failure
    eng = records.connect(fresh.data)
    later = dt.datetime.now() + dt.timedelta(minutes=auth.LOCK_MINUTES + 1)
    assert auth.locked_for(eng, "nat", "testclient", now=later) == 0


def test_asvs_2_2_1_one_address_trying_many_user_names_is_locked(fresh: Site) -> None:
    """Password spraying: failures from one address over many user names lock the
    address, also for a real user with the right password."""
    http = TestClient(fresh.app)  # type: ignore[arg-type]
    for i in range(auth.LOCK_AFTER_ADDRESS):
        http.post("/api/login", json={"username": f"guess{i}", "password": "wrong wrong wrong"})
    r = http.post("/api/login", json={"username": "reg", "password": PASSWORD})
    assert r.status_code == 429


def test_asvs_3_3_1_logout_ends_the_session_on_the_server(fresh: Site) -> None:
    """Before: a cookie saved before logout worked for 8 hours. Now logout ends the
    server-side session, and the saved cookie gets 401."""
    http = _login(fresh.app, "klinik")
    saved = dict(http.cookies)
    assert http.get("/api/me").status_code == 200
    assert http.post("/api/logout").status_code == 200
    replay = TestClient(fresh.app, cookies=saved)  # type: ignore[arg-type]
    assert replay.get("/api/me").status_code == 401
    assert "logout" in _events(fresh, "klinik")


def test_asvs_3_3_2_sessions_end_after_idle_and_absolute_timeouts(fresh: Site) -> None:
    eng = records.connect(fresh.data)
    idle, absolute = dt.timedelta(minutes=30), dt.timedelta(hours=8)
    token = auth.start_session(eng, "klinik")
    now = dt.datetime.now()
    assert auth.session_user(eng, token, idle=idle, absolute=absolute, now=now) == "klinik"
    assert auth.session_user(eng, token, idle=idle, absolute=absolute,
                             now=now + dt.timedelta(minutes=31)) is None  # fmt: skip
    # and once ended it stays ended
    assert auth.session_user(eng, token, idle=idle, absolute=absolute, now=now) is None
    busy = auth.start_session(eng, "klinik")
    t = now
    for _ in range(17):  # a request every 29 minutes: never idle, but 8 h is the most
        t += dt.timedelta(minutes=29)
        got = auth.session_user(eng, busy, idle=idle, absolute=absolute, now=t)
    assert got is None


def test_asvs_3_3_3_a_password_change_ends_every_session(
    fresh: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_app, "USER_TTL", 0.0)
    http = _login(fresh.app, "klinik")
    env = {"ALMEN_DATA": str(fresh.data)}
    new = "a new and long passphrase 7"
    got = CliRunner().invoke(cli, ["user", "passwd", "klinik", "--password", new], env=env)
    assert got.exit_code == 0, got.output
    assert http.get("/api/me").status_code == 401
    _login(fresh.app, "klinik", new)


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "Password1",
        "qwertyuiop12",
        "short 1",
        "aaaaaaaaaaaaaa",
        "klinik-is-my-password",
    ],
)
def test_asvs_2_1_1_and_2_1_7_weak_passwords_are_refused(fresh: Site, password: str) -> None:
    """At least 12 characters, not on the 30,000 common passwords, not the user name;
    the message never repeats the password."""
    eng = records.connect(fresh.data)
    with pytest.raises(ParameterError) as err:
        auth.set_password(eng, "klinik", password)
    assert repr(password) not in str(err.value)


def test_asvs_2_1_user_admin_from_the_cli(fresh: Site) -> None:
    """`almen user add` checks the scope against the warehouse and the password rules;
    list, disable, enable and remove work; a disabled user cannot log in."""
    env = {"ALMEN_DATA": str(fresh.data)}
    run = lambda *a: CliRunner().invoke(cli, list(a), env=env)  # noqa: E731
    assert run("user", "add", "x", "--role", "clinic", "--scope", "999999", "--password",
               "a long enough passphrase").exit_code == 2  # fmt: skip
    bad_region = run("user", "add", "x", "--role", "region", "--scope", "Region Sydjylland",
                     "--password", "a long enough passphrase")  # fmt: skip
    assert bad_region.exit_code == 2 and "no region" in bad_region.output
    assert run("user", "add", "x", "--role", "clinic", "--scope", fresh.clinic, "--password",
               "password").exit_code == 2  # fmt: skip
    ok = run("user", "add", "ny", "--role", "clinic", "--scope", fresh.clinic, "--password",
             "a long enough passphrase")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    listed = run("user", "list", "--format", "csv")
    assert "ny,clinic," + fresh.clinic in listed.output and "hash" not in listed.output
    assert run("user", "disable", "ny").exit_code == 0
    http = TestClient(fresh.app)  # type: ignore[arg-type]
    body = {"username": "ny", "password": "a long enough passphrase"}
    assert http.post("/api/login", json=body).status_code == 401
    assert run("user", "enable", "ny").exit_code == 0
    assert http.post("/api/login", json=body).status_code == 200
    assert run("user", "remove", "ny").exit_code == 0
    assert run("user", "remove", "ny").exit_code == 2


def test_asvs_2_1_the_national_admin_page_and_api(fresh: Site) -> None:
    nat = _login(fresh.app, "nat")
    page = nat.get("/admin/users")
    assert page.status_code == 200 and "klinik" in page.text
    assert _login(fresh.app, "klinik").get("/admin/users").status_code == 403
    bad = nat.post("/api/users", json={"username": "y", "password": "a long enough passphrase",
                                       "role": "clinic", "scope": "999999"})  # fmt: skip
    assert bad.status_code == 422 and "999999" in bad.json()["detail"]
    assert nat.post("/api/users/reg/disable").status_code == 200
    assert (
        TestClient(fresh.app)
        .post(  # type: ignore[arg-type]
            "/api/login", json={"username": "reg", "password": PASSWORD}
        )
        .status_code
        == 401
    )
    users = {u["username"]: u for u in nat.get("/api/users").json()["users"]}
    assert users["reg"]["disabled"] and "password_hash" not in users["reg"]


def test_asvs_13_1_request_bodies_over_the_limit_get_413(fresh: Site) -> None:
    """Before: an anonymous 200 MB POST /api/login was read into memory and echoed in
    the 422. Now a body over ALMEN_MAX_REQUEST_BYTES gets 413 before it is read, by its
    length or, when streamed without one, as it arrives; uploads too."""
    http = TestClient(fresh.app)  # type: ignore[arg-type]
    big = b"x" * 2_000_000
    r = http.post("/api/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 200

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"y" * 50_000

    r = http.post("/api/login", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    nat = _login(fresh.app, "nat")
    up = nat.post("/fees", data={"csrf": nat.headers["X-CSRF-Token"]},
                  files={"upload": ("big.toml", big, "text/plain")})  # fmt: skip
    assert up.status_code == 413


def test_asvs_7_4_1_validation_errors_never_echo_the_input(fresh: Site) -> None:
    http = TestClient(fresh.app)  # type: ignore[arg-type]
    secret = "my-secret-" + "z" * 300
    r = http.post("/api/login", json={"username": "nat", "password": secret})
    assert r.status_code == 422
    assert "my-secret" not in r.text and "zzzz" not in r.text
    assert r.json()["detail"][0]["loc"] == ["body", "password"]


def test_asvs_9_1_settings_for_tls_secure_cookies_hsts_and_trusted_hosts(fresh: Site) -> None:
    settings = get_settings(os.environ, data=fresh.data, https=True,
                            trusted_hosts="almen.example.dk")  # fmt: skip
    app = create_app(settings)
    http = TestClient(app, base_url="https://almen.example.dk")
    r = http.post("/api/login", json={"username": "nat", "password": PASSWORD})
    assert r.status_code == 200
    assert "secure" in r.headers["set-cookie"].lower()
    assert r.headers["strict-transport-security"].startswith("max-age=")
    evil = TestClient(app, base_url="https://evil.example.com")
    assert evil.get("/api/health").status_code == 400


def test_asvs_data_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    """Before: records.sqlite (password hashes, care plans, inbox text) and
    warehouse.duckdb were world-readable. Now both are 0600, also when made by a
    process with a permissive umask."""
    old = os.umask(0o022)
    try:
        records.connect(tmp_path)
        with Warehouse.connect(tmp_path) as wh:
            wh.create_empty("reject")
    finally:
        os.umask(old)
    for name in ("records.sqlite", "warehouse.duckdb"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))


def test_asvs_health_reports_what_failed_and_records_that_point_nowhere(fresh: Site) -> None:
    """Before: /api/health said ok while settlement, § 96 and frame had failed to load
    (`serve --year 2019`), and users and care plans pointing to clinics and patients that
    no longer existed were served empty. Now health names each failed part and counts
    the records that point nowhere (status 'degraded'), and such a user gets 403."""
    app = create_app(get_settings(os.environ, data=fresh.data), year=2019, warm=True)
    with TestClient(app) as http:
        import time

        deadline = time.monotonic() + 120
        while not (h := http.get("/api/health").json())["warm"]["finished"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert h["status"] == "degraded" and {"settlement", "ceiling"} <= set(h["failed"])
    eng = records.connect(fresh.data)
    records.add_care_plan(eng, 12345, "plan for a patient who is gone")
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    with Session(eng) as s:  # the clinic of a user closes (gone from the warehouse)
        s.execute(update(records.WebUserRow).where(records.WebUserRow.username == "klinik")
                  .values(scope="000000"))  # fmt: skip
        s.commit()
    http = TestClient(fresh.app)  # type: ignore[arg-type]
    h = http.get("/api/health").json()
    assert h["status"] == "degraded"
    assert h["records_pointing_nowhere"] == {"region": 0, "cluster": 0, "clinic": 1,
                                             "patient": 1}  # fmt: skip
    gone = _login(fresh.app, "klinik")
    assert gone.get("/api/clinics/000000/settlement").status_code == 403


def test_asvs_8_3_audit_viewer_for_the_clinic_and_one_patient(fresh: Site) -> None:
    """A clinic user sees who viewed its patients' data and when, and can export one
    patient's views (what a patient may ask for); nobody else sees them."""
    klinik = _login(fresh.app, "klinik")
    assert klinik.get(f"/api/patients/{fresh.patient}").status_code == 200
    log = klinik.get(f"/api/clinics/{fresh.clinic}/audit").json()
    assert log["total"] >= 1
    first = log["items"][0]
    assert first["username"] == "klinik" and first["patient_id"] == str(fresh.patient)
    csv = klinik.get(f"/api/patients/{fresh.patient}/audit?format=csv")
    assert csv.status_code == 200 and "patient overview" in csv.text
    assert _login(fresh.app, "nat").get(f"/api/clinics/{fresh.clinic}/audit").status_code == 403
    assert klinik.get(f"/api/clinics/{fresh.other_clinic}/audit").status_code == 403
    assert klinik.get(f"/api/patients/{fresh.other_patient}/audit").status_code == 403


def test_openapi_declares_the_session_and_csrf_security_schemes(fresh: Site) -> None:
    doc = TestClient(fresh.app).get("/openapi.json").json()  # type: ignore[arg-type]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["session"]["in"] == "cookie" and schemes["csrf"]["in"] == "header"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path in ("/api/login", "/api/health"):
                assert op["security"] == []
            elif path.startswith("/api/patient/"):  # a patient portal's key, no cookie
                assert op["security"] == [{"portal": []}], path
                assert schemes["portal"]["scheme"] == "bearer"
            elif method in ("post", "put", "patch", "delete"):
                assert {"session": [], "csrf": []} in op["security"], path
            else:
                assert op["security"] == [{"session": []}], path


def test_asvs_inbox_requests_for_patients_no_longer_listed_are_not_served(fresh: Site) -> None:
    """A request whose patient has left the clinic's list (or the warehouse) stays in
    the records but is not shown or handled in the clinic's inbox."""
    from almen.access import Request as TriageRequest
    from almen.access.inbox import submit

    eng = records.connect(fresh.data)
    req = TriageRequest("medication", 50, "F", frozenset(), "fornyelse", None)
    kept = submit(eng, fresh.clinic, fresh.patient, req, actor="klinik")
    gone = submit(eng, fresh.clinic, fresh.other_patient, req, actor="klinik")
    klinik = _login(fresh.app, "klinik")
    ids = {int(i["id"]) for i in klinik.get(f"/api/clinics/{fresh.clinic}/inbox").json()["items"]}
    assert kept.id in ids and gone.id not in ids
    page = klinik.get(f"/clinic/{fresh.clinic}")
    assert page.status_code == 200


def test_asvs_2_1_the_admin_page_sets_a_password_and_removes_a_user(fresh: Site) -> None:
    """The national role's page does what the CLI does: a new password (the rules apply,
    the user's sessions end) and removal."""
    nat = _login(fresh.app, "nat")
    token = nat.headers["X-CSRF-Token"]
    reg = _login(fresh.app, "reg")
    weak = nat.post("/admin/users/reg/password", data={"csrf": token, "password": "password1234"})
    assert weak.status_code == 200 and "common passwords" in weak.text
    new = "another long passphrase 9"
    ok = nat.post("/admin/users/reg/password", data={"csrf": token, "password": new})
    assert ok.status_code == 200 and "password changed" in ok.text
    fresh.app.state.sessions.clear()  # type: ignore[attr-defined]  # no 5 s wait
    assert reg.get("/api/me").status_code == 401
    _login(fresh.app, "reg", new)
    assert nat.post("/admin/users/reg/remove", data={"csrf": token}).status_code == 200
    body = {"username": "reg", "password": new}
    assert TestClient(fresh.app).post("/api/login", json=body).status_code == 401  # type: ignore[arg-type]
    itself = nat.post("/admin/users/nat/remove", data={"csrf": token})
    assert "cannot disable or remove yourself" in itself.text


def test_asvs_8_3_the_clinic_audit_page(fresh: Site) -> None:
    klinik = _login(fresh.app, "klinik")
    klinik.get(f"/api/patients/{fresh.patient}")
    page = klinik.get(f"/clinic/{fresh.clinic}/audit")
    assert page.status_code == 200 and str(fresh.patient) in page.text
    assert f"/api/clinics/{fresh.clinic}/audit?format=csv" in page.text
    assert klinik.get(f"/clinic/{fresh.other_clinic}/audit").status_code == 403
    assert _login(fresh.app, "nat").get(f"/clinic/{fresh.clinic}/audit").status_code == 403
