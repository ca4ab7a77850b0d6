"""Out-of-hours (lægevagt) planning: demand by site, weekday and hour, a staffing plan
under a maximum load per doctor, the phone line by Erlang C, hours and sites with too
little activity for a doctor, and a consolidation scenario.

Seed 002 §3 (the out-of-hours service): no doctor on duty where and when activity is low
or absent; a maximum load per doctor (the agreement's number was not found, danish-facts
§4: a parameter); sites beside emergency departments; fewer home visits, more patients
transported to consultation; video and coordinator doctors.

Method (docs/access.md has the worked example):

1. Demand: contacts per site, weekday and hour, averaged over the year's weeks (mean
   λ). Consultations count 1; a home visit counts ``w`` consultations, w = mean home-visit
   minutes / mean consultation minutes (from the data).
2. Low activity: a site-hour with λ below ``min_activity`` gets no doctor; its demand
   goes to the nearest site that is open that hour (the busiest if none is near).
3. Staffing: plan for the ``quantile`` of a Poisson hour (planned = F⁻¹(q; λ)), and put
   on n = ⌈planned / max_load⌉ doctors, so the planned load per doctor never exceeds
   ``max_load`` (a property test checks it).
4. Simulation of the consultations (SimPy): each site's weeks with the plan's doctors
   hour by hour, Poisson arrivals at the hour's mean (the site's own and what it
   receives), exponential consultation times (home visits w times longer): the waits
   the plan gives.
5. Phone line (the region's visitation): calls λ per hour with mean handling time h;
   traffic A = λ h / 60 erlang; the fewest agents N > A with service level
   1 − C(N, A) e^{−(N − A) t / h} ≥ ``service_level`` within ``answer_minutes`` t, where
   C is Erlang C computed by the stable Erlang B recursion (no rounding of A; N is the
   only integer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
import simpy
from scipy.spatial import cKDTree
from scipy.stats import poisson

from almen.days import closed_days
from almen.errors import ParameterError
from almen.geo import to_km

__all__ = [
    "HOLIDAY",
    "OohParams",
    "consolidate",
    "coordinator_plan",
    "day_type",
    "demand",
    "erlang_a",
    "erlang_c",
    "phone_agents",
    "phone_plan",
    "service_level",
    "simulate_sites",
    "staffing",
]

FACE_KINDS = ("consultation", "home_visit")
PHONE_KINDS = ("phone", "video")


@dataclass(frozen=True)
class OohParams:
    max_load: float = 4.0  # contacts per doctor per hour: assumption (danish-facts §4)
    min_activity: float = 0.5  # mean contacts per hour below which no doctor is on duty
    quantile: float = 0.9  # plan for 9 hours in 10
    service_level: float = 0.8  # share of calls answered within answer_minutes
    answer_minutes: float = 3.0
    max_doctors: int | None = None  # at most this many doctors at a site in an hour
    # the phone line (issue 22 item 3): every contact is first a call to the visitation
    # (seed 002 §3; the 1813 model); callers hang up after a patience of mean
    # patience_minutes (Erlang A; None: nobody hangs up, Erlang C); shrinkage: the share
    # of rostered agent time not on the phones (breaks, training); occupancy_cap: at most
    # this share of the agents' time busy. All three are assumptions, no Danish figure.
    all_contacts_call: bool = True
    patience_minutes: float | None = 5.0
    shrinkage: float = 0.25
    occupancy_cap: float = 0.85
    # the coordinator doctor (seed 002 §3: "koordinatorlægefunktioner" that work with the
    # municipal acute nurses and AMK and take the video consultations, so the other
    # visitators are not interrupted): on duty in every hour the service runs, more when
    # the video contacts need more; the video contacts leave the visitation line
    coordinator: bool = True

    def check(self) -> None:
        if self.max_load <= 0:
            raise ParameterError("the maximum load per doctor must be above 0")
        if self.min_activity < 0:
            raise ParameterError("min_activity must not be negative")
        if not 0 < self.quantile < 1:
            raise ParameterError("quantile must be between 0 and 1")
        if not 0 < self.service_level < 1:
            raise ParameterError("the service level must be between 0 and 1")
        if self.answer_minutes < 0:
            raise ParameterError("answer_minutes must not be negative")
        if self.max_doctors is not None and self.max_doctors < 1:
            raise ParameterError("max_doctors must be at least 1")
        if self.patience_minutes is not None and self.patience_minutes <= 0:
            raise ParameterError("patience_minutes must be above 0")
        if not 0 <= self.shrinkage < 1 or not 0 < self.occupancy_cap <= 1:
            raise ParameterError("shrinkage must be in [0, 1) and occupancy_cap in (0, 1]")


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call waits (Erlang C), by the Erlang B recursion
    B(k) = A B(k−1) / (k + A B(k−1)), C = N B / (N − A (1 − B)); 1 when N ≤ A."""
    if traffic < 0 or agents < 0:
        raise ParameterError("traffic and agents must not be negative")
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return agents * b / (agents - traffic * (1 - b))


