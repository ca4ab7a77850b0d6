"""Doctors, clinics, quality clusters and the listing of patients with clinics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from almen.synth import params as P
from almen.synth.geography import to_km

__all__ = [
    "Clinics",
    "Doctors",
    "Listing",
    "close_probability",
    "generate_clinics",
    "list_patients",
]

EPOCH = dt.date(1970, 1, 1)


@dataclass(slots=True)
class Clinics:
    provider_number: np.ndarray  # str
    muni: np.ndarray  # int16 index
    form: np.ndarray  # str
    cluster: np.ndarray  # str
    lon: np.ndarray
    lat: np.ndarray
    fte: np.ndarray  # total doctor capacity
    list_cap: np.ndarray  # most patients the clinic takes
    closed_to_new: np.ndarray  # bool, set after listing

    def __len__(self) -> int:
        return len(self.provider_number)


@dataclass(slots=True)
class Doctors:
    doctor_id: np.ndarray
    clinic: np.ndarray  # index into Clinics
    birth_year: np.ndarray
    female: np.ndarray
    role: np.ndarray
    fte: np.ndarray


@dataclass(slots=True)
class Listing:
    clinic: np.ndarray  # int32 index of the listed clinic, -1 for group 2
    nearest: np.ndarray  # int32 index of the nearest clinic (group 2 use it)
    listed_from_days: np.ndarray  # int32 days since 1970-01-01, for group 1


def _doctors_per_municipality(
    pop_full: np.ndarray, underserved: np.ndarray, scale: float, rng: np.random.Generator
) -> np.ndarray:
    from almen.reference import largest_remainder

    supply = np.where(underserved, P.SUPPLY_UNDERSERVED, P.SUPPLY_OTHER)
    supply = supply * rng.lognormal(0.0, P.SUPPLY_NOISE_SD, len(pop_full))
    total = round(P.GPS_AT_SCALE_1 * scale)
    return largest_remainder(pop_full * supply, total)


def generate_clinics(
    *,
    muni_names: list[str],
    pop_full: np.ndarray,
    underserved: np.ndarray,
    centroids: np.ndarray,
    person_muni: np.ndarray,
    person_lonlat: np.ndarray,
    year: int,
    scale: float,
    rng: np.random.Generator,
) -> tuple[Clinics, Doctors]:
    """Clinics of realistic forms in each municipality, staffed by doctors of realistic age.

    Doctors are spread over municipalities in proportion to population × a supply factor
    that is lower in the 42 underserved municipalities; each municipality's doctors are
    grouped into clinics by drawing forms and sizes (``params.CLINIC_FORMS``); region-run
    and tender clinics are commoner where supply is short. A clinic sits where a random
    resident of its municipality lives.
    """
    n_doctors = _doctors_per_municipality(pop_full, underserved, scale, rng)
    forms = [f[0] for f in P.CLINIC_FORMS]
    form_p = np.array([f[1] for f in P.CLINIC_FORMS])
    form_p = form_p / form_p.sum()

    c_muni: list[int] = []
    c_form: list[str] = []
    d_clinic: list[int] = []
    d_fte: list[float] = []
    d_role: list[str] = []
    for m, remaining in enumerate(n_doctors):
        public_share = (
            P.PUBLIC_CLINIC_SHARE_UNDERSERVED if underserved[m] else P.PUBLIC_CLINIC_SHARE_OTHER
        )
        while remaining > 0:
            if rng.random() < public_share:
                form = "region" if rng.random() < 0.5 else "tender"
                size = int(rng.choice(P.PUBLIC_CLINIC_DOCTORS[0], p=P.PUBLIC_CLINIC_DOCTORS[1]))
            else:
                i = int(rng.choice(len(forms), p=form_p))
                form = forms[i]
                size = int(rng.choice(P.CLINIC_FORMS[i][2], p=P.CLINIC_FORMS[i][3]))
            size = min(size, int(remaining))
            clinic = len(c_muni)
            c_muni.append(m)
            c_form.append(form)
            for _ in range(size):
                d_clinic.append(clinic)
                if form in ("region", "tender"):
                    d_role.append("employed")
                    d_fte.append(float(rng.choice([0.6, 0.8, 1.0], p=[0.2, 0.3, 0.5])))
                elif form == "shared" and size == 2:
                    d_role.append("owner")
                    d_fte.append(0.5)
                else:
                    employed = form == "partnership" and rng.random() < 0.08
                    d_role.append("employed" if employed else "owner")
                    d_fte.append(1.0 if rng.random() < P.OWNER_FULL_TIME_SHARE else 0.8)
            remaining -= size

    n_c, n_d = len(c_muni), len(d_clinic)
    muni = np.array(c_muni, dtype=np.int16)
    clinic_of = np.array(d_clinic, dtype=np.int32)
    fte = np.array(d_fte)
    role = np.array(d_role, dtype=object)

    # location: a random resident of the municipality, else its centroid
    lonlat = np.empty((n_c, 2))
    order = np.argsort(person_muni, kind="stable")
    starts = np.searchsorted(person_muni[order], np.arange(len(muni_names) + 1))
    for c in range(n_c):
        lo, hi = starts[muni[c]], starts[muni[c] + 1]
        if hi > lo:
            lonlat[c] = person_lonlat[order[rng.integers(lo, hi)]]
        else:
            lonlat[c] = centroids[muni[c]]
    lonlat += rng.normal(0.0, 0.002, lonlat.shape)

    # doctor age and sex: employed doctors younger; younger doctors more often women
    is_emp = role == "employed"
    age = np.where(
        is_emp,
        rng.normal(P.EMPLOYED_AGE_MEAN, P.EMPLOYED_AGE_SD, n_d),
        rng.normal(P.OWNER_AGE_MEAN, P.OWNER_AGE_SD, n_d),
    )
    # solo practice more common among older GPs: owners of solo clinics older, the other
    # owners younger by as much, so the owners' mean age stays (SOLO_AGE_SHIFT, assumption)
    solo_owner = (np.array(c_form, dtype=object)[clinic_of] == "solo") & ~is_emp
    owners = ~is_emp
    s = float(solo_owner[owners].mean()) if owners.any() else 0.0
    age = age + np.where(solo_owner, P.SOLO_AGE_SHIFT * (1 - s), 0.0)
    age = age - np.where(owners & ~solo_owner, P.SOLO_AGE_SHIFT * s, 0.0)
    age = np.clip(np.round(age), P.DOCTOR_AGE_MIN, P.DOCTOR_AGE_MAX).astype(np.int16)
    p_female = 1.0 / (1.0 + np.exp((age - 56.0) / 6.0)) * 0.45 + 0.25
    female = rng.random(n_d) < p_female

    clinic_fte = np.bincount(clinic_of, weights=fte, minlength=n_c)
    list_cap = np.round(
        clinic_fte * P.LIST_CAP_MEDIAN_PER_FTE * rng.lognormal(0.0, P.LIST_CAP_SD, n_c)
    ).astype(np.int64)

    numbers = rng.choice(900_000, size=n_c, replace=False) + 100_000
    provider = np.array([f"{x:06d}" for x in numbers], dtype=object)

    # quality clusters: the municipality's clinics west to east in groups of about 18
    cluster = np.empty(n_c, dtype=object)
    for m in np.unique(muni):
        idx = np.flatnonzero(muni == m)
        k = max(1, round(len(idx) / P.CLUSTER_TARGET_CLINICS))
        ranked = idx[np.argsort(lonlat[idx, 0], kind="stable")]
        for j, part in enumerate(np.array_split(ranked, k)):
            name = muni_names[m] if k == 1 else f"{muni_names[m]} {j + 1}"
            cluster[part] = name

    clinics = Clinics(
        provider_number=provider,
        muni=muni,
        form=np.array(c_form, dtype=object),
        cluster=cluster,
        lon=lonlat[:, 0],
        lat=lonlat[:, 1],
        fte=clinic_fte,
        list_cap=list_cap,
        closed_to_new=np.zeros(n_c, dtype=bool),
    )
    doctors = Doctors(
        doctor_id=np.arange(1, n_d + 1, dtype=np.int64),
        clinic=clinic_of,
        birth_year=(year - age).astype(np.int16),
        female=female,
        role=role,
        fte=fte,
    )
    return clinics, doctors


def _take(want: np.ndarray, order_key: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Which requests clinics accept: each clinic ``want[i]`` takes its requests in the
    order of ``order_key`` (smallest first) while it has ``room``; a boolean per request."""
    order = np.lexsort((order_key, want))
    sorted_c = want[order]
    first = np.searchsorted(sorted_c, sorted_c, side="left")
    ok_sorted = (np.arange(len(sorted_c)) - first) < room[sorted_c]
    ok = np.empty(len(want), dtype=bool)
    ok[order] = ok_sorted
    return ok


