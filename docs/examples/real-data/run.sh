#!/usr/bin/env bash
# From an empty data directory to a settled month, a § 96 statement, a service overview
# and a case-finding count, on the made-up extracts in this folder; no `almen synth`.
# The extracts are templates: fill.sh writes them with made-up CPR numbers into
# DATA_DIR/extracts first (the repository holds no CPR-shaped number).
#   bash docs/examples/real-data/run.sh [DATA_DIR]     (default: a new temporary folder)
# ALMEN names the almen command (default: almen on the PATH, else .venv/bin/almen).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${1:-$(mktemp -d)}"
ALMEN="${ALMEN:-$(command -v almen || echo "$HERE/../../../.venv/bin/almen")}"
export ALMEN_PSEUDONYM_KEY="${ALMEN_PSEUDONYM_KEY:-example-key-not-secret}"
if [ -e "$DATA/warehouse.duckdb" ]; then
  echo "run.sh: $DATA already holds a warehouse; give an empty or new directory" >&2
  exit 2
fi
X="$DATA/extracts"
bash "$HERE/fill.sh" "$X"
a() { echo "\$ almen $*" >&2; "$ALMEN" --data "$DATA" "$@"; }

# 1. an empty warehouse with the shipped reference data
a init
# 2. the region's register and lists (Danish headers, ';', decimal comma, Danish dates)
a ingest clinics "$X/klinikker.csv"
a ingest doctors "$X/læger.csv"                 # Latin-1
a ingest patients "$X/tilmeldinger.csv"
a ingest conditions "$X/diagnoser.csv"          # from the practice system
a ingest medications "$X/medicin.csv"
a ingest labs "$X/laboratoriesvar.csv"           # HbA1c (NPU27300); '<40' is rejected
a ingest ooh "$X/vagt.csv"
a ingest fees "$X/lokalaftale.csv"              # a local agreement beside Aftale25
# 3. March's claims (Windows-1252, as some systems export them); one line is unreadable
a ingest claims --encoding cp1252 "$X/ydelser-2025-03.csv"
# 4. settle March: statements, returned claims with their file and line
a settle --year 2025 --month 3 --as-of 2025-04-05
a settle --year 2025 --month 3 --as-of 2025-04-05 --format csv --output "$DATA/marts.csv"
# 5. § 96 projected from the claims to the end of March, and one clinic's overview
a ceiling --year 2025 --as-of 2025-03-31
a overview --clinic 100101 --year 2025
# 6. case finding in one clinic (its own patients: the counts stay in the clinic)
a findings --clinic 100101 --as-of 2025-03-31
# 7. a patient moves clinic from 1 June; March settled again is unchanged (the listing
#    on the service date counts), and the correction says so
a ingest patients "$X/tilmeldinger-juni.csv"
a settle --year 2025 --month 3 --as-of 2025-04-05
a runs
# 8. April's draft checked before it is sent: nothing is imported
a check claims "$X/ydelser-2025-04-kladde.csv" --as-of 2025-04-05
echo "done: $DATA" >&2