def service_level(agents: int, traffic: float, aht_minutes: float, answer_minutes: float) -> float:
    """Share of calls answered within ``answer_minutes``."""
    if traffic == 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    c = erlang_c(agents, traffic)
    return 1.0 - c * math.exp(-(agents - traffic) * answer_minutes / aht_minutes)


@dataclass(frozen=True)
class ErlangA:
    """The phone line with callers who hang up (M/M/N+M): the share that waits, the
    share that abandons, the share answered within the answer time (of all callers),
    and the agents' occupancy."""

    waits: float
    abandons: float
    service_level: float
    occupancy: float


def erlang_a(
    agents: int,
    calls_per_hour: float,
    aht_minutes: float,
    patience_minutes: float,
    answer_minutes: float,
) -> ErlangA:
    """Erlang A (Palm 1946; Garnett, Mandelbaum and Reiman 2002): Poisson calls at λ,
    exponential handling with mean 1/μ, N agents, and each caller hangs up after an
    exponential patience with mean 1/θ if not yet answered.

    The number of callers in the system is a birth-death chain with birth λ and death
    min(k, N) μ + max(k − N, 0) θ, solved for its stationary π (truncated where the tail
    is below 1e-12). Arrivals see π (PASTA): P(wait) = Σ_{k ≥ N} π_k, P(abandon) =
    Σ_{k > N} π_k (k − N) θ / λ, occupancy = Σ π_k min(k, N) / N. A caller who finds j
    waiting ahead is answered within t with the probability that a chain j → … → 0 →
    answered (rates N μ + i θ ahead, N μ at the front) ends before t and before his own
    patience (rate θ throughout): the matrix exponential of that chain's generator.
    With θ → 0 it is Erlang C."""
    if agents < 0 or calls_per_hour < 0 or aht_minutes <= 0 or patience_minutes <= 0:
        raise ParameterError("agents and calls must not be negative, times above 0")
    lam, mu, theta = calls_per_hour / 60.0, 1.0 / aht_minutes, 1.0 / patience_minutes
    if lam == 0:
        return ErlangA(0.0, 0.0, 1.0, 0.0)
    if agents == 0:
        return ErlangA(1.0, 1.0, 0.0, 0.0)
    # stationary distribution, in logs, out to where the tail is negligible
    logp = [0.0]
    k = 0
    while True:
        k += 1
        death = min(k, agents) * mu + max(k - agents, 0) * theta
        logp.append(logp[-1] + math.log(lam / death))
        if k > agents and logp[-1] - max(logp) < math.log(1e-12):
            break
    lp = np.array(logp)
    pi = np.exp(lp - lp.max())
    pi /= pi.sum()
    ks = np.arange(len(pi))
    waits = float(pi[agents:].sum())
    abandons = float((pi * np.maximum(ks - agents, 0)).sum() * theta / lam)
    occupancy = float((pi * np.minimum(ks, agents)).sum() / agents)
    # the tagged caller: states 0..J waiting ahead, plus "answered" (absorbing)
    j_max = len(pi) - 1 - agents
    served = _answered_within(agents * mu, theta, j_max, answer_minutes)
    sl = float(pi[:agents].sum() + (pi[agents:] * served).sum())
    return ErlangA(waits, abandons, sl, occupancy)


