# Overdue: every target bootstraps .venv from nothing (Python 3.11, make and git are all it needs).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint mypy bench fuzz clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@# The console's browser test drives Debian's Chromium (never a downloaded browser); as root
	@# (CI, the dev machines) the set-up installs it, anyone else installs the package themselves.
	if [ "$$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi
	touch $(STAMP)

## make run: embedded Temporal dev server + worker + Web UI + a demo portfolio
run: $(STAMP)
	$(VENV)/bin/overdue dev --demo

## make test: lint, types, then the whole test suite
test: lint mypy
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

mypy: $(STAMP)
	$(VENV)/bin/mypy

## make fuzz: the fuzz suite's figures (tried, clear errors, crashes, hangs, stuck cases); N=300
fuzz: $(STAMP)
	$(PY) -m tests.fuzz.report $(or $(N),300)

bench: $(STAMP)
	$(VENV)/bin/overdue bench

clean:
	rm -rf $(VENV) .overdue .pytest_cache .mypy_cache .ruff_cache
