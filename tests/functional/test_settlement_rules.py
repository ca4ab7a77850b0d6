"""The agreement's rules that move money, each on data that breaks it and data that
does not (issue 16): 0120 per condition, cover for another GP's patient, group 2 priced
from its own fees and kept out of § 96, mileage paid once a year, a claimed amount
compared with the price, and the § 96 ceiling's date and annualised early warning.

Sources: seed 004 §5.2 (monthly settlement, mileage yearly), §5.3 (§ 96 on own insured,
ceiling from the next quarter), seed 001 "Udmøntningen af Aftale25" (0120 only with a
relevant need); laeger.dk "FAQ om ydelser" (another GP's patient in acute illness or
when the own GP is away) and "Honorarer" (group 2 has its own fees).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from almen import settlement
from almen.warehouse import Warehouse
from tests.settlement_world import AS_OF, D, World, accepted_in_year, check_world


def _lines(wh: Warehouse) -> dict[int, dict[str, object]]:
    checked = check_world(wh).to_polars()  # type: ignore[attr-defined]
    return {r["claim_id"]: r for r in checked.to_dicts()}


def _statement(wh: Warehouse, months: list[int]) -> pl.DataFrame:
    fees = pl.from_arrow(wh.read_table("fee_schedule").to_pyarrow())
    assert isinstance(fees, pl.DataFrame)
    checked = check_world(wh, through=max(months))
    expo = settlement.exposure(wh.read_table("patient"), 2025)
    return settlement.monthly_statement(
        expo,
        settlement.monthly_claims(checked),
        fees,
        year=2025,
        months=months,  # type: ignore[arg-type]
    )


def test_annual_control_is_once_a_year_per_condition(tmp_path: Path) -> None:
    """0120 (claim_rules.csv per_condition): a patient with diabetes (T90) and COPD (R95)
    has two annual controls; a second T90 control in the year comes back; lines with
    no condition count together, as before."""
    w = World(clinics=[("100001", "0101")])
    w.patient(1, "100001")
    w.patient(2, "100001")
    w.claim("100001", 1, "0120", D(2025, 2, 3), condition="T90")  # 1: accepted
    w.claim("100001", 1, "0120", D(2025, 3, 3), condition="R95")  # 2: another condition
    w.claim("100001", 1, "0120", D(2025, 9, 1), condition="T90")  # 3: per_year
    w.claim("100001", 2, "0120", D(2025, 2, 3))  # 4: no condition: the first
    w.claim("100001", 2, "0120", D(2025, 5, 3))  # 5: per_year
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        lines = _lines(wh)
    assert {k: v["rule"] for k, v in lines.items()} == {
        1: None,
        2: None,
        3: "per_year",
        4: None,
        5: "per_year",
    }


def test_cover_for_another_gp_is_paid_and_kept_out_of_s96(tmp_path: Path) -> None:
    """Patient 5 is listed at 100002. Clinic 100001 sees him in acute illness (0101,
    cover allowed): paid, marked covered; the same without a reason comes back
    not_listed; an annual control (0120, no cover allowed) comes back even with one.

    March statement of 100001: ffs_daytime = 200 (the acute consultation; its own
    patient has none) and cover_dkk = 200; § 96 counts none of it (no own patient's
    service): accepted_by_group for 100001 is empty.
    """
    w = World(clinics=[("100001", "0101"), ("100002", "0101")])
    w.patient(1, "100001")
    w.patient(5, "100002")
    w.claim("100001", 5, "0101", D(2025, 3, 3), cover="acute")  # 1: paid, covered
    w.claim("100001", 5, "0101", D(2025, 3, 4))  # 2: not_listed
    w.claim("100001", 5, "0120", D(2025, 3, 5), cover="substitute")  # 3: not_listed
    w.claim("100002", 5, "0101", D(2025, 3, 6), cover="acute")  # 4: own GP: not a cover
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        lines = _lines(wh)
        stmt = _statement(wh, [3])
        accepted = accepted_in_year(check_world(wh))
    assert [lines[i]["rule"] for i in (1, 2, 3, 4)] == [None, "not_listed", "not_listed", None]
    assert [lines[i]["covered"] for i in (1, 2, 3, 4)] == [True, False, False, False]
    r = stmt.filter(pl.col("provider_number") == "100001").to_dicts()[0]
    assert r["ffs_daytime_dkk"] == pytest.approx(200.0)
    assert r["cover_dkk"] == pytest.approx(200.0)
    assert accepted.filter(pl.col("provider_number") == "100001").is_empty()
    assert accepted.filter(pl.col("provider_number") == "100002")["dkk"].sum() == 200.0


def test_group2_is_priced_from_its_own_fees_and_kept_out_of_s96(tmp_path: Path) -> None:
    """Group-2 fee for 0101 is 260 (group 1: 200); 0201 has no group-2 row, so a group-2
    patient's call is priced at the group-1 30. Patient 1 (group 1) one 0101, patient 2
    (group 2) one 0101 and one 0201, all in March:
    ffs_daytime = 200 (group 1 only), ffs_group2 = 260 + 30 = 290,
    total = capitation (1 listed × 1,200 / 12 = 100) + 200 + 290 = 590;
    § 96 counts only patient 1's 200."""
    w = World(clinics=[("100001", "0101")], group2_fees={"0101": 260.0})
    w.patient(1, "100001")
    w.patient(2, None, group=2, listed_from=None)
    w.claim("100001", 1, "0101", D(2025, 3, 3))
    w.claim("100001", 2, "0101", D(2025, 3, 3))
    w.claim("100001", 2, "0201", D(2025, 3, 4))
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        lines = _lines(wh)
        stmt = _statement(wh, [3])
        accepted = accepted_in_year(check_world(wh))
    assert [lines[i]["amount_dkk"] for i in (1, 2, 3)] == [200.0, 260.0, 30.0]
    r = stmt.to_dicts()[0]
    assert r["ffs_daytime_dkk"] == pytest.approx(200.0)
    assert r["ffs_group2_dkk"] == pytest.approx(290.0)
    assert r["total_dkk"] == pytest.approx(590.0)
    assert accepted["dkk"].sum() == pytest.approx(200.0)


