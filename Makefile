# Developers and CI use the same targets.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-dev install-cluster install-tracker tracker serve test test-clocks check lint typecheck bench bench-cluster clean cluster-up cluster-down cluster-test

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras, inside the venv: pip runs only when pyproject.toml is newer than
# the stamp (or the venv is new), so a second `make serve` starts at once.
#   serve:   the embedded shape only (`footfall serve`): no drivers, no Spark
#   dev:     + the test and lint tools, and the DataSketches the rollup unit tests build
#   cluster: + the cluster drivers and pyspark (Kafka, Cassandra, Spark), for the cluster tier
$(VENV)/.installed-serve: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(VENV)/.installed-cluster: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'
	@touch $@

install: $(VENV)/.installed-serve
install-dev: $(VENV)/.installed-dev install-tracker

# the web tracker's build and test tools (tracker/package-lock.json), when npm is there; without
# them the tracker's Node and browser tests skip (CI sets REQUIRE_BROWSER_TESTS=1: they fail)
install-tracker:
	@if ! command -v npm >/dev/null 2>&1; then echo "npm not found: the tracker's Node and browser tests will skip"; \
	elif [ ! tracker/node_modules/.package-lock.json -nt tracker/package-lock.json ]; then \
	  cd tracker && npm ci --no-audit --no-fund --loglevel=error; fi

# rebuild the tracker into the package (src/footfall/api/dist/) and print the sizes
tracker: install-tracker
	cd tracker && npm run build

install-cluster: $(VENV)/.installed-cluster

serve: install
	$(BIN)/footfall serve

test: install-dev
	$(BIN)/python -m pytest -q

# the clock-sensitive tests again under shifted clocks (the instants are in .ci/shifted-clock)
test-clocks: install-dev
	bash .ci/shifted-clock

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install-dev
	$(BIN)/mypy

check: lint typecheck

# saturation (the collector's limit), then a steady load the processor sustains
bench: install-dev
	bash bench/run.sh
	BENCH_CONNECTIONS=4 bash bench/run.sh

# what the cluster targets leave behind: the engines keep running (and holding memory) until
# `make cluster-down`; said when they finish, whether they passed or not
ENGINES_LEFT = echo "make: Kafka, Cassandra and Spark are still running on 127.0.0.1; stop them with: make cluster-down"

# the cluster roles on the engines: ingest rate, ack-to-report time and the rollup lag
bench-cluster: install-cluster cluster-up
	$(BIN)/python bench/cluster_lag.py; status=$$?; $(ENGINES_LEFT); exit $$status

# the cluster tier: Kafka, Cassandra and Spark from Maven Central and PyPI, on loopback
cluster-up:
	bash deploy/cluster.sh up

cluster-down:
	bash deploy/cluster.sh down

cluster-test: install-cluster cluster-up
	$(BIN)/python -m pytest -q -m cluster tests/cluster; status=$$?; $(ENGINES_LEFT); exit $$status

clean:
	rm -rf $(VENV) footfall-data .pytest_cache .mypy_cache .ruff_cache
