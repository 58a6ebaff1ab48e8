# Developers and CI use the same targets.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install serve test test-clocks check lint typecheck bench bench-cluster clean cluster-up cluster-down cluster-test

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'

serve: install
	$(BIN)/footfall serve

test: install
	$(BIN)/python -m pytest -q

# the suite again at instants where clock bugs hide: a minute before a daylight-saving change in
# Europe/Paris and in America/New_York, and a minute before midnight UTC on New Year's Eve
# (the fuzz tests run once, in make test: their cases do not depend on the instant)
test-clocks: install
	bash .ci/shifted-clock 2026-03-29T00:59:00Z -m "not cluster and not fuzz"
	bash .ci/shifted-clock 2026-11-01T05:59:00Z -m "not cluster and not fuzz"
	bash .ci/shifted-clock 2026-12-31T23:59:00Z -m "not cluster and not fuzz"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

check: lint typecheck

# saturation (the collector's limit), then a steady load the processor sustains
bench: install
	bash bench/run.sh
	BENCH_CONNECTIONS=4 bash bench/run.sh

# the cluster roles on the engines: ingest rate, ack-to-report time and the rollup lag
bench-cluster: install cluster-up
	$(BIN)/python bench/cluster_lag.py

# the cluster tier: Kafka, Cassandra and Spark from Maven Central and PyPI, on loopback
cluster-up:
	bash deploy/cluster.sh up

cluster-down:
	bash deploy/cluster.sh down

cluster-test: install cluster-up
	$(BIN)/python -m pytest -q -m cluster tests/cluster

clean:
	rm -rf $(VENV) footfall-data .pytest_cache .mypy_cache .ruff_cache
