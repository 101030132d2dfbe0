# fleetpatch — the two commands a new user needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TESTCONTAINERS_RYUK_DISABLED := true
PYTEST_ARGS ?=

.PHONY: install lab-images demo test test-fast lint bench clean-lab help

help:
	@echo "make demo        build the lab if needed, scan a 3-host lab fleet, show the report"
	@echo "make test        install everything the tests need, then run the whole suite"
	@echo "make lint        ruff + mypy"
	@echo "make lab-images  build the lab images from Debian's archive (cached)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fleetpatch needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

lab-images:
	tests/lab/ensure-host-deps.sh
	tests/lab/build-images.sh

demo: install lab-images
	KEEP=$(KEEP) scripts/demo.sh

test: install lab-images
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not lab" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy

bench: install
	benchmarks/run.sh $(BENCH_ARGS)

clean-lab:
	$(BIN)/python tests/lab/fleet.py down --prefix demo || true