def test_mileage_is_paid_once_a_year_in_december(tmp_path: Path) -> None:
    """KM92 at 3 DKK/km: 12 km in March and 20 km in June, 600 km (over the 500 a line)
    in July comes back. Settling the year, only December pays mileage: 32 × 3 = 96 DKK,
    in its total; March shows 12 km accrued and pays none. Settling March alone pays
    none either (seed 004 §5.2: mileage is settled once a year)."""
    w = World(clinics=[("100001", "0101")])
    w.patient(1, "100001")
    w.claim("100001", 1, "KM92", D(2025, 3, 8), quantity=12)
    w.claim("100001", 1, "KM92", D(2025, 6, 9), quantity=20)
    w.claim("100001", 1, "KM92", D(2025, 7, 9), quantity=600)
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        year = _statement(wh, list(range(1, 13)))
        march = _statement(wh, [3])
    by_month = {r["month"].month: r for r in year.to_dicts()}
    assert by_month[12]["mileage_dkk"] == pytest.approx(96.0)
    assert by_month[12]["total_dkk"] == pytest.approx(100.0 + 96.0)  # capitation + mileage
    assert sum(r["mileage_dkk"] for m, r in by_month.items() if m != 12) == 0.0
    assert by_month[3]["mileage_km"] == 12.0
    assert march["mileage_dkk"].sum() == 0.0


def test_a_claimed_amount_that_is_not_the_price_is_flagged_not_repriced(tmp_path: Path) -> None:
    """0101 costs 200: a line claiming 250 is flagged and paid 200; one claiming
    200,004 (within half an øre) and one with no amount are not flagged; a returned
    line (unknown patient) with a wrong amount is flagged too."""
    w = World(clinics=[("100001", "0101")])
    w.patient(1, "100001")
    w.patient(2, "100001")
    w.claim("100001", 1, "0101", D(2025, 3, 3), claimed=250.0)  # 1: flagged
    w.claim("100001", 2, "0101", D(2025, 3, 3), claimed=200.004)  # 2: matches
    w.claim("100001", 1, "0201", D(2025, 3, 4))  # 3: no amount
    w.claim("100001", 99, "0101", D(2025, 3, 5), claimed=10.0)  # 4: returned, flagged
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        checked = check_world(wh, through=3)
        flagged = settlement.flagged_lines(checked)  # type: ignore[arg-type]
        stmt = _statement(wh, [3])
    assert flagged["claim_id"].to_list() == [1, 4]
    assert flagged["claimed_dkk"].to_list() == [250.0, 10.0]
    assert flagged["price_dkk"].to_list() == [200.0, 200.0]
    r = stmt.to_dicts()[0]
    assert r["flagged_lines"] == 2
    assert r["ffs_daytime_dkk"] == pytest.approx(200.0 + 200.0 + 30.0)


