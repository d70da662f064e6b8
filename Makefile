# RPA Dashboard: `make run` brings the whole system up; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export FLASK_APP := apps:create_app

.PHONY: run test test-sqlite test-postgres test-cluster setup system-deps venv assets migrate seed bench lint clean

run: setup ## Start web, worker, scheduler, Redis and the RPA simulator; Ctrl-C stops them all
	$(PY) scripts/run_all.py

test: setup ## ruff, every test on SQLite and on a real PostgreSQL (the two lanes at once), then the cluster lane
	$(VENV)/bin/ruff check .
	PY=$(PY) bash scripts/test_lanes.sh

test-sqlite:
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres:
	TEST_DATABASE=postgresql $(PY) -m pytest $(PYTEST_ARGS)

test-cluster: ## two machines (web, worker, scheduler each) on one PostgreSQL and one Redis, behind nginx
	CLUSTER_LANE=1 $(PY) -m pytest -s tests/cluster $(PYTEST_ARGS)

setup: system-deps venv assets

system-deps: ## redis-server, PostgreSQL 15 binaries and Chromium from Debian's packages (root only)
	@bash scripts/system_deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	touch $@

assets: apps/static/vendor/.installed

apps/static/vendor/.installed: package.json package-lock.json scripts/vendor_assets.sh
	bash scripts/vendor_assets.sh
	touch $@

migrate: venv
	$(VENV)/bin/flask db upgrade

bench: setup ## Benchmarks under bench/ (figures printed as ratios)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

lint: venv ## ruff over the whole tree
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) node_modules apps/static/vendor
