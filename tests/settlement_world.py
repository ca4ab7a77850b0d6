"""Small hand-made worlds for settlement tests: a few clinics, patients, fees and claims.

Every figure a test expects is computed by hand in that test's docstring.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from almen import settlement
from almen.warehouse import Warehouse

D = dt.date
AS_OF = D(2026, 1, 31)  # the settlement run: after the year, so every month is closed
LISTED_LONG_AGO = dt.date(2020, 1, 1)
FEES = [
    # code, price, unit, daytime, outside_frame
    ("BASIS", 1200.0, "patient_year", True, False),
    ("0101", 200.0, "service", True, False),
    ("0201", 30.0, "service", True, False),
    ("0120", 400.0, "service", True, False),
    ("2102", 100.0, "service", True, False),
    ("V101", 330.0, "service", False, False),
    ("L002", 75.0, "service", True, True),
    ("KM92", 3.0, "km", True, False),
    ("K001", 1100.0, "service", True, False),
]


def fee_table(group2: dict[str, float] | None = None) -> pa.Table:
    """FEES for group 1, and ``group2`` (code → price) as group-2 rows."""
    rows = [(*f, 1) for f in FEES]
    by_code = {f[0]: f for f in FEES}
    rows += [(c, p, *by_code[c][2:], 2) for c, p in (group2 or {}).items()]
    n = len(rows)
    return pa.table(
        {
            "agreement": ["Test"] * n,
            "service_code": [f[0] for f in rows],
            "name_da": [f[0] for f in rows],
            "name_en": [f[0] for f in rows],
            "price_dkk": [f[1] for f in rows],
            "unit": [f[2] for f in rows],
            "daytime": [f[3] for f in rows],
            "outside_frame": [f[4] for f in rows],
            "valid_from": [D(2020, 1, 1)] * n,
            "valid_to": [D(2030, 12, 31)] * n,
            "price_basis": ["estimate"] * n,
            "insurance_group": pa.array([f[5] for f in rows], pa.int8()),
        }
    )


@dataclass
class World:
    """Clinics (provider, municipality), patients and claims, written to a warehouse."""

    clinics: list[tuple[str, str]] = field(default_factory=list)
    patients: list[tuple[int, int, str, str | None, int, dt.date | None]] = field(
        default_factory=list
    )  # id, birth_year, sex, provider, group, listed_from
    claims: list[tuple[str, int, str, dt.date, int, dt.date | None, str]] = field(
        default_factory=list
    )  # provider, patient, code, date, quantity, settlement month (None: date's), band
    # per claim: amount on the line, condition (ICPC-2) and cover reason, or None
    extras: list[tuple[float | None, str | None, str | None]] = field(default_factory=list)
    group2_fees: dict[str, float] = field(default_factory=dict)  # code → group-2 price

    def patient(
        self,
        pid: int,
        provider: str | None,
        *,
        birth_year: int = 1980,
        sex: str = "F",
        listed_from: dt.date | None = LISTED_LONG_AGO,
        group: int = 1,
    ) -> None:
        self.patients.append((pid, birth_year, sex, provider, group, listed_from))

    def claim(
        self,
        provider: str,
        pid: int,
        code: str,
        day: dt.date,
        quantity: int = 1,
        month: dt.date | None = None,
        band: str = "day",
        *,
        claimed: float | None = None,
        condition: str | None = None,
        cover: str | None = None,
    ) -> None:
        self.claims.append((provider, pid, code, day, quantity, month, band))
        self.extras.append((claimed, condition, cover))

    def write(self, path: Path) -> Path:
        with Warehouse.connect(path) as wh:
            wh.write_table(
                "municipality",
                pa.table(
                    {
                        "code": ["0101", "0851"],
                        "name": ["København", "Aalborg"],
                        "region": ["Region Hovedstaden", "Region Nordjylland"],
                        "region_from_2027": ["Region Østdanmark", "Region Nordjylland"],
                        "health_council": ["a", "b"],
                        "area_km2": [1.0, 1.0],
                        "lat": [55.7, 57.0],
                        "lon": [12.5, 9.9],
                    }
                ),
            )
            wh.write_table(
                "clinic",
                pa.table(
                    {
                        "provider_number": [c[0] for c in self.clinics],
                        "municipality": [c[1] for c in self.clinics],
                        "form": ["solo"] * len(self.clinics),
                        "cluster": ["x"] * len(self.clinics),
                        "closed_to_new": [False] * len(self.clinics),
                        "lat": [55.7] * len(self.clinics),
                        "lon": [12.5] * len(self.clinics),
                    }
                ),
            )
            ps = self.patients
            wh.write_table(
                "patient",
                pa.table(
                    {
                        "patient_id": pa.array([p[0] for p in ps], pa.int64()),
                        "birth_year": pa.array([p[1] for p in ps], pa.int16()),
                        "sex": [p[2] for p in ps],
                        "municipality": ["0101"] * len(ps),
                        "provider_number": [p[3] for p in ps],
                        "insurance_group": pa.array([p[4] for p in ps], pa.int8()),
                        "listed_from": pa.array([p[5] for p in ps], pa.date32()),
                        "lat": [None] * len(ps),
                        "lon": [None] * len(ps),
                    }
                ),
            )
            wh.write_table("fee_schedule", fee_table(self.group2_fees))
            cs = self.claims
            wh.write_table(
                "claim",
                pa.table(
                    {
                        "claim_id": pa.array(range(1, len(cs) + 1), pa.int64()),
                        "provider_number": [c[0] for c in cs],
                        "patient_id": pa.array([c[1] for c in cs], pa.int64()),
                        "service_code": [c[2] for c in cs],
                        "service_date": pa.array([c[3] for c in cs], pa.date32()),
                        "time_band": [c[6] for c in cs],
                        "quantity": pa.array([c[4] for c in cs], pa.int16()),
                        "settlement_month": pa.array(
                            [c[5] or c[3].replace(day=1) for c in cs], pa.date32()
                        ),
                        "claimed_dkk": pa.array([e[0] for e in self.extras], pa.float64()),
                        "condition_code": pa.array([e[1] for e in self.extras], pa.string()),
                        "cover_reason": pa.array([e[2] for e in self.extras], pa.string()),
                    }
                ),
            )
        return path


def check_world(wh: Warehouse, year: int = 2025, through: int = 12) -> object:
    """The year's claims checked by the settlement rules, January to ``through``."""
    return settlement.check_year(
        wh.read_table("claim"),
        wh.read_table("fee_schedule"),
        wh.read_table("patient"),
        settlement.load_service_rules(),
        year=year,
        through_month=through,
        as_of=AS_OF,
    )


def accepted_in_year(lines: object, year: int = 2025, end: dt.date | None = None) -> object:
    """The accepted lines (or a claim summary) by group, from 1 January to ``end``
    (default 31 December)."""
    return settlement.accepted_by_group(
        lines,  # type: ignore[arg-type]
        start=D(year, 1, 1),
        end=end or D(year, 12, 31),
    )
