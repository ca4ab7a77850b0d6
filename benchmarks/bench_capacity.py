"""Benchmark: the capacity engines (issue 5).

Run `python benchmarks/bench_capacity.py DATA_DIR` on a warehouse made by
`almen synth --scale 1.0`; the figures go into docs/benchmarks.md between markers.
Targets: 10,000 Monte Carlo runs of the workforce projection < 10 s; the distribution
over the 98 municipalities < 2 s; a ten-year scenario at scale 1 < 60 s (reading the
warehouse and estimating the need index included).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import polars as pl

from almen.capacity import (
    ScenarioParams,
    WorkforceParams,
    distribute,
    project,
    replicate,
    run_scenario,
)
from almen.capacity.inputs import country_from_warehouse, distribution_areas, site_inputs
from almen.capacity.sites import choose_sites
from almen.warehouse import Warehouse
from docblock import measured_on, verdict, write_block


def run(data: Path) -> dict[str, float]:
    r: dict[str, float] = {}
    t0 = time.perf_counter()
    project(WorkforceParams(), runs=10_000, seed=1)
    r["monte_carlo"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with Warehouse.connect(data, read_only=True) as wh:
        country = country_from_warehouse(wh, 2025)
        r["load"] = time.perf_counter() - t0
        areas = distribution_areas(wh, country.persons)
    r["persons"] = float(len(country.persons))
    r["clinics"] = float(len(country.clinics))

    t0 = time.perf_counter()
    for policy in ("voluntary", "forced"):
        distribute(areas, 300, policy=policy)
    r["distribute"] = (time.perf_counter() - t0) / 2
    with Warehouse.connect(data, read_only=True) as wh:
        located, open_clinics = site_inputs(wh)
    alloc = distribute(areas, 300, policy="voluntary").allocation.select("area", "new")
    t0 = time.perf_counter()
    chosen = choose_sites(located, open_clinics, alloc)
    r["sites"] = time.perf_counter() - t0
    national = chosen.areas.filter(pl.col("level") == "national").row(0, named=True)
    r["sites_before"], r["sites_after"] = national["without_before"], national["without_after"]

    years: dict[str, pl.DataFrame] = {}
    for policy in ("voluntary", "forced"):
        t0 = time.perf_counter()
        res = run_scenario(country, replace(ScenarioParams(), policy=policy))
        r[f"scenario_{policy}"] = time.perf_counter() - t0
        years[policy] = res.years
    r["scenario_total"] = r["load"] + r["scenario_voluntary"]
    for policy, y in years.items():
        last = y.row(-1, named=True)
        first = y.row(0, named=True)
        r[f"{policy}_gps_2035"] = last["gps"]
        r[f"{policy}_no_choice_start"] = first["without_free_choice"]
        r[f"{policy}_no_choice_2035"] = last["without_free_choice"]
        r[f"{policy}_list_2035"] = last["listed_per_fte"]
        r[f"{policy}_p90_2035"] = last["listed_per_fte_p90"]
    # the replicated scenario (issue 21): both policies, runs added 5 at a time until the
    # 2035 forced - voluntary difference in citizens without free choice leaves out 0
    t0 = time.perf_counter()
    rep = replicate(country, ScenarioParams(), max_runs=20)
    r["replicated"] = time.perf_counter() - t0
    r["replicated_runs"] = float(rep.n)
    r["replicated_note"] = rep.note  # type: ignore[assignment]
    assert rep.difference is not None
    d = rep.difference.filter(
        (pl.col("year") == 2035) & (pl.col("measure") == "without_free_choice")
    )
    r["diff_mean"], r["diff_p05"], r["diff_p95"] = (float(d[c][0]) for c in ("mean", "p05", "p95"))
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data", type=Path)
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    args = ap.parse_args(argv)
    r = run(args.data)

    def ok(v: float, target: float) -> str:
        return f"< {target:g} s ({verdict(v < target)})"

    text = "\n".join(
        [
            measured_on(
                f"{r['persons']:,.0f} citizens with a location, {r['clinics']:,.0f} clinics."
            ),
            "",
            "| figure | value | target |",
            "|---|---|---|",
            f"| workforce projection, 10,000 Monte Carlo runs 2025-2035 | {r['monte_carlo']:.2f} s | {ok(r['monte_carlo'], 10)} |",
            f"| distribution of 300 new capacities over 98 municipalities (worst-covered first, per policy) | {r['distribute']:.3f} s | {ok(r['distribute'], 2)} |",
            f"| site choice for the 300 (voluntary) inside their municipalities, HiGHS; without free choice {r['sites_before']:,.0f} → {r['sites_after']:,.0f} | {r['sites']:.1f} s | reported |",
            f"| reading the warehouse and the need index (2025 claims) | {r['load']:.1f} s | |",
            f"| ten-year scenario 2026-2035, voluntary (run only) | {r['scenario_voluntary']:.1f} s | |",
            f"| ten-year scenario 2026-2035, forced (run only) | {r['scenario_forced']:.1f} s | |",
            f"| ten-year scenario, reading included | {r['scenario_total']:.1f} s | {ok(r['scenario_total'], 60)} |",
            f"| ten-year scenario replicated, both policies ({r['replicated_runs']:.0f} runs each) | {r['replicated']:.1f} s | reported |",
            "",
            "The default scenario (350 posts, need-based limits) at scale 1, seed 1:",
            "",
            "| policy | GPs 2035 | without free choice 2025 → 2035 | listed per FTE 2035 (mean, p90) |",
            "|---|---:|---:|---:|",
            *(
                f"| {p} | {r[p + '_gps_2035']:,.0f} | {r[p + '_no_choice_start']:,.0f} → "
                f"{r[p + '_no_choice_2035']:,.0f} | {r[p + '_list_2035']:,.0f}, "
                f"{r[p + '_p90_2035']:,.0f} |"
                for p in ("voluntary", "forced")
            ),
            "",
            f"Replicated: {r['replicated_note']}. Forced − voluntary, citizens without free "
            f"choice 2035: mean {r['diff_mean']:,.0f} (90 % {r['diff_p05']:,.0f} to "
            f"{r['diff_p95']:,.0f}).",
        ]
    )
    print(text)
    write_block(args.doc, "bench_capacity", text, "Capacity (issue 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