def test_ceiling_takes_effect_the_quarter_after_the_statement_date() -> None:
    """Seed 004 §5.3: "Højestegrænsen kan iværksættes fra det følgende kvartals
    begyndelse". A statement made 31 March gives 1 April; 15 May gives 1 July; 20
    December gives 1 January of the year after."""
    assert settlement.statement_date(2025) == D(2026, 3, 31)
    assert settlement.next_quarter_start(D(2026, 3, 31)) == D(2026, 4, 1)
    assert settlement.next_quarter_start(D(2026, 5, 15)) == D(2026, 7, 1)
    assert settlement.next_quarter_start(D(2026, 12, 20)) == D(2027, 1, 1)


def _steady_world(tmp_path: Path) -> Path:
    """Two clinics of 10 patients each (one age-sex band), capitation 1,200 a year;
    A has 6 consultations a month (200 each), B none: the same every month."""
    w = World(clinics=[("A", "0101"), ("B", "0101")])
    for pid in range(1, 21):
        w.patient(pid, "A" if pid <= 10 else "B", birth_year=1980)
    for m in range(1, 13):
        for k in range(6):
            w.claim("A", 1 + k, "0101", D(2025, m, 2 + k))
    return w.write(tmp_path / "w")


@pytest.mark.parametrize("months", [3, 6, 12])
def test_early_warning_ceiling_is_annualised(tmp_path: Path, months: int) -> None:
    """A steady clinic's year-to-date ceiling reads as the year's (× 12 / months).

    Over a whole year: A spends 12,000 + 72 × 200 = 26,400, B 12,000; the regional
    average is 38,400 / 20 = 1,920 a patient; A's ratio 2,640 / 1,920 = 1.375 (over);
    its yearly ceiling on fee-for-service = 1.2 × 1,920 × 10 − 12,000 = 11,040 DKK.
    Every month is the same, so the ratio over any first months is 1.375 and the
    annualised ceiling 11,040; unannualised it would be 11,040 × months / 12."""
    path = _steady_world(tmp_path)
    with Warehouse.connect(path) as wh:
        checked = check_world(wh, through=months)
        accepted = accepted_in_year(checked, end=D(2025, months, 28))
        rep = settlement.ceiling_report(
            settlement.exposure(wh.read_table("patient"), 2025),
            accepted,
            pl.DataFrame({"provider_number": ["A", "B"], "region": ["R", "R"]}),
            capitation_per_year=1200.0,
            year=2025,
            months=months,
            statement_day=dt.date(2026, 5, 15),
        )
    a = rep.filter(pl.col("provider_number") == "A").to_dicts()[0]
    assert a["ratio"] == pytest.approx(1.375)
    assert a["ceiling_ffs_dkk"] == pytest.approx(11_040.0)
    assert a["ffs_year_dkk"] == pytest.approx(72 * 200.0)
    assert a["effective_from"] == D(2026, 7, 1)


def test_s96_standardisation_table_sums_to_the_report(tmp_path: Path) -> None:
    """The per-clinic statement's bands (age band × sex) add up to the report's
    expenditure and expected expenditure, and each band's expected is its patient-years
    × the region's rate in the band."""
    w = World(clinics=[("A", "0101"), ("B", "0101")])
    for pid in range(1, 41):
        w.patient(pid, "A" if pid % 2 else "B", birth_year=1940 + pid, sex="F" if pid % 3 else "M")
    for pid in range(1, 41, 3):
        w.claim("A" if pid % 2 else "B", pid, "0101", D(2025, 4, 1 + pid % 20))
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        accepted = accepted_in_year(check_world(wh))
        expo = settlement.exposure(wh.read_table("patient"), 2025)
    regions = pl.DataFrame({"provider_number": ["A", "B"], "region": ["R", "R"]})
    rep = settlement.ceiling_report(
        expo, accepted, regions, capitation_per_year=1200.0, year=2025
    ).filter(pl.col("provider_number") == "A")
    bands = settlement.ceiling_bands(expo, accepted, regions, "A", capitation_per_year=1200.0)
    assert bands["expenditure_dkk"].sum() == pytest.approx(rep["expenditure_dkk"].item())
    assert bands["expected_dkk"].sum() == pytest.approx(rep["expected_dkk"].item())
    band = bands.filter(pl.col("patient_years") > 0)
    assert (
        band["expected_dkk"] - band["patient_years"] * band["region_rate_dkk"]
    ).abs().max() < 1e-6


