# `make test` sets everything up from nothing (venv, pip packages, Debian's chromium) and runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export OMP_WAIT_POLICY := PASSIVE

.PHONY: install browser lint test

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt notebooks/requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r notebooks/requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

browser:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: install browser lint
	$(PY) -m pytest -q
