"""The definition language (issue 19): definitions as data, groups measured, not imposed.

Seed 002 §2.3: the polypharmacy group is "i størrelsesordenen 3-5 % af en
praksispopulation", defined "ud fra tilgængelige, objektive data … som fx antal
præparater". The group is a rule over each patient's data; its share is a result.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from almen import population
from almen.errors import InputError
from almen.population import definitions as grammar
from almen.population.indicators import indicator_counts, missing_patients
from almen.warehouse import Warehouse
from tests.functional.test_case_finding import AS_OF, _world
from tests.settlement_world import D

DAY = AS_OF


def _clinic_counts(data: Path) -> pl.DataFrame:
    defs = population.load_definitions()
    with Warehouse.connect(data, read_only=True) as wh:
        feats = population.warehouse_features(wh, as_of=DAY, definitions=defs)
    return population.clinic_counts(population.apply_definitions(feats, defs), feats)


def test_polypharmacy_is_not_a_fixed_share_of_every_list(tiny_denmark: Path) -> None:
    """A quota ceil(list × s) would give every clinic a count in ((n − 1) / list, n / list]
    for one s; the measured counts admit no such common s."""
    counts = _clinic_counts(tiny_denmark).filter(pl.col("list_size") > 0)
    lo = ((counts["polypharmacy"] - 1) / counts["list_size"]).max()
    hi = (counts["polypharmacy"] / counts["list_size"]).min()
    assert lo is not None and hi is not None and lo >= hi  # type: ignore[operator]
    shares = population.group_shares(counts, population.load_definitions())
    assert shares["share"].n_unique() > 1


def test_adding_patients_without_drugs_does_not_grow_the_group(tmp_path: Path) -> None:
    """Ten more listed patients with no drugs: a quota of the list would grow, the
    rule does not."""
    path = _world(tmp_path)
    defs = population.load_definitions()

    def count() -> int:
        with Warehouse.connect(path, read_only=True) as wh:
            f = population.warehouse_features(wh, as_of=DAY, definitions=defs)
        found = population.apply_definitions(f, defs)
        return found.filter(pl.col("definition") == "polypharmacy").height

    before = count()
    with Warehouse.connect(path) as wh:
        p = wh.read_table("patient").to_pyarrow()
        more = p.slice(0, 1).to_pylist() * 10
        for i, r in enumerate(more):
            r["patient_id"] = 1000 + i
        wh.write_table("patient", pa.concat_tables([p, pa.Table.from_pylist(more, p.schema)]))
    assert before == 2 and count() == 2


def test_share_outside_the_expected_range_is_a_warning(tmp_path: Path) -> None:
    """The world's clinic has 2 of 20 (10 %) in the group: outside 3-5 %, reported."""
    counts = _clinic_counts(_world(tmp_path))
    shares = population.group_shares(counts, population.load_definitions())
    row = shares.filter(pl.col("definition") == "polypharmacy").row(0, named=True)
    assert row["share"] == pytest.approx(2 / 20) and row["outside"]
    warnings = population.share_warnings(shares)
    assert warnings == ["polypharmacy: 1 of 1 clinics outside the expected 3%-5% of the list"]


def _custom(tmp_path: Path, where: str, extra: str = "") -> Path:
    (tmp_path / "lists").mkdir(exist_ok=True)
    (tmp_path / "lists" / "htn.csv").write_text("code,term\nK86,Hypertension\n", "utf-8")
    p = tmp_path / "defs.toml"
    p.write_text(
        f"""version = "test-1"
[codelists.htn]
system = "icpc2"
file = "lists/htn.csv"
version = "1"
source = "a test"
[variables]
hypertension = {{ kind = "condition", codelist = "htn" }}
n_drugs = {{ kind = "drugs" }}
{extra}
[groups.htn_many_drugs]
name_da = "Forhøjet blodtryk og mange præparater"
name_en = "Hypertension and many drugs"
seed = "a test"
where = "{where}"
reason_en = "{{n_drugs}} drugs"
reason_da = "{{n_drugs}} præparater"
""",
        "utf-8",
    )
    return p


def test_a_users_definitions_file_replaces_the_shipped_one(tmp_path: Path, call_cli) -> None:  # type: ignore[no-untyped-def]
    """--definitions FILE: the file's own code list (beside it) and group."""
    data = _world(tmp_path / "w")
    path = _custom(tmp_path, "hypertension and n_drugs >= 5")
    defs = population.load_definitions(path)
    assert defs.group_names == ("htn_many_drugs",) and defs.codelists["htn"].codes == ("K86",)
    with Warehouse.connect(data, read_only=True) as wh:
        f = population.warehouse_features(wh, as_of=DAY, definitions=defs)
    found = population.apply_definitions(f, defs)
    assert set(found["patient_id"]) == {11, 12, 14}  # K86 and five or more drugs
    assert found.filter(pl.col("patient_id") == 11)["reason"][0] == "6 drugs"
    out = call_cli("--data", str(data), "findings", "--clinic", "100001", "--definitions",
                   str(path), "--as-of", "2025-12-31", "--format", "csv")  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "htn_many_drugs" in out.stdout