def test_cli_writes_the_s96_statement_as_a_page_and_as_files(
    call_cli, tiny_denmark: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """`almen ceiling --clinic P --statement`: --format html writes the printable page
    (Danish numbers: a decimal comma in the ratio), --format csv the statement and its
    bands as two files; the bands' expenditure adds up to the statement's."""
    out = call_cli("--data", str(tiny_denmark), "ceiling", "--year", "2025", "--format", "csv")
    clinic = out.stdout.splitlines()[1].split(",")[0]
    page = tmp_path / "s96.html"
    r = call_cli("--data", str(tiny_denmark), "ceiling", "--year", "2025", "--clinic", clinic,
                 "--statement", "--format", "html", "--output", str(page))  # fmt: skip
    assert r.exit_code == 0, r.output
    html = page.read_text(encoding="utf-8")
    assert "Standardiseringstabel" in html and "Forholdstal" in html
    assert "31. marts 2026" in html
    files = tmp_path / "s96.csv"
    r = call_cli("--data", str(tiny_denmark), "ceiling", "--year", "2025", "--clinic", clinic,
                 "--statement", "--format", "csv", "--output", str(files))  # fmt: skip
    assert r.exit_code == 0, r.output
    st = pl.read_csv(tmp_path / "s96-statement.csv")
    bands = pl.read_csv(tmp_path / "s96-bands.csv")
    assert bands["expenditure_dkk"].sum() == pytest.approx(st["expenditure_dkk"].item())
    r = call_cli("--data", str(tiny_denmark), "ceiling", "--year", "2025", "--statement")
    assert r.exit_code == 2 and "--statement needs --clinic" in r.output


def test_the_chronic_care_fee_covers_the_annual_control_of_its_condition(tmp_path: Path) -> None:
    """K001 (chronic-care fee, type 2 diabetes; claim_rules.csv replaces 0120:T90):
    patient 1 has K001 in 2025, so his T90 annual control comes back (chronic_fee) and
    his COPD control (R95) does not; patient 2's K001 comes back (another clinic's
    patient), so her T90 control stays paid; a 2024 fee covers nothing in 2025."""
    w = World(clinics=[("100001", "0101"), ("100002", "0101")])
    w.patient(1, "100001")
    w.patient(2, "100002")
    w.patient(3, "100001")
    w.claim("100001", 1, "K001", D(2025, 2, 3))  # 1: accepted
    w.claim("100001", 1, "0120", D(2025, 3, 3), condition="T90")  # 2: chronic_fee
    w.claim("100001", 1, "0120", D(2025, 3, 4), condition="R95")  # 3: accepted
    w.claim("100001", 2, "K001", D(2025, 2, 3))  # 4: not_listed
    w.claim("100002", 2, "0120", D(2025, 3, 3), condition="T90")  # 5: accepted
    w.claim("100001", 3, "K001", D(2024, 12, 3), month=D(2025, 1, 1))  # 6: last year's
    w.claim("100001", 3, "0120", D(2025, 6, 3), condition="T90")  # 7: accepted
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        lines = _lines(wh)
    assert {k: v["rule"] for k, v in lines.items()} == {
        1: None,
        2: "chronic_fee",
        3: None,
        4: "not_listed",
        5: None,
        6: None,
        7: None,
    }


def test_synthetic_claims_break_every_rule_they_are_made_to_break(tiny_denmark: Path) -> None:
    """Issue 16 item 8: synth injects errors at the rates of params.CLAIM_ERRORS (its
    calibration table records how many). Settling the year returns about as many lines
    by each rule as were injected (an injected line can land where another rule takes
    it first, e.g. a group-2 patient is never not_listed), and the acute covers are
    paid and marked covered."""
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        cal = wh.read_table("calibration").to_polars()
        injected = {
            r["measure"].removeprefix("claims_injected_"): r["generated"]
            for r in cal.filter(pl.col("measure").str.starts_with("claims_injected_")).to_dicts()
        }
        checked = settlement.check_year(
            wh.read_table("claim"),
            wh.read_table("fee_schedule"),
            wh.read_table("patient"),
            settlement.load_service_rules(),
            year=2025,
            as_of=AS_OF,
        )
        by_rule = dict(
            checked.group_by("rule").aggregate(n=checked.count()).to_polars().iter_rows()
        )
        covered = checked.filter(checked.covered & checked.rule.isnull()).count().execute()
    for kind in ("not_listed", "age_sex", "outside_period", "per_year"):
        assert injected[kind] > 0, kind
        assert 0.85 * injected[kind] <= by_rule[kind] <= 1.2 * injected[kind] + 5, kind
    assert by_rule["duplicate"] >= injected["duplicate"]
    assert 0.9 * injected["cover"] <= covered <= injected["cover"]


def test_service_pattern_against_comparators_by_hand(tmp_path: Path) -> None:
    """Issue 16 item 10 (Ydelsesoverblik). Clinic A: 10 patients born 1980 with 20
    consultations (2,000 per 1,000); clinics P1-P5: 10 each with 10 (1 a patient-year),
    so A's expected is 10 and its deviation +100 %. A comparator of two other clinics
    is not shown (fewer than 5). By age group (all 18-64): A's 2,000 per 1,000 against
    the region's other clinics' 1,000."""
    from almen.settlement import overview as yo

    peers = [f"P{i}" for i in range(1, 6)]
    w = World(clinics=[("A", "0101"), *[(p, "0101") for p in peers]])
    pid = 0
    for c in ["A", *peers]:
        for _ in range(10):
            pid += 1
            w.patient(pid, c, birth_year=1980)
            w.claim(c, pid, "0101", D(2025, 3, 3))
            if c == "A":
                w.claim(c, pid, "0101", D(2025, 4, 3))
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        summary = settlement.claim_summary(check_world(wh), by_service=True)  # type: ignore[arg-type]
        accepted = accepted_in_year(summary)
        expo = settlement.exposure(wh.read_table("patient"), 2025)
    everyone = pl.DataFrame({"provider_number": ["A", *peers], "group": ["R"] * 6})
    few = pl.DataFrame({"provider_number": ["A", "P1", "P2"], "group": ["c"] * 3})
    out = yo.comparator_rates("A", expo, accepted, {"region": everyone, "cluster": few})
    r = {row["comparator"]: row for row in out.to_dicts()}
    assert r["region"]["rate_per_1000"] == pytest.approx(2000.0)
    assert r["region"]["expected_per_1000"] == pytest.approx(1000.0)
    assert r["region"]["deviation"] == pytest.approx(1.0)
    assert r["region"]["peers"] == 5
    assert r["cluster"]["peers"] == 2 and r["cluster"]["deviation"] is None
    ages = yo.by_age_group("A", expo, accepted, everyone.rename({"group": "region"}))
    adults = ages.filter(pl.col("age_group") == "18-64").to_dicts()[0]
    assert adults["per_1000_clinic"] == pytest.approx(2000.0)
    assert adults["per_1000_region"] == pytest.approx(1000.0)


def test_service_pattern_months_end_at_the_year_report(tiny_denmark: Path) -> None:
    """The month-by-month § 96 ratio of the overview ends at the year's report ratio."""
    from almen.settlement import readers

    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        report = readers.ceiling_for_year(wh, 2025, D(2025, 12, 31))
        clinic = report["provider_number"][0]
        parts = readers.service_pattern(wh, 2025, clinic)
    months = parts["months"]
    assert months["month"].to_list() == list(range(1, 13))
    final = report.filter(pl.col("provider_number") == clinic)["ratio"].item()
    assert months["ratio"][-1] == pytest.approx(final)
    assert set(parts["services"]["comparator"]) == {"region", "municipality", "cluster", "similar"}
