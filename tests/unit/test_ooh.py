"""Out-of-hours planning (seed 002 §3): Erlang C against published values, staffing that
never exceeds the maximum load (property), low-activity hours, consolidation."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almen.access.ooh import (
    OohParams,
    consolidate,
    demand,
    erlang_c,
    phone_agents,
    service_level,
    simulate_sites,
    staffing,
)
from almen.errors import ParameterError


@pytest.mark.parametrize(
    ("agents", "traffic", "published", "tolerance"),
    [
        (3, 2.0, 4 / 9, 1e-12),  # exact: (8/6 · 3) / (1 + 2 + 2 + 8/6 · 3)
        (2, 1.0, 1 / 3, 1e-12),  # exact
        (11, 10.0, 0.6821, 5e-5),  # Erlang C tables, 10 erlang, to 4 decimals
        (12, 10.0, 0.4494, 5e-5),
        (13, 10.0, 0.2853, 5e-5),
        (14, 10.0, 0.1741, 5e-5),
        (10, 6.0, 0.10, 5e-3),  # textbook: 120 customers/h, 3 min, 10 servers: "about 0.10"
    ],
)
def test_erlang_c_matches_published_values(
    agents: int, traffic: float, published: float, tolerance: float
) -> None:
    assert erlang_c(agents, traffic) == pytest.approx(published, abs=tolerance)


def test_erlang_c_edges() -> None:
    assert erlang_c(5, 0.0) == 0.0
    assert erlang_c(5, 5.0) == 1.0  # N ≤ A: every call waits (unstable)
    assert service_level(5, 5.0, 3.0, 1.0) == 0.0


def test_fewest_agents_for_the_service_level() -> None:
    """30 calls an hour of 5 minutes (A = 2.5): 90 % not delayed needs 6 agents (C(5) =
    0.130, C(6) = 0.047); and the answer is the brute-force minimum, with A not rounded."""
    assert phone_agents(30, 5.0, 0.9, 0.0) == 6
    for calls, aht in ((30, 5.0), (101, 3.0), (7.3, 6.1), (240, 4.5)):
        a = calls * aht / 60
        n = phone_agents(calls, aht, 0.8, 3.0)
        assert service_level(n, a, aht, 3.0) >= 0.8
        assert n == 1 or service_level(n - 1, a, aht, 3.0) < 0.8
    assert phone_agents(0, 5.0, 0.8, 3.0) == 0


def _demand(rows: list[tuple[str, int, int, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"site": pl.String, "weekday": pl.Int8, "hour": pl.Int8, "kind": pl.String,
                      "mean": pl.Float64}, orient="row",
    ).with_columns(contacts=pl.lit(52), minutes=pl.lit(52 * 10))  # fmt: skip


SITES = pl.DataFrame(
    {"site": ["A", "B", "C"], "lon": [10.0, 10.0, 10.0], "lat": [56.0, 56.1, 57.0]}
)


def test_low_activity_hour_goes_to_the_nearest_open_site() -> None:
    """Monday 03:00: A has 6 consultations an hour, B (11 km from A) 0.2, C (111 km) 2.
    B gets no doctor and sends its 0.2 to A, the nearest open site; A plans for the
    90th percentile of Poisson(6.2) = 9 contacts: 3 doctors at most 4 each."""
    d = _demand([("A", 0, 3, "consultation", 6.0), ("B", 0, 3, "consultation", 0.2),
                 ("C", 0, 3, "consultation", 2.0)])  # fmt: skip
    plan, _ = staffing(d, SITES)
    h = plan.filter((pl.col("weekday") == 0) & (pl.col("hour") == 3)).sort("site")
    a, b, c = h.rows(named=True)
    assert b["closed"] and b["moved_to"] == "A" and b["doctors"] == 0
    assert a["load_in"] == pytest.approx(6.2) and a["planned"] == 9 and a["doctors"] == 3
    assert not c["closed"] and c["doctors"] == 1
    with pytest.raises(ParameterError, match="impossible: A needs 3 doctors"):
        staffing(d, SITES, OohParams(max_doctors=2))


@settings(max_examples=80, deadline=None)
@given(
    means=st.lists(st.floats(0.0, 30.0), min_size=3, max_size=3),
    home=st.floats(0.0, 5.0),
    max_load=st.floats(0.5, 8.0),
    min_activity=st.floats(0.0, 3.0),
    quantile=st.floats(0.5, 0.99),
)
def test_the_plan_never_exceeds_the_maximum_load(
    means: list[float], home: float, max_load: float, min_activity: float, quantile: float
) -> None:
    rows = [(s, 5, 22, "consultation", m) for s, m in zip("ABC", means, strict=True)]
    rows.append(("A", 5, 22, "home_visit", home))
    d = _demand(rows)
    plan, w = staffing(d, SITES, OohParams(max_load=max_load, min_activity=min_activity,
                                           quantile=quantile))  # fmt: skip
    assert (plan["load_per_doctor"] <= max_load + 1e-9).all()
    assert (plan.filter(pl.col("closed"))["doctors"] == 0).all()
    hour = plan.filter((pl.col("weekday") == 5) & (pl.col("hour") == 22))
    # nothing is lost: the open sites carry all the demand of the hour
    assert hour["load_in"].sum() == pytest.approx(hour["mean"].sum())
    assert w == pytest.approx(1.0)  # home visits and consultations both 10 minutes here


def test_demand_averages_over_the_weekdays_of_the_year() -> None:
    """2025 has 52 Mondays: 104 contacts on Mondays at 03:xx is 2 an hour."""
    mondays = [dt.datetime(2025, 1, 6, 3, 10) + dt.timedelta(weeks=k) for k in range(52)]
    c = pl.DataFrame({"site": ["A"] * 104, "start_time": mondays * 2,
                      "kind": ["consultation"] * 104, "minutes": [10] * 104})  # fmt: skip
    d = demand(c, 2025)
    assert d.row(0, named=True)["mean"] == pytest.approx(2.0)


def test_consolidation_by_hand() -> None:
    """Two consultations at B (11.1 km north of A) by people living at B move to A, the
    site beside an emergency department: 0 km → 11.1 km for them; A's own patient stays."""
    t = dt.datetime(2025, 3, 1, 20)
    c = pl.DataFrame({
        "site": ["B", "B", "A", "B"], "start_time": [t] * 4,
        "kind": ["consultation", "consultation", "consultation", "home_visit"],
        "minutes": [10] * 4, "lon": [10.0] * 4, "lat": [56.1, 56.1, 56.0, 56.1],
    })  # fmt: skip
    after, s = consolidate(c, SITES, ["A"], home_visits_to_consultation=0.0)
    assert s["consultations_moved"] == 2 and s["sites_before"] == 2 and s["sites_after"] == 1
    assert s["km_to_consultation_before"] == pytest.approx(0.0, abs=1e-6)
    assert s["km_to_consultation_after"] == pytest.approx(2 * 11.132 / 3, rel=1e-3)
    assert s["home_visits_after"] == 1
    assert after.filter(pl.col("kind") == "consultation")["site"].to_list() == ["A", "A", "A"]
    _, all_home = consolidate(c, SITES, ["A"], home_visits_to_consultation=1.0)
    assert all_home["home_visits_after"] == 0 and all_home["consultations_after"] == 4
    with pytest.raises(ParameterError):
        consolidate(c, SITES, ["nowhere"])


