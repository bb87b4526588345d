# The project's table of contents (`make help`). Logic lives in the service
# folders and in pipeline/; each recipe here is a line or two.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
# The local stack's supervisor (process-compose.yaml), built from the Go module proxy into .tools/bin.
PROCESS_COMPOSE_VERSION := v1.87.0
PROCESS_COMPOSE := .tools/bin/process-compose
# The docker compose CLI plugin `make test` builds to check docker-compose.yml with it.
COMPOSE_VERSION := v2.40.3
VENV := .venv
PY := $(VENV)/bin/python
LAUNCHER := $(PY) -m pipeline.stack
# Debian's Maven prints bare colour resets even with -B -q; sed drops them.
MVN := mvn -B -q
NO_ANSI := sed 's/\x1b\[0m//g'
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# The mode, chosen here once: local processes (default), or STACK=docker for
# docker-compose.yml. Same targets, same .env, same host ports.
ifneq ($(filter-out local docker,$(STACK)),)
$(error STACK=$(STACK): use STACK=docker for docker-compose.yml, or leave it unset (local))
endif
# The topology of local mode: one node of each server (default), or TOPOLOGY=cluster
# (process-compose.cluster.yaml with cluster.env). The launcher reads it.
export TOPOLOGY
ifneq ($(filter-out single cluster,$(TOPOLOGY)),)
$(error TOPOLOGY=$(TOPOLOGY): use TOPOLOGY=cluster, or leave it unset (single))
endif
# SECURE=true: the single-node stack with TLS and accounts on (secure.env).
export SECURE
# Tests and benchmarks run on stacks of their own, never on the one `up` runs, made afresh each
# run: `pipeline.stack apart` stops yours while they run and starts it again after. Set either to
# var to share yours (then nothing is deleted). Benchmark results outlive their stack.
TEST_STATE_DIR ?= var/test
BENCH_STATE_DIR ?= var/bench/$(or $(TOPOLOGY),single)
BENCH_RESULTS_DIR ?= var/bench/results/$(or $(TOPOLOGY),single)
APART := $(LAUNCHER) apart --fresh
ifeq ($(STACK)$(TOPOLOGY),dockercluster)
$(error docker mode runs the single-node topology; TOPOLOGY=cluster is local processes)
endif
ifeq ($(STACK),docker)
STACK_NEEDS := .env
stack_up = docker compose up --detach --build --wait $(1)
stack_down = docker compose $(if $(1),stop $(1),down)
STACK_TEARDOWN := docker compose down --volumes
STACK_STATUS := docker compose ps
STACK_LOGS = docker compose logs --tail 20 $(if $(FOLLOW),--follow)
STACK_MIGRATE := docker compose run --rm init
STACK_UPGRADE_STREAM := docker compose stop spark-job && docker compose run --rm --no-deps spark-job \
  .venv/bin/python -m spark_jobs.checkpoint upgrade && docker compose start spark-job
JOB := spark-job
else
STACK_NEEDS := setup
stack_up = $(LAUNCHER) up $(1)
stack_down = $(LAUNCHER) down $(1)
STACK_TEARDOWN := $(LAUNCHER) teardown
STACK_STATUS := $(LAUNCHER) status
STACK_LOGS = $(LAUNCHER) logs $(if $(FOLLOW),--follow)
STACK_MIGRATE := $(LAUNCHER) migrate
STACK_UPGRADE_STREAM := $(LAUNCHER) upgrade-stream
JOB := spark
endif
# $(call apt_install,binary,package): the Debian package, unless the binary is already there.
apt_install = [ -x $(1) ] || { echo "==> setup: $(2) from Debian"; $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null; }
# $(call uv_env,folder,lock file): a Python 3.11 virtualenv synced exactly to the lock file.
uv_env = python3 -m uv venv --quiet --allow-existing --python python3.11 $(1) && python3 -m uv pip sync --quiet --python $(1)/bin/python $(2)

.PHONY: help demo setup mariadb chromium wrk compose-cli up api submit stop-job migrate upgrade-stream down teardown clean status logs reconcile backfill retention screenshot simulate bench chaos lint unit test test-cluster test-secure test-external chaos-cluster lock

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

demo: up $(VENV)/.synced ## The main job: start everything, then send orders at DEMO_RATE/s until Ctrl-C
	@$(if $(filter docker,$(STACK)),$(LAUNCHER) urls)
	@$(PY) -m pipeline.simulate --rate $(or $(DEMO_RATE),20) --duration 0 --mode single

