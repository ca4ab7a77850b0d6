"""Access simulation: a clinic's days over weeks as a discrete-event simulation (SimPy).

Seed 003 ("Tilgængelighed til klinikken", "Prioritering af den praktiserende læges
tid"): the greatest need served fastest, staff and digital channels taking what the
doctor need not. Requests arrive (Poisson, in opening hours, as many a weekday as the
clinic's claims show), are triaged (``triage``), and wait for a doctor, nurse or
secretary. Three policies, on the same requests and the same drawn service times:

- ``today``: the clinic as it works today: first come first served, by the channel the
  clinic's claims show (consultation, phone, e-consultation, video, home visit in the
  claims' shares) with the minutes for that channel; a share of the consultations are
  staff consultations (``staff_share``: delegated to a nurse, billed on the doctor's
  codes, so the claims cannot tell them apart), and the doctors take their phone
  contacts in the morning phone hour (``phone_hour``, 8-9), consultations the rest of
  the day;
- ``fcfs``: every request to a doctor as a consultation, first come first served;
- ``priority``: every request to a doctor, the most severe first (then by arrival);
- ``routing``: the most severe first, and each request to the handler and channel triage
  gave it (nurse, secretary; self-care material is sent by the secretary).

Staff work in opening hours; a queue carries over to the next opening, and waits are
clock hours from arrival to the start of service (comparable with the triage's target
hours). Service times are exponential with means by handler and channel (assumptions,
``SERVICE_MINUTES``). Without opening hours (``hours=None``) and with one server it is
an M/M/1 queue, which the tests check against the formula.

A request not served by the end is **censored**: its wait is at least the time from its
arrival to the end (``wait_at_least_hours``), and ``summarise`` counts it so, instead of
leaving it out. ``utilisation`` gives each role's offered and served load against its
time; ``replicate`` runs new workloads with new seeds and gives means with 95 %
confidence intervals after a warm-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import simpy

from almen.access.triage import SEVERITIES, Decision, Request, TriageRules, triage
from almen.errors import ParameterError

__all__ = [
    "POLICIES",
    "SERVICE_MINUTES",
    "Hours",
    "SimParams",
    "Workload",
    "make_workload",
    "open_days",
    "replicate",
    "simulate",
    "summarise",
    "utilisation",
]

POLICIES = ("today", "fcfs", "priority", "routing")
# service codes of the claims (reference.CONTACT_CODES) by the channel they are
TODAY_CHANNEL = {"0101": "consultation", "0102": "consultation", "0120": "consultation",
                 "0121": "home_visit", "0411": "home_visit", "0105": "e_consultation",
                 "0127": "e_consultation", "0125": "video", "0201": "phone",
                 "0204": "phone"}  # fmt: skip
MINUTES_PER_DAY = 24 * 60
# mean minutes per request by (handler, channel): assumptions (a GP consultation is about
# 15 minutes; phone and e-consultations shorter)
SERVICE_MINUTES: dict[tuple[str, str], float] = {
    ("doctor", "consultation"): 15.0,
    ("doctor", "home_visit"): 45.0,
    ("doctor", "video"): 10.0,
    ("doctor", "phone"): 6.0,
    ("doctor", "e_consultation"): 4.0,
    ("nurse", "consultation"): 20.0,
    ("nurse", "home_visit"): 40.0,
    ("nurse", "video"): 10.0,
    ("nurse", "phone"): 6.0,
    ("nurse", "e_consultation"): 4.0,
    ("secretary", "consultation"): 5.0,
    ("secretary", "home_visit"): 5.0,
    ("secretary", "video"): 4.0,
    ("secretary", "phone"): 4.0,
    ("secretary", "e_consultation"): 3.0,
    ("self_care", "e_consultation"): 2.0,
}
POOL = {"doctor": "doctor", "nurse": "nurse", "secretary": "secretary", "self_care": "secretary"}


@dataclass(frozen=True)
class Hours:
    """Opening hours: minutes after midnight, and the weekdays (0 = Monday) open."""

    open_minute: int = 8 * 60
    close_minute: int = 16 * 60
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)

    def is_open(self, t: float) -> bool:
        day, minute = divmod(t, MINUTES_PER_DAY)
        return int(day) % 7 in self.weekdays and self.open_minute <= minute < self.close_minute

    def until_open(self, t: float) -> float:
        """Minutes from ``t`` to the next opening (0 if open)."""
        if self.is_open(t):
            return 0.0
        day = int(t // MINUTES_PER_DAY)
        for d in range(day, day + 8):
            start = d * MINUTES_PER_DAY + self.open_minute
            if d % 7 in self.weekdays and start >= t:
                return start - t
        raise ParameterError("the clinic is never open")

    def until_close(self, t: float) -> float:
        day = int(t // MINUTES_PER_DAY)
        return day * MINUTES_PER_DAY + self.close_minute - t


@dataclass(frozen=True)
class Workload:
    """The requests of a run, drawn once and shared by the policies: arrival (minutes),
    triage severity rank, handler, channel, target hours, rule, and service minutes for
    each way of handling (doctor in consultation; the triaged handler and channel)."""

    arrival: np.ndarray
    severity_rank: np.ndarray
    handler: np.ndarray  # str
    channel: np.ndarray  # str
    target_hours: np.ndarray
    rule_id: np.ndarray  # str
    minutes_doctor: np.ndarray  # every request as a doctor consultation (fcfs, priority)
    minutes_routed: np.ndarray  # with the triaged handler and channel (routing)
    minutes_today: np.ndarray | None = None  # the doctor by the claims' channel (today)
    channel_today: np.ndarray | None = None  # str
    minutes_staff: np.ndarray | None = None  # a consultation by a nurse (today)
    staff_draw: np.ndarray | None = None  # uniform: a staff consultation if < staff_share


@dataclass(frozen=True)
class SimParams:
    weeks: int = 12
    doctors: int = 2
    nurses: int = 1
    secretaries: int = 1
    hours: Hours | None = field(default_factory=Hours)
    drain_weeks: int = 2  # time after the last arrival for the queue to empty
    # share of the opening hours each role spends on the requests (the rest: booked
    # controls, administration, supervision, lab): assumptions
    availability: dict[str, float] = field(
        default_factory=lambda: {"doctor": 0.65, "nurse": 0.8, "secretary": 0.5}
    )
    # today: the share of consultations a nurse does (delegated; an assumption: no public
    # Danish figure) and the doctors' morning phone hour (minutes after midnight; None:
    # phone contacts any time of the day)
    staff_share: float = 0.25
    phone_hour: tuple[int, int] | None = (8 * 60, 9 * 60)

    def check(self) -> None:
        if self.weeks < 1:
            raise ParameterError("weeks must be at least 1")
        if self.doctors < 1:
            raise ParameterError("a clinic needs at least one doctor")
        if self.nurses < 0 or self.secretaries < 0:
            raise ParameterError("staff numbers must not be negative")
        for role, share in self.availability.items():
            if not 0 < share <= 1:
                raise ParameterError(f"availability of {role} must be above 0 and at most 1")
        if not 0 <= self.staff_share <= 1:
            raise ParameterError("the staff share of consultations must be between 0 and 1")
        if self.phone_hour is not None:
            start, end = self.phone_hour
            h = self.hours
            if not start < end or (
                h is not None and not h.open_minute <= start < end <= h.close_minute
            ):
                raise ParameterError("the phone hour must lie inside the opening hours")


def make_workload(
    per_weekday: list[float],
    case_mix: pl.DataFrame,
    people: pl.DataFrame,
    *,
    weeks: int,
    hours: Hours = Hours(),
    rules: TriageRules | None = None,
    seed: int = 1,
    doctor_minutes: float | None = None,
    channel_mix: pl.DataFrame | None = None,
) -> Workload:
    """Draw ``weeks`` of requests: a Poisson number each open weekday (mean
    ``per_weekday[d]``), at uniform times in opening hours; a reason from ``case_mix``
    (reason, share) and a person from ``people`` (age, sex, chronic, special_effort),
    triaged by ``rules``. ``doctor_minutes``: the mean of a doctor consultation.
    ``channel_mix`` (channel, share; from the clinic's claims) gives each request the
    channel it has today; without it, today is every request a consultation."""
    if len(per_weekday) != 7:
        raise ParameterError("per_weekday needs 7 values, Monday to Sunday")
    if len(people) == 0:
        raise ParameterError("no people to draw requests from")
    rng = np.random.default_rng(seed)
    times: list[np.ndarray] = []
    for day in range(weeks * 7):
        wd = day % 7
        if wd not in hours.weekdays or per_weekday[wd] <= 0:
            continue
        n = rng.poisson(per_weekday[wd])
        start = day * MINUTES_PER_DAY + hours.open_minute
        times.append(np.sort(start + rng.random(n) * (hours.close_minute - hours.open_minute)))
    arrival = np.concatenate(times) if times else np.zeros(0)
    n = len(arrival)
    shares = case_mix["share"].to_numpy()
    reasons = case_mix["reason"].to_numpy()[rng.choice(len(case_mix), n, p=shares / shares.sum())]
    who = rng.integers(0, len(people), n)
    ages, sexes = people["age"].to_numpy()[who], people["sex"].to_numpy()[who]
    chronic = people["chronic"].to_numpy()[who]
    special = people["special_effort"].to_numpy()[who]
    decisions = []
    seen: dict[tuple[str, int, str, bool, bool], Decision] = {}  # no free text: same in, same out
    for i in range(n):
        key = (str(reasons[i]), int(ages[i]), str(sexes[i]), bool(chronic[i]), bool(special[i]))
        d = seen.get(key)
        if d is None:
            flags = frozenset(
                f for f, on in (("chronic", key[3]), ("special_effort", key[4])) if on
            )
            d = seen[key] = triage(Request(key[0], key[1], key[2], flags), rules)
        decisions.append(d)
    handler = np.array([d.handler for d in decisions], dtype=object)
    channel = np.array([d.channel for d in decisions], dtype=object)
    base = rng.exponential(1.0, n)  # one draw per request: common random numbers
    consult = doctor_minutes or SERVICE_MINUTES[("doctor", "consultation")]
    routed_mean = np.array(
        [SERVICE_MINUTES.get((h, c), consult) for h, c in zip(handler, channel, strict=True)]
    )
    if channel_mix is not None and len(channel_mix):
        cs = channel_mix["share"].to_numpy().astype(float)
        names = channel_mix["channel"].to_numpy()
        today = names[rng.choice(len(channel_mix), n, p=cs / cs.sum())].astype(object)
    else:
        today = np.full(n, "consultation", dtype=object)
    today_mean = np.array([consult if c == "consultation" else SERVICE_MINUTES[("doctor", c)]
                           for c in today])  # fmt: skip
    staff_draw = rng.random(n)  # drawn last: the draws above are as before
    return Workload(
        arrival=arrival,
        severity_rank=np.array([SEVERITIES.index(d.severity) for d in decisions], dtype=np.int64),
        handler=handler,
        channel=channel,
        target_hours=np.array([d.target_hours for d in decisions]),
        rule_id=np.array([d.rule_id for d in decisions], dtype=object),
        minutes_doctor=base * consult,
        minutes_routed=base * routed_mean,
        minutes_today=base * today_mean,
        channel_today=today,
        minutes_staff=base * SERVICE_MINUTES[("nurse", "consultation")],
        staff_draw=staff_draw,
    )


def simulate(work: Workload, params: SimParams, policy: str) -> pl.DataFrame:
    """Run one policy; one row per request: severity, pool, arrival, start, wait_hours,
    within_target, minutes (served), or start null if still waiting at the end."""
    params.check()
    if policy not in POLICIES:
        raise ParameterError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    env = simpy.Environment()
    pools = {
        "doctor": simpy.PriorityStore(env),
        "nurse": simpy.PriorityStore(env),
        "secretary": simpy.PriorityStore(env),
        "doctor_phone": simpy.PriorityStore(env),  # today: calls for the phone hour
    }
    staff = {"doctor": params.doctors, "nurse": params.nurses, "secretary": params.secretaries}
    n = len(work.arrival)
    pool_of = np.empty(n, dtype=object)
    minutes = {"routing": work.minutes_routed, "today": work.minutes_today}.get(policy)
    if minutes is None:
        minutes = work.minutes_doctor
    for i in range(n):
        pool_of[i] = POOL[work.handler[i]] if policy == "routing" else "doctor"
        if staff[pool_of[i]] == 0:
            pool_of[i] = "doctor"  # nobody in that role: the doctor takes it
    hours = params.hours
    phone = np.zeros(n, dtype=bool)  # waits for the doctors' phone hour
    if policy == "today" and work.channel_today is not None:
        minutes = minutes.copy()
        consult = work.channel_today == "consultation"
        if work.staff_draw is not None and work.minutes_staff is not None and params.nurses:
            by_staff = consult & (work.staff_draw < params.staff_share)
            pool_of[by_staff] = "nurse"
            minutes[by_staff] = work.minutes_staff[by_staff]
        if params.phone_hour is not None and hours is not None:
            phone = work.channel_today == "phone"
    phone_hour = params.phone_hour if phone.any() else None
    start = np.full(n, np.nan)

    def arrivals() -> simpy.events.ProcessGenerator:
        for i in range(n):
            yield env.timeout(max(work.arrival[i] - env.now, 0.0))
            prio = (0, i) if policy in ("fcfs", "today") else (int(work.severity_rank[i]), i)
            store = "doctor_phone" if phone[i] else pool_of[i]
            yield pools[store].put(simpy.PriorityItem(prio, i))

    def segment(role: str, now: float) -> tuple[simpy.PriorityStore, float]:
        """The queue a worker takes from now, and until when: a doctor takes phone
        contacts in the phone hour and the rest before and after it (today)."""
        assert hours is not None
        day = int(now // MINUTES_PER_DAY) * MINUTES_PER_DAY
        close = day + hours.close_minute
        if role != "doctor" or phone_hour is None:
            return pools[role], close
        ph_start, ph_end = day + phone_hour[0], day + phone_hour[1]
        if ph_start <= now < ph_end:
            return pools["doctor_phone"], ph_end
        return pools["doctor"], ph_start if now < ph_start else close

    def worker(pool: simpy.PriorityStore, role: str) -> simpy.events.ProcessGenerator:
        budget = params.availability.get(role, 1.0)
        day, used = -1, 0.0
        while True:
            if hours is not None:
                wait = hours.until_open(env.now)
                if wait > 0:
                    yield env.timeout(wait)
                today = int(env.now // MINUTES_PER_DAY)
                if today != day:
                    day, used = today, 0.0
                left = budget * (hours.close_minute - hours.open_minute) - used
                if left <= 0:  # today's time for requests is spent
                    yield env.timeout(hours.until_close(env.now) + 1e-6)
                    continue
                store, until = segment(role, env.now)
                get = store.get()
                closing = env.timeout(min(until - env.now, left))
                yield get | closing
                if not get.triggered:  # taken in the same instant as the timeout: keep it
                    get.cancel()
                    yield env.timeout(max(until - env.now, 0.0) + 1e-6)
                    continue
                item = get.value
                assert item is not None
            else:
                item = yield pool.get()
            i = item.item
            start[i] = env.now
            used += minutes[i]
            yield env.timeout(minutes[i])

    env.process(arrivals())
    for name in staff:
        for _ in range(staff[name]):
            env.process(worker(pools[name], name))
    if n and work.arrival.max() >= params.weeks * 7 * MINUTES_PER_DAY:
        raise ParameterError(
            f"the workload has requests after the {params.weeks} simulated weeks; draw it "
            "for the same weeks"
        )
    end = (params.weeks + params.drain_weeks) * 7 * MINUTES_PER_DAY
    env.run(until=end)
    wait_h = (start - work.arrival) / 60.0
    at_least = np.where(np.isnan(start), (end - work.arrival) / 60.0, wait_h)
    return pl.DataFrame(
        {
            "severity": [SEVERITIES[r] for r in work.severity_rank],
            "pool": pool_of.astype(str),
            "arrival": work.arrival,
            "start": pl.Series(start).fill_nan(None),
            "minutes": minutes,
            "target_hours": work.target_hours,
        }
    ).with_columns(
        wait_hours=pl.Series(wait_h).fill_nan(None),
        wait_at_least_hours=pl.Series(at_least),
        within_target=pl.Series(wait_h <= work.target_hours),
    )


def summarise(runs: dict[str, pl.DataFrame], warmup_weeks: float = 0.0) -> pl.DataFrame:
    """Per policy and severity: requests, median and 90th-percentile wait (hours) with
    unserved requests counted as censored (their wait is at least the time to the end;
    ``median_censored``/``p90_censored`` say when the figure is such a lower bound), the
    share within target, the share still waiting at the end; and the share of doctor time
    that went to acute and same-day requests (the greatest need). Requests arriving in
    the first ``warmup_weeks`` are left out (the clinic starts empty)."""
    out = []
    cut = warmup_weeks * 7 * MINUTES_PER_DAY
    for policy, r in runs.items():
        r = r.filter(pl.col("arrival") >= cut)
        doc = r.filter((pl.col("pool") == "doctor") & pl.col("start").is_not_null())
        severe = float(doc.filter(pl.col("severity").is_in(["acute", "same_day"]))["minutes"].sum())
        total = float(doc["minutes"].sum())
        w = pl.col("wait_at_least_hours")
        g = (
            r.group_by("severity")
            .agg(
                requests=pl.len(),
                median_wait_h=w.median(),
                p90_wait_h=w.quantile(0.9),
                within_target=pl.col("within_target").mean(),
                unserved=pl.col("start").is_null().mean(),
                median_censored=pl.col("start").is_null().mean() >= 0.5,
                p90_censored=pl.col("start").is_null().mean() >= 0.1,
            )
            .with_columns(
                policy=pl.lit(policy),
                doctor_share_severe=pl.lit(severe / total if total else 0.0),
            )
        )
        out.append(g)
    res = pl.concat(out)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return (
        res.with_columns(rank=pl.col("severity").replace_strict(order))
        .sort("policy", "rank")
        .drop("rank")
        .select("policy", "severity", pl.exclude("policy", "severity"))
    )


def open_days(params: SimParams, warmup_weeks: float = 0.0) -> int:
    """The days the clinic is open in the simulated weeks after the warm-up (every day
    without opening hours)."""
    hours = params.hours or Hours(0, MINUTES_PER_DAY, (0, 1, 2, 3, 4, 5, 6))
    return sum(1 for d in range(params.weeks * 7)
               if d % 7 in hours.weekdays and d >= warmup_weeks * 7)  # fmt: skip


def utilisation(run: pl.DataFrame, params: SimParams, warmup_weeks: float = 0.0) -> pl.DataFrame:
    """Per role (pool): staff, the minutes of requests that arrived after the warm-up
    (offered) and of those served, against the role's time for requests in the same
    weeks (staff × availability × opening minutes × open days). ``offered`` above 1 is a
    queue that cannot be kept: it grows for as long as the clinic runs."""
    hours = params.hours or Hours(0, MINUTES_PER_DAY, (0, 1, 2, 3, 4, 5, 6))
    days = open_days(params, warmup_weeks)
    per_day = hours.close_minute - hours.open_minute
    staff = {"doctor": params.doctors, "nurse": params.nurses, "secretary": params.secretaries}
    r = run.filter(pl.col("arrival") >= warmup_weeks * 7 * MINUTES_PER_DAY)
    rows = []
    for pool, n in staff.items():
        mine = r.filter(pl.col("pool") == pool)
        share = params.availability.get(pool, 1.0) if params.hours is not None else 1.0
        time = n * share * per_day * days
        offered = float(mine["minutes"].sum())
        served = float(mine.filter(pl.col("start").is_not_null())["minutes"].sum())
        rows.append({"pool": pool, "staff": n, "available_minutes": time,
                     "offered_minutes": offered, "served_minutes": served,
                     "offered": offered / time if time else None,
                     "served": served / time if time else None})  # fmt: skip
    return pl.DataFrame(rows)


def replicate(
    draw: Callable[[int], Workload],
    params: SimParams,
    *,
    runs: int = 20,
    seed: int = 1,
    warmup_weeks: float = 1.0,
    policies: tuple[str, ...] = POLICIES,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``runs`` replications, each with its own workload (``draw(seed + k)``): per policy
    and severity the mean of each figure of ``summarise`` over the runs with a 95 %
    confidence interval (Student's t), and the same for each role's ``utilisation``.
    Returns (waits, utilisation), long: policy, severity or pool, measure, mean, ci_low,
    ci_high, runs."""
    from scipy import stats

    if runs < 2:
        raise ParameterError("replications need at least 2 runs for an interval")
    waits, util = [], []
    for k in range(runs):
        work = draw(seed + k)
        sims = {p: simulate(work, params, p) for p in policies}
        waits.append(summarise(sims, warmup_weeks).with_columns(run=pl.lit(k)))
        for p, r in sims.items():
            util.append(utilisation(r, params, warmup_weeks).with_columns(policy=pl.lit(p),
                                                                       run=pl.lit(k)))  # fmt: skip
    t = float(stats.t.ppf(0.975, runs - 1))

    def interval(df: pl.DataFrame, keys: list[str], measures: list[str]) -> pl.DataFrame:
        long = df.unpivot(index=[*keys, "run"], on=measures, variable_name="measure").with_columns(
            pl.col("value").cast(pl.Float64)
        )
        return (
            long.group_by([*keys, "measure"], maintain_order=True)
            .agg(mean=pl.col("value").mean(), sd=pl.col("value").std(), n=pl.col("value").count())
            .with_columns(half=t * pl.col("sd") / pl.col("n").sqrt())
            .with_columns(
                ci_low=pl.col("mean") - pl.col("half"),
                ci_high=pl.col("mean") + pl.col("half"),
                runs=pl.lit(runs),
            )
            .drop("sd", "half", "n")
        )

    w = interval(pl.concat(waits), ["policy", "severity"],
                 ["median_wait_h", "p90_wait_h", "within_target", "unserved"])  # fmt: skip
    u = interval(pl.concat(util), ["policy", "pool"], ["offered", "served"])
    return w, u