@pytest.mark.parametrize(
    ("where", "extra", "message"),
    [
        ("hypertension and n_drug >= 5", "", "unknown name 'n_drug' (column 18)"),
        ("hypertension and (n_drugs >=", "", "cannot parse"),
        ("__import__('os')", "", "not allowed here: Call"),
        ("hypertension", 'x = { kind = "claims", codelist = "htn", months = 12 }',
         "a claims variable needs a service code list"),
    ],
)  # fmt: skip
def test_a_bad_definition_names_the_file_and_entry(
    tmp_path: Path, where: str, extra: str, message: str
) -> None:
    path = _custom(tmp_path, where, extra)
    with pytest.raises(InputError) as err:
        grammar.load(path)
    assert message in str(err.value) and err.value.source == str(path)


def test_a_bad_definitions_file_exits_2_on_the_cli(tmp_path: Path, call_cli) -> None:  # type: ignore[no-untyped-def]
    data = _world(tmp_path / "w")
    path = _custom(tmp_path, "n_drugs >>= 5")
    out = call_cli("--data", str(data), "findings", "--definitions", str(path))
    assert out.exit_code == 2 and "groups.htn_many_drugs" in out.stderr


def test_an_ended_condition_no_longer_counts(tmp_path: Path) -> None:
    """Conditions with onset and end: diabetes ended in 2024 is not diabetes in 2025."""
    path = _world(tmp_path)
    defs = population.load_definitions()
    with Warehouse.connect(path) as wh:
        c = wh.read_table("condition").to_pyarrow().to_pylist()
        for r in c:
            if r["patient_id"] == 5:
                r["end_date"] = D(2024, 6, 30)
        wh.write_table("condition", pa.Table.from_pylist(c, wh.read_table("condition").schema().to_pyarrow()))  # fmt: skip
        f = population.warehouse_features(wh, as_of=DAY, definitions=defs)
        before = population.warehouse_features(wh, as_of=D(2024, 1, 1), definitions=defs)
    assert not f.filter(pl.col("patient_id") == 5)["diabetes"][0]
    assert before.filter(pl.col("patient_id") == 5)["diabetes"][0]


def test_lab_results_where_present_feed_an_indicator(tmp_path: Path) -> None:
    """last_lab: the latest HbA1c in 12 months; the HbA1c indicator counts only
    diabetes patients with a result, and 53 mmol/mol or less meets it."""
    path = _world(tmp_path)
    defs = population.load_definitions()
    with Warehouse.connect(path) as wh:
        wh.write_table("lab_result", pa.table({
            "patient_id": pa.array([5, 5, 6, 11], pa.int64()),
            "code": ["NPU27300"] * 4,
            "sample_date": pa.array([D(2025, 2, 1), D(2025, 9, 1), D(2025, 3, 1), D(2023, 1, 1)],
                                    pa.date32()),
            "value": [70.0, 50.0, 60.0, 40.0],
        }))  # fmt: skip
        f = population.warehouse_features(wh, as_of=DAY, definitions=defs)
    by = {r["patient_id"]: r["hba1c_last"] for r in f.iter_rows(named=True)}
    assert by[5] == 50.0 and by[6] == 60.0 and by[11] is None  # 11's is too old
    ind = indicator_counts(f, defs).filter(pl.col("indicator") == "diabetes_hba1c")
    assert (int(ind["n"].sum()), int(ind["x"].sum())) == (2, 1)


def test_without_lab_results_the_lab_variable_is_empty(tmp_path: Path) -> None:
    defs = population.load_definitions()
    with Warehouse.connect(_world(tmp_path), read_only=True) as wh:
        f = population.warehouse_features(wh, as_of=DAY, definitions=defs)
    assert f["hba1c_last"].null_count() == f.height
    assert "diabetes_hba1c" not in set(indicator_counts(f, defs)["indicator"])


def test_missing_patients_are_the_denominator_without_the_numerator(tmp_path: Path) -> None:
    """Diabetes control: 5, 6, 11, 13 and 14 have diabetes (T90); none has a control and a
    blood sample, so all five miss it; the drill-down lists exactly them."""
    defs = population.load_definitions()
    with Warehouse.connect(_world(tmp_path), read_only=True) as wh:
        f = population.warehouse_features(wh, as_of=DAY, definitions=defs)
    who = missing_patients(f, defs, "diabetes_control")
    assert set(who["patient_id"]) == {5, 6, 11, 13, 14}
    ind = indicator_counts(f, defs).filter(pl.col("indicator") == "diabetes_control")
    assert int(ind["n"].sum()) - int(ind["x"].sum()) == who.height


def test_months_before_keeps_the_leap_day_sensible() -> None:
    assert grammar.months_before(D(2028, 2, 29), 12) == D(2027, 2, 28)
    assert grammar.months_before(D(2025, 3, 31), 1) == D(2025, 2, 28)


