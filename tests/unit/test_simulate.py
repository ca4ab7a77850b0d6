"""Access simulation (seed 003 "Prioritering af den praktiserende læges tid"): checked
against queueing theory, reproducible, and severity priority on synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from almen.access.inputs import clinic_inputs, load_case_mix
from almen.access.simulate import Hours, SimParams, Workload, make_workload, simulate, summarise
from almen.errors import NotFoundError, ParameterError
from almen.warehouse import Warehouse


def _mm1(lam: float, mu: float, n: int, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1 / lam, n))
    svc = rng.exponential(1 / mu, n)
    one = np.array(["doctor"] * n, dtype=object)
    return Workload(arrival, np.zeros(n, dtype=np.int64), one, np.array(["consultation"] * n, dtype=object),
                    np.ones(n), np.array(["x"] * n, dtype=object), svc, svc)  # fmt: skip


def test_single_server_matches_mm1() -> None:
    """One doctor always open, Poisson arrivals (1 per 10 min), exponential service (mean
    5 min): M/M/1 mean wait in queue Wq = ρ / (μ − λ) = 0.5 / (0.2 − 0.1) = 5 minutes."""
    lam, mu = 1 / 10, 1 / 5
    work = _mm1(lam, mu, 50_000, seed=2)
    weeks = int(work.arrival[-1] / (7 * 1440)) + 1
    params = SimParams(weeks=weeks, doctors=1, nurses=0, secretaries=0, hours=None)
    res = simulate(work, params, "fcfs")
    wq = float(res["wait_hours"].mean()) * 60  # type: ignore[arg-type]
    assert wq == pytest.approx((lam / mu) / (mu - lam), rel=0.05)


def test_opening_hours() -> None:
    h = Hours()
    assert h.is_open(8 * 60) and not h.is_open(16 * 60) and not h.is_open(5 * 1440 + 9 * 60)
    assert h.until_open(16 * 60) == 16 * 60  # Monday 16:00 → Tuesday 08:00
    assert h.until_open(4 * 1440 + 17 * 60) == (2 * 24 + 15) * 60  # Friday 17:00 → Monday 08:00


def _tiny_workload(tiny_denmark: Path, seed: int, per_day: float) -> tuple[Workload, str]:
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        pn = wh.read_table("clinic").provider_number.execute().iloc[0]
        _, _, people = clinic_inputs(wh, pn, 2025)
    per_weekday = [per_day] * 5 + [0.0, 0.0]
    return make_workload(per_weekday, load_case_mix(), people, weeks=12, seed=seed), pn


def test_reproducible_for_a_seed(tiny_denmark: Path) -> None:
    params = SimParams(doctors=1)
    a, _ = _tiny_workload(tiny_denmark, 7, 30)
    b, _ = _tiny_workload(tiny_denmark, 7, 30)
    c, _ = _tiny_workload(tiny_denmark, 8, 30)
    ra, rb = simulate(a, params, "priority"), simulate(b, params, "priority")
    assert ra.equals(rb)
    assert not ra.equals(simulate(c, params, "priority"))


def test_severity_priority_cuts_the_p90_of_the_most_severe(tiny_denmark: Path) -> None:
    """A busy one-doctor day: 19 requests of 15 minutes (4.75 hours) in the 5.2 hours
    the doctor has for requests (91 % busy): first come first served against severity
    priority, and routing to staff."""
    work, _ = _tiny_workload(tiny_denmark, 3, 19)
    params = SimParams(doctors=1, nurses=1, secretaries=1)
    runs = {p: simulate(work, params, p) for p in ("fcfs", "priority", "routing")}
    s = summarise(runs)
    acute = s.filter(pl.col("severity") == "acute").sort("policy")
    p90 = dict(zip(acute["policy"], acute["p90_wait_h"], strict=True))
    print(f"p90 wait of acute requests: fcfs {p90['fcfs']:.1f} h, priority {p90['priority']:.1f} h")
    assert p90["priority"] < p90["fcfs"]
    assert p90["routing"] <= p90["priority"]
    share = dict(zip(s["policy"], s["doctor_share_severe"], strict=False))
    assert share["routing"] > share["fcfs"]  # the doctor's time goes to the greatest need


def test_bad_parameters(tiny_denmark: Path) -> None:
    work, _ = _tiny_workload(tiny_denmark, 1, 5)
    with pytest.raises(ParameterError, match="policy"):
        simulate(work, SimParams(), "lottery")
    with pytest.raises(ParameterError, match="at least one doctor"):
        simulate(work, SimParams(doctors=0), "fcfs")
    with Warehouse.connect(tiny_denmark, read_only=True) as wh, pytest.raises(NotFoundError):
        clinic_inputs(wh, "999999", 2025)


def test_simulate_command(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        pn = wh.read_table("clinic").provider_number.execute().iloc[0]
    r = call_cli("--data", str(tiny_denmark), "access", "simulate", "--clinic", pn, "--weeks", "4")
    assert r.exit_code == 0, r.output
    assert "fcfs" in r.output and "routing" in r.output
    bad = call_cli("--data", str(tiny_denmark), "access", "simulate", "--clinic", "999999")
    assert bad.exit_code == 2 and "no clinic" in bad.stderr


def test_unserved_requests_count_as_censored_waits(tiny_denmark: Path) -> None:
    """Issue 22 item 1: a request never served is not left out of the waits: its wait is
    at least the time from arrival to the end. With 1 doctor and 150 requests a day the
    routine ones mostly stay unserved, and their median is a lower bound of weeks, not
    the 0.0 h of the few served."""
    work, _ = _tiny_workload(tiny_denmark, 3, 150)
    params = SimParams(weeks=12, doctors=1, nurses=0, secretaries=0)
    run = simulate(work, params, "priority")
    s = summarise({"priority": run}).filter(pl.col("severity") == "routine").row(0, named=True)
    assert s["unserved"] > 0.5 and s["median_censored"]
    assert s["median_wait_h"] >= 14 * 24  # at least the two drain weeks
    served = run.filter(pl.col("severity") == "routine", pl.col("start").is_not_null())
    assert served.height == 0 or s["median_wait_h"] > float(served["wait_hours"].median())  # type: ignore[arg-type]


def test_utilisation_by_hand() -> None:
    """10 doctor requests of 30 minutes in one week, 1 doctor at availability 0.5 of
    8-16 on 5 weekdays: time 0.5 × 480 × 5 = 1,200 minutes, offered 300, so 0.25. The
    request of 15:00 arrives as the day's budget runs out and is served on Tuesday
    (it was once lost there, taken by a cancelled get)."""
    n = 10
    arrival = 8 * 60 + np.arange(n) * 60.0  # Monday from 08:00, one an hour
    minutes = np.full(n, 30.0)
    one = np.array(["doctor"] * n, dtype=object)
    work = Workload(arrival, np.zeros(n, dtype=np.int64), one,
                    np.array(["consultation"] * n, dtype=object), np.full(n, 72.0),
                    np.array(["x"] * n, dtype=object), minutes, minutes)  # fmt: skip
    params = SimParams(weeks=1, doctors=1, nurses=0, secretaries=0,
                       availability={"doctor": 0.5, "nurse": 0.8, "secretary": 0.5})  # fmt: skip
    from almen.access.simulate import utilisation

    u = utilisation(simulate(work, params, "fcfs"), params).row(0, named=True)
    assert (u["pool"], u["available_minutes"], u["offered_minutes"]) == ("doctor", 1200.0, 300.0)
    assert u["offered"] == pytest.approx(0.25) and u["served"] == pytest.approx(0.25)


def test_replications_cover_the_mm1_figures() -> None:
    """M/M/1 with ρ = 0.5 (1 per 10 min, mean 5 min): P(Wq > t) = ρ e^{−(μ−λ)t}, so the
    90th percentile of the wait is ln(5) / 0.1 = 16.1 minutes; the 95 % interval of 10
    replications holds it, and holds the served utilisation (30,000 minutes of work in 7
    weeks' 70,560)."""
    from almen.access.simulate import replicate

    lam, mu = 1 / 10, 1 / 5

    def draw(seed: int) -> Workload:
        return _mm1(lam, mu, 6_000, seed=seed)

    weeks = 7  # 6,000 arrivals at 1 per 10 min ≈ 41.7 days
    params = SimParams(weeks=weeks, doctors=1, nurses=0, secretaries=0, hours=None)
    waits, util = replicate(draw, params, runs=10, warmup_weeks=0.0, policies=("fcfs",))
    p90 = waits.filter(pl.col("measure") == "p90_wait_h").row(0, named=True)
    assert p90["ci_low"] <= np.log(5) / 0.1 / 60 <= p90["ci_high"]
    assert p90["runs"] == 10 and p90["ci_low"] < p90["mean"] < p90["ci_high"]
    served = util.filter(pl.col("pool") == "doctor", pl.col("measure") == "served").row(
        0, named=True
    )
    # served utilisation: 6,000 requests of 5 minutes against the 7 weeks' minutes
    assert served["ci_low"] <= 6_000 * 5 / (weeks * 7 * 1440) <= served["ci_high"]


def _today_workload(tiny_denmark: Path, per_day: float = 25.0) -> Workload:
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        pn = wh.read_table("clinic").provider_number.execute().iloc[0]
        _, _, people = clinic_inputs(wh, pn, 2025)
    mix = pl.DataFrame({"channel": ["consultation", "phone", "e_consultation"],
                        "share": [0.55, 0.38, 0.07]})  # fmt: skip
    return make_workload([per_day] * 5 + [0.0, 0.0], load_case_mix(), people, weeks=4,
                         seed=5, channel_mix=mix)  # fmt: skip


def test_today_takes_phone_contacts_in_the_morning_phone_hour(tiny_denmark: Path) -> None:
    """Issue 22 item 1 (the morning phone hour): under today the doctors take phone
    contacts 8-9 only, so a call at 10:00 waits for the next morning; without a phone
    hour they are taken through the day."""
    from almen.access.simulate import utilisation

    work = _today_workload(tiny_denmark)
    assert work.channel_today is not None
    params = SimParams(weeks=4, doctors=1, nurses=1, secretaries=1)
    run = simulate(work, params, "today").with_columns(channel=pl.Series(work.channel_today))
    calls = run.filter(pl.col("channel") == "phone", pl.col("start").is_not_null())
    minute = calls["start"] % 1440
    assert len(calls) > 50 and ((minute >= 480) & (minute < 540)).all()
    late = calls.filter(pl.col("arrival") % 1440 >= 9 * 60)
    next_morning = (late["arrival"] // 1440 + 1) * 1440 + 480 - late["arrival"]
    assert len(late) and (late["start"] - late["arrival"] >= next_morning - 1e-9).all()
    anytime = simulate(work, SimParams(weeks=4, doctors=1, phone_hour=None), "today")
    free = anytime.with_columns(channel=pl.Series(work.channel_today)).filter(
        pl.col("channel") == "phone", pl.col("start").is_not_null()
    )
    assert ((free["start"] % 1440) >= 540).any()
    # the phone hour moves no minutes: the doctors offer the same load either way
    u_hour = utilisation(run, params).filter(pl.col("pool") == "doctor")["offered_minutes"][0]
    u_any = utilisation(anytime, params).filter(pl.col("pool") == "doctor")["offered_minutes"][0]
    assert u_hour == pytest.approx(u_any)


def test_staff_consultations_move_minutes_from_the_doctors_to_the_nurses(
    tiny_denmark: Path,
) -> None:
    """Issue 22 item 1 (staff consultations, seed 003: staff take what the doctor need
    not): under today a share of consultations goes to a nurse at the nurse's minutes.
    On the same requests the doctors' offered minutes fall by exactly the doctor's
    minutes of the consultations moved and the nurses' rise by theirs (20 against 15
    minutes); with no nurse the doctor keeps them."""
    from almen.access.simulate import utilisation

    work = _today_workload(tiny_denmark)
    assert work.minutes_today is not None and work.minutes_staff is not None

    def offered(share: float, nurses: int = 1) -> dict[str, float]:
        p = SimParams(weeks=4, doctors=2, nurses=nurses, secretaries=1, staff_share=share)
        u = utilisation(simulate(work, p, "today"), p)
        return dict(zip(u["pool"], u["offered_minutes"], strict=True))

    none, some = offered(0.0), offered(0.3)
    moved = simulate(work, SimParams(weeks=4, doctors=2, staff_share=0.3), "today")
    is_staff = (moved["pool"] == "nurse").to_numpy()
    assert 0.2 < is_staff.sum() / (work.channel_today == "consultation").sum() < 0.4
    assert none["doctor"] - some["doctor"] == pytest.approx(work.minutes_today[is_staff].sum())
    assert some["nurse"] - none["nurse"] == pytest.approx(work.minutes_staff[is_staff].sum())
    assert work.minutes_staff[is_staff].sum() == pytest.approx(
        work.minutes_today[is_staff].sum() * 20 / 15
    )
    assert offered(0.3, nurses=0)["doctor"] == pytest.approx(none["doctor"])
    with pytest.raises(ParameterError, match="phone hour"):
        SimParams(phone_hour=(7 * 60, 8 * 60)).check()
    with pytest.raises(ParameterError, match="staff share"):
        SimParams(staff_share=1.5).check()
