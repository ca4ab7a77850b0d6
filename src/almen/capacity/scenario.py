"""Capacity scenarios: year by year to 2035, what happens to GPs, lists and free choice.

Seed 001 ("5.000 praktiserende læger", "National fordeling af kapaciteter og styring af
lukkegrænser"), seed 002 §4 (lægedækning, §4.4 lower limits for new GPs in underserved
areas) and seed 003 (free choice of doctor for every citizen in 2030). One run starts
from the warehouse (the clinics, their doctors and the listed citizens with their need
index) and repeats, for each year of the scenario:

1. **Retirement.** Each doctor leaves with the workforce model's probability for their
   age (``WorkforceParams.leave_rate``). A clinic left without a doctor is taken over by
   the region: its patients stay listed, with a clinic run by the region.
2. **New GPs.** The training pipeline (``workforce.entrants``) gives the year's new GPs.
3. **Distribution.** They are placed over the municipalities with HiGHS
   (``distribute``: least unmet need-weighted demand, with the scenario's limits per
   municipality and minimums per health council). In its municipality a new GP takes
   over a clinic run by a region or tender first, else joins the clinic with the longest
   list per doctor, else opens a clinic at the municipality's centre.
4. **Closing limits.** Each clinic's limit follows the scenario's rule: the old 1,600
   per doctor (``fixed``) or the need-based limit (``need``, ``closing_limits``).
   Under the *forced* policy the regions raise every limit by ``raise_share``.
5. **Re-listing.** Patients of clinics without a doctor are re-listed with the nearest
   clinic within ``radius_km`` that is open and has room under its limit (so under the
   voluntary policy no list is forced above its limit); who finds no room stays with
   the region.
6. **Measure.** A clinic is closed to new patients when its list has reached its limit.
   Citizens without free choice (fewer than ``min_open`` open clinics within
   ``radius_km``), citizens listed with region or tender clinics, list sizes per doctor
   and the underserved municipalities (more than ``underserved_share`` of the
   need-weighted demand unmet at the norm list per doctor).

The population and its need are held fixed (no births, deaths or moves), except for an
optional uniform growth of need a year (``need_growth_percent``), an assumption to
stand for ageing. The first row (the year before ``first_year``) is the warehouse as it
is, with the scenario's rule for closing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from almen.capacity.distribute import distribute
from almen.capacity.limits import LimitParams, closing_limits
from almen.capacity.workforce import WorkforceParams, beta_draws, draw, entrants
from almen.errors import ParameterError
from almen.geo import FREE_CHOICE_KM, FREE_CHOICE_MIN_OPEN, Cells, count_within, to_km

__all__ = [
    "MEASURES",
    "Country",
    "Replicated",
    "ScenarioParams",
    "ScenarioResult",
    "replicate",
    "run_scenario",
    "summarise",
]

PUBLIC_FORMS = ("region", "tender")
POLICIES = ("voluntary", "forced")
RULES = ("need", "fixed")


@dataclass(frozen=True)
class ScenarioParams:
    """A capacity scenario; every field has a default, see docs/capacity.md."""

    name: str = "base"
    first_year: int = 2026
    last_year: int = 2035
    seed: int = 1
    workforce: WorkforceParams = field(default_factory=WorkforceParams)
    intake_by_year: dict[int, int] = field(default_factory=dict)  # from that year on
    new_gp_fte: float = 1.0  # assumption: a new GP brings one full capacity
    policy: str = "voluntary"
    raise_share: float = 0.10  # forced: regions raise the limits 10 % (assumption)
    # forced, as the regions could use it (issue 21): "covered" raises the limits only in
    # municipalities whose need is covered (not underserved); "all" everywhere
    forced_where: str = "covered"
    # PLO's argument (seed 001): forced limits push GPs to leave or retire early. Each
    # year a GP in a clinic whose limit was raised leaves with this extra probability,
    # drawn per run from a Beta with this mean and sd (assumptions; 0 turns it off)
    forced_exit_rate: float = 0.02
    forced_exit_sd: float = 0.01
    max_new_per_municipality: int | None = None
    municipality_min: dict[str, int] = field(default_factory=dict)  # code → per year
    municipality_max: dict[str, int] = field(default_factory=dict)
    council_min: dict[str, int] = field(default_factory=dict)
    limit_rule: str = "need"
    limits: LimitParams = field(default_factory=LimitParams)
    radius_km: float = FREE_CHOICE_KM
    min_open: int = FREE_CHOICE_MIN_OPEN
    need_growth_percent: float = 0.0
    underserved_share: float = 0.10
    # the national intake and trainees are scaled to the country's share of Denmark's
    # GPs (about 1.0 for a full-scale warehouse); None: from the doctors in the country
    workforce_scale: float | None = None

    def check(self) -> None:
        if self.last_year < self.first_year:
            raise ParameterError("last_year must not be before first_year")
        if self.policy not in POLICIES:
            raise ParameterError(f"policy must be voluntary or forced, not {self.policy!r}")
        if self.limit_rule not in RULES:
            raise ParameterError(f"the limit rule must be need or fixed, not {self.limit_rule!r}")
        if self.forced_where not in ("covered", "all"):
            raise ParameterError(f"forced_where must be covered or all, not {self.forced_where!r}")
        if not 0 <= self.forced_exit_rate <= 1 or self.forced_exit_sd < 0:
            raise ParameterError("forced_exit_rate must be between 0 and 1, its sd not negative")
        if self.radius_km <= 0 or self.min_open < 1:
            raise ParameterError("radius_km must be above 0 and min_open at least 1")
        if any(v < 0 for v in self.intake_by_year.values()):
            raise ParameterError("an intake must not be negative")
        self.workforce.check()

    def intakes(self, scale: float = 1.0) -> list[int]:
        """The intake of each year first_year..last_year (a year's value holds on),
        times ``scale``."""
        out, current = [], self.workforce.intake
        for y in range(self.first_year, self.last_year + 1):
            current = self.intake_by_year.get(y, current)
            out.append(round(current * scale))
        return out


@dataclass(frozen=True)
class Country:
    """The starting point, as tables.

    ``persons``: patient_id, municipality, provider_number (None if not listed),
    need, vulnerable, and their 1 km ``cells`` (``geo.person_cells``, in persons' order);
    ``clinics``: provider_number, municipality, form, lat, lon; ``doctors``:
    provider_number, birth_year, fte; ``areas``: municipality, health_council, lat, lon.
    """

    persons: pl.DataFrame
    cells: Cells
    clinics: pl.DataFrame
    doctors: pl.DataFrame
    areas: pl.DataFrame


@dataclass(frozen=True)
class ScenarioResult:
    years: pl.DataFrame  # one row a year: GPs, lists, closed, free choice, underserved
    areas: pl.DataFrame  # one row a year and municipality


class _State:
    """The country as arrays, changed in place year by year."""

    def __init__(self, country: Country) -> None:
        areas = country.areas
        self.muni_codes = areas["municipality"].to_list()
        muni_ix = {m: i for i, m in enumerate(self.muni_codes)}
        self.councils = areas["health_council"].to_list()
        self.muni_lonlat = areas.select("lon", "lat").to_numpy().astype(float)
        cl = country.clinics
        self.clinic_ids: list[str] = cl["provider_number"].to_list()
        clinic_ix = {c: i for i, c in enumerate(self.clinic_ids)}
        self.clinic_muni = np.array([muni_ix[m] for m in cl["municipality"]], dtype=np.int64)
        self.clinic_lonlat = cl.select("lon", "lat").to_numpy().astype(float)
        self.public = cl["form"].is_in(PUBLIC_FORMS).to_numpy().copy()
        # a clinic may close at its limit; whether it does is its choice: those closed in
        # the warehouse close again whenever their list is at the limit, the others not
        self.willing = cl["closed_to_new"].fill_null(False).to_numpy().copy()
        d = country.doctors.filter(pl.col("provider_number").is_in(self.clinic_ids))
        self.doc_clinic = np.array([clinic_ix[c] for c in d["provider_number"]], dtype=np.int64)
        self.doc_birth = d["birth_year"].to_numpy().astype(np.int64)
        self.doc_fte = d["fte"].to_numpy().astype(float)
        self.doc_start = np.zeros(len(d), dtype=np.int64)  # year a new GP started, 0 if before
        p = country.persons
        self.person_clinic = (
            p["provider_number"]
            .cast(pl.String)
            .replace_strict(clinic_ix, default=-1, return_dtype=pl.Int64)
            .fill_null(-1)
            .to_numpy()
            .copy()
        )
        self.person_muni = (
            p["municipality"]
            .cast(pl.String)
            .replace_strict(muni_ix, default=-1, return_dtype=pl.Int64)
            .fill_null(-1)
            .to_numpy()
        )
        self.need = p["need"].to_numpy().astype(float)
        self.vulnerable = p["vulnerable"].to_numpy().astype(float)
        self.cells = country.cells
        self.n_muni = len(self.muni_codes)
        self.muni_need = np.bincount(
            self.person_muni[self.person_muni >= 0],
            weights=self.need[self.person_muni >= 0],
            minlength=self.n_muni,
        )
        self.muni_residents = np.bincount(
            self.person_muni[self.person_muni >= 0], minlength=self.n_muni
        )

    @property
    def n_clinics(self) -> int:
        return len(self.clinic_ids)

    def fte(self) -> np.ndarray:
        return np.bincount(self.doc_clinic, weights=self.doc_fte, minlength=self.n_clinics)

    def heads(self) -> np.ndarray:
        return np.bincount(self.doc_clinic, minlength=self.n_clinics)

    def listed(self) -> np.ndarray:
        on = self.person_clinic >= 0
        return np.bincount(self.person_clinic[on], minlength=self.n_clinics)

    def list_sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        on = self.person_clinic >= 0
        pc = self.person_clinic[on]
        n = np.bincount(pc, minlength=self.n_clinics)
        need = np.bincount(pc, weights=self.need[on], minlength=self.n_clinics)
        vul = np.bincount(pc, weights=self.vulnerable[on], minlength=self.n_clinics)
        return n, need, vul

    def add_clinic(self, muni: int) -> int:
        self.clinic_ids.append(f"new-{self.muni_codes[muni]}-{self.n_clinics}")
        self.clinic_muni = np.append(self.clinic_muni, muni)
        self.clinic_lonlat = np.vstack([self.clinic_lonlat, self.muni_lonlat[muni]])
        self.public = np.append(self.public, False)
        self.willing = np.append(self.willing, True)
        return self.n_clinics - 1

    def add_doctor(self, clinic: int, year: int, age: int, fte: float) -> None:
        self.doc_clinic = np.append(self.doc_clinic, clinic)
        self.doc_birth = np.append(self.doc_birth, year - age)
        self.doc_fte = np.append(self.doc_fte, fte)
        self.doc_start = np.append(self.doc_start, year)

    def remove_doctors(self, leave: np.ndarray) -> None:
        keep = ~leave
        self.doc_clinic = self.doc_clinic[keep]
        self.doc_birth = self.doc_birth[keep]
        self.doc_fte = self.doc_fte[keep]
        self.doc_start = self.doc_start[keep]


def _limits(s: _State, p: ScenarioParams, year: int, underserved_muni: np.ndarray) -> np.ndarray:
    """Each clinic's closing limit under the scenario's rule and policy (0 without a GP)."""
    fte = s.fte()
    n, need, vul = s.list_sums()
    newest = np.zeros(s.n_clinics, dtype=np.int64)
    np.maximum.at(newest, s.doc_clinic, s.doc_start)
    years_est = np.where(newest > 0, year - newest, -1)
    safe_n = np.maximum(n, 1)
    clinics = pl.DataFrame(
        {
            "fte": fte,
            "listed": n,
            "need_index": np.where(n > 0, need / safe_n, 1.0),
            "vulnerable_share": np.where(n > 0, vul / safe_n, 0.0),
            "underserved": underserved_muni[s.clinic_muni],
            "years_established": pl.Series(years_est).replace(-1, None),
        }
    )
    lim = closing_limits(clinics, p.limits)
    limit = lim["new_limit" if p.limit_rule == "need" else "old_limit"].to_numpy()
    raised = _raised(s, p, underserved_muni)
    limit = np.where(raised, limit * (1.0 + p.raise_share), limit)
    return np.where(fte > 0, limit, 0.0)


def _raised(s: _State, p: ScenarioParams, underserved_muni: np.ndarray) -> np.ndarray:
    """The clinics whose limit the forced policy raises: every clinic (``all``) or those
    in municipalities whose need is covered (``covered``); none under voluntary."""
    if p.policy != "forced":
        return np.zeros(s.n_clinics, dtype=bool)
    if p.forced_where == "all":
        return np.ones(s.n_clinics, dtype=bool)
    return ~underserved_muni[s.clinic_muni]


def _closed(s: _State, limit: np.ndarray, listed: np.ndarray) -> np.ndarray:
    """Closed to new patients: at the limit and willing to close, or without a doctor."""
    return (s.willing & (listed >= limit)) | (limit <= 0)


def _unmet(s: _State, p: ScenarioParams, need_scale: float) -> np.ndarray:
    """Need-weighted demand per municipality unmet at the norm list per doctor."""
    cap = np.bincount(s.clinic_muni, weights=s.fte(), minlength=s.n_muni)
    return np.maximum(s.muni_need * need_scale - p.limits.norm_per_fte * cap, 0.0)


def _place(s: _State, p: ScenarioParams, year: int, new_by_muni: np.ndarray) -> dict[str, int]:
    """Seat the new GPs in their municipalities: take over a public clinic, else join
    the clinic with the longest list per doctor, else open a clinic."""
    counts = {"takeovers": 0, "opened": 0}
    listed = s.listed().astype(float)
    fte = s.fte()
    for muni in np.flatnonzero(new_by_muni):
        for _ in range(int(new_by_muni[muni])):
            here = np.flatnonzero(s.clinic_muni == muni)
            public = here[s.public[here]]
            if len(public):
                c = int(public[np.argmax(listed[public])])
                s.public[c] = False
                counts["takeovers"] += 1
            elif len(here):
                c = int(here[np.argmax(listed[here] / np.maximum(fte[here], 0.1))])
            else:
                c = s.add_clinic(int(muni))
                listed = np.append(listed, 0.0)
                fte = np.append(fte, 0.0)
                counts["opened"] += 1
            s.add_doctor(c, year, p.workforce.entry_age, p.new_gp_fte)
            fte[c] += p.new_gp_fte
    return counts


def _relist(s: _State, p: ScenarioParams, limit: np.ndarray, rng: np.random.Generator) -> int:
    """Re-list patients of clinics without a doctor with the nearest open clinic within
    reach that has room under its limit; returns how many moved."""
    fte = s.fte()
    orphan_clinic = fte <= 0
    idx = np.flatnonzero((s.person_clinic >= 0) & orphan_clinic[np.maximum(s.person_clinic, 0)])
    listed = s.listed()
    room = np.where(_closed(s, limit, listed), 0, np.floor(limit - listed)).astype(np.int64)
    room = np.maximum(room, 0)
    cand = np.flatnonzero(room > 0)
    if len(idx) == 0 or len(cand) == 0:
        return 0
    cell = s.cells.of_person[idx]
    order = np.argsort(cell, kind="stable")
    idx, cell = idx[order], cell[order]
    ucell, start, count = np.unique(cell, return_index=True, return_counts=True)
    k = min(len(cand), 64)
    xy = to_km(s.clinic_lonlat[cand, 0], s.clinic_lonlat[cand, 1])
    dist, nn = cKDTree(xy).query(s.cells.centres[ucell], k=k, distance_upper_bound=p.radius_km)
    dist, nn = dist.reshape(len(ucell), k), nn.reshape(len(ucell), k)
    target = np.full(len(idx), -1, dtype=np.int64)
    for c in rng.permutation(len(ucell)):
        want, placed, first = int(count[c]), 0, int(start[c])
        for d, j in zip(dist[c], nn[c], strict=True):
            if not np.isfinite(d):
                break
            clinic = cand[j]
            take = min(int(room[clinic]), want - placed)
            if take > 0:
                target[first + placed : first + placed + take] = clinic
                room[clinic] -= take
                placed += take
                if placed == want:
                    break
    moved = target >= 0
    s.person_clinic[idx[moved]] = target[moved]
    return int(moved.sum())


def _measure(
    s: _State, p: ScenarioParams, year: int, limit: np.ndarray, need_scale: float
) -> tuple[dict[str, float], pl.DataFrame]:
    fte, heads = s.fte(), s.heads()
    listed = s.listed()
    closed = _closed(s, limit, listed)
    open_ll = s.clinic_lonlat[~closed]
    no_choice_cell = count_within(s.cells, open_ll, p.radius_km) < p.min_open
    no_choice = no_choice_cell[s.cells.of_person]
    on = s.person_muni >= 0
    public_person = (s.person_clinic >= 0) & s.public[np.maximum(s.person_clinic, 0)]
    m = s.person_muni[on]
    muni_no_choice = np.bincount(m, weights=no_choice[on], minlength=s.n_muni)
    muni_public = np.bincount(m, weights=public_person[on], minlength=s.n_muni)
    muni_fte = np.bincount(s.clinic_muni, weights=fte, minlength=s.n_muni)
    muni_heads = np.bincount(s.clinic_muni, weights=heads, minlength=s.n_muni)
    muni_listed = np.bincount(s.clinic_muni, weights=listed, minlength=s.n_muni)
    unmet = _unmet(s, p, need_scale)
    demand = s.muni_need * need_scale
    underserved = unmet > p.underserved_share * demand
    gp = fte > 0
    per_fte = listed[gp] / fte[gp]
    row = {
        "year": year,
        "gps": int(heads.sum()),
        "fte": float(fte.sum()),
        "clinics": int(gp.sum()),
        "closed": int(closed[gp].sum()),
        "share_closed": float(closed[gp].mean()) if gp.any() else 0.0,
        "listed_per_fte": float(listed[gp].sum() / fte[gp].sum()) if gp.any() else 0.0,
        "listed_per_fte_p90": float(np.percentile(per_fte, 90)) if gp.any() else 0.0,
        "without_free_choice": int(no_choice.sum()),
        "listed_region_or_tender": int(public_person.sum()),
        "without_doctor": int(((s.person_clinic >= 0) & ~gp[np.maximum(s.person_clinic, 0)]).sum()),
        "underserved_municipalities": int(underserved.sum()),
        "unmet_need": float(unmet.sum()),
    }
    areas = pl.DataFrame(
        {
            "year": np.full(s.n_muni, year),
            "municipality": s.muni_codes,
            "health_council": s.councils,
            "residents": s.muni_residents,
            "need_weighted": demand,
            "gps": muni_heads.astype(np.int64),
            "fte": muni_fte,
            "listed": muni_listed.astype(np.int64),
            "without_free_choice": muni_no_choice.astype(np.int64),
            "listed_region_or_tender": muni_public.astype(np.int64),
            "unmet_need": unmet,
            "underserved": underserved,
        }
    )
    return row, areas


def run_scenario(
    country: Country,
    params: ScenarioParams,
    progress: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Run ``params`` on ``country`` from first_year to last_year (see the module text).

    A year whose constraints cannot be met (more minimum places than new GPs) is a
    ``ParameterError`` that names the year.
    """
    params.check()
    s = _State(country)
    # two streams: the workforce's draws do not depend on the policy, so the policies
    # compared with one seed have the same GPs year by year
    rng, relist_rng, exit_rng = (
        np.random.default_rng(seq) for seq in np.random.SeedSequence(params.seed).spawn(3)
    )
    exit_rate = float(beta_draws(exit_rng, params.forced_exit_rate, params.forced_exit_sd, 1)[0])
    scale = params.workforce_scale
    if scale is None:
        scale = len(s.doc_birth) / max(int(params.workforce.stock.sum()), 1)
    wf = replace(params.workforce, in_training=round(params.workforce.in_training * scale))
    # the run's own workforce parameters (issue 21: replications carry the parameter
    # uncertainty of the workforce model, not chance alone)
    drawn = draw(wf, rng, 1)
    pipeline = entrants(wf, rng, 1, params.intakes(scale), draws=drawn)
    idx = {m: i for i, m in enumerate(s.muni_codes)}
    for code in (*params.municipality_min, *params.municipality_max):
        if code not in idx:
            raise ParameterError(f"unknown municipality {code!r}")
    for council in params.council_min:
        if council not in s.councils:
            raise ParameterError(f"unknown health council {council!r}")

    # the minimums and maximums are national numbers too: scaled down (and rounded
    # towards feasibility) like the intake
    def lo(v: int) -> int:
        return int(np.floor(v * scale))

    def hi(v: int | None) -> int | None:
        return None if v is None else int(np.ceil(v * scale))

    areas = pl.DataFrame(
        {
            "area": s.muni_codes,
            "health_council": s.councils,
            "min_new": [lo(params.municipality_min.get(m, 0)) for m in s.muni_codes],
            "max_new": [hi(params.municipality_max.get(m)) for m in s.muni_codes],
        },
        schema_overrides={"max_new": pl.Int64},
    )
    council_min = {c: lo(v) for c, v in params.council_min.items()}
    max_new = hi(params.max_new_per_municipality)
    rows: list[dict[str, float]] = []
    area_rows: list[pl.DataFrame] = []
    start = params.first_year - 1
    unmet = _unmet(s, params, 1.0)
    underserved = unmet > params.underserved_share * s.muni_need
    limit = _limits(s, params, start, underserved)
    raised = _raised(s, params, underserved)
    row, ar = _measure(s, params, start, limit, 1.0)
    rows.append(row | {"leavers": 0, "forced_exits": 0, "new_gps": 0, "takeovers": 0,
                       "opened": 0, "relisted": 0})  # fmt: skip
    area_rows.append(ar.with_columns(new_gps=pl.lit(0, dtype=pl.Int64)))
    for t, year in enumerate(range(params.first_year, params.last_year + 1)):
        need_scale = (1.0 + params.need_growth_percent / 100.0) ** (t + 1)
        # 1. retirement and other leaving, by age
        rate = np.clip(params.workforce.leave_rate(year - s.doc_birth) * drawn.leave[0], 0, 1)
        leave = rng.random(len(s.doc_birth)) < rate
        # forced limits: the GPs of raised clinics leave early with the exit rate (its own
        # stream, so the policies share every other draw)
        pushed = raised[s.doc_clinic] & (exit_rng.random(len(s.doc_birth)) < exit_rate)
        exits = int((pushed & ~leave).sum())
        leave = leave | pushed
        s.remove_doctors(leave)
        fte = s.fte()
        s.public |= (fte <= 0) & (s.listed() > 0)  # the region takes over
        # 2.-3. the year's new GPs, placed where need is least covered
        new = int(next(pipeline)[0])
        cap = np.bincount(s.clinic_muni, weights=fte, minlength=s.n_muni)
        try:
            dist = distribute(
                areas.with_columns(need=s.muni_need * need_scale, capacity=cap),
                new,
                limit=params.limits.norm_per_fte,
                policy=params.policy,
                raise_share=params.raise_share,
                max_new=max_new,
                min_per_council=council_min or None,
            )
        except ParameterError as exc:
            raise ParameterError(f"{year} ({new} new GPs): {exc.message}") from None
        new_by_muni = dist.allocation["new"].to_numpy()
        counts = _place(s, params, year, new_by_muni)
        # 4.-5. limits, then re-list the patients of clinics without a doctor
        unmet = _unmet(s, params, need_scale)
        underserved = unmet > params.underserved_share * s.muni_need * need_scale
        limit = _limits(s, params, year, underserved)
        raised = _raised(s, params, underserved)
        moved = _relist(s, params, limit, relist_rng)
        limit = _limits(s, params, year, underserved)
        row, ar = _measure(s, params, year, limit, need_scale)
        rows.append(row | {"leavers": int(leave.sum()), "forced_exits": exits, "new_gps": new,
                           "relisted": moved} | counts)  # fmt: skip
        area_rows.append(ar.with_columns(new_gps=pl.Series(new_by_muni.astype(np.int64))))
        if progress is not None:
            progress(f"{params.policy} {year}")
    years = pl.DataFrame(rows).with_columns(
        scenario=pl.lit(params.name), policy=pl.lit(params.policy)
    )
    lead = ["scenario", "policy", "year", "gps", "fte", "leavers", "new_gps"]
    years = years.select(lead + [c for c in years.columns if c not in lead])
    return ScenarioResult(years, pl.concat(area_rows, how="vertical"))


def summarise(result: ScenarioResult, level: str) -> pl.DataFrame:
    """The yearly table (``national``), or per year and ``municipality`` or
    ``health_council``, with listed patients per FTE."""
    if level == "national":
        return result.years
    if level not in ("municipality", "health_council"):
        raise ParameterError("level must be national, municipality or health_council")
    a = result.areas
    if level == "health_council":
        a = (
            a.group_by("year", "health_council")
            .agg(pl.exclude("municipality", "underserved").sum(), pl.col("underserved").sum())
            .sort("year", "health_council")
        )
    return a.with_columns(
        listed_per_fte=pl.when(pl.col("fte") > 0).then(pl.col("listed") / pl.col("fte"))
    )


MEASURES = ("gps", "fte", "listed_per_fte", "listed_per_fte_p90", "share_closed",
            "without_free_choice", "listed_region_or_tender", "underserved_municipalities",
            "unmet_need")  # fmt: skip


@dataclass(frozen=True)
class Replicated:
    """A scenario run many times: per policy, year and measure the mean and 90 %
    interval over the runs (``summary``), the forced minus voluntary difference of each
    run likewise (``difference``, when both policies ran), every run's yearly table
    (``runs``), and how many runs were made and why."""

    summary: pl.DataFrame
    difference: pl.DataFrame | None
    runs: pl.DataFrame
    n: int
    note: str


def _bands(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    long = df.unpivot(index=[*keys, "replicate"], on=list(MEASURES), variable_name="measure")
    return (
        long.group_by([*keys, "measure"])
        .agg(
            mean=pl.col("value").mean(),
            p05=pl.col("value").quantile(0.05, "linear"),
            p95=pl.col("value").quantile(0.95, "linear"),
            runs=pl.len(),
        )
        .sort([*keys, "measure"])
    )


def replicate(
    country: Country,
    params: ScenarioParams,
    policies: tuple[str, ...] = ("voluntary", "forced"),
    runs: int | None = None,
    *,
    measure: str = "without_free_choice",
    max_runs: int = 40,
    step: int = 5,
    progress: Callable[[str], None] | None = None,
) -> Replicated:
    """Run the scenario with seeds seed, seed + 1, … under each policy (the same seeds
    for both: common random numbers). ``runs`` None: in steps of ``step`` until the
    90 % interval of the last year's forced − voluntary difference in ``measure`` leaves
    out 0, at most ``max_runs`` (the note says whether it did)."""
    if runs is not None and runs < 1:
        raise ParameterError("runs must be at least 1")
    if measure not in MEASURES:
        raise ParameterError(f"measure must be one of {', '.join(MEASURES)}")
    tables: list[pl.DataFrame] = []
    done = 0
    note = ""
    while True:
        target = runs if runs is not None else min(done + step, max_runs)
        for r in range(done, target):
            for pol in policies:
                res = run_scenario(country, replace(params, policy=pol, seed=params.seed + r),
                                   progress=progress)  # fmt: skip
                tables.append(res.years.with_columns(replicate=pl.lit(r)))
        done = target
        all_runs = pl.concat(tables, how="vertical_relaxed")
        diff = _difference(all_runs) if set(policies) == {"voluntary", "forced"} else None
        if runs is not None:
            note = f"{done} runs, as asked"
            break
        if diff is None:
            note = f"{done} runs (one policy: no difference to resolve)"
            break
        last = diff.filter((pl.col("year") == params.last_year) & (pl.col("measure") == measure))
        lo, hi = float(last["p05"][0]), float(last["p95"][0])
        if lo > 0 or hi < 0:
            note = (f"{done} runs: the 90 % interval of the {params.last_year} difference in "
                    f"{measure} ({lo:,.0f} to {hi:,.0f}) leaves out 0")  # fmt: skip
            break
        if done >= max_runs:
            note = (f"{done} runs (the most): the {params.last_year} difference in {measure} "
                    f"({lo:,.0f} to {hi:,.0f}) does not exceed its interval; the policies "
                    "do not differ beyond chance here")  # fmt: skip
            break
    summary = _bands(all_runs, ["policy", "year"])
    return Replicated(summary, diff, all_runs, done, note)


def _difference(all_runs: pl.DataFrame) -> pl.DataFrame:
    v = all_runs.filter(pl.col("policy") == "voluntary")
    f = all_runs.filter(pl.col("policy") == "forced")
    j = f.join(v, on=["replicate", "year"], suffix="_v")
    d = j.select("replicate", "year",
                 *[(pl.col(m) - pl.col(f"{m}_v")).alias(m) for m in MEASURES])  # fmt: skip
    return _bands(d, ["year"])