def test_deciles_of_published_clinic_shares_and_month_ends() -> None:
    """Deciles across clinics (OpenPrescribing's view): ten clinics with shares 0.1 … 1.0
    have a median of 0.55 (linear); a clinic with no published share is left out."""
    from almen.population.indicators import deciles, month_ends

    ps = [i / 10 for i in range(1, 11)] + [None]
    pub = pl.DataFrame({"indicator": ["i"] * 11, "p": ps, "p0": [0.5] * 11})
    d = deciles(pub).row(0, named=True)
    assert d["clinics"] == 10 and d["p50"] == pytest.approx(0.55)
    assert d["p10"] == pytest.approx(0.19) and d["p90"] == pytest.approx(0.91)
    assert month_ends(D(2028, 2, 29), 3) == [D(2027, 12, 31), D(2028, 1, 31), D(2028, 2, 29)]


def test_indicator_series_counts_each_month_over_its_own_window(tiny_denmark: Path) -> None:
    """Issue 19 item 4, measures over time: on each month end D the COPD-control numerator
    counts the COPD patients with a 0120 or K002 claim in (D − window, D], counted here
    straight from the claim table; the monthly window counts fewer than the rolling year."""
    from almen.population.indicators import indicator_series, month_ends

    defs = population.load_definitions()
    days = month_ends(DAY, 3)
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        claims = wh.read_table("claim").to_polars()
        area = population.clinic_areas(wh).select("provider_number", "cluster", "region")
        by_window = {}
        for window in (1, 12):
            feats = {
                d: population.warehouse_features(wh, as_of=d, definitions=defs, claim_months=window)
                for d in days
            }
            series = indicator_series(feats.__getitem__, defs, days, area)
            assert series["as_of"].unique().sort().to_list() == days
            for d in days:
                copd = feats[d].filter(pl.col("copd") == 1)["patient_id"]
                seen = claims.filter(
                    pl.col("service_code").is_in(["0120", "K002"])
                    & (pl.col("service_date") > grammar.months_before(d, window))
                    & (pl.col("service_date") <= d)
                    & pl.col("patient_id").is_in(copd)
                )["patient_id"].n_unique()
                got = indicator_counts(feats[d], defs).filter(pl.col("indicator") == "copd_control")
                assert int(got["x"].sum()) == seen, (window, d)
                assert int(got["n"].sum()) == copd.len()
                by_window[window, d] = seen
    assert all(by_window[1, d] < by_window[12, d] for d in days)


def test_many_condition_variables_and_groups_read_the_condition_table(tmp_path: Path) -> None:
    """The condition variables are aggregated as bit masks of 62 variables each, and a
    grouped count beyond 62 groups falls back to a distinct count: 70 variables, one code
    each, and a count over 70 one-code groups agree with the condition table itself."""
    data = _world(tmp_path / "w")
    with Warehouse.connect(data, read_only=True) as wh:
        cond = wh.read_table("condition").to_polars()
    codes = sorted(set(cond["code"]))
    assert len(codes) >= 3
    picks = [codes[i % len(codes)] for i in range(70)]
    lists = "\n".join(
        f'[codelists.c{i}]\nsystem = "icpc2"\ncodes = ["{c}"]\nversion = "1"\nsource = "a test"'
        for i, c in enumerate(picks)
    )
    # each code its own group: "few" holds the world's codes, "many" 70 more (X01-X70)
    many = sorted(set(codes) | {f"X{k:02d}" for k in range(1, 71)})
    for name, listed in (("few", codes), ("many", many)):
        (tmp_path / f"{name}.csv").write_text(
            "code,term,group\n" + "".join(f"{c},t,g_{c}\n" for c in listed), "utf-8"
        )
    variables = "\n".join(f'v{i} = {{ kind = "condition", codelist = "c{i}" }}' for i in range(70))
    p = tmp_path / "defs.toml"
    p.write_text(
        f"""version = "t"
{lists}
[codelists.few]
system = "icpc2"
file = "few.csv"
version = "1"
source = "a test"
[codelists.many]
system = "icpc2"
file = "many.csv"
version = "1"
source = "a test"
[variables]
{variables}
n_few = {{ kind = "condition_groups", codelist = "few" }}
n_many = {{ kind = "condition_groups", codelist = "many" }}
[groups.g]
name_da = "g"
name_en = "g"
seed = "a test"
where = "v69"
reason_en = "x"
reason_da = "x"
""",
        "utf-8",
    )
    defs = population.load_definitions(p)
    with Warehouse.connect(data, read_only=True) as wh:
        f = population.warehouse_features(wh, as_of=DAY, definitions=defs)
    live = cond.filter(
        (pl.col("onset_date") <= DAY) & (pl.col("end_date").is_null() | (pl.col("end_date") >= DAY))
    )
    has = set(zip(live["patient_id"], live["code"], strict=True))
    for i in (0, 1, 61, 62, 69):
        want = {pid for pid in f["patient_id"] if (pid, picks[i]) in has}
        assert set(f.filter(pl.col(f"v{i}"))["patient_id"]) == want, i
    n = live.group_by("patient_id").agg(pl.col("code").n_unique().alias("k"))
    got = f.join(n, on="patient_id", how="left").with_columns(pl.col("k").fill_null(0))
    for col in ("n_few", "n_many"):
        assert (got[col] == got["k"]).all() and got[col].max() > 1, col  # type: ignore[operator]