def _answered_within(front: float, theta: float, j_max: int, t: float) -> np.ndarray:
    """P(answered within t | j waiting ahead) for j = 0..j_max (see ``erlang_a``)."""
    from scipy.linalg import expm

    n = j_max + 1
    q = np.zeros((n + 1, n + 1))
    for i in range(n):
        ahead = front + i * theta if i > 0 else front
        q[i, i] = -(ahead + theta)
        if i > 0:
            q[i, i - 1] = ahead
        else:
            q[i, n] = front  # answered
    return np.asarray(expm(q * t)[:n, n])


def phone_agents(
    calls_per_hour: float, aht_minutes: float, target: float, answer_minutes: float
) -> int:
    """The fewest agents that answer ``target`` of the calls within ``answer_minutes``."""
    if calls_per_hour <= 0:
        return 0
    a = calls_per_hour * aht_minutes / 60.0
    n = max(1, math.floor(a) + 1)
    while service_level(n, a, aht_minutes, answer_minutes) < target:
        n += 1
    return n


HOLIDAY = 7  # the day type of public holidays, Christmas Eve and New Year's Eve


def day_type(day: pl.Expr, year: int) -> pl.Expr:
    """0-6 for an ordinary Monday..Sunday, ``HOLIDAY`` (7) for a public holiday,
    Christmas Eve or New Year's Eve (``almen.days``): clinics are closed and the
    out-of-hours service runs all day, with holiday demand rather than a weekday's."""
    closed = sorted(closed_days(year))
    return (
        pl.when(day.is_in(closed))
        .then(pl.lit(HOLIDAY))
        .otherwise(day.dt.weekday() - 1)
        .cast(pl.Int8)
    )


def demand(contacts: pl.DataFrame, year: int) -> pl.DataFrame:
    """Mean contacts per site, day type, hour and kind over the year.

    The column ``weekday`` is the day type: 0 = Monday … 6 = Sunday for ordinary days,
    7 for holidays (``day_type``), each averaged over the days of its type, so 1 January
    is planned as a holiday, not as an average Wednesday. ``contacts``: site,
    start_time, kind, minutes."""
    weeks = (
        pl.DataFrame({"day": pl.date_range(pl.date(year, 1, 1), pl.date(year, 12, 31), eager=True)})
        .group_by(weekday=day_type(pl.col("day"), year))
        .agg(days=pl.len())
    )
    c = contacts.with_columns(
        weekday=day_type(pl.col("start_time").dt.date(), year), hour=pl.col("start_time").dt.hour()
    )
    return (
        c.group_by("site", "weekday", "hour", "kind")
        .agg(contacts=pl.len(), minutes=pl.col("minutes").sum())
        .join(weeks, on="weekday")
        .with_columns(
            mean=pl.col("contacts") / pl.col("days"),
            weekday=pl.col("weekday").cast(pl.Int8),
            hour=pl.col("hour").cast(pl.Int8),
        )
        .sort("site", "weekday", "hour", "kind")
    )


def _home_visit_weight(d: pl.DataFrame) -> float:
    per = d.group_by("kind").agg(m=pl.col("minutes").sum() / pl.col("contacts").sum())
    m = dict(zip(per["kind"], per["m"], strict=True))
    if "home_visit" in m and m.get("consultation"):
        return float(m["home_visit"] / m["consultation"])
    return 1.0


