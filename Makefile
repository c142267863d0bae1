# The two commands of the quick start: `make demo` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
# Settings a setup run chose (a provisioned database or Redis) live in var/env.
WITH_ENV := set -a; [ -f var/env ] && . var/env; set +a;

.PHONY: setup demo cluster test test-faults lint format bench clean messages

setup:
	@bash scripts/setup.sh

demo: setup
	@$(WITH_ENV) $(PY) manage.py run_demo

test: setup
	@$(MAKE) --no-print-directory lint
	@$(WITH_ENV) $(PY) -m pytest

# The whole system as a cluster on this machine: 2 Orthanc nodes on one PostgreSQL index,
# 2 web nodes behind haproxy, 2 workers, 2 followers, restarted when they die.
cluster: setup
	@$(WITH_ENV) $(PY) manage.py run_cluster

# The long fault test: 200 studies while parts of a cluster are killed (`make test` sends 12).
test-faults: setup
	@$(WITH_ENV) FAULT_STUDIES=$${FAULT_STUDIES:-200} $(PY) -m pytest -m faults -s

# ruff (style, imports, complexity at 10), then dead code; the import contract between the layers
# is a test (tests/architecture), so `make test` holds all three.
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
	$(PY) scripts/dead_code.py

# Bring the Korean and Chinese catalogues up to date with the code: new messages appear empty in
# locale/*/LC_MESSAGES/django.po for a translator; tests/i18n fails until each is translated.
messages:
	$(PY) manage.py makemessages --locale=ko --locale=zh_Hans --no-obsolete --add-location=file \
		$(foreach d,.venv var node_modules tests bench scripts fixtures simulator build,--ignore='$(d)/*')
	$(PY) manage.py compilemessages --ignore='.venv/*' --ignore='var/*' -v 0

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

bench: setup
	@$(WITH_ENV) $(PY) bench/ingest.py

clean:
	rm -rf var .venv