def _place_within_reach(
    clinics: Clinics, clinic: np.ndarray, xy: np.ndarray, todo: np.ndarray, tree: cKDTree
) -> np.ndarray:
    """The region's placement of people no chosen clinic took (``todo``): the nearest
    clinic within reach with room under the maximum list, nearest people first. Sets
    ``clinic`` for those placed; returns the people still without one."""
    n_c = len(clinics)
    size = np.bincount(clinic[clinic >= 0], minlength=n_c)
    room = np.maximum(np.floor(clinics.fte * P.LIST_MAX_PER_FTE).astype(np.int64) - size, 0)
    k = min(P.REACH_CLINICS, n_c)
    dist, idx = tree.query(xy[todo], k=k, distance_upper_bound=P.REACH_KM, workers=-1)
    dist = dist.reshape(len(todo), k)
    idx = idx.reshape(len(todo), k)
    rows = np.arange(len(todo))  # the people still to place, as rows of idx and dist
    for r in range(k):
        want = idx[rows, r]
        reach = want < n_c  # a missing neighbour (beyond reach) is n_c
        if not reach.any():
            break
        taken = np.zeros(len(rows), dtype=bool)
        taken[reach] = _take(want[reach], dist[rows[reach], r], room)
        clinic[todo[rows[taken]]] = want[taken]
        room -= np.bincount(want[taken], minlength=n_c)
        rows = rows[~taken]
        if not len(rows):
            break
    return todo[rows]