def staffing(
    d: pl.DataFrame, sites: pl.DataFrame, params: OohParams = OohParams()
) -> tuple[pl.DataFrame, float]:
    """The doctors on duty per face-to-face site, weekday and hour (see the module text).

    ``d``: ``demand``; ``sites``: site, lon, lat (a site without a location sends its
    low hours to the busiest site). Returns the plan (site, weekday, hour, mean, closed,
    moved_to, load_in, planned, doctors, load_per_doctor) and the home-visit weight.
    """
    params.check()
    face = d.filter(pl.col("kind").is_in(FACE_KINDS))
    w = _home_visit_weight(face)
    load = (
        face.with_columns(
            units=pl.when(pl.col("kind") == "home_visit")
            .then(pl.col("mean") * w)
            .otherwise(pl.col("mean"))
        )
        .group_by("site", "weekday", "hour")
        .agg(mean=pl.col("units").sum())
    )
    names = sorted(load["site"].unique().to_list())
    grid = (
        pl.DataFrame({"site": names})
        .join(
            pl.DataFrame({"weekday": list(range(HOLIDAY + 1))}, schema={"weekday": pl.Int8}),
            how="cross",
        )
        .join(pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8}), how="cross")
    )
    plan = grid.join(load, on=["site", "weekday", "hour"], how="left").with_columns(
        pl.col("mean").fill_null(0.0)
    )
    loc = {r["site"]: (r["lon"], r["lat"]) for r in sites.iter_rows(named=True)
           if r["lon"] is not None and r["lat"] is not None}  # fmt: skip
    rows = []
    for (wd, hr), g in plan.group_by("weekday", "hour"):
        site = g["site"].to_list()
        mean = g["mean"].to_numpy().astype(float)
        closed = mean < params.min_activity
        if closed.all():  # someone is on duty in the region
            closed[int(np.argmax(mean))] = False
        target = np.arange(len(site))
        open_idx = np.flatnonzero(~closed)
        located_open = [i for i in open_idx if site[i] in loc]
        tree = (
            cKDTree(to_km(*np.array([loc[site[i]] for i in located_open]).T))
            if located_open
            else None
        )
        busiest = int(open_idx[np.argmax(mean[open_idx])])
        for k in np.flatnonzero(closed):
            if tree is not None and site[k] in loc:
                _, j = tree.query(to_km(*np.array([loc[site[k]]]).T)[0])
                target[k] = located_open[int(j)]
            else:
                target[k] = busiest
        load_in = np.bincount(target, weights=mean, minlength=len(site))
        planned = np.where(closed, 0.0, poisson.ppf(params.quantile, load_in))
        planned = np.where(~closed & (load_in > 0), np.maximum(planned, 1.0), planned)
        doctors = np.where(closed, 0, np.ceil(planned / params.max_load)).astype(np.int64)
        doctors = np.where(~closed & (doctors == 0) & (load_in > 0), 1, doctors)
        for i in range(len(site)):
            rows.append({
                "site": site[i], "weekday": int(wd), "hour": int(hr), "mean": float(mean[i]),
                "closed": bool(closed[i]),
                "moved_to": site[target[i]] if closed[i] else None,
                "load_in": float(load_in[i]) if not closed[i] else 0.0,
                "planned": float(planned[i]), "doctors": int(doctors[i]),
                "load_per_doctor": float(planned[i] / doctors[i]) if doctors[i] else 0.0,
            })  # fmt: skip
    out = pl.DataFrame(rows, schema_overrides={"moved_to": pl.String}).sort(
        "site", "weekday", "hour"
    )
    if params.max_doctors is not None:
        over = out.filter(pl.col("doctors") > params.max_doctors).sort("doctors", descending=True)
        if len(over):
            r = over.row(0, named=True)
            raise ParameterError(
                f"impossible: {r['site']} needs {r['doctors']} doctors on weekday {r['weekday']} "
                f"(0 = Monday) at {r['hour']:02d}:00 to keep the load at most "
                f"{params.max_load:g} contacts per doctor, more than the {params.max_doctors} "
                f"allowed ({len(over)} site-hours like it)"
            )
    return out, w


