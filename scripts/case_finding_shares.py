"""Print each case definition's measured share of the listed patients (national and the
5th-95th percentile across clinics) on a warehouse: the figures in docs/case-finding.md.

Run `python scripts/case_finding_shares.py DATA_DIR` after `almen synth`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from almen import population
from almen.warehouse import Warehouse


def main(data: Path) -> None:
    defs = population.load_definitions()
    with Warehouse.connect(data, read_only=True) as wh:
        day = wh.last_data_date()
        assert day is not None
        f = population.warehouse_features(wh, as_of=day, definitions=defs)
    counts = population.clinic_counts(population.apply_definitions(f, defs), f, defs.group_names)
    listed = int(counts["list_size"].sum())
    print(f"{listed:,} listed patients, {counts.height:,} clinics, as of {day}")
    print("| group | national share | clinics 5th-95th percentile |")
    print("|---|---|---|")
    for g in defs.group_names:
        share = counts[g] / counts["list_size"]
        print(f"| {g} | {counts[g].sum() / listed:.2%} | "
              f"{share.quantile(0.05):.2%}-{share.quantile(0.95):.2%} |")  # fmt: skip
    old = f.filter(pl.col("age") >= 75)
    bands = old["frailty"].value_counts().sort("frailty")
    print("frailty 75+: " + ", ".join(f"{r['frailty']} {r['count'] / old.height:.1%}"
                                     for r in bands.iter_rows(named=True)))  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
