# Kasir: the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test faults check lint typecheck layers bench bench-api bench-drivers bench-matching bench-round-trips bench-qris bench-sources clean

# A stamp per dependency set, so re-running `make run` installs only when pyproject.toml changed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

## run: venv, install, migrate, demo merchant (once), print its test key and the URLs, serve.
## Method qris uses the labelled demo QRIS unless KASIR_PLATFORM_QRIS names yours. It is local
## development, so callback URLs on this machine (kasir listen, your app on localhost) are allowed
## unless KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS=0; production (docs/deploy.md) refuses them.
run: $(VENV)/.installed
	$(BIN)/kasir migrate
	$(BIN)/kasir demo
	KASIR_PLATFORM_QRIS="$${KASIR_PLATFORM_QRIS:-demo}" \
	KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS="$${KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS:-1}" \
	$(BIN)/kasir serve --host $(HOST) --port $(PORT)

## test: dev extras, lint and types, then the whole suite on SQLite and PostgreSQL, spread over
## TEST_WORKERS processes (pytest-xdist; each takes a whole file, so a file's tests never run
## beside each other). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-dev check
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

## faults: the fault suite at full size, a few minutes (`make test` runs its short form): `kasir
## worker` and an API node killed with SIGKILL, PostgreSQL restarted (a throwaway cluster), slow,
## down, flapping, resetting, 5xx/429/410 receivers, a full disk under SQLite. Each scenario's
## accepted, delivered, duplicate and lost events go to test-output/faults/<scenario>.json, and
## the table of them all is printed at the end.
faults: $(VENV)/.installed-dev
	KASIR_FAULTS_SCALE=full $(BIN)/pytest tests/faults -rsx

check: lint typecheck layers

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check kasir tests benchmarks
	$(BIN)/ruff format --check kasir tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

## layers: the import contract of pyproject.toml (import-linter): the layers of
## docs/architecture.md point one way.
layers: $(VENV)/.installed-dev
	$(BIN)/lint-imports

# The bench extra (Celery + Redis + requests: the delivery benchmark's baseline) on top of dev.
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

## bench: every benchmark with a target (docs/BENCHMARKS.md) in one run (9–10 minutes on 2 cores): JSON in
## benchmarks/results/, the report with its plots in docs/BENCHMARKS.md. Uses PostgreSQL and Redis
## on 127.0.0.1 when they answer (their cases are skipped, and the report says so, when not).
## BENCH_ARGS=--quick checks the whole chain in about 4 minutes.
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

## bench-api: create-payment and check-payment against a hello-world route, same server stack.
bench-api: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/api_bench.py

## bench-matching: 100,000 credits against 100,000 pending payments, SQLite and PostgreSQL.
bench-matching: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/matching_bench.py $(BENCH_ARGS)

## bench-qris: the QRIS engine per call, against the naive string-split converter.
bench-qris: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/qris_bench.py $(BENCH_ARGS)

## bench-drivers: PostgreSQL units of work on each candidate driver (threads, psycopg async, asyncpg).
bench-drivers: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/driver_bench.py $(BENCH_ARGS)

## bench-round-trips: round trips to PostgreSQL per unit of work, counted on the wire (--explain lists them).
bench-round-trips: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/round_trips.py $(BENCH_ARGS)

## bench-sources: phone notifications ingested per second against /v1/mutations with the same credits.
bench-sources: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/sources_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
