"""One year of out-of-hours (lægevagt) contacts by region, site, hour and weekday."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from almen.days import closed_days
from almen.synth.geography import to_km

__all__ = ["KINDS", "OohContacts", "Sites", "generate_ooh"]

EPOCH = dt.date(1970, 1, 1)
KINDS = ("phone", "video", "consultation", "home_visit")
# kind mix: Region Hovedstaden's 1813 has no consultations at a lægevagt site (patients are
# referred to hospital emergency departments); elsewhere phone triage, then consultation
# or home visit [§4]. Shares are assumptions (no recent split was found).
MIX_1813 = np.array([0.80, 0.10, 0.00, 0.10])
MIX_PLO = np.array([0.60, 0.03, 0.30, 0.07])
MINUTES = {
    "phone": (5.0, 0.4),
    "video": (8.0, 0.35),
    "consultation": (12.0, 0.35),
    "home_visit": (40.0, 0.3),
}
# relative out-of-hours use by age (assumption: young children and the old most)
AGE_KNOTS = np.array([0, 4, 5, 15, 25, 65, 80, 100])
AGE_RATE = np.array([1.0, 1.0, 0.35, 0.45, 0.30, 0.35, 0.80, 0.90])
# hour-of-day weights: weekday evenings and nights (the clinic is open 8-16), whole days at
# weekends and on holidays, with the morning peak of weekend calls
WEEKDAY_HOURS = np.array(
    [0.25, 0.15, 0.10, 0.08, 0.08, 0.10, 0.20, 0.50]
    + [0.0] * 8
    + [1.6, 1.8, 1.7, 1.5, 1.2, 0.9, 0.6, 0.4]
)
WEEKEND_HOURS = np.array(
    [0.4, 0.25, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 1.1, 1.5, 1.6, 1.5,
     1.3, 1.2, 1.1, 1.1, 1.2, 1.3, 1.3, 1.2, 1.0, 0.8, 0.6, 0.5]
)  # fmt: skip


@dataclass(slots=True)
class Sites:
    name: np.ndarray  # str
    region: np.ndarray  # str
    lonlat: np.ndarray


@dataclass(slots=True)
class OohContacts:
    person: np.ndarray
    site: np.ndarray  # str
    start_us: np.ndarray  # int64 microseconds since epoch (local time)
    kind: np.ndarray  # int8 index into KINDS
    minutes: np.ndarray  # int16


def out_of_hours_rates(
    age: np.ndarray, per_person: float, area: np.ndarray | None = None
) -> np.ndarray:
    """Expected out-of-hours contacts per person, averaging ``per_person``; ``area`` is a
    per-person factor (the area's deprivation, ``synth.area.raked_factor``)."""
    r = np.interp(age, AGE_KNOTS, AGE_RATE)
    if area is not None:
        r = r * area
    return r * (per_person * len(age) / r.sum())


@functools.cache
def _day_table(year: int) -> tuple[np.ndarray, np.ndarray]:
    start = dt.date(year, 1, 1)
    n = (dt.date(year + 1, 1, 1) - start).days
    dk = closed_days(year)  # public holidays, Christmas Eve and New Year's Eve
    days = np.arange((start - EPOCH).days, (start - EPOCH).days + n, dtype=np.int64)
    off = np.array(
        [
            ((start + dt.timedelta(i)).weekday() >= 5 or (start + dt.timedelta(i)) in dk)
            for i in range(n)
        ]
    )
    days.flags.writeable = False  # cached: shared by every region
    off.flags.writeable = False
    return days, off


def generate_ooh(
    persons: np.ndarray,
    rates: np.ndarray,
    lonlat: np.ndarray,
    region: str,
    sites: Sites,
    year: int,
    rng: np.random.Generator,
) -> OohContacts:
    """Out-of-hours contacts of the persons with indices ``persons`` in ``region``.

    Counts are Poisson; the day is drawn with weekends and holidays 2.4 times as busy as a
    weekday evening and night and 20 % more in winter; the hour from the weekday or weekend
    profile; the kind from the region's mix. Phone and video contacts belong to the region's
    visitation; consultations and home visits to the nearest site.
    """
    count = rng.poisson(rates[persons])
    who = np.repeat(persons, count)
    n = len(who)
    days, off = _day_table(year)
    doy = np.arange(len(days))
    w = np.where(off, 2.4, 1.0) * (1.0 + 0.2 * np.cos(2 * np.pi * (doy - 20) / 365.0))
    day_i = rng.choice(len(days), size=n, p=w / w.sum())
    is_off = off[day_i]
    hour = np.where(
        is_off,
        rng.choice(24, size=n, p=WEEKEND_HOURS / WEEKEND_HOURS.sum()),
        rng.choice(24, size=n, p=WEEKDAY_HOURS / WEEKDAY_HOURS.sum()),
    )
    minute = rng.integers(0, 60, n)
    start_us = ((days[day_i] * 24 + hour) * 60 + minute) * 60_000_000
    mix = MIX_1813 if region == "Region Hovedstaden" else MIX_PLO
    kind = rng.choice(len(KINDS), size=n, p=mix).astype(np.int8)
    minutes = np.empty(n, dtype=np.int16)
    for k, name in enumerate(KINDS):
        sel = kind == k
        median, sd = MINUTES[name]
        minutes[sel] = np.clip(np.round(rng.lognormal(np.log(median), sd, int(sel.sum()))), 1, 240)
    mine = sites.region == region
    names = sites.name[mine]
    tree = cKDTree(to_km(sites.lonlat[mine, 0], sites.lonlat[mine, 1]))
    _, nearest = tree.query(to_km(lonlat[who, 0], lonlat[who, 1]), k=1)
    site = names[np.asarray(nearest, dtype=np.int64)].astype(object)
    remote = kind <= 1
    site[remote] = f"{region.removeprefix('Region ')} visitation"
    return OohContacts(person=who, site=site, start_us=start_us, kind=kind, minutes=minutes)
