# fti-assets: `make demo` and `make test` are all a fresh clone needs.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.bootstrap/bin/uv)
FTI_HOME ?= $(CURDIR)/.fti
PORT ?= 3000
DAGSTER_HOME ?= $(FTI_HOME)/dagster
BENTOML_HOME ?= $(FTI_HOME)/bentoml
export FTI_HOME
export BENTOML_DO_NOT_TRACK := true

.PHONY: demo test dev prod-dev worker serve bench lint clean env chromium

# The environment comes from uv.lock; uv itself is bootstrapped with pip when absent.
$(CURDIR)/.bootstrap/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.bootstrap
	$(CURDIR)/.bootstrap/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (it is on this project's
# machines), Python never writes it, and every process would compile each module it imports
# (measured here: `import fti_assets.definitions` 5.5 s without, 1.9 s with; `import evidently` 18 s and 7.4 s).
.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode
	touch $@

env: .venv/.synced
	@.venv/bin/python -m compileall -q fti_assets fti_assets_tests bench

demo: env
	.venv/bin/fti demo

test: env chromium
	.venv/bin/pytest

# The browser tests drive Debian's Chromium through Playwright; browser builds are never downloaded.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# Dagster UI and daemon (:3000), MLflow's UI (:3001), the reports server (:3002), which
# publishes $(FTI_HOME)/reports (plots, drift reports) over HTTP, and the feature stream's
# consumer (events from FTI_STREAM_URL into the online store); each in its own process group.
dev: env
	.venv/bin/python -m fti_assets.platform.devstack

# The production profile (README, "Production profile"): the code server, the webserver and
# the daemon as separate processes on PostgreSQL storage; FTI_DAGSTER_POSTGRES_URL,
# FTI_MLFLOW_TRACKING_URI and FTI_REDIS_URL say where the servers are.
prod-dev: env
	DAGSTER_HOME=$(DAGSTER_HOME)-production PORT=$(PORT) deploy/prod-dev.sh

# One Celery worker of the production profile (README, "Steps on Celery workers"): it executes
# steps of runs launched with FTI_EXECUTOR=celery, taken from FTI_CELERY_BROKER. Start one per
# host, each with the deployment's FTI_* settings (WORKER_NAME names it; CONCURRENCY steps at once).
worker: env
	FTI_ENV=production FTI_EXECUTOR=celery .venv/bin/fti worker $(if $(WORKER_NAME),--name $(WORKER_NAME)) --concurrency $(or $(CONCURRENCY),1)

# The champion's exact Bento (its tag is recorded in the registry, never `latest`); a running
# service follows the registry's champion and challenger aliases by itself.
serve: env
	BENTOML_HOME=$(BENTOML_HOME) .venv/bin/fti serve --host 127.0.0.1 --port $(PORT)

# Benchmarks (BENCHMARKS.md): Feast, a peer of the point-in-time build, gets its own
# environment from its own pinned requirements, never the project's.
FEAST_VENV := bench/.work/feast-venv
$(FEAST_VENV)/.synced: bench/feast-requirements.txt | env
	$(UV) venv --allow-existing --python "$$(.venv/bin/python -c 'import sys; print(sys._base_executable)')" $(FEAST_VENV)
	$(UV) pip install --python $(FEAST_VENV)/bin/python -r bench/feast-requirements.txt
	touch $@

bench: env $(FEAST_VENV)/.synced
	.venv/bin/python -m bench.run

lint: env
	.venv/bin/ruff check fti_assets fti_assets_tests bench

clean:
	rm -rf $(FTI_HOME)
