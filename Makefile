# Two set-up commands on a fresh Debian/Ubuntu machine with Python: `make up` and `make test`.
# Both install what is missing first (scripts/bootstrap.sh: uv, PostGIS, GDAL, the venv).

SHELL := /bin/bash
UV := $(CURDIR)/.local/bin/uv
DEVSTACK := $(UV) run --frozen python -m etl_devstack

.DEFAULT_GOAL := help
.PHONY: help bootstrap up down status env test lint format check-defs compose-config

help:
	@echo "make up        install what is missing, start the local platform, run the main job"
	@echo "make test      install what is missing, run the whole test suite"
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

test: bootstrap
	@$(UV) run --frozen pytest

lint:
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .

format:
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .

check-defs:
	@$(UV) run --frozen dg check defs --use-active-venv

compose-config:
	@docker compose -f infra/compose.yaml config -q && echo "infra/compose.yaml: valid"