def test_bad_parameters() -> None:
    for p in (OohParams(max_load=0), OohParams(quantile=1.0), OohParams(service_level=1.0)):
        with pytest.raises(ParameterError):
            p.check()
    assert math.isfinite(erlang_c(40, 35.5))


def test_ooh_plan_command(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    r = call_cli("--data", str(tiny_denmark), "ooh", "plan", "--region", "Region Nordjylland",
                 "--consolidate")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "phone line" in r.output and "consolidation" in r.output
    csv = call_cli("--data", str(tiny_denmark), "ooh", "plan", "--region", "Region Nordjylland",
                   "--format", "csv")  # fmt: skip
    text = csv.stdout.split("# phone")[0].removeprefix("# plan\n")  # parts marked "# name"
    plan = pl.read_csv(text.encode())
    # every site has 8 day types (Monday..Sunday and holidays) × 24 hours
    assert (plan["load_per_doctor"] <= 4.0).all() and len(plan) % (8 * 24) == 0
    bad = call_cli("--data", str(tiny_denmark), "ooh", "plan", "--region", "Region Atlantis")
    assert bad.exit_code == 2 and "no out-of-hours contacts for region" in bad.stderr
    impossible = call_cli("--data", str(tiny_denmark), "ooh", "plan", "--region",
                          "Region Nordjylland", "--max-load", "0.1", "--max-doctors", "1")  # fmt: skip
    assert impossible.exit_code == 2 and "impossible" in impossible.stderr
    q = call_cli("--data", str(tiny_denmark), "ooh", "plan", "--region", "Region Nordjylland",
                 "--quantile", "1.5")  # fmt: skip
    assert q.exit_code == 2 and "quantile" in q.stderr


def test_simulated_waits_fall_with_more_doctors_and_repeat_for_a_seed() -> None:
    """A site with 3 consultations an hour round the clock (12-minute consultations,
    60 % of one doctor): planned at most 4 an hour it gets 2 doctors (90th percentile of
    Poisson(3) is 5); at most 6 an hour, 1 doctor, and patients wait longer."""
    d = _demand([("A", wd, h, "consultation", 3.0) for wd in range(7) for h in range(24)])
    sites = SITES.filter(pl.col("site") == "A")
    two, _ = staffing(d, sites, OohParams(max_load=4))
    one, _ = staffing(d, sites, OohParams(max_load=6))
    week = pl.col("weekday") < 7  # the holiday day type has no demand here
    assert set(two.filter(week)["doctors"]) == {2} and set(one.filter(week)["doctors"]) == {1}
    w2 = simulate_sites(two, 12.0, weeks=2, seed=5).row(0, named=True)
    w1 = simulate_sites(one, 12.0, weeks=2, seed=5).row(0, named=True)
    assert w2["mean_wait_min"] < w1["mean_wait_min"]
    assert w2["contacts"] == w1["contacts"] > 900  # the same arrivals: 3 × 336 hours
    assert simulate_sites(two, 12.0, weeks=2, seed=5).equals(
        simulate_sites(two, 12.0, weeks=2, seed=5)
    )
    # one doctor at 60 % busy is an M/M/1 queue: Wq = ρ / (μ − λ) = 0.6 / (1/12 − 1/20) = 18 min
    assert w1["mean_wait_min"] == pytest.approx(18.0, rel=0.25)


def test_holidays_are_their_own_day_type() -> None:
    """Issue 22 item 3: 1 January is planned as a holiday, not as an average weekday. In
    2025, 54 consultations at 10:xx on 1 January (a Wednesday) and 1 on each ordinary
    Wednesday (50: 24 and 31 December are closed too): Wednesdays plan 1 an hour at
    10:00, holidays 54 / 12 (12 closed days in 2025: 10 public holidays with 24 and 31
    December), so more doctors there."""
    import datetime as dt

    from almen.access.ooh import HOLIDAY
    from almen.days import closed_days

    wednesdays = [dt.datetime(2025, 1, 8, 10, 5) + dt.timedelta(weeks=k) for k in range(51)]
    holiday = [dt.datetime(2025, 1, 1, 10, 5)] * 54
    times = holiday + [t for t in wednesdays if t.date() not in closed_days(2025)]
    c = pl.DataFrame({"site": ["A"] * len(times), "start_time": times,
                      "kind": ["consultation"] * len(times), "minutes": [10] * len(times)})  # fmt: skip
    d = demand(c, 2025)
    n_closed = len(closed_days(2025))
    got = {r["weekday"]: r["mean"] for r in d.iter_rows(named=True)}
    assert got[HOLIDAY] == pytest.approx(54 / n_closed)
    assert got[2] == pytest.approx(1.0)
    plan, _ = staffing(d, SITES.filter(pl.col("site") == "A"), OohParams(max_load=1))
    at10 = {
        r["weekday"]: r["doctors"] for r in plan.filter(pl.col("hour") == 10).iter_rows(named=True)
    }
    assert at10[HOLIDAY] > at10[2]


def _simulate_mmnm(agents: int, lam: float, mu: float, theta: float, n: int, seed: int):  # type: ignore[no-untyped-def]
    """M/M/N+M first come first served, exactly: a caller takes the earliest free agent
    unless his patience runs out first (abandoners never take an agent)."""
    import heapq

    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1 / lam, n))
    service = rng.exponential(1 / mu, n)
    patience = rng.exponential(1 / theta, n)
    free = [0.0] * agents
    waited = abandoned = within = 0
    for a, s, p in zip(arrival, service, patience, strict=True):
        start = max(a, free[0])
        waited += start > a  # found every agent busy (whether he then hangs up or not)
        if start - a > p:
            abandoned += 1
            continue
        heapq.heapreplace(free, start + s)
        within += start - a <= 3.0
    return waited / n, abandoned / n, within / n