def phone_plan(d: pl.DataFrame, params: OohParams = OohParams()) -> pl.DataFrame:
    """Agents on the phone line per day type and hour.

    The calls are every contact (``all_contacts_call``: face-to-face ones are visited by
    phone first) or only phone and video contacts, less the video contacts when a
    coordinator doctor takes them (``coordinator``, ``coordinator_plan``); each call is
    handled in the mean minutes of the phone (and, without a coordinator, video)
    contacts. The agents on the phones are the fewest
    that answer ``service_level`` of all callers within ``answer_minutes`` with
    occupancy at most ``occupancy_cap``: by Erlang A with ``patience_minutes``, or
    Erlang C without. ``rostered`` = agents / (1 − shrinkage), rounded up."""
    params.check()
    kinds = d["kind"].unique().to_list() if params.all_contacts_call else list(PHONE_KINDS)
    if params.coordinator:
        kinds = [k for k in kinds if k != "video"]  # the coordinator doctor takes them
    calls = (
        d.filter(pl.col("kind").is_in(kinds))
        .group_by("weekday", "hour")
        .agg(calls=pl.col("mean").sum())
    )
    talk = [k for k in PHONE_KINDS if k != "video" or not params.coordinator]
    ph_all = d.filter(pl.col("kind").is_in(talk))
    total_n = float(ph_all["contacts"].sum())
    mean_aht = float(ph_all["minutes"].sum()) / total_n if total_n else 5.0
    per = ph_all.group_by("weekday", "hour").agg(
        contacts=pl.col("contacts").sum(), minutes=pl.col("minutes").sum()
    )
    ph = calls.join(per, on=["weekday", "hour"], how="left").sort("weekday", "hour")
    n_ph = ph["contacts"].fill_null(0).to_numpy().astype(float)
    m_ph = ph["minutes"].fill_null(0).to_numpy().astype(float)
    aht = np.where(n_ph > 0, m_ph / np.maximum(n_ph, 1), mean_aht)
    rows = []
    for c, h in zip(ph["calls"].to_numpy().astype(float), aht, strict=True):
        rows.append(_line(c, float(h), params))
    out = ph.select("weekday", "hour", "calls").with_columns(
        aht_minutes=pl.Series(aht), traffic=pl.col("calls") * pl.Series(aht) / 60.0
    )
    return pl.concat([out, pl.DataFrame(rows)], how="horizontal")


def coordinator_plan(d: pl.DataFrame, params: OohParams = OohParams()) -> pl.DataFrame:
    """Coordinator doctors per day type and hour (seed 002 §3): the function is staffed
    in every hour the service has contacts (it supports the municipal acute nurses and
    AMK, whatever the video load), and takes the video consultations, planned as the
    phone line is (Erlang A with the same service level, patience and occupancy cap) on
    the video contacts' own minutes. ``agents`` is the larger of 1 and what the video
    calls need; ``rostered`` adds the shrinkage. Empty without ``coordinator``.
    Columns as ``phone_plan``."""
    params.check()
    cols = {"weekday": pl.Int8, "hour": pl.Int8, "calls": pl.Float64,
            "aht_minutes": pl.Float64, "traffic": pl.Float64, "agents": pl.Int64,
            "service_level": pl.Float64, "abandons": pl.Float64, "occupancy": pl.Float64,
            "rostered": pl.Int64}  # fmt: skip
    if not params.coordinator:
        return pl.DataFrame(schema=cols)
    running = d.group_by("weekday", "hour").agg(pl.col("mean").sum().alias("any"))
    video = (
        d.filter(pl.col("kind") == "video")
        .group_by("weekday", "hour")
        .agg(calls=pl.col("mean").sum(), n=pl.col("contacts").sum(), m=pl.col("minutes").sum())
    )
    v = running.join(video, on=["weekday", "hour"], how="left").sort("weekday", "hour")
    n_all, m_all = float(v["n"].fill_null(0).sum()), float(v["m"].fill_null(0).sum())
    mean_aht = m_all / n_all if n_all else 10.0
    rows = []
    for r in v.iter_rows(named=True):
        calls = float(r["calls"] or 0.0)
        aht = float(r["m"]) / float(r["n"]) if r["n"] else mean_aht
        line = _line(calls, aht, params)
        line["agents"] = max(1, int(line["agents"]))
        line["rostered"] = max(1, int(line["rostered"]))
        rows.append({"weekday": r["weekday"], "hour": r["hour"], "calls": calls,
                     "aht_minutes": aht, "traffic": calls * aht / 60.0, **line})  # fmt: skip
    return pl.DataFrame(rows, schema=cols)


