# The project's table of contents (`make help`). Logic lives in the service
# folders and in pipeline/; each recipe here is a line or two.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PY) -m pipeline.stack
# Debian's Maven prints bare colour resets even with -B -q; sed drops them.
MVN := mvn -B -q
NO_ANSI := sed 's/\x1b\[0m//g'
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# $(call apt_install,binary,package): the Debian package, unless the binary is already there.
apt_install = [ -x $(1) ] || { echo "==> setup: $(2) from Debian"; $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null; }
# $(call uv_env,folder,lock file): a Python 3.11 virtualenv synced exactly to the lock file.
uv_env = python3 -m uv venv --quiet --allow-existing --python python3.11 $(1) && python3 -m uv pip sync --quiet --python $(1)/bin/python $(2)

.PHONY: help demo setup mariadb chromium up api submit stop-job down teardown clean status logs simulate test lock

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

demo: up ## The main job: start everything, then send orders at DEMO_RATE/s until Ctrl-C
	@$(STACK) status && $(STACK) urls
	@$(PY) -m pipeline.simulate --rate $(or $(DEMO_RATE),20) --duration 0 --mode single

setup: .env $(VENV)/.synced superset/.venv/.synced kafka/target/classpath.txt cassandra/target/classpath.txt jars/.resolved mariadb ## Install what the stack needs (idempotent)

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

mariadb: ## MariaDB server from Debian packages, when absent (part of setup)
	@$(call apt_install,/usr/sbin/mariadbd,mariadb-server)

chromium: ## Chromium from Debian, when absent, for the dashboard's browser test (part of test)
	@$(call apt_install,/usr/bin/chromium,chromium)

up: setup ## Start Kafka, Cassandra, MariaDB, Superset, the ingest API and the Spark job; apply schemas, import the dashboard
	@$(STACK) up

api: setup ## Start the ingest API alone (Kafka must be reachable for 202s)
	@$(STACK) up api

submit: setup ## Start the Spark streaming job in the background (SPARK_MASTER in .env; once only)
	@$(STACK) up spark

stop-job: ## Stop the Spark job after its current micro-batch
	@$(STACK) down spark

down: ## Stop what `up` started (by pid); data stays
	@$(STACK) down

teardown: ## down, then delete data, logs and checkpoints
	@$(STACK) teardown

clean: teardown ## Same as teardown

status: ## Each service: up or down, port, pid, log
	@$(STACK) status

logs: ## Last lines of each log (FOLLOW=1 keeps following)
	@$(STACK) logs $(if $(FOLLOW),--follow)

simulate: ## Load generator through the API: RATE orders/s for DURATION s (0 = until Ctrl-C), MODE=batch|single
	@$(PY) -m pipeline.simulate --rate $(or $(RATE),200) --duration $(or $(DURATION),60) --mode $(or $(MODE),batch)

test: up chromium ## Unit and integration tests against the real local stack, the dashboard in headless Chromium
	@$(PY) -m pytest $(PYTEST_ARGS)

lock: ## Re-pin requirements.lock and superset/requirements.txt from their inputs
	python3 -m uv pip compile --quiet pyproject.toml --extra test --python-version 3.11 -o requirements.lock
	python3 -m uv pip compile --quiet superset/requirements.in -c superset/constraints.txt --python-version 3.11 -o superset/requirements.txt