def test_erlang_a_agrees_with_a_simulation_and_with_erlang_c_without_abandonment() -> None:
    """Issue 22 item 3: 120 calls an hour, 4-minute calls (8 erlang), 9 agents, patience
    5 minutes: the formula's waiting, abandoning and answered-within-3-minutes shares
    match 200,000 simulated callers; with endless patience it is Erlang C."""
    from almen.access.ooh import erlang_a

    got = erlang_a(9, 120, 4.0, 5.0, 3.0)
    waited, abandoned, within = _simulate_mmnm(9, 2.0, 0.25, 0.2, 200_000, seed=3)
    assert got.waits == pytest.approx(waited, abs=0.01)
    assert got.abandons == pytest.approx(abandoned, abs=0.005)
    assert got.service_level == pytest.approx(within, abs=0.01)
    patient = erlang_a(9, 120, 4.0, 1e6, 3.0)
    assert patient.waits == pytest.approx(erlang_c(9, 8.0), rel=1e-3)
    assert patient.service_level == pytest.approx(service_level(9, 8.0, 4.0, 3.0), rel=1e-3)
    assert patient.abandons < 1e-4


def test_every_contact_calls_the_visitation_line() -> None:
    """Issue 22 item 3: 6 phone and 6 face-to-face contacts an hour: the line takes 12
    calls an hour (10-minute calls, 2 erlang), not 6; the agents keep occupancy under
    the cap, and the rostered agents cover the shrinkage."""
    from almen.access.ooh import phone_plan

    d = _demand([("A", 0, 20, "phone", 6.0), ("A", 0, 20, "consultation", 6.0)])
    params = OohParams(shrinkage=0.25, occupancy_cap=0.85)
    line = phone_plan(d, params).row(0, named=True)
    assert line["calls"] == pytest.approx(12.0) and line["traffic"] == pytest.approx(2.0)
    assert line["occupancy"] <= 0.85 and line["service_level"] >= 0.8
    assert line["rostered"] == math.ceil(line["agents"] / 0.75)
    only_phone = phone_plan(d, replace(params, all_contacts_call=False)).row(0, named=True)
    assert only_phone["calls"] == pytest.approx(6.0) and only_phone["agents"] < line["agents"]
    # nobody hangs up: Erlang C, and a patience of 5 minutes abandons a share
    assert phone_plan(d, replace(params, patience_minutes=None)).row(0, named=True)["abandons"] == 0
    assert 0 < line["abandons"] < 0.2


