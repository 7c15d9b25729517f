# stackvault: the two commands a newcomer needs, and a few for developers.
#
#   make demo   install stackvault, bring devcloud up, protect a workload,
#               delete it, restore it, check it, print a report
#   make test   install stackvault (and shellcheck), build the docs, bring
#               devcloud up, run every test (unit, functional, fullstack
#               against devcloud), ruff, and the tempest plugin against
#               devcloud
#
# devcloud stays up afterwards (tools/devcloud down stops it).

VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
DEVCLOUD  := tools/devcloud
CLOUD_ENV := eval "$$($(DEVCLOUD) env)"

.PHONY: demo test check install devcloud down benchmarks tempest docs shellcheck

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

test: install shellcheck docs devcloud
	$(VENV)/bin/ruff check .
	$(CLOUD_ENV) && $(PY) -m pytest tests -p no:cacheprovider -ra
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

# Without a cloud: unit and functional tests and the linter.
check: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest tests/unit tests/functional -q

down:
	$(DEVCLOUD) down