def close_probability(load: np.ndarray) -> np.ndarray:
    """Probability that a clinic closes to new patients, from its load.

    ``load`` is the list per full-time doctor over the 1,600 closing limit: at or above 1 a
    clinic may close (danish-facts §2.4), the likelier the fuller it is (a logistic curve);
    below 1 only by dispensation, at most ``params.CLOSE_PROB_BELOW``.
    """
    p = 1.0 / (1.0 + np.exp(-(load - P.CLOSE_LOAD_MID) / P.CLOSE_LOAD_WIDTH))
    return np.where(load >= 1.0, p, np.minimum(p, P.CLOSE_PROB_BELOW))


def list_patients(
    clinics: Clinics,
    person_lonlat: np.ndarray,
    person_age: np.ndarray,
    group1: np.ndarray,
    year: int,
    rng: np.random.Generator,
    k: int = 12,
) -> Listing:
    """List each group-1 person with a clinic chosen by distance and capacity.

    Each person ranks the ``k`` nearest clinics by distance × a random preference factor and
    asks them in turn; a clinic takes people in random order until its list is full
    (deferred acceptance without displacement). People still without a clinic after ``k``
    rounds are placed by the region, as it does for citizens without free choice: at the
    nearest clinic within ``params.REACH_KM`` whose list is still under
    ``params.LIST_MAX_PER_FTE`` per full-time doctor (the nearest people first), and only
    where every clinic within reach is at that maximum, at the nearest clinic over it.
    Afterwards clinics at or above the closing limit (1,600 per full-time
    doctor) may close to new patients, with a probability that rises with the list per
    full-time doctor (``params.CLOSE_LOAD_MID``/``CLOSE_LOAD_WIDTH``); a few below it close
    by dispensation.
    """
    n = len(person_lonlat)
    n_c = len(clinics)
    tree = cKDTree(to_km(clinics.lon, clinics.lat))
    xy = to_km(person_lonlat[:, 0], person_lonlat[:, 1])
    k = min(k, n_c)
    dist, idx = tree.query(xy, k=k, workers=-1)
    dist = dist.reshape(n, k)
    idx = idx.reshape(n, k).astype(np.int32)
    nearest = idx[:, 0].copy()
    score = (dist + 0.5) * rng.lognormal(0.0, P.PREFERENCE_NOISE_SD, (n, k))
    pref = np.take_along_axis(idx, np.argsort(score, axis=1), axis=1)
    del dist, score, idx

    clinic = np.full(n, -1, dtype=np.int32)
    remaining = clinics.list_cap.copy()
    todo = np.flatnonzero(group1)
    for r in range(k):
        if len(todo) == 0:
            break
        want = pref[todo, r]
        # each clinic takes its askers in random order (each asker's place in a random
        # permutation: its inverse, made by a scatter)
        shuffle = rng.permutation(len(todo))
        place = np.empty_like(shuffle)
        place[shuffle] = np.arange(len(todo))
        ok = _take(want, place, remaining)
        taken = todo[ok]
        clinic[taken] = want[ok]
        remaining -= np.bincount(want[ok], minlength=n_c)
        todo = todo[~ok]
    if len(todo):
        todo = _place_within_reach(clinics, clinic, xy, todo, tree)
    clinic[todo] = nearest[todo]

    # listing date: years since listing ~ exponential (mean 9), never before birth
    start = (dt.date(year, 1, 1) - EPOCH).days
    years_listed = np.minimum(rng.exponential(9.0, n), person_age + rng.random(n))
    listed_from = (start - 1 - np.floor(years_listed * 365.25)).astype(np.int32)

    size = np.bincount(clinic[clinic >= 0], minlength=n_c)
    load = size / np.maximum(clinics.fte * P.CLOSING_LIMIT_PER_FTE, 1e-9)
    clinics.closed_to_new = rng.random(n_c) < close_probability(load)
    return Listing(clinic=clinic, nearest=nearest, listed_from_days=listed_from)
