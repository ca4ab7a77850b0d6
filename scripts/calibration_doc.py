"""Print the calibration table of a data directory as the two Markdown tables of
docs/synthetic-denmark.md (targets, then held out), to paste after a scale-1 run:

    almen --data /tmp/s1 synth --scale 1 --seed 1
    python scripts/calibration_doc.py /tmp/s1
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from almen.cli.render import _fmt
from almen.warehouse import Warehouse


def main(data: Path) -> None:
    with Warehouse.connect(data, read_only=True) as wh:
        cal = pl.from_arrow(wh.read_table("calibration").to_pyarrow())
    assert isinstance(cal, pl.DataFrame)
    targets = cal.filter(pl.col("kind") != "held_out")
    held = cal.filter(pl.col("kind") == "held_out")
    print("#### Targets (tuned to)\n")
    print("| measure | generated | target | ratio | source |\n|---|---:|---:|---:|---|")
    for r in targets.iter_rows(named=True):
        ratio = "" if not r["target"] else f"{r['generated'] / r['target']:.2f}"
        target = "—" if r["target"] is None else _fmt(r["target"], r["unit"])
        print(f"| `{r['measure']}` | {_fmt(r['generated'], r['unit'])} | {target} | {ratio} "
              f"| {r['source']} |")  # fmt: skip
    inside = int(held["inside"].sum())
    print(f"\n#### Held out (never tuned to): {inside} of {len(held)} inside their band\n")
    print("| measure | generated | public | band | inside | year | source |")
    print("|---|---:|---:|---:|:-:|---:|---|")
    for r in held.iter_rows(named=True):
        band = f"{_fmt(r['low'], r['unit'])}–{_fmt(r['high'], r['unit'])}"
        ok = "yes" if r["inside"] else "**no**"
        print(f"| `{r['measure']}` | {_fmt(r['generated'], r['unit'])} | "
              f"{_fmt(r['target'], r['unit'])} | {band} | {ok} | {r['year']} | {r['source']} |")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
