# Two commands for a fresh machine: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test fuzz chaos clean

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

# The long runs of issue 9: 10,000 fuzz cases per inbound interface, and the crash test
# at 5,000 messages. `make test` runs both at sizes that fit its time budget.
fuzz: $(STAMP)
	HUB_FUZZ_EXAMPLES=10000 $(BIN)/pytest tests/fuzz -m fuzz -q

chaos: $(STAMP)
	HUB_CHAOS_CLIENTS=250 HUB_SCALE_CLIENTS=150 $(BIN)/pytest tests/chaos -q

clean:
	rm -rf $(VENV) .hub-data .pytest_cache .mypy_cache .ruff_cache
