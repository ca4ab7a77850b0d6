#!/usr/bin/env bash
# Fill the extract templates in this folder into OUTDIR: each {Pnn} becomes a made-up CPR
# number (no real person; the repository holds none, only these placeholders).
#   bash docs/examples/real-data/fill.sh OUTDIR
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:?usage: fill.sh OUTDIR}"
mkdir -p "$OUT"
# person: birth date DDMMYY and serial (7th digit 0-3: born 1900-1999; last digit odd: man)
PEOPLE="P01 010150 1235
P02 020255 2346
P03 030360 3457
P04 040470 4568
P05 050580 1674
P06 060690 2785
P07 070795 3896
P08 080885 1238
P09 090975 2349
P10 101065 3450
P11 111145 4561
P12 121238 2672"
script=""
while read -r p born serial; do
  script+="s/{$p}/$born-$serial/g;"
done <<< "$PEOPLE"
for f in "$HERE"/*.csv; do
  LC_ALL=C sed -e "$script" "$f" > "$OUT/$(basename "$f")"
done
