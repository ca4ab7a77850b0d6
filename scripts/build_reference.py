"""Rebuild the geography reference files in ``src/almen/reference/data`` from ``shared/data``.

Run from the repository root with the shared folder beside it::

    .venv/bin/python scripts/build_reference.py ../shared/data

What it does (and nothing else):

* ``municipality.csv``: the 98 municipalities from ``dk_kommuner_98_regions.csv`` (DERIVED
  there from DAGI geometry), with names in Statistics Denmark's spelling, the area in km²
  and the centroid computed from the DAGI boundaries, and the provisional health council
  from ``health_council.csv`` (hand-written, see docs/data-sources.md).
* ``municipality.geojson``: the DAGI 2014 boundaries (1:500,000) merged per municipality,
  z dropped and simplified with a 0.002° tolerance (about 150 m), coordinates at 5 decimals.
* ``national_population_5y.csv`` and ``national_population_2021q2.csv``: copies of the two
  national population tables, reshaped to ``year, sex, age_from, age_to, persons``.

The municipality population totals (``municipality_population_2025.csv``) are *not* built
here: they are estimates written by hand (see docs/data-sources.md).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

OUT = Path(__file__).resolve().parents[1] / "src" / "almen" / "reference" / "data"

# DAGI spells three names differently from Statistics Denmark; we use DST's names.
NAME_FIXES = {
    "Høje Taastrup": "Høje-Taastrup",
    "Vesthimmerlands": "Vesthimmerland",
}


def _round_coords(obj: object) -> object:
    if isinstance(obj, float):
        return round(obj, 5)
    if isinstance(obj, (list, tuple)):
        return [_round_coords(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _round_coords(v) for k, v in obj.items()}
    return obj


def main(shared: Path) -> None:
    rows = list(csv.DictReader((shared / "dk_kommuner_98_regions.csv").open(encoding="utf-8")))
    councils = {
        r["code"]: r["health_council"]
        for r in csv.DictReader((OUT / "health_council.csv").open(encoding="utf-8"))
    }
    gj = json.loads((shared / "dagi_kommuner_2014.geojson").read_text(encoding="utf-8"))
    parts: dict[str, list[object]] = {}
    for feat in gj["features"]:
        code = feat["properties"]["KOMKODE"]
        geom = shapely.force_2d(shape(feat["geometry"]))
        parts.setdefault(code, []).append(geom)

    features = []
    out_rows = []
    for r in rows:
        code = r["kommunekode_4"]
        geom = shapely.union_all(parts[code]).buffer(0)
        simple = shapely.simplify(geom, 0.002, preserve_topology=True)
        c = geom.centroid
        # Area on a local equirectangular projection: good to well under 1 % at 55-58° N.
        km_per_deg_lat = 111.32
        km_per_deg_lon = 111.32 * math.cos(math.radians(c.y))
        area = geom.area * km_per_deg_lat * km_per_deg_lon
        name = NAME_FIXES.get(r["kommunenavn_dagi"], r["kommunenavn_dagi"])
        out_rows.append(
            {
                "code": code,
                "code_dst": r["kommunekode_3"],
                "name": name,
                "region_code": r["regionskode"],
                "region": r["regionsnavn"],
                "region_from_2027": r["region_from_2027"],
                "health_council": councils[code],
                "area_km2": f"{area:.1f}",
                "lat": f"{c.y:.5f}",
                "lon": f"{c.x:.5f}",
            }
        )
        features.append(
            {
                "type": "Feature",
                "properties": {"code": code, "name": name},
                "geometry": _round_coords(mapping(simple)),
            }
        )

    with (OUT / "municipality.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out_rows[0]))
        w.writeheader()
        w.writerows(out_rows)
    (OUT / "municipality.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")),
        encoding="utf-8",
    )

    with (OUT / "national_population_5y.csv").open("w", encoding="utf-8", newline="") as f:
        w2 = csv.writer(f)
        w2.writerow(["year", "sex", "age_from", "age_to", "persons"])
        for r in csv.DictReader((shared / "dk_population_5y_age_sex_1990_2025.csv").open()):
            sex = "M" if r["sex"] == "m" else "F"
            w2.writerow([r["year"], sex, r["age_from"], r["age_to_inclusive"], r["population"]])

    with (OUT / "national_population_2021q2.csv").open("w", encoding="utf-8", newline="") as f:
        w3 = csv.writer(f)
        w3.writerow(["age", "sex", "persons"])
        src = (shared / "dst_folk1a_national_age_sex_2021Q2.csv").open(encoding="utf-8-sig")
        for r in csv.DictReader(src, delimiter=";"):
            age = int(r["ALDER"].split()[0])
            sex = "M" if r["KØN"] == "Men" else "F"
            w3.writerow([age, sex, r["INDHOLD"]])
    print(f"wrote {len(out_rows)} municipalities to {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
