# Kasir: the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test check lint typecheck bench-api bench-matching bench-qris clean

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
## Method qris uses the labelled demo QRIS unless KASIR_PLATFORM_QRIS names yours.
run: $(VENV)/.installed
	$(BIN)/kasir migrate
	$(BIN)/kasir demo
	KASIR_PLATFORM_QRIS="$${KASIR_PLATFORM_QRIS:-demo}" $(BIN)/kasir serve --host $(HOST) --port $(PORT)

## test: dev extras, lint and types, then the whole suite on SQLite and PostgreSQL.
test: $(VENV)/.installed-dev check
	$(BIN)/pytest

check: lint typecheck

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check kasir tests benchmarks
	$(BIN)/ruff format --check kasir tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

## bench-api: create-payment and check-payment against a hello-world route, same server stack.
bench-api: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/api_bench.py

## bench-matching: 100,000 credits against 100,000 pending payments, SQLite and PostgreSQL.
bench-matching: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/matching_bench.py $(BENCH_ARGS)

## bench-qris: the QRIS engine per call, against the naive string-split converter.
bench-qris: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/qris_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
