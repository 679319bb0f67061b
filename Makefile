# Two set-up commands on a fresh Debian/Ubuntu machine with Python: `make up` and `make test`.
# Both install what is missing first (scripts/bootstrap.sh: uv, PostGIS, GDAL, the venv).

SHELL := /bin/bash
UV := $(CURDIR)/.local/bin/uv
DEVSTACK := $(UV) run --frozen python -m etl_devstack

.DEFAULT_GOAL := help
.PHONY: help bootstrap up down status env sample test test-reliability e2e bench lint format check-defs compose-config

help:
	@echo "make up        install what is missing, start the local platform, run the main job"
	@echo "make test      install what is missing, run the whole test suite"
	@echo "make test-reliability   the full reliability suite (hostile input, faults, load, security)"
	@echo "make e2e       end-to-end tests through a deployed platform (free ports, ~15 min)"
	@echo "make sample    submit the sample batch again to the running platform (idempotent)"
	@echo "make bench     benchmark suite: ratios against same-run baselines (BENCH_ARGS=--quick)"
	@echo "make status    show each component of the local platform"
	@echo "make down      stop the local platform (no process left behind)"
	@echo "make lint      ruff check + format check"
	@echo "make check-defs   dg check defs (both code locations)"
	@echo "make compose-config   validate infra/compose.yaml"

bootstrap:
	@bash scripts/bootstrap.sh

up: bootstrap
	@$(DEVSTACK) up

down:
	@if [ -x "$(UV)" ]; then $(DEVSTACK) down; else echo "nothing to stop (never started)"; fi

status:
	@if [ -x "$(UV)" ]; then $(DEVSTACK) status; else echo "not started (run: make up)"; fi

env:
	@$(DEVSTACK) env

sample:
	@$(DEVSTACK) sample

test: bootstrap
	@$(UV) run --frozen pytest

test-reliability: bootstrap
	@ETL_RELIABILITY_FULL=1 $(UV) run --frozen pytest tests/reliability -q

e2e: bootstrap
	@$(UV) run --frozen pytest tests/e2e -m e2e

bench: bootstrap
	@$(UV) run --frozen python bench/run.py $(BENCH_ARGS)

lint:
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .

format:
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .

check-defs:
	@$(UV) run --frozen dg check defs --use-active-venv

compose-config:
	@docker compose -f infra/compose.yaml --env-file infra/.env.example config -q \
		&& echo "infra/compose.yaml: valid (with infra/.env.example)"
