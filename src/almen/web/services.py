"""What the web app shows, computed by the engines and kept in memory.

Each result is computed once per parameter set and per version of the warehouse, under
a lock of its own (two users asking for the same result wait for one computation; users
asking for different results compute side by side, each on its own read-only
connection). A connection is open only while a result is computed, so `almen settle`,
`almen ingest` and `almen synth` can run while the app serves: a command that writes
says so (``warehouse.writer_waiting``) and the app then opens no new connection, serves
what it has computed and answers the rest with ``BusyError`` (HTTP 503, try again) until
the command is done. When the warehouse has changed (``warehouse.stamp``: checked at most
once a second) the app starts a new generation: results are computed afresh from the new
data, and the warm-up runs again. ``warm`` computes the shared results in the background,
so the first user does not wait for them. Patient-level results stay here; the routes
decide who may see what.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import polars as pl

from almen import population, reference
from almen.config import Settings, warehouse_target
from almen.errors import NotFoundError, ParameterError
from almen.warehouse import BusyError, Warehouse, stamp, writer_waiting

T = TypeVar("T")

__all__ = ["Services", "WarmState"]

log = logging.getLogger("almen.web")

CHECK_EVERY = 1.0  # seconds between looks at whether the warehouse changed


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


@dataclass
class Generation:
    """The results computed from one version of the warehouse (``stamp``)."""

    stamp: str | None
    number: int = 1
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    warm_state: WarmState = field(default_factory=WarmState)
    _locks: dict[tuple[Any, ...], threading.RLock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def lock_for(self, key: tuple[Any, ...]) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())


class Services:
    def __init__(self, settings: Settings, *, year: int = 2025) -> None:
        self.settings = settings
        self.year = year
        self.as_of = dt.date(year, 12, 31)
        # the app never waits for a lock: it answers "busy" and the user tries again
        self._target = dataclasses.replace(warehouse_target(settings), lock_wait=0.0)
        self._is_file = "://" not in str(self._target.where)  # a DuckDB file, not a URL
        self._gen = Generation(self._read_stamp())
        self._checked = time.monotonic()
        self._switch = threading.Lock()
        self._open: set[Warehouse] = set()
        self._open_guard = threading.Lock()
        self._stop = threading.Event()
        self._warm = False
        self._warmer: threading.Thread | None = None

    # -- plumbing ---------------------------------------------------------------------
    @property
    def warm_state(self) -> WarmState:
        return self._gen.warm_state

    def _read_stamp(self) -> str | None:
        if self._is_file:
            return stamp(self._target)
        try:
            with self._reading(check=False) as (_, st):
                return st
        except BusyError:
            return self._gen.stamp

    def generation(self) -> Generation:
        """The current generation of results; a new one when the warehouse changed (not
        while a command is writing it: the app serves the last complete version)."""
        now = time.monotonic()
        if now - self._checked >= CHECK_EVERY and not writer_waiting(self._target):
            self._checked = now
            current = self._read_stamp()
            if current != self._gen.stamp:
                self._renew(current)
        return self._gen

    def _renew(self, new_stamp: str | None) -> None:
        with self._switch:
            if new_stamp == self._gen.stamp:
                return
            self._gen = Generation(new_stamp, number=self._gen.number + 1)
            log.info("warehouse changed: generation %d", self._gen.number)
        if self._warm:
            self.start_warm()

    def health(self) -> dict[str, Any]:
        """Whether the results served are from the warehouse as it is now."""
        gen = self.generation()
        writing = writer_waiting(self._target)
        return {
            "generation": gen.number,
            "loaded_at": gen.loaded_at.isoformat(timespec="seconds"),
            "being_written": writing,
            "current": not writing and self._read_stamp() == gen.stamp,
        }

    def missing_references(self, refs: dict[str, list[Any]]) -> dict[str, int]:
        """How many of the records' references (``records.references``) point to
        regions, clusters, clinics or patients the warehouse no longer has (counts only:
        no id leaves here)."""
        known = self.known_scopes()
        out = {k: sum(1 for v in refs[k] if v not in known[k]) for k in known}
        ids = tuple(refs["patient"])

        def present(wh: Warehouse) -> int:
            p = wh.read_table("patient")
            return int(p.filter(p.patient_id.isin(list(ids))).count().execute())

        # once per generation and set of ids: health is polled, the warehouse is not
        out["patient"] = len(ids) - self.cached(("patients present", ids), present) if ids else 0
        return out

    @contextmanager
    def _reading(self, *, check: bool = True) -> Iterator[tuple[Warehouse, str | None]]:
        """A read-only connection for one computation, with the version it reads
        (fixed while the connection is open: a DuckDB writer cannot take the file)."""
        if check and writer_waiting(self._target):
            raise BusyError("the warehouse is being written by a command; try again shortly")
        wh = Warehouse.connect(self._target, read_only=True)
        with self._open_guard:
            self._open.add(wh)
        try:
            yield wh, (stamp(self._target) if self._is_file else wh.backend_stamp())
        finally:
            with self._open_guard:
                self._open.discard(wh)
            wh.close()

    @contextmanager
    def reading(self) -> Iterator[Warehouse]:
        """A read-only connection for work that is not kept (a patient's overview)."""
        with self._reading() as (wh, _):
            yield wh

    def close(self) -> None:
        """Stop a running warm-up (interrupting its queries)."""
        self._stop.set()
        with self._open_guard:
            for wh in self._open:
                raw = getattr(wh.con, "con", None)  # the DuckDB connection under Ibis
                interrupt = getattr(raw, "interrupt", None)
                if interrupt is not None:
                    interrupt()
        if self._warmer is not None and self._warmer.is_alive():
            self._warmer.join(timeout=30)

    def warm_steps(self) -> list[tuple[str, Callable[[], object]]]:
        """The results every role's pages share, the clinic dashboard's first."""
        return [
            ("areas", self.areas),
            ("settlement", self.statements),
            ("summary", self.summary),
            ("ceiling", self.ceiling),
            ("overview inputs", self.overview_inputs),
            ("findings", self.findings),  # with the indicators: one pass over the features
            ("frame", self.frame),
            ("need", self.need_by_municipality),
            ("limits", self.limits),
            ("workforce", self.workforce),
        ]

    def warm(self) -> WarmState:
        """Compute the shared results now, one after another, until done, ``close`` or
        a new generation. A step that fails (a year with no budget frame, say) is
        recorded and skipped: the route that needs it will give its own error."""
        gen = self._gen
        st = gen.warm_state
        st.started = True
        for name, step in self.warm_steps():
            if self._stop.is_set() or gen is not self._gen:
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
        """``warm`` on a background thread (the app serves meanwhile), again for every
        new generation."""
        self._warm = True
        self._warmer = threading.Thread(target=self.warm, name="almen-warm", daemon=True)
        self._warmer.start()

    def cached(self, key: tuple[Any, ...], compute: Callable[[Warehouse], T]) -> T:
        """``compute``'s result for ``key`` in the current generation: computed once,
        under ``key``'s own lock, on a connection of its own."""
        for _ in range(3):
            gen = self.generation()
            if key in gen.cache:
                return gen.cache[key]
            with gen.lock_for(key):
                if key in gen.cache:
                    return gen.cache[key]
                with self._reading() as (wh, version):
                    if version != gen.stamp:
                        self._renew(version)
                        continue  # the warehouse changed since the generation began
                    value = compute(wh)
                gen.cache[key] = value
                return value
        raise BusyError("the warehouse keeps changing; try again shortly")

    def derived(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """Like ``cached`` for a result made from other results only (no connection: it
        is served while a command writes, if what it needs is computed)."""
        gen = self.generation()
        if key in gen.cache:
            return gen.cache[key]
        with gen.lock_for(key):
            if key not in gen.cache:
                gen.cache[key] = compute()
            return gen.cache[key]

    # -- areas ------------------------------------------------------------------------
    def areas(self) -> pl.DataFrame:
        """provider_number, cluster, municipality, health_council, region."""
        return self.cached(("areas",), population.clinic_areas)

    def known_scopes(self) -> dict[str, set[str]]:
        """The regions, clusters and clinics (provider numbers) in the warehouse."""
        from almen.web.auth import scopes_of

        return self.derived(("scopes",), lambda: scopes_of(self.areas()))

    def boundaries(self) -> dict[str, Any]:
        """Municipality boundaries (GeoJSON) for the maps."""
        return reference.load_boundaries_geojson()

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
            stmt, ret, _ = readers.settle_year(wh, self.year, list(range(1, 13)), self.as_of)
            return stmt, ret

        return self.cached(("settled", self.year), compute)

    def statements(self) -> pl.DataFrame:
        return self._settled()[0]

    def years(self) -> list[int]:
        """The years the pages can show: those with settled statements, and this one."""

        def compute(wh: Warehouse) -> list[int]:
            if not wh.has_table("settlement"):
                return [self.year]
            t = wh.read_table("settlement")
            got = t.select(y=t.month.year()).distinct().to_pyarrow().column(0).to_pylist()
            return sorted({int(y) for y in got} | {self.year})

        return self.cached(("years",), compute)

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

    def overview_inputs(self) -> Any:
        """What every clinic's service overview reads (``readers.overview_inputs``),
        made once per generation: a clinic's overview is then a small step."""
        from almen.settlement import readers

        return self.cached(("overview inputs", self.year),
                           lambda wh: readers.overview_inputs(wh, self.year,
                                                              summary=self.summary()))  # fmt: skip

    def s96_statement(self, clinic: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """One clinic's § 96 statement of the year (``readers.s96_statement``): its
        report row and its standardisation table by age band and sex."""
        from almen.settlement import readers

        return self.cached(("s96 statement", self.year, clinic),
                           lambda wh: readers.s96_statement(wh, self.year, clinic,
                                                            summary=self.summary()))  # fmt: skip

    def overview(self, clinic: str) -> pl.DataFrame:
        from almen.settlement import readers

        def compute() -> pl.DataFrame:
            ov, _row, fees = readers.clinic_overview(self.overview_inputs(), clinic)
            names = fees.select("service_code", "name_da").unique("service_code")
            return ov.join(names, on="service_code", how="left")

        return self.derived(("overview", self.year, clinic), compute)

    def local_lines(self, clinic: str) -> pl.DataFrame:
        """The clinic's local-agreement lines of the year (``readers.local_lines``), from
        the year's summary."""
        from almen.settlement import readers

        return self.cached(("local lines", self.year, clinic),
                           lambda wh: readers.local_lines(wh, self.year, clinic,
                                                          summary=self.summary()))  # fmt: skip

    def compare_fees(
        self, scenario_text: str, *, source: str = "scenario", budget_neutral: bool | None = None
    ) -> dict[str, Any]:
        """A fee scenario (TOML text; ``source`` names it in error messages) against the
        year's activity: totals and the clinics by change, cached by the scenario's text
        so a saved result's pages and downloads do not compute it again."""
        import hashlib

        from almen.settlement import readers
        from almen.tomlfile import parse_toml

        scenario = parse_toml(scenario_text, source)  # errors before anything is cached
        summary = self.summary()
        digest = hashlib.sha256(scenario_text.encode("utf-8")).hexdigest()

        def compute(wh: Warehouse) -> dict[str, Any]:
            res = readers.compare_fees(wh, scenario, year=self.year,
                                       budget_neutral=budget_neutral,
                                       summary=summary)  # fmt: skip
            return {"scenario": getattr(res.scenario, "name", "scenario"), "totals": res.totals,
                    "per_clinic": res.per_clinic}  # fmt: skip

        return self.cached(("compare_fees", self.year, digest, budget_neutral), compute)

    # -- population -------------------------------------------------------------------
    def _population(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Case finding and the indicators from one pass over the patients' features
        (the features are the costly part and are not kept)."""
        from almen.population.indicators import funnel, indicator_counts

        def compute(wh: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
            defs = population.load_definitions()
            feats = population.warehouse_features(wh, as_of=self.as_of, definitions=defs)
            found = population.apply_definitions(feats, defs)
            counts = population.clinic_counts(found, feats, defs.group_names)
            ind = indicator_counts(feats, defs)
            areas = self.areas().select("provider_number", "cluster", "region")
            return found, counts, funnel(ind, areas)

        return self.cached(("population", self.as_of), compute)

    def definitions(self) -> population.Definitions:
        """The case definitions in force (``population.load_definitions``)."""
        return population.load_definitions()

    def findings(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(found: patient_id, provider_number, definition, reason; counts per clinic)."""
        found, counts, _ = self._population()
        return found, counts

    def published_findings(self) -> pl.DataFrame:
        """Case-finding counts at every level as published (``population.published``)."""
        _, counts = self.findings()
        areas = self.areas()
        return self.derived(("published findings", self.as_of),
                            lambda: population.published(counts, areas))  # fmt: skip

    def indicators(self) -> pl.DataFrame:
        """Indicators per clinic with funnel limits, as published (``funnel``: every
        count through ``almen.disclosure``, shares and limits from the published counts)."""
        return self._population()[2]

    def missing(self, provider_number: str, indicator: str) -> pl.DataFrame:
        """The clinic's own patients in ``indicator``'s denominator who miss its numerator
        (``indicators.missing_patients``), not cached: for the clinic's user only."""
        from almen.population.indicators import missing_patients

        defs = population.load_definitions()
        if indicator not in defs.indicators:
            raise NotFoundError(f"no indicator {indicator!r}")
        with self.reading() as wh:
            feats = population.warehouse_features(wh, as_of=self.as_of, definitions=defs,
                                                  provider_number=provider_number,
                                                  wanted=[indicator])  # fmt: skip
        return missing_patients(feats, defs, indicator)

    def patient(self, patient_id: int) -> Any:
        """The patient overview (diagnoses, drugs, contacts, efforts), not cached."""
        from almen.population.patient import patient_overview

        with self.reading() as wh:
            p = wh.read_table("patient")
            if p.filter(p.patient_id == patient_id).count().execute() == 0:
                raise NotFoundError("no such patient")
            return patient_overview(
                patient_id, p, wh.read_table("condition"), wh.read_table("medication"),
                wh.read_table("claim"), reference.load_condition_codes(),
                population.load_definitions(), as_of=self.as_of,
                clinic=wh.read_table("clinic"),
                doctor=wh.read_table("doctor") if wh.has_table("doctor") else None,
            )  # fmt: skip

    def patient_facts(self, patient_id: int) -> tuple[int, str, set[str]]:
        """Age, sex and the triage flags from the records (``access.inputs``)."""
        from almen.access.inputs import patient_facts

        with self.reading() as wh:
            return patient_facts(wh, patient_id, dt.date.today())

    def list_of(self, clinic: str) -> list[int]:
        """The patients listed with ``clinic`` now (its audit view, its inbox)."""

        def compute(wh: Warehouse) -> list[int]:
            p = wh.read_table("patient")
            got = p.filter(p.provider_number == clinic).select("patient_id").to_pyarrow()
            return [int(v) for v in got.column(0).to_pylist()]

        return self.cached(("list of", clinic), compute)

    def listed_with(self, patient_id: int) -> str | None:
        with self.reading() as wh:
            p = wh.read_table("patient")
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

        return self.derived(("workforce", intakes, runs),
                            lambda: yearly_table(WorkforceParams(), intakes, runs, seed=1))  # fmt: skip

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
        from almen.access.ooh import coordinator_plan, demand, phone_plan, staffing

        def compute(wh: Warehouse) -> dict[str, pl.DataFrame]:
            contacts, sites, _ = ooh_inputs(wh, region, self.year)
            d = demand(contacts, self.year)
            plan, _w = staffing(d, sites)
            # an ordinary day's hours: the 7 weekdays' means (holidays are day type 7)
            week = d.filter(pl.col("weekday") < 7)
            by_hour = week.group_by("hour").agg(pl.col("mean").sum() / 7).sort("hour")
            return {"plan": plan, "phone": phone_plan(d), "coordinator": coordinator_plan(d),
                    "demand_by_hour": by_hour}  # fmt: skip

        return self.cached(("ooh", region, self.year), compute)


def _month_end(year: int, month: int) -> dt.date:
    """The last day of ``month``."""
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_next - dt.timedelta(days=1)
