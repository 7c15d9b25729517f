# stackvault: the two commands a newcomer needs, and a few for developers.
#
#   make demo   install stackvault, bring devcloud up, protect a workload,
#               delete it, restore it, check it, print a report
#   make test   install stackvault, bring devcloud up, run every test
#               (unit, functional, fullstack against devcloud), ruff, and
#               the tempest plugin against devcloud
#
# devcloud stays up afterwards (tools/devcloud down stops it).

VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
DEVCLOUD  := tools/devcloud
CLOUD_ENV := eval "$$($(DEVCLOUD) env)"

.PHONY: demo test check install devcloud down benchmarks tempest

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

devcloud:
	$(DEVCLOUD) up

demo: install devcloud
	$(CLOUD_ENV) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) tools/demo.py

test: install devcloud
	$(VENV)/bin/ruff check .
	$(CLOUD_ENV) && $(PY) -m pytest tests -p no:cacheprovider -ra
	$(DEVCLOUD) tempest  # the tempest plugin (doc/tempest.rst); keep it last

# The tempest plugin alone, against devcloud.
tempest: install devcloud
	$(DEVCLOUD) tempest

# Without a cloud: unit and functional tests and the linter.
check: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest tests/unit tests/functional -q

down:
	$(DEVCLOUD) down
