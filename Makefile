# BALANCE — one Makefile for set-up, tests, lint, benchmarks and the demo.
# Python 3.14.2+ is required (Home Assistant 2026.x). Any python3.14 on PATH is used, or PYTHON=...
# (README: how to get one).

PYTHON ?= $(shell command -v python3.14 2>/dev/null)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

LIBS := dmesh_lib dlm balance_analytics balance_openadr balance_aggregator balance_grid
LINT_PATHS := $(LIBS) custom_components tests benchmarks scripts

.PHONY: venv test test-clock lint typecheck bench bench-quick demo test-e2e release test-install ui-vendor clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	  echo "No python3.14 found. Install Python >= 3.14.2 (your distribution, 'uv python install 3.14' or pyenv; see README) and pass PYTHON=<path>." >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 14, 2))' || { \
	  echo "$(PYTHON) is older than 3.14.2" >&2; exit 1; }
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(VPY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The suite (not the browser demo) with the wall clock set elsewhere by Debian's libfaketime
# (apt-get install faketime), to prove no test depends on the hour, date or season it runs at:
#   make test-clock CLOCK="2027-07-14 23:30:00" TZ=Europe/Berlin
# CLOCK is local time in TZ (default UTC) and runs on from there. Monotonic time stays real, as
# threads and timeouts need; tests/clock/sitecustomize.py works around time.sleep under
# libfaketime 0.9.10. Chromium does not load a page under libfaketime (not even at offset +0),
# so the browser tests (e2e, the operator UI) stay out. Nothing is installed: the venv must
# exist (VPY=... to use another one).
CLOCK ?= 2027-01-14 03:00:00
FAKETIME_LIB ?= /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
test-clock:
	@test -e $(FAKETIME_LIB) || { echo "$(FAKETIME_LIB) missing: apt-get install faketime" >&2; exit 1; }
	@test -x $(VPY) || { echo "$(VPY) missing: make venv first, or pass VPY=<python>" >&2; exit 1; }
	$(if $(TZ),TZ=$(TZ)) LD_PRELOAD=$(FAKETIME_LIB) FAKETIME="@$(CLOCK)" FAKETIME_DONT_FAKE_MONOTONIC=1 \
	  PYTHONPATH=tests/clock $(VPY) -m pytest -q -p no:cacheprovider --ignore=tests/e2e/test_demo.py \
	  --ignore=tests/aggregator/test_operator_ui.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy --strict $(wildcard $(LIBS)) $(wildcard custom_components/balance)
	$(VENV)/bin/mypy --strict scripts/release.py scripts/test_install.py

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b" >&2; $(VPY) $$b || exit 1; done

bench-quick: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b" >&2; $(VPY) $$b --quick || exit 1; done

# Home Assistant, the DMesh simulator and the aggregator together; prints the URLs and the login.
demo: $(STAMP)
	$(VPY) -m scripts.demo $(DEMO_ARGS)

# The demo, headless, driven in Debian's chromium through Playwright (tests/e2e). Playwright's
# sync API runs its own event loop and the demo's servers are separate processes, so HA's test
# plugin (socket blocking, event-loop fixtures) and the asyncio plugins stay out of this run;
# the demo's other tests (tests/e2e/test_demo_parts.py) run in `make test` with them.
E2E_PLUGINS := -p no:cacheprovider -p no:homeassistant -p no:socket -p no:aiohttp -p no:asyncio
test-e2e: $(STAMP)
	BALANCE_E2E=1 $(VPY) -m pytest -q -s $(E2E_PLUGINS) tests/e2e/test_demo.py $(PYTEST_ARGS)

# The release artefact HACS installs (hacs.json zip_release): dist/balance.zip, and the same tree
# unpacked in dist/balance/. The integration plus the project's libraries bundled under libs/
# with relative imports; fails on a manifest requirement that is not a plain PyPI range HA allows.
release: $(STAMP)
	$(VPY) -m scripts.release $(RELEASE_ARGS)

# The release as a user gets it: a fresh venv with only the homeassistant the tests pin, the zip
# unpacked as HACS does, hass started without --skip-pip (so HA installs the manifest's
# requirements from PyPI), onboarding, BALANCE added against the simulator, then a restart.
# Needs PyPI; takes a few minutes (see scripts/test_install.py).
test-install: $(STAMP)
	$(VPY) -m scripts.test_install $(TEST_INSTALL_ARGS)

# Refresh the operator page's vendored uPlot from web/package-lock.json (npm, never a CDN). The copy
# is committed, so CI and `pip install` need no npm; run this after bumping the version in web/.
UI_VENDOR := balance_aggregator/operator/static/vendor
ui-vendor:
	cd web && npm ci --no-audit --no-fund --ignore-scripts
	cp web/node_modules/uplot/dist/uPlot.iife.min.js web/node_modules/uplot/dist/uPlot.min.css \
	  web/node_modules/uplot/LICENSE $(UI_VENDOR)/

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis dist .install-test
