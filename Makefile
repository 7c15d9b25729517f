# stackvault: the two commands a newcomer needs, and a few for developers.
#
#   make demo   install stackvault, bring devcloud up, protect a workload,
#               delete it, restore it, check it, print a report
#   make test   install stackvault (and shellcheck), build the docs, bring
#               devcloud up, run every test (unit, functional, fullstack
#               against devcloud), ruff, and the tempest plugin against
#               devcloud
#
# Without a cloud, while you work:
#
#   make unit   the unit tests alone, on every CPU (pytest-xdist)
#   make check  ruff, then the unit and functional tests on every CPU
#
# XDIST=<n> sets the number of test processes (default: one per CPU;
# XDIST=0 runs in one process). To leave out the slow crash-resume tests:
# .venv/bin/python -m pytest tests/functional -m "not crash".
#
# devcloud stays up afterwards (tools/devcloud down stops it).

VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
DEVCLOUD  := tools/devcloud
CLOUD_ENV := eval "$$($(DEVCLOUD) env)"
XDIST     ?= auto
PYTEST    := $(PY) -m pytest -p no:cacheprovider

.PHONY: demo test unit check install devcloud down benchmarks tempest docs \
	shellcheck

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,docs]'
	touch $@

install: $(VENV)/.installed

devcloud:
	$(DEVCLOUD) up

demo: install devcloud
	$(CLOUD_ENV) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) tools/demo.py

# Unit and functional tests in parallel; the fullstack tests one at a time
# (they share one cloud).
test: install shellcheck docs devcloud
	$(VENV)/bin/ruff check .
	$(PYTEST) tests/unit tests/functional -n $(XDIST) -ra
	$(CLOUD_ENV) && $(PYTEST) tests/fullstack -ra
	$(DEVCLOUD) tempest  # the tempest plugin (doc/tempest.rst); keep it last

# doc/ as HTML (doc/_build/html), warnings as errors: what tox -e docs runs.
docs: install
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html doc doc/_build/html

# The devstack plugin's test runs shellcheck on devstack/plugin.sh and is
# skipped without it: install Debian's package when it is missing.
shellcheck:
	@command -v shellcheck >/dev/null || { \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && apt-get install -y -qq shellcheck; \
	    else \
	        echo "make: shellcheck is missing; install it (sudo apt-get" \
	             "install shellcheck), or the devstack plugin's test is" \
	             "skipped" >&2; \
	        exit 1; \
	    fi; }

# The tempest plugin alone, against devcloud.
tempest: install devcloud
	$(DEVCLOUD) tempest

# Without a cloud: the unit tests alone, for quick feedback.
unit: install
	$(PYTEST) tests/unit -n $(XDIST) -q

# Without a cloud: the linter, then unit and functional tests in parallel.
check: install
	$(VENV)/bin/ruff check .
	$(PYTEST) tests/unit tests/functional -n $(XDIST) -q

down:
	$(DEVCLOUD) down