def _line(calls: float, aht: float, params: OohParams) -> dict[str, float | int]:
    """One hour of the phone line: agents, the service level, abandonment, occupancy."""
    a = calls * aht / 60.0
    if calls <= 0:
        return {"agents": 0, "service_level": 1.0, "abandons": 0.0, "occupancy": 0.0,
                "rostered": 0}  # fmt: skip
    n = max(1, math.ceil(a / params.occupancy_cap) if params.patience_minutes is None else 1)
    while True:
        if params.patience_minutes is None:
            sl, ab = service_level(n, a, aht, params.answer_minutes), 0.0
            occ = a / n
        else:
            e = erlang_a(n, calls, aht, params.patience_minutes, params.answer_minutes)
            sl, ab, occ = e.service_level, e.abandons, e.occupancy
        if sl >= params.service_level and occ <= params.occupancy_cap:
            break
        n += 1
    return {"agents": n, "service_level": sl, "abandons": ab, "occupancy": occ,
            "rostered": math.ceil(n / (1 - params.shrinkage) - 1e-9)}  # fmt: skip


def consolidate(
    contacts: pl.DataFrame,
    sites: pl.DataFrame,
    ed_sites: list[str],
    *,
    home_visits_to_consultation: float = 0.0,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Move consultations to the nearest site beside an emergency department, and a share
    of home visits to consultations there (patients transported; seed 002 §3).

    ``contacts``: site, start_time, kind, minutes, lon, lat (the patient's home);
    ``sites``: site, lon, lat. Returns the changed contacts and a summary: consultations
    moved, mean km from home to the consultation before and after, home visits before
    and after.
    """
    if not 0 <= home_visits_to_consultation <= 1:
        raise ParameterError("home_visits_to_consultation must be between 0 and 1")
    located = sites.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
    eds = located.filter(pl.col("site").is_in(ed_sites))
    if len(eds) == 0:
        raise ParameterError("none of the sites lies beside an emergency department")
    ed_names = eds["site"].to_list()
    tree = cKDTree(to_km(eds["lon"].to_numpy(), eds["lat"].to_numpy()))
    site_xy = {
        r["site"]: to_km(np.array([r["lon"]]), np.array([r["lat"]]))[0]
        for r in located.iter_rows(named=True)
    }
    face = contacts.filter(pl.col("site").is_in(list(site_xy)))
    rng = np.random.default_rng(0)
    n_face = len(face)
    kind = face["kind"].to_numpy().astype(object)
    convert = (kind == "home_visit") & (rng.random(n_face) < home_visits_to_consultation)
    new_kind = np.where(convert, "consultation", kind)
    home = to_km(face["lon"].fill_null(np.nan).to_numpy(), face["lat"].fill_null(np.nan).to_numpy())
    old_xy = np.array([site_xy[s] for s in face["site"]])
    _, j = tree.query(old_xy)
    new_site = np.array(ed_names, dtype=object)[np.asarray(j)]
    is_consult_before = kind == "consultation"
    is_consult_after = new_kind == "consultation"
    new_xy = to_km(eds["lon"].to_numpy(), eds["lat"].to_numpy())[np.asarray(j)]
    km_before = np.linalg.norm(home - old_xy, axis=1)
    km_after = np.linalg.norm(home - new_xy, axis=1)
    ok_b = is_consult_before & np.isfinite(km_before)
    ok_a = is_consult_after & np.isfinite(km_after)
    moved = face.with_columns(
        site=pl.Series(np.where(is_consult_after, new_site, face["site"].to_numpy()).astype(str)),
        kind=pl.Series(new_kind.astype(str)),
    )
    rest = contacts.filter(~pl.col("site").is_in(list(site_xy)))
    summary = {
        "consultations_before": float(is_consult_before.sum()),
        "consultations_after": float(is_consult_after.sum()),
        "consultations_moved": float(
            (is_consult_after & (new_site != face["site"].to_numpy())).sum()
        ),
        "km_to_consultation_before": float(km_before[ok_b].mean()) if ok_b.any() else 0.0,
        "km_to_consultation_after": float(km_after[ok_a].mean()) if ok_a.any() else 0.0,
        "home_visits_before": float((kind == "home_visit").sum()),
        "home_visits_after": float((new_kind == "home_visit").sum()),
        "sites_before": float(
            len({s for s, k in zip(face["site"], kind, strict=True) if k == "consultation"})
        ),
        "sites_after": float(len(set(new_site[is_consult_after]))),
    }
    return pl.concat([moved.select(contacts.columns), rest], how="vertical_relaxed"), summary


def _simulate_site(
    lam: np.ndarray, docs: np.ndarray, minutes: float, weeks: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One site: arrival times and start times (NaN: still waiting) over ``weeks``."""
    hours = weeks * 168
    counts = rng.poisson(np.tile(lam, weeks))
    parts = [h * 60 + np.sort(rng.random(n) * 60) for h, n in enumerate(counts) if n]
    arrival = np.concatenate(parts) if parts else np.zeros(0)
    svc = rng.exponential(minutes, len(arrival))
    env = simpy.Environment()
    store = simpy.Store(env)
    start = np.full(len(arrival), np.nan)

    def arrivals() -> simpy.events.ProcessGenerator:
        for i, t in enumerate(arrival):
            yield env.timeout(t - env.now)
            yield store.put(i)

    def doctor(k: int) -> simpy.events.ProcessGenerator:
        while env.now < hours * 60:
            h = int(env.now // 60)
            if docs[h % 168] <= k:  # not on duty this hour
                yield env.timeout((h + 1) * 60 - env.now)
                continue
            get = store.get()
            end_of_hour = env.timeout((h + 1) * 60 - env.now)
            got = yield get | end_of_hour
            if get not in got:
                get.cancel()
                continue
            i = got[get]
            start[i] = env.now
            yield env.timeout(svc[i])

    env.process(arrivals())
    for k in range(int(docs.max(initial=0))):
        env.process(doctor(k))
    env.run(until=hours * 60 + 24 * 60)
    return arrival, start


def simulate_sites(
    plan: pl.DataFrame, consultation_minutes: float, *, weeks: int = 4, seed: int = 1
) -> pl.DataFrame:
    """Simulate every open site's consultations under ``plan`` (from ``staffing``) for
    ``weeks``: arrivals Poisson with the hour's ``load_in`` (in consultation units),
    service exponential with mean ``consultation_minutes``, the hour's ``doctors``
    working (a consultation under way is finished). Per site: contacts, mean and
    90th-percentile wait in minutes, share waiting over 30 minutes, and the share
    still waiting a day after the last arrival."""
    if consultation_minutes <= 0 or weeks < 1:
        raise ParameterError("consultation_minutes must be above 0 and weeks at least 1")
    out: list[dict[str, object]] = []
    week = plan.filter(pl.col("weekday") < HOLIDAY)  # an ordinary week; holidays apart
    for n_site, (site, g) in enumerate(week.group_by("site", maintain_order=True)):
        g = g.sort("weekday", "hour")
        lam = g["load_in"].to_numpy().astype(float)  # each hour of the week
        if lam.sum() == 0:
            continue
        docs = g["doctors"].to_numpy().astype(int)
        arrival, start = _simulate_site(
            lam, docs, consultation_minutes, weeks, np.random.default_rng([seed, n_site])
        )
        wait = start - arrival
        ok = np.isfinite(wait)
        out.append({
            "site": str(site[0]),
            "contacts": len(arrival),
            "mean_wait_min": float(wait[ok].mean()) if ok.any() else None,
            "p90_wait_min": float(np.percentile(wait[ok], 90)) if ok.any() else None,
            "share_over_30_min": float((wait[ok] > 30).mean()) if ok.any() else None,
            "unserved": float((~ok).mean()) if len(wait) else 0.0,
        })  # fmt: skip
    return pl.DataFrame(out, schema={"site": pl.String, "contacts": pl.Int64,
                                     "mean_wait_min": pl.Float64, "p90_wait_min": pl.Float64,
                                     "share_over_30_min": pl.Float64, "unserved": pl.Float64})  # fmt: skip