setup: .env $(VENV)/.synced jars/.resolved $(PROCESS_COMPOSE) ## Install what the local stack needs (idempotent): Python envs, Spark connectors, each server not *_EXTERNAL
	@targets="$$($(LAUNCHER) installs)" && { [ -z "$$targets" ] || $(MAKE) --no-print-directory $$targets; }

# Created on first run; later runs append settings a newer .env.example added.
.env: .env.example
	@python3 -m pipeline.envfile && touch $@

$(VENV)/.synced: requirements.lock
	@echo "==> setup: python env $(VENV) from requirements.lock (uv $(UV_VERSION))"
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --user uv==$(UV_VERSION)
	@$(call uv_env,$(VENV),$<) && touch $@

superset/.venv/.synced: superset/requirements.txt | $(VENV)/.synced
	@echo "==> setup: Superset's own python env superset/.venv from superset/requirements.txt"
	@$(call uv_env,superset/.venv,$<) && touch $@

%/target/classpath.txt: %/pom.xml
	@echo "==> setup: $* jars from Maven Central (into ~/.m2)"
	@$(MVN) -f $< dependency:build-classpath -Dmdep.outputFile=$(abspath $@) 2>&1 | $(NO_ANSI) && touch $@

jars/.resolved: jars/pom.xml
	@echo "==> setup: Spark connectors from Maven Central (into jars/)"
	@$(MVN) -f $< dependency:copy-dependencies 2>&1 | $(NO_ANSI) && touch $@

$(PROCESS_COMPOSE):
	@echo "==> setup: process-compose $(PROCESS_COMPOSE_VERSION) from the Go module proxy"
	@bash tools/go_build.sh github.com/f1bonacc1/process-compose $(PROCESS_COMPOSE_VERSION) . $@ \
	  "-X github.com/f1bonacc1/process-compose/src/config.Version=$(PROCESS_COMPOSE_VERSION)"

mariadb: ## MariaDB server from Debian packages, when absent (part of setup)
	@$(call apt_install,/usr/sbin/mariadbd,mariadb-server)

chromium: ## Chromium from Debian, when absent, for the dashboard's browser test (part of test)
	@$(call apt_install,/usr/bin/chromium,chromium)

wrk: ## wrk from Debian, when absent: the benchmark's single-order closed loop (part of bench and test)
	@$(call apt_install,/usr/bin/wrk,wrk)

up: $(STACK_NEEDS) ## Start Kafka, Cassandra, MySQL, Superset, the API and the Spark job; apply schemas; print addresses
	@$(call stack_up)

api: $(STACK_NEEDS) ## Start the ingest API alone (Kafka must be reachable for 202s)
	@$(call stack_up,api)

submit: $(STACK_NEEDS) ## Start the Spark streaming job in the background (SPARK_MASTER in .env; once only)
	@$(call stack_up,$(JOB))

stop-job: ## Stop the Spark job (locally after its current micro-batch)
	@$(call stack_down,$(JOB))

migrate: $(STACK_NEEDS) ## Apply the MySQL and Cassandra migrations (and topics, users) to the running servers; up does too
	@$(STACK_MIGRATE)

upgrade-stream: $(STACK_NEEDS) ## Move the job to a new checkpoint that starts after the last batch in MySQL (docs/upgrading.md)
	@$(STACK_UPGRADE_STREAM)

down: ## Stop what `up` started; data stays
	@$(call stack_down)

teardown: ## down, then delete the data: Kafka, Cassandra, MySQL and Superset state, logs, checkpoints
	@$(STACK_TEARDOWN)

