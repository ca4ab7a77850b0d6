"""Benchmark: access (issue 6).

Run `python benchmarks/bench_access.py DATA_DIR` on a warehouse made by
`almen synth --scale 1.0`; the figures go into docs/benchmarks.md between markers.
Targets: a year of one region's out-of-hours planning < 10 s; a clinic simulated over
12 weeks < 5 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import ibis
import polars as pl

from almen.access.inputs import clinic_channel_mix, clinic_inputs, load_case_mix, ooh_inputs
from almen.access.ooh import coordinator_plan, demand, phone_plan, simulate_sites, staffing
from almen.access.roster import week_rosters
from almen.access.simulate import (
    POLICIES,
    SimParams,
    make_workload,
    replicate,
    simulate,
    summarise,
)
from almen.warehouse import Warehouse
from docblock import measured_on, verdict, write_block

YEAR = 2025


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data", type=Path)
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    args = ap.parse_args(argv)
    rows = []
    with Warehouse.connect(args.data, read_only=True) as wh:
        regions = sorted(
            wh.read_table("ooh_contact").select("region").distinct().to_polars()["region"]
        )
        for region in regions:
            t0 = time.perf_counter()
            contacts, sites, _ = ooh_inputs(wh, region, YEAR)
            t1 = time.perf_counter()
            d = demand(contacts, YEAR)
            plan, _ = staffing(d, sites)
            phone = phone_plan(d)
            coordinator = coordinator_plan(d)
            simulate_sites(plan, 12.0, weeks=4)
            week_rosters(plan, phone, coordinator=coordinator)
            t2 = time.perf_counter()
            rows.append((region, len(contacts), t1 - t0, t2 - t1))
        d_ = wh.read_table("doctor")
        busiest = (
            d_.group_by("provider_number")
            .aggregate(fte=d_.fte.sum())
            .order_by([ibis.desc("fte"), "provider_number"])
            .limit(1)
            .to_polars()
        )["provider_number"][0]
        t0 = time.perf_counter()
        per_weekday, fte, people = clinic_inputs(wh, busiest, YEAR)
        mix = clinic_channel_mix(wh, busiest, YEAR)
        t_read = time.perf_counter() - t0
    doctors = max(1, round(fte))
    params = SimParams(weeks=12, doctors=doctors, nurses=max(1, doctors // 2),
                       secretaries=max(1, doctors // 2))  # fmt: skip
    t0 = time.perf_counter()
    work = make_workload(per_weekday, load_case_mix(), people, weeks=12, seed=1)
    t_work = time.perf_counter() - t0
    times = {}
    runs = {}
    for p in POLICIES:
        t0 = time.perf_counter()
        runs[p] = simulate(work, params, p)
        times[p] = time.perf_counter() - t0
    case_mix = load_case_mix()
    t0 = time.perf_counter()
    _, rep_u = replicate(
        lambda k: make_workload(per_weekday, case_mix, people, weeks=12, seed=k, channel_mix=mix),
        params, runs=20, policies=("today",),
    )  # fmt: skip
    t_rep = time.perf_counter() - t0
    today = rep_u.filter((pl.col("pool") == "doctor") & (pl.col("measure") == "offered")).row(
        0, named=True
    )
    s = summarise(runs).filter(pl.col("severity") == "acute")
    p90 = dict(zip(s["policy"], s["p90_wait_h"], strict=True))
    worst = max(rows, key=lambda r: r[2] + r[3])
    lines = [
        measured_on(f"the scale-1 warehouse, year {YEAR}."),
        "",
        "| figure | value | target |",
        "|---|---|---|",
        *(
            f"| out-of-hours plan, {r}: {n:,} contacts (read {a:.1f} s + plan, phone line, coordinator, 4 simulated weeks and rosters (week and holiday) {b:.1f} s) | {a + b:.1f} s | < 10 s ({verdict(a + b < 10)}) |"
            for r, n, a, b in rows
        ),
        f"| slowest region ({worst[0]}) | {worst[2] + worst[3]:.1f} s | < 10 s |",
        f"| clinic {busiest} ({doctors} doctors, {len(work.arrival):,} requests in 12 weeks): reading {t_read:.1f} s + drawing and triage {t_work:.1f} s | {t_read + t_work:.1f} s | |",
        *(
            f"| simulation of 12 weeks, {p} | {times[p]:.2f} s | < 5 s ({verdict(times[p] < 5)}) |"
            for p in POLICIES
        ),
        f"| 20 replications of 12 weeks, policy today (doctors' offered utilisation {today['mean']:.2f}, 95 % {today['ci_low']:.2f}-{today['ci_high']:.2f}) | {t_rep:.1f} s | < 10 s ({verdict(t_rep < 10)}) |",
        f"| 90th-percentile wait of acute requests: fcfs, priority, routing | {p90['fcfs']:.2f} h, {p90['priority']:.2f} h, {p90['routing']:.2f} h | priority < fcfs |",
    ]
    text = "\n".join(lines)
    print(text)
    write_block(args.doc, "bench_access", text, "Access (issue 6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
