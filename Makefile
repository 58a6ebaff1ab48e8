# Developers and CI use the same targets.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install serve test check lint typecheck bench bench-cluster clean cluster-up cluster-down cluster-test

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'

serve: install
	$(BIN)/footfall serve

test: install
	$(BIN)/python -m pytest -q

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
