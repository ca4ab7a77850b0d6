"""Today's clinic against the public figure of about 49 contacts per FTE doctor a day.

Run `python scripts/access_calibration.py DATA_DIR [--clinic P]` on a warehouse made by
`almen synth --scale 1`. Without --clinic it takes the clinic with at least 2 FTE whose
weekday daytime contacts per FTE are nearest 49 (SDS 2014, danish-facts §1.5). It runs
the `today` policy with replications for a grid of the two parameters no Danish source
gives (the share of consultations staff do, the share of the opening hours a doctor has
for contacts) and prints the doctors' offered utilisation with 95 % intervals as a
Markdown table. Nothing is tuned: the table shows which readings keep today below 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import polars as pl

from almen.access.inputs import clinic_channel_mix, clinic_inputs, load_case_mix
from almen.access.simulate import SimParams, make_workload, open_days, replicate
from almen.reference import CONTACT_CODES
from almen.warehouse import Warehouse

YEAR = 2025
TARGET = 49.0
STAFF = (0.0, 0.25, 0.4)
# 0.65: two-thirds of the opening hours (the default); 0.83: two-thirds of a 50-hour week
# with patients (Norwegian GPs 2014-2018; no Danish figure) as a share of 8-16
AVAILABILITY = (0.65, 0.83)


def typical_clinic(wh: Warehouse) -> tuple[str, float]:
    """The clinic (≥ 2 FTE) whose weekday daytime contacts per FTE are nearest 49."""
    c = wh.read_table("claim")
    c = c.filter(
        c.service_code.isin(list(CONTACT_CODES))
        & (c.time_band != "ooh")
        & (c.service_date >= dt.date(YEAR, 1, 1))
        & (c.service_date <= dt.date(YEAR, 12, 31))
        & (c.service_date.day_of_week.index() < 5)
    )
    n = c.group_by("provider_number").aggregate(n=c.count()).to_polars()
    d = wh.read_table("doctor")
    fte = d.group_by("provider_number").aggregate(fte=d.fte.sum()).to_polars()
    weekdays = sum(1 for k in range(365) if (dt.date(YEAR, 1, 1) + dt.timedelta(k)).weekday() < 5)
    per = (
        n.join(fte, on="provider_number")
        .filter(pl.col("fte") >= 2)
        .with_columns(per_fte=pl.col("n") / pl.col("fte") / weekdays)
        .with_columns(gap=(pl.col("per_fte") - TARGET).abs())
        .sort("gap", "provider_number")
    )
    row = per.row(0, named=True)
    return str(row["provider_number"]), float(row["per_fte"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data", type=Path)
    ap.add_argument("--clinic")
    ap.add_argument("--replications", type=int, default=10)
    args = ap.parse_args(argv)
    with Warehouse.connect(args.data, read_only=True) as wh:
        clinic, per_fte = (args.clinic, float("nan")) if args.clinic else typical_clinic(wh)
        per_weekday, fte, people = clinic_inputs(wh, clinic, YEAR)
        mix = clinic_channel_mix(wh, clinic, YEAR)
    doctors = max(1, round(fte))
    case_mix = load_case_mix()
    print(f"clinic {clinic}: {fte:g} FTE, {per_fte:.1f} weekday contacts per FTE in {YEAR}")
    print("channel mix: " + ", ".join(f"{r['channel']} {r['share']:.1%}"
                                      for r in mix.iter_rows(named=True)))  # fmt: skip

    def draw(k: int):  # type: ignore[no-untyped-def]
        return make_workload(per_weekday, case_mix, people, weeks=12, seed=k, channel_mix=mix)

    print()
    print("| staff share of consultations | doctor availability | contacts per FTE a day "
          "| doctor minutes needed a day per FTE | doctors' offered utilisation (95 %) "
          "| nurses' |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for avail in AVAILABILITY:
        for staff in STAFF:
            params = SimParams(weeks=12, doctors=doctors, nurses=max(1, doctors // 2),
                               secretaries=max(1, doctors // 2), staff_share=staff,
                               availability={"doctor": avail, "nurse": 0.8, "secretary": 0.5})  # fmt: skip
            _, util = replicate(draw, params, runs=args.replications, warmup_weeks=1.0,
                                policies=("today",))  # fmt: skip
            off = util.filter(pl.col("measure") == "offered")
            doc = off.filter(pl.col("pool") == "doctor").row(0, named=True)
            nurse = off.filter(pl.col("pool") == "nurse").row(0, named=True)
            work = draw(1)
            days = open_days(params, 1.0)
            contacts = float((work.arrival >= 7 * 1440).sum()) / days / fte
            need = doc["mean"] * avail * 8 * 60  # the offered load in minutes a day
            print(f"| {staff:.0%} | {avail:.2f} | {contacts:.1f} | {need:.0f} | {doc['mean']:.2f} "
                  f"({doc['ci_low']:.2f}-{doc['ci_high']:.2f}) | {nurse['mean']:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
