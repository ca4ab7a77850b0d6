# almen: the two commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA ?= almen-data

.PHONY: setup browser fhir-validator run run-real-data demo test lint format bench bench-backends loadtest lock clean postgres

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download)
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x $(CHROMIUM) || (echo "installing Debian's chromium for the browser tests" && \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null)

# the independent FHIR validator for the tests (the official R4 JSON schema through ajv;
# tools/fhir-validator); Debian's Node.js and npm when the machine has none
FHIR_VALIDATOR := tools/fhir-validator/node_modules/.installed
fhir-validator: $(FHIR_VALIDATOR)
$(FHIR_VALIDATOR): tools/fhir-validator/package.json tools/fhir-validator/package-lock.json
	@command -v npm >/dev/null || (echo "installing Debian's nodejs and npm for the FHIR validator" && \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null)
	cd tools/fhir-validator && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's PostgreSQL server for the portability tests (tests/backends start their own)
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || (echo "installing Debian's postgresql for the backend tests" && \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null)

run: setup
	$(BIN)/almen --data $(DATA) demo

# the worked example on made-up real-format extracts, from an empty directory (no synth)
run-real-data: setup
	rm -rf $(DATA)-real
	ALMEN=$(BIN)/almen bash docs/examples/real-data/run.sh $(DATA)-real

test: setup lint browser postgres fhir-validator
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

# synth at scale 1, then settlement + § 96 against pandas on a scale-1 warehouse
BENCH_DATA ?= /tmp/almen-bench-scale1
bench: setup
	$(BIN)/almen bench
	test -f $(BENCH_DATA)/warehouse.duckdb || $(BIN)/almen --data $(BENCH_DATA) synth --scale 1.0
	$(BIN)/python benchmarks/bench_settlement.py $(BENCH_DATA) --doc docs/benchmarks.md
	$(BIN)/python benchmarks/bench_population.py $(BENCH_DATA) --doc docs/benchmarks.md
	$(BIN)/python benchmarks/bench_capacity.py $(BENCH_DATA) --doc docs/benchmarks.md
	$(BIN)/python benchmarks/bench_access.py $(BENCH_DATA) --doc docs/benchmarks.md
	$(BIN)/python benchmarks/bench_ingest.py $(BENCH_DATA) --doc docs/benchmarks.md

# the scale-1 warehouse on PostgreSQL, and ten years of claims (figures into docs/benchmarks.md)
bench-backends: setup postgres
	test -f $(BENCH_DATA)/warehouse.duckdb || $(BIN)/almen --data $(BENCH_DATA) synth --scale 1.0
	$(BIN)/python benchmarks/bench_backends.py $(BENCH_DATA) --doc docs/benchmarks.md
	test -f $(BENCH_DATA)/claims-scale1.csv || $(BIN)/python benchmarks/bench_ingest.py $(BENCH_DATA)
	$(BIN)/python benchmarks/bench_years.py $(BENCH_DATA) $(BENCH_DATA)-years --doc docs/benchmarks.md

# 20 and 100 concurrent clients on the web app at scale 1 (figures into docs/benchmarks.md)
loadtest: setup
	test -f $(BENCH_DATA)/warehouse.duckdb || $(BIN)/almen --data $(BENCH_DATA) synth --scale 1.0
	$(BIN)/python benchmarks/loadtest.py $(BENCH_DATA) --doc docs/benchmarks.md

# Re-pin every dependency to what installs today (commit the result).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
