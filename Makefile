# The two commands of the quick start: `make demo` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
# Settings a setup run chose (a provisioned database or Redis) live in var/env.
WITH_ENV := set -a; [ -f var/env ] && . var/env; set +a;

.PHONY: setup demo test lint format bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@$(WITH_ENV) $(PY) manage.py run_demo

test: setup
	@$(WITH_ENV) .venv/bin/ruff check . && .venv/bin/ruff format --check .
	@$(WITH_ENV) $(PY) -m pytest

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

bench: setup
	@$(WITH_ENV) $(PY) bench/ingest.py

clean:
	rm -rf var .venv