def test_the_coordinator_doctor_takes_the_video_contacts_and_is_always_on() -> None:
    """Seed 002 §3 ("koordinatorlægefunktioner" that support the municipal acute nurses
    and AMK and take the video consultations so the visitators are not interrupted): 3
    video contacts an hour at 20:00 leave the line for the coordinator; at 02:00, with no
    video at all, one coordinator is still on duty; without the function the line takes
    the video calls and there is no coordinator."""
    from almen.access.ooh import coordinator_plan, phone_plan

    d = _demand([("A", 0, 20, "phone", 6.0), ("A", 0, 20, "video", 3.0),
                 ("A", 0, 20, "consultation", 4.0), ("A", 1, 2, "phone", 1.0)])  # fmt: skip
    with_c, without = OohParams(), OohParams(coordinator=False)
    line = {(r["weekday"], r["hour"]): r for r in phone_plan(d, with_c).iter_rows(named=True)}
    full = {(r["weekday"], r["hour"]): r for r in phone_plan(d, without).iter_rows(named=True)}
    assert line[(0, 20)]["calls"] == pytest.approx(10.0) and full[(0, 20)]["calls"] == 13.0
    coord = {
        (r["weekday"], r["hour"]): r for r in coordinator_plan(d, with_c).iter_rows(named=True)
    }
    assert set(coord) == {(0, 20), (1, 2)}  # every hour the service runs
    assert coord[(0, 20)]["calls"] == pytest.approx(3.0)
    # 3 calls of 10 minutes: 0.5 erlang; at most 85 % busy and 80 % within 3 minutes
    assert coord[(0, 20)]["agents"] >= 1 and coord[(0, 20)]["occupancy"] <= 0.85
    assert coord[(1, 2)]["calls"] == 0 and coord[(1, 2)]["agents"] == 1
    assert coordinator_plan(d, without).is_empty()


def test_a_holiday_has_its_own_roster() -> None:
    """Issue 22 item 3 (holiday rosters): a holiday's doctors are rostered on its own 24
    hours (day 7), covering every hour, no shift running past midnight; the ordinary
    week's roster is unchanged by it."""
    from almen.access.roster import week_rosters

    plan = pl.DataFrame(
        {
            "site": ["A"] * 4,
            "weekday": [0, 0, 7, 7],
            "hour": [20, 21, 10, 23],
            "doctors": [1, 1, 2, 1],
        },
        schema_overrides={"weekday": pl.Int8, "hour": pl.Int8},
    )
    phone = plan.with_columns(rostered=pl.col("doctors")).drop("site", "doctors")
    shifts, totals = week_rosters(plan, phone)
    hol = shifts.filter(pl.col("who") == "A", pl.col("day") == 7)
    cover = np.zeros(24)
    for r in hol.iter_rows(named=True):
        assert r["hour"] + r["length"] <= 24
        cover[r["hour"] : r["hour"] + r["length"]] += r["count"]
    assert cover[10] >= 2 and cover[23] >= 1
    t = {(r["who"], r["day_type"]): r for r in totals.iter_rows(named=True)}
    # two 4-hour shifts over 10:00 and one 20:00-24:00 (the shortest is 4 hours)
    assert t[("A", "holiday")]["hours_needed"] == 3 and t[("A", "holiday")]["shift_hours"] == 12
    assert hol.filter(pl.col("hour") == 20)["count"].sum() == 1
    assert t[("A", "week")]["hours_needed"] == 2 and t[("A", "week")]["shift_hours"] == 4
