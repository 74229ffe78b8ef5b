# Two entry points for a fresh machine: `make run` (the bot) and `make test` (the test suite).
# Both create .venv in the repository root and install the pinned requirements into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The first `make run` copies .env.example to .env; the bot then says where the token goes.
.env:
	cp .env.example .env

run: $(VENV)/.runtime .env
	$(PY) -m bot

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(PY) scripts/check_import_cycles.py
	sh scripts/ensure_chromium.sh
	$(PY) -m pytest

# Fix what lint finds: ruff check --fix . && ruff format .
lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(PY) scripts/check_import_cycles.py

bench: $(VENV)/.dev
	$(PY) bench/converter.py
	$(PY) bench/queue.py
	$(PY) bench/tempo.py
	$(PY) bench/song_tempo.py
	$(PY) bench/song_cost.py
