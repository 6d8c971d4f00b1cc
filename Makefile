# route_check: `make run` sets up everything and runs the whole system; `make test` sets up
# everything and runs the test suite. Both work on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test unit integration chaos hosts lint bench services venv browser prometheus clean

run: venv
	bash scripts/run.sh

# The whole suite: unit, integration, chaos and hosts (pyproject.toml lists the markers).
test: venv services browser prometheus
	source scripts/env.sh && $(PY) -m pytest $(PYTEST_ARGS)

# The tests that need no RabbitMQ, Redis or other service: policy, messages, handlers in-process,
# fleet config and auth. Seconds, not minutes.
unit: venv
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

# One marker each, named as the target, with the services running:
#   integration  the everyday check with services: real RabbitMQ, Redis, workers, supervisord,
#                Flower, Prometheus and Chromium on this machine; no faults, no test hosts (minutes)
#   chaos        tests/chaos: brokers, workers and Redis killed or restarted under load (slow)
#   hosts        tests/hosts: four test hosts made of network namespaces (skipped where there are none)
integration chaos hosts: venv services
	source scripts/env.sh && $(PY) -m pytest -m $@ $(PYTEST_ARGS)

# The integration tests also drive Chromium and run Prometheus.
integration: browser prometheus

lint: venv
	$(VENV)/bin/ruff check .

services:
	bash scripts/services.sh

browser:
	bash scripts/browser.sh

prometheus:
	bash scripts/prometheus.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis

bench: venv services prometheus
	bash scripts/bench_tools.sh
	source scripts/env.sh && $(PY) -m bench $(BENCH_ARGS)
	source scripts/env.sh && $(PY) -m bench.experiments.metrics_cost

# Publish the last full passing chaos run's table (var/reports/reliability.md, untracked) into
# docs/reliability.md: a step of its own, since no test writes a tracked file.
.PHONY: docs
docs: venv
	$(PY) -m testbed.doc_blocks reliability var/reports/reliability.md docs/reliability.md
