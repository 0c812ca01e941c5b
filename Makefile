# BALANCE — one Makefile for set-up, tests, lint, benchmarks and the demo.
# Python 3.14.2+ is required (Home Assistant 2026.x). Any python3.14 on PATH is used, or PYTHON=...;
# on Debian 12, ../shared/tools/provision-python314 installs one (see README).

PYTHON ?= $(shell command -v python3.14 2>/dev/null)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

LIBS := dmesh_lib dlm balance_analytics balance_aggregator
LINT_PATHS := $(LIBS) custom_components tests benchmarks scripts

.PHONY: venv test lint typecheck bench bench-quick demo clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	  echo "No python3.14 found. Install Python >= 3.14.2 or run ../shared/tools/provision-python314 and pass PYTHON=<path>." >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 14, 2))' || { \
	  echo "$(PYTHON) is older than 3.14.2" >&2; exit 1; }
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(VPY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy --strict $(wildcard $(LIBS)) $(wildcard custom_components/balance)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b" >&2; $(VPY) $$b || exit 1; done

bench-quick: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b" >&2; $(VPY) $$b --quick || exit 1; done

# Later issues extend the demo with Home Assistant and the aggregator; for now: the simulator with
# a demo home and a monitor printing every decoded event.
demo: $(STAMP)
	$(VPY) scripts/demo.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
