"""The clinic page's forms (server-rendered; the browser tests drive the same forms):
the triage inbox and the § 96 warning."""

from __future__ import annotations

import datetime as dt
import os

import polars as pl
from fastapi.testclient import TestClient

from almen import records
from almen.access import Request, triage
from almen.access.inbox import queue
from almen.access.inputs import patient_facts
from almen.config import get_settings
from almen.i18n import code
from almen.warehouse import Warehouse
from almen.web import create_app
from tests.web.conftest import PASSWORD, Site


def _newest(site: Site) -> object:
    items = queue(records.connect(site.data), site.clinic, status=("new", "assigned", "done"))
    return max(items, key=lambda i: i.id)


def test_clinic_page_triages_a_request_with_the_patients_facts_from_the_records(
    site: Site, as_user
) -> None:  # type: ignore[no-untyped-def]
    """Seed 003 "Prioritering af den praktiserende læges tid": staff take a request at
    the desk; age, sex and flags come from the records, the page names the rule, and
    the request can be taken and marked done."""
    u = as_user("klinik")
    form = {"patient_id": str(site.patient), "reason": "fever", "csrf": u.csrf}
    r = u.http.post(f"/clinic/{site.clinic}/inbox", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    item = _newest(site)
    with Warehouse.connect(site.data, read_only=True) as wh:
        age, sex, flags = patient_facts(wh, site.patient, dt.date.today())
    want = triage(Request("fever", age, sex, frozenset(flags)))
    assert (item.patient_id, item.rule_id, item.severity) == (
        site.patient,
        want.rule_id,
        want.severity,
    )
    page = u.http.get(f"/clinic/{site.clinic}").text
    rule = code("da", "triage_rule", want.rule_id)  # the rule by its Danish name
    assert rule != want.rule_id and f"regel {rule}" in page and f'data-id="{item.id}"' in page
    assert u.http.get(f"/clinic/{site.clinic}").text.count('id="flash"') == 0  # shown once

    for action, status in (("assign", "assigned"), ("complete", "done")):
        r = u.http.post(f"/clinic/{site.clinic}/inbox/{item.id}/{action}",
                        data={"csrf": u.csrf}, follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
        assert _newest(site).status == status
    assert _newest(site).assigned_to == "klinik"
    # done: no longer open, so neither listed nor changeable
    assert f'data-id="{item.id}"' not in u.http.get(f"/clinic/{site.clinic}").text
    again = u.http.post(f"/clinic/{site.clinic}/inbox/{item.id}/complete", data={"csrf": u.csrf})
    assert again.status_code == 404


def test_housebound_is_set_by_staff_and_decides_a_home_visit(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """The housebound flag is not in the records: the form's box sets it, and the
    housebound rule sends the doctor on a home visit (seed 002 §3)."""
    u = as_user("klinik")
    form = {"patient_id": str(site.patient), "reason": "other", "housebound": "1",
            "csrf": u.csrf}  # fmt: skip
    assert u.http.post(f"/clinic/{site.clinic}/inbox", data=form).status_code == 200
    item = _newest(site)
    assert (item.rule_id, item.channel) == ("housebound", "home_visit")


def test_inbox_form_refuses_other_patients_bad_reasons_and_missing_csrf(
    site: Site, as_user
) -> None:  # type: ignore[no-untyped-def]
    u = as_user("klinik")
    before = _newest(site).id if queue(records.connect(site.data), site.clinic,
                                       status=("new", "assigned", "done")) else 0  # fmt: skip
    url = f"/clinic/{site.clinic}/inbox"
    other = {"patient_id": str(site.other_patient), "reason": "fever", "csrf": u.csrf}
    assert "ikke tilmeldt klinikken" in u.http.post(url, data=other).text
    bad = {"patient_id": str(site.patient), "reason": "no_such_reason", "csrf": u.csrf}
    assert "kunne ikke visiteres" in u.http.post(url, data=bad).text
    no_csrf = {"patient_id": str(site.patient), "reason": "fever"}
    assert u.http.post(url, data=no_csrf).status_code == 403
    assert u.http.post(f"/clinic/{site.other_clinic}/inbox", data=other).status_code == 403
    nat = as_user("nat")
    nat_form = {"patient_id": str(site.patient), "reason": "fever", "csrf": nat.csrf}
    assert nat.http.post(url, data=nat_form).status_code == 403
    after = queue(records.connect(site.data), site.clinic, status=("new", "assigned", "done"))
    assert max((i.id for i in after), default=0) == before  # nothing was added


def test_api_inbox_takes_age_sex_and_flags_from_the_records_when_left_out(
    site: Site, as_user
) -> None:  # type: ignore[no-untyped-def]
    u = as_user("klinik")
    r = u.http.post(f"/api/clinics/{site.clinic}/inbox",
                    json={"patient_id": site.patient, "reason": "medication"},
                    headers={"X-CSRF-Token": u.csrf})  # fmt: skip
    assert r.status_code == 201, r.text
    with Warehouse.connect(site.data, read_only=True) as wh:
        age, sex, flags = patient_facts(wh, site.patient, dt.date.today())
    assert r.json()["rule_id"] == triage(Request("medication", age, sex, frozenset(flags))).rule_id


def test_patient_facts_flags_special_efforts_from_conditions(tiny_denmark) -> None:  # type: ignore[no-untyped-def]
    """special_effort: a condition in SPECIAL_EFFORT_GROUPS (seed 002 §2); chronic: any
    condition; none for a patient without conditions."""
    from almen import reference
    from almen.access.inputs import SPECIAL_EFFORT_GROUPS

    special = (
        reference.load_condition_codes()
        .filter(pl.col("condition_group").is_in(SPECIAL_EFFORT_GROUPS))["icpc2_code"]
        .to_list()
    )
    as_of = dt.date(2025, 12, 31)
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        cond = wh.read_table("condition").filter(lambda t: t.onset_date <= as_of).to_polars()
        p = wh.read_table("patient").select("patient_id").to_polars()
        sick = cond.filter(pl.col("code").is_in(special))["patient_id"][0]
        other_only = cond.filter(~pl.col("patient_id").is_in(
            cond.filter(pl.col("code").is_in(special))["patient_id"]))["patient_id"][0]  # fmt: skip
        healthy = p.filter(~pl.col("patient_id").is_in(cond["patient_id"]))["patient_id"][0]
        assert patient_facts(wh, sick, as_of)[2] == {"chronic", "special_effort"}
        assert patient_facts(wh, other_only, as_of)[2] == {"chronic"}
        assert patient_facts(wh, healthy, as_of)[2] == set()


def test_clinic_page_warns_when_the_clinic_is_over_the_s96_limit(site: Site) -> None:
    """The page shows the § 96 reason as a warning when the report flags the clinic
    (the page once read a column that does not exist and never warned). The report is
    the engine's, with the clinic flagged, since the tiny Denmark may have none over."""
    app = create_app(get_settings(os.environ, data=site.data))
    services = app.state.services  # type: ignore[attr-defined]
    report = services.ceiling()
    for over in (True, False):
        flagged = report.with_columns(over=(pl.col("provider_number") == site.clinic) & over)
        services.generation().cache[("ceiling", services.year, 12)] = flagged
        http = TestClient(app)  # type: ignore[arg-type]
        http.post("/api/login", json={"username": "klinik", "password": PASSWORD})
        page = http.get(f"/clinic/{site.clinic}").text
        assert ('<p class="warn">' in page) is over


def test_fee_page_takes_an_uploaded_scenario_file(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Issue 7: a user uploads or edits a scenario. An uploaded file wins over the text
    box and fills it; a file with an error is named with its line; a file that is not
    UTF-8 text is refused with the byte."""
    u = as_user("nat")
    good = 'name = "Fra fil"\n[change_percent]\n"0120" = 10.0\n'
    r = u.http.post("/fees", data={"csrf": u.csrf, "scenario": 'name = "Fra boksen"'},
                    files={"upload": ("mit-scenarie.toml", good.encode(), "text/plain")})  # fmt: skip
    assert r.status_code == 200
    assert '<h2 id="result">Fra fil</h2>' in r.text and "[change_percent]" in r.text
    bad = 'name = "x"\n[prices]\n"9999" = 1\n'
    r = u.http.post("/fees", data={"csrf": u.csrf},
                    files={"upload": ("dårlig.toml", bad.encode(), "text/plain")})  # fmt: skip
    assert 'id="result"' not in r.text and "dårlig.toml:3" in r.text and "9999" in r.text
    r = u.http.post("/fees", data={"csrf": u.csrf},
                    files={"upload": ("latin1.toml", "name = 'Æ'".encode("latin-1"))})  # fmt: skip
    assert "latin1.toml: not UTF-8 text (byte 9)" in r.text
    big = b"# " + b"x" * 100_000
    r = u.http.post("/fees", data={"csrf": u.csrf}, files={"upload": ("big.toml", big)})
    assert "larger than 100,000 bytes" in r.text
    no_csrf = u.http.post("/fees", files={"upload": ("a.toml", good.encode())})
    assert no_csrf.status_code == 403


def test_the_inbox_shows_who_wrote_and_what(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 item 4: staff see the patient (pseudonym, age and sex), the text and
    the codes in Danish in the inbox row."""
    u = as_user("klinik")
    form = {"patient_id": str(site.patient), "reason": "rash", "csrf": u.csrf,
            "text": "Udslæt på armen siden mandag"}  # fmt: skip
    assert u.http.post(f"/clinic/{site.clinic}/inbox", data=form).status_code == 200
    item = _newest(site)
    page = u.http.get(f"/clinic/{site.clinic}").text
    row = page.split(f'data-id="{item.id}"')[1].split("</tr>")[0]
    assert "Udslæt på armen siden mandag" in row
    assert f"/patient/{site.patient}" in row and f"{item.age} år" in row
    assert code("da", "triage_reason", "rash") in row and ">rash<" not in row
