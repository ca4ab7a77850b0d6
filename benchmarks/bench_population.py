"""Benchmark: case finding and quality indicators for the whole country (issue 4).

Run `python benchmarks/bench_population.py DATA_DIR` on a warehouse made by
`almen synth --scale 1.0`; the figures go into docs/benchmarks.md between markers.
Target: under 20 s on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import polars as pl

from almen import population
from almen.population.indicators import funnel, indicator_counts
from almen.warehouse import Warehouse
from docblock import measured_on, verdict, write_block

AS_OF = dt.date(2025, 12, 31)


def run(data: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    defs = population.load_definitions()
    with Warehouse.connect(data, read_only=True) as wh:
        feats = population.warehouse_features(wh, as_of=AS_OF, definitions=defs)
        found = population.apply_definitions(feats, defs)
        counts = population.clinic_counts(found, feats)
        times["case finding"] = time.perf_counter() - t0
        area = population.clinic_areas(wh)
        population.published(counts, area)  # every level, audited together
        t1 = time.perf_counter()
        ind = indicator_counts(feats, defs)
        funnel(ind, area.select("provider_number", "cluster", "region"))
        times["indicators"] = time.perf_counter() - t1
    times["total"] = time.perf_counter() - t0
    share = counts["polypharmacy"] / counts["list_size"]
    shares = population.group_shares(counts, defs).filter(pl.col("definition") == "polypharmacy")
    times["polypharmacy_within_3_5"] = 1 - float(shares["outside"].mean() or 0)  # type: ignore[arg-type]
    times["polypharmacy_national"] = float(counts["polypharmacy"].sum() / counts["list_size"].sum())
    times["clinics"] = float(len(counts))
    times["patients"] = float(len(feats))
    times["share_p05"] = float(share.quantile(0.05) or 0)
    times["share_p95"] = float(share.quantile(0.95) or 0)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data", type=Path)
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    args = ap.parse_args(argv)
    r = run(args.data)
    text = "\n".join(
        [
            measured_on(
                f"{r['patients']:,.0f} listed patients, {r['clinics']:,.0f} clinics, as of {AS_OF}."
            ),
            "",
            "| figure | value | target |",
            "|---|---|---|",
            f"| case finding, all clinics (the definitions file: 5 groups, frailty index, counts by clinic and 4 levels) | {r['case finding']:.1f} s | |",
            f"| quality indicators, all clinics (the file's indicators, random-effects funnel limits) | {r['indicators']:.1f} s | |",
            f"| total | {r['total']:.1f} s | < 20 s ({verdict(r['total'] < 20)}) |",
            f"| polypharmacy (≥ 5 drugs, ≥ 2 conditions), national share of the listed | {r['polypharmacy_national']:.2%} | a result (seed: 3-5 %) |",
            f"| clinics whose polypharmacy group is 3-5 % of the list | {r['polypharmacy_within_3_5']:.1%} | a result, not a target |",
            f"| polypharmacy share of the list, 5th-95th percentile of clinics | {r['share_p05']:.2%}-{r['share_p95']:.2%} | |",
        ]
    )
    print(text)
    write_block(args.doc, "bench_population", text, "Case finding and quality indicators (issue 4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
