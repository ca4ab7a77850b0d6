"""What the web app shows, computed by the engines and kept in memory.

One read-only warehouse connection is shared under a lock; each result is computed once
per parameter set and kept (the warehouse does not change under a running app: DuckDB
lets no other process write while the app has the file open, so stop the app for
`almen synth`, `almen ingest` or `almen settle`). ``warm`` computes the shared results
in the background at start-up, so the first user does not wait for them. Patient-level
results stay here; the routes decide who may see what.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import polars as pl

from almen import population, reference
from almen.config import Settings, warehouse_target
from almen.errors import NotFoundError, ParameterError
from almen.warehouse import Warehouse

T = TypeVar("T")

__all__ = ["Services", "WarmState"]

log = logging.getLogger("almen.web")


@dataclass
class WarmState:
    """Progress of the start-up warm-up: what is ready, what failed (by error type
    only: messages could name data), what is being computed, and whether it is over."""

    started: bool = False
    finished: bool = False
    current: str | None = None
    ready: dict[str, float] = field(default_factory=dict)  # name -> seconds it took
    failed: dict[str, str] = field(default_factory=dict)  # name -> error type

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Services:
    def __init__(self, settings: Settings, *, year: int = 2025) -> None:
        self.settings = settings
        self.year = year
        self.as_of = dt.date(year, 12, 31)
        self._lock = threading.RLock()
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._wh: Warehouse | None = None
        self.warm_state = WarmState()
        self._stop = threading.Event()
        self._warmer: threading.Thread | None = None

    # -- plumbing ---------------------------------------------------------------------
    def warehouse(self) -> Warehouse:
        if self._wh is None:
            self._wh = Warehouse.connect(warehouse_target(self.settings), read_only=True)
        return self._wh

    def close(self) -> None:
        """Stop a running warm-up (interrupting its query) and close the connection."""
        self._stop.set()
        if self._warmer is not None and self._warmer.is_alive() and self._wh is not None:
            raw = getattr(self._wh.con, "con", None)  # the DuckDB connection under Ibis
            interrupt = getattr(raw, "interrupt", None)
            if interrupt is not None:
                interrupt()
            self._warmer.join(timeout=30)
        with self._lock:
            if self._wh is not None:
                self._wh.close()
                self._wh = None

    def warm_steps(self) -> list[tuple[str, Callable[[], object]]]:
        """The results every role's pages share, the clinic dashboard's first."""
        return [
            ("areas", self.areas),
            ("settlement", self.statements),
            ("summary", self.summary),
            ("ceiling", self.ceiling),
            ("findings", self.findings),  # with the indicators: one pass over the features
            ("frame", self.frame),
            ("need", self.need_by_municipality),
            ("limits", self.limits),
            ("workforce", self.workforce),
        ]

    def warm(self) -> WarmState:
        """Compute the shared results now, one after another, until done or ``close``.
        A step that fails (a year with no budget frame, say) is recorded and skipped:
        the route that needs it will give its own error."""
        st = self.warm_state
        st.started = True
        for name, step in self.warm_steps():
            if self._stop.is_set():
                break
            st.current = name
            t0 = time.perf_counter()
            try:
                step()
            except Exception as exc:  # recorded and skipped; the route reports it
                if self._stop.is_set():
                    break
                st.failed[name] = type(exc).__name__
                log.warning("warm-up: %s failed (%s)", name, type(exc).__name__)
            else:
                st.ready[name] = round(time.perf_counter() - t0, 2)
                log.info("warm-up: %s ready in %.1f s", name, st.ready[name])
        st.current = None
        st.finished = True
        return st

    def start_warm(self) -> None:
        """``warm`` on a background thread (the app serves meanwhile)."""
        self._warmer = threading.Thread(target=self.warm, name="almen-warm", daemon=True)
        self._warmer.start()

    def cached(self, key: tuple[Any, ...], compute: Callable[[Warehouse], T]) -> T:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        with self._lock:
            if key not in self._cache:
                self._cache[key] = compute(self.warehouse())
            return self._cache[key]

    # -- areas ------------------------------------------------------------------------
    def areas(self) -> pl.DataFrame:
        """provider_number, cluster, municipality, health_council, region."""
        return self.cached(("areas",), population.clinic_areas)

    def municipalities(self) -> pl.DataFrame:
        return self.cached(
            ("municipalities",),
            lambda wh: (
                wh.read_table("municipality")
                .select("code", "name", "region", "health_council")
                .to_polars()
            ),
        )

    def gp_share(self) -> float:
        """The warehouse's doctors as a share of Denmark's GPs (1.0 at scale 1): national
        numbers such as new capacities are scaled by it."""
        from almen.capacity import WorkforceParams

        n = self.cached(("doctors",), lambda wh: int(wh.read_table("doctor").count().execute()))
        return n / float(WorkforceParams().stock.sum())

    # -- settlement -------------------------------------------------------------------
    def _settled(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The year's statements and returned lines: the `settlement` and
        `returned_claim` tables written by `almen settle` (or `almen demo`), else computed
        here."""

        def compute(wh: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame]:
            from almen.settlement import readers

            if wh.has_table("settlement") and wh.has_table("returned_claim"):
                got, ret = readers.current_statements(wh, self.year)
                if len(got):
                    return got, ret
            return readers.settle_year(wh, self.year, list(range(1, 13)), self.as_of)

        return self.cached(("settled", self.year), compute)

    def statements(self) -> pl.DataFrame:
        return self._settled()[0]

    def returned(self) -> pl.DataFrame:
        return self._settled()[1]

    def summary(self) -> pl.DataFrame:
        """The year's claims checked once (``readers.year_summary``): § 96, the frame,
        the service overviews and fee scenarios all read it."""
        from almen.settlement import readers

        return self.cached(("summary", self.year),
                           lambda wh: readers.year_summary(wh, self.year))  # fmt: skip

    def ceiling(self, through_month: int = 12) -> pl.DataFrame:
        """§ 96 on the claims to the end of ``through_month`` (12: the whole year, as
        `almen ceiling --year`; earlier: the early warning, as ``--as-of`` that day)."""
        from almen.settlement import readers

        if not 1 <= through_month <= 12:
            raise ParameterError("through_month must be 1-12")
        if through_month == 12:
            return self.cached(
                ("ceiling", self.year, 12),
                lambda wh: readers.ceiling_for_year(
                    wh, self.year, dt.date(self.year, 12, 31), summary=self.summary()
                ),
            )
        through = _month_end(self.year, through_month)
        return self.cached(("ceiling", self.year, through_month),
                           lambda wh: readers.ceiling_for_year(wh, self.year, through))  # fmt: skip

    def frame(self) -> pl.DataFrame:
        from almen.settlement import readers

        return self.cached(
            ("frame", self.year),
            lambda wh: readers.frame_for_year(wh, self.year, summary=self.summary())[0],
        )

    def overview(self, clinic: str) -> pl.DataFrame:
        from almen.settlement import readers

        def compute(wh: Warehouse) -> pl.DataFrame:
            ov, _, fees = readers.overview_for_clinic(wh, clinic, self.year,
                                                      summary=self.summary())  # fmt: skip
            names = fees.select("service_code", "name_da").unique("service_code")
            return ov.join(names, on="service_code", how="left")

        return self.cached(("overview", self.year, clinic), compute)

    def compare_fees(
        self, scenario_text: str, *, source: str = "scenario", budget_neutral: bool | None = None
    ) -> dict[str, Any]:
        """A fee scenario (TOML text; ``source`` names it in error messages) against the
        year's activity: totals and the clinics by change (not cached: each differs)."""
        from almen.settlement import readers
        from almen.tomlfile import parse_toml

        scenario = parse_toml(scenario_text, source)
        with self._lock:
            res = readers.compare_fees(self.warehouse(), scenario, year=self.year,
                                       budget_neutral=budget_neutral,
                                       summary=self.summary())  # fmt: skip
        return {"scenario": getattr(res.scenario, "name", "scenario"), "totals": res.totals,
                "per_clinic": res.per_clinic}  # fmt: skip

    # -- population -------------------------------------------------------------------
    def _population(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Case finding and the indicators from one pass over the patients' features
        (the features are the costly part and are not kept)."""
        from almen.population.indicators import funnel, indicator_counts

        def compute(wh: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
            defs = population.load_definitions()
            feats = population.warehouse_features(wh, as_of=self.as_of, definitions=defs)
            found = population.apply_definitions(feats, defs)
            counts = population.clinic_counts(found, feats)
            poly = found.filter(pl.col("definition") == "polypharmacy")["patient_id"]
            ind = indicator_counts(feats, poly, wh.read_table("condition"), as_of=self.as_of)
            areas = self.areas().select("provider_number", "cluster", "region")
            return found, counts, funnel(ind, areas)

        return self.cached(("population", self.as_of), compute)

    def findings(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(found: patient_id, provider_number, definition, reason; counts per clinic)."""
        found, counts, _ = self._population()
        return found, counts

    def published_findings(self) -> pl.DataFrame:
        """Case-finding counts at every level as published (``population.published``)."""
        _, counts = self.findings()
        areas = self.areas()
        return self.cached(("published findings", self.as_of),
                           lambda _: population.published(counts, areas))  # fmt: skip

    def indicators(self) -> pl.DataFrame:
        """Indicators per clinic with funnel limits, as published (``funnel``: every
        count through ``almen.disclosure``, shares and limits from the published counts)."""
        return self._population()[2]

    def patient(self, patient_id: int) -> Any:
        """The patient overview (diagnoses, drugs, contacts, efforts), not cached."""
        from almen.population.patient import patient_overview

        with self._lock:
            wh = self.warehouse()
            p = wh.read_table("patient")
            if p.filter(p.patient_id == patient_id).count().execute() == 0:
                raise NotFoundError("no such patient")
            return patient_overview(
                patient_id, p, wh.read_table("condition"), wh.read_table("medication"),
                wh.read_table("claim"), reference.load_condition_codes(),
                population.load_definitions(), as_of=self.as_of,
            )  # fmt: skip

    def patient_facts(self, patient_id: int) -> tuple[int, str, set[str]]:
        """Age, sex and the triage flags from the records (``access.inputs``)."""
        from almen.access.inputs import patient_facts

        with self._lock:
            return patient_facts(self.warehouse(), patient_id, dt.date.today())

    def listed_with(self, patient_id: int) -> str | None:
        with self._lock:
            p = self.warehouse().read_table("patient")
            got = p.filter(p.patient_id == patient_id).select("provider_number").to_polars()
        return None if got.is_empty() else got["provider_number"][0]

    # -- capacity ---------------------------------------------------------------------
    def need_persons(self) -> pl.DataFrame:
        """The need index of every person (the year's claims), computed once."""
        from almen.capacity.inputs import need_from_warehouse

        return self.cached(("need persons", self.year),
                           lambda wh: need_from_warehouse(wh, self.year)[0])  # fmt: skip

    def need_by_municipality(self) -> pl.DataFrame:
        """Per municipality: need-weighted residents, FTE, relative capacity, citizens
        without free choice (coverage and free choice together)."""
        from almen.capacity import coverage, free_choice, need_by_area
        from almen.capacity.inputs import clinic_capacity, councils

        def compute(wh: Warehouse) -> pl.DataFrame:
            persons = self.need_persons()
            cl = clinic_capacity(wh, persons)
            areas = councils(wh)
            cov = coverage(persons.select("municipality", "need"), cl, areas, "municipality")
            loc = (
                wh.read_table("patient")
                .select("patient_id", "municipality", "provider_number", "lat", "lon")
                .to_polars()
            )
            ch = free_choice(loc, cl, areas).filter(pl.col("level") == "municipality")
            idx = need_by_area(persons, "municipality").select(
                pl.col("municipality").alias("area"), "need_index"
            )
            names = self.municipalities().select(pl.col("code").alias("area"), "name", "region")
            return (cov.join(ch.select("area", "without_free_choice", "listed_region_or_tender"),
                             on="area", how="left")
                    .join(idx, on="area", how="left").join(names, on="area", how="left")
                    .sort("relative_capacity"))  # fmt: skip

        return self.cached(("need", self.year), compute)

    def workforce(self, intakes: tuple[int, ...] = (350, 400), runs: int = 2000) -> pl.DataFrame:
        from almen.capacity import WorkforceParams, yearly_table

        return self.cached(("workforce", intakes, runs),
                           lambda _: yearly_table(WorkforceParams(), intakes, runs, seed=1))  # fmt: skip

    def distribution(self, new: int) -> pl.DataFrame:
        """Where ``new`` capacities go, voluntary and forced side by side."""
        from almen.capacity import distribute, side_by_side
        from almen.capacity.inputs import distribution_areas

        if not 0 <= new <= 5000:
            raise ParameterError("new must be between 0 and 5,000")

        def compute(wh: Warehouse) -> pl.DataFrame:
            areas = distribution_areas(wh, self.need_persons())
            both = side_by_side(
                {p: distribute(areas, new, policy=p) for p in ("voluntary", "forced")}
            )
            regions = self.municipalities().select(pl.col("code").alias("area"), "region")
            return both.join(areas.select("area", "name"), on="area").join(regions, on="area")

        return self.cached(("distribute", self.year, new), compute)

    def limits(self) -> pl.DataFrame:
        from almen.capacity import LimitParams, closing_limits
        from almen.capacity.inputs import limit_inputs

        return self.cached(
            ("limits", self.year),
            lambda wh: closing_limits(limit_inputs(wh, self.need_persons()), LimitParams()),
        )

    # -- access -----------------------------------------------------------------------
    def ooh_plan(self, region: str) -> dict[str, pl.DataFrame]:
        from almen.access.inputs import ooh_inputs
        from almen.access.ooh import demand, phone_plan, staffing

        def compute(wh: Warehouse) -> dict[str, pl.DataFrame]:
            contacts, sites, _ = ooh_inputs(wh, region, self.year)
            d = demand(contacts, self.year)
            plan, _w = staffing(d, sites)
            by_hour = d.group_by("hour").agg(pl.col("mean").sum() / 7).sort("hour")
            return {"plan": plan, "phone": phone_plan(d), "demand_by_hour": by_hour}

        return self.cached(("ooh", region, self.year), compute)


def _month_end(year: int, month: int) -> dt.date:
    """The last day of ``month``."""
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_next - dt.timedelta(days=1)