clean: ## Delete what setup built (virtualenvs, jars, .tools); never data (that is teardown)
	rm -rf $(VENV) superset/.venv jars/*.jar jars/.resolved kafka/target cassandra/target .tools .pytest_cache .mypy_cache .ruff_cache

status: ## Each service: up or down, port, health
	@$(STACK_STATUS)

logs: ## Last lines of each log (FOLLOW=1 keeps following)
	@$(STACK_LOGS)

reconcile: $(VENV)/.synced jars/.resolved ## MySQL's windows of [FROM, TO) (default: the last 24 h) against Cassandra's raw orders; exit 1 if any differ
	@bash spark_jobs/run.sh spark_jobs/reconcile.py reconcile $(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO))

backfill: $(VENV)/.synced jars/.resolved ## Recompute MySQL's windows of [FROM, TO) from Cassandra's raw orders; safe while the stream runs
	@bash spark_jobs/run.sh spark_jobs/reconcile.py backfill $(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO))

retention: $(VENV)/.synced ## Delete MySQL rows older than *_KEEP_DAYS (the job does every RETENTION_INTERVAL_SECONDS)
	@$(PY) -m pipeline.retention

screenshot: $(VENV)/.synced chromium ## docs/dashboard.png from the running stack, as the browser test sees the dashboard
	@$(PY) -m tests.integration.dashboard_page docs/dashboard.png

simulate: ## Load generator through the API: RATE orders/s for DURATION s (0 = until Ctrl-C), MODE=batch|single
	@$(PY) -m pipeline.simulate --rate $(or $(RATE),200) --duration $(or $(DURATION),60) --mode $(or $(MODE),batch)

bench: setup wrk ## Benchmarks on a fresh stack of their own in BENCH_STATE_DIR (SCALE=0.1: a tenth of the orders): a table, and BENCH_RESULTS_DIR/*.json
	@$(APART) STATE_DIR=$(BENCH_STATE_DIR) -- $(PY) -m bench --results $(BENCH_RESULTS_DIR) $(if $(SCALE),--scale $(SCALE))

chaos: setup ## Faults injected into the tests' stack, 50 000 orders each (CHAOS_SCALE=0.1: a tenth): nothing lost or doubled
	@$(APART) STATE_DIR=$(TEST_STATE_DIR) CHAOS_SCALE=$(or $(CHAOS_SCALE),1) -- $(PY) -m pytest -m chaos -rP tests/integration $(PYTEST_ARGS)

compose-cli: ## The docker compose CLI plugin, built from the Go module proxy when absent (part of test)
	@bash tests/install_compose_cli.sh $(COMPOSE_VERSION)

lint: $(VENV)/.synced ## ruff (lint and format) and mypy (types)
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

unit: .env $(VENV)/.synced ## The unit tests alone: no server
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# The single-node suites run on the plaintext single-node stack whatever TOPOLOGY and
# SECURE say; `pipeline.stack apart` switches.
test chaos: TOPOLOGY := single
test chaos: SECURE := false

test: setup chromium wrk compose-cli lint ## lint, unit and integration tests on a single-node stack of their own (the dashboard in headless Chromium), then secure and external mode's, then the cluster's smoke test
	@$(APART) STATE_DIR=$(TEST_STATE_DIR) -- bash tests/all.sh $(PYTEST_ARGS)

test-cluster: setup ## The cluster topology's smoke test: starts the cluster (yours stopped meanwhile), orders through, exactness, down
	@$(APART) TOPOLOGY=cluster STATE_DIR=$(TEST_STATE_DIR)/cluster -- $(PY) -m pytest tests/integration/cluster -m "not chaos" $(PYTEST_ARGS)

test-secure: setup ## Secure mode's tests: the single-node stack with TLS and accounts (yours stopped meanwhile), the path and the refusals, down
	@$(LAUNCHER) apart SECURE=true -- $(PY) -m pytest tests/integration/secure $(PYTEST_ARGS)

test-external: setup ## External mode's tests: secured servers started as a stack of their own, the pipeline with every server *_EXTERNAL=true pointed at them
	@bash tests/external.sh tests/integration/secure tests/integration/external $(PYTEST_ARGS)

chaos-cluster: setup ## The cluster's node-loss tests (a Kafka node, a Cassandra node, a Spark worker, the driver killed -9)
	@$(APART) TOPOLOGY=cluster STATE_DIR=$(TEST_STATE_DIR)/cluster CHAOS_SCALE=$(or $(CHAOS_SCALE),1) -- $(PY) -m pytest tests/integration/cluster -m chaos -rP $(PYTEST_ARGS)

lock: ## Re-pin requirements.lock, superset/requirements.txt and spark/executor-requirements.txt from their inputs
	python3 -m uv pip compile --quiet pyproject.toml --extra test --python-version 3.11 -o requirements.lock
	python3 -m uv pip compile --quiet superset/requirements.in -c superset/constraints.txt --python-version 3.11 -o superset/requirements.txt
	python3 -m uv pip compile --quiet spark/executor-requirements.in -c requirements.lock --python-version 3.11 -o spark/executor-requirements.txt
