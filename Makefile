# tokenward developer entry points. `make test` and `make run` do all set-up themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install check lint format test run bench bench-core bench-sessions bench-e2e clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

format: install
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

check: lint
	$(BIN)/mypy src/tokenward

test: check
	$(BIN)/pytest

run: install
	$(BIN)/tokenward serve --dev

bench: bench-core bench-sessions bench-e2e

bench-core: install
	$(BIN)/python bench/core.py

bench-sessions: install
	$(BIN)/python bench/sessions.py

bench-e2e: install
	$(BIN)/python bench/e2e.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
