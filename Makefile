# route_check: `make run` sets up everything and runs the whole system; `make test` sets up
# everything and runs the test suite. Both work on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test unit lint bench services venv browser clean

run: venv
	bash scripts/run.sh

test: venv services browser
	source scripts/env.sh && $(PY) -m pytest $(PYTEST_ARGS)

# The tests that need no RabbitMQ, Redis or other service: policy, messages, handlers in-process,
# fleet config and auth. Seconds, not minutes.
unit: venv
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

services:
	bash scripts/services.sh

browser:
	bash scripts/browser.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis

bench: venv services
	bash scripts/bench_tools.sh
	source scripts/env.sh && $(PY) -m bench $(BENCH_ARGS)
