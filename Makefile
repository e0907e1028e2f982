# Two commands for a fresh machine: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test lint typecheck unit fuzz clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Ketenhub needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/hub up --simulators

test: $(STAMP)
	$(BIN)/ruff check hub tests
	$(BIN)/ruff format --check hub tests
	$(BIN)/mypy
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .hub-data .pytest_cache .mypy_cache .ruff_cache
