# Two commands for a fresh machine: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Apache Kafka for the tests on the production path, resolved by Maven at install time.
KAFKA_LIBS := $(VENV)/kafka-libs

# The lock files: every package with the hashes of all its published files (`make lock`).
LOCK     := requirements.lock
DEV_LOCK := requirements-dev.lock

.PHONY: up test fuzz chaos mutate audit lock dist clean

# The venv holds exactly the dev lock: pip refuses a file whose hash the lock does not
# list, and the hub goes in without its dependencies and without build isolation, so
# nothing is fetched past the lock (setuptools, its build backend, is in the lock too).
$(STAMP): pyproject.toml $(LOCK) $(DEV_LOCK) deploy/kafka/pom.xml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Ketenhub needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then \
		echo "Resolving Apache Kafka with Maven into $(KAFKA_LIBS)"; \
		rm -rf $(KAFKA_LIBS); \
		mvn --quiet --batch-mode --strict-checksums -f deploy/kafka/pom.xml dependency:copy-dependencies \
			-DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS) \
		|| echo "Maven could not resolve Apache Kafka: the Apache Kafka tests will skip"; \
	else \
		echo "No Java or Maven here: the Apache Kafka tests will skip (README, Development)"; \
	fi
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/hub up --simulators

test: $(STAMP)
	$(BIN)/ruff check hub tests
	$(BIN)/ruff format --check hub tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

# The long runs of issue 9: 10,000 fuzz cases per inbound interface, and the crash test
# at 5,000 messages. `make test` runs both at sizes that fit its time budget.
fuzz: $(STAMP)
	HUB_FUZZ_EXAMPLES=10000 $(BIN)/pytest tests/fuzz -m fuzz -q

# The chaos runs at the issues' sizes, on tansu with SQLite and on Apache Kafka with
# PostgreSQL: 5,000 messages through the crash test, 3,000 through the scale-out test,
# 2,000 through the three-broker failure test.
chaos: $(STAMP)
	HUB_CHAOS_CLIENTS=250 HUB_PRODUCTION_CHAOS_CLIENTS=250 \
	HUB_CHAOS_KILLS=20 HUB_PRODUCTION_CHAOS_KILLS=20 HUB_CHAOS_TERMS=4 \
	HUB_SCALE_CLIENTS=150 HUB_PRODUCTION_SCALE_CLIENTS=150 \
	HUB_PRODUCTION_ROTATION_CLIENTS=30 \
	HUB_BROKER_FAILURE_CLIENTS=100 HUB_BROKER_RESTART_CLIENTS=20 \
	HUB_TREE_CLIENTS=50 HUB_TREE_KILLS=20 \
	$(BIN)/pytest tests/chaos -q

# Mutation testing of the sharing policy, the consent resolution and the consent profile
# reader (issue 22): mutmut mutates the modules of MUTATE_MODULES in a copy under mutants/
# ([tool.mutmut] in pyproject.toml, whose only_mutate lists the files it may mutate) and
# runs the unit tests that reach each mutant; then the score, killed / total, with every
# survivor, and a failure below 95 %. Each run starts from a fresh copy, so no verdict is
# kept from older code or tests. MUTATE_MODULES takes dotted module names; a bare name is
# one of hub.routing (MUTATE_MODULES="recipients hub.schemas.consent_profile" narrows it).
# MUTATE_CHILDREN is the number of workers. Survivors are explained in docs/policy.md.
MUTATE_MODULES  ?= hub.routing.decision hub.routing.mitz hub.routing.conditions \
	hub.routing.disclosure hub.routing.recipients hub.schemas.consent_profile
MUTATE_CHILDREN ?= 2
mutate_dotted = $(foreach m,$(MUTATE_MODULES),$(if $(findstring .,$(m)),$(m),hub.routing.$(m)))
mutate: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTATE_CHILDREN) \
		$(foreach module,$(mutate_dotted),'$(module).*')
	$(BIN)/python scripts/mutation_score.py --minimum 95 $(mutate_dotted)

# Re-resolve pyproject.toml (and requirements-tools.in) into both lock files after a
# dependency changed there: one universal resolution for Python 3.11+ on every platform,
# with the hashes of every published file. Versions already locked stay unless pyproject.toml
# no longer allows them; UPGRADE=1 moves every package to the newest its bounds allow.
# Needs the package index (the only step that does). ADVISORY_DB=<a checkout of
# pypa/advisory-database> also rebuilds the advisory snapshot from it for the new locks
# (a package the snapshot does not cover fails the audit).
LOCK_FLAGS = --universal --python-version 3.11 --generate-hashes --quiet \
	--custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml requirements-tools.in --extra dev $(LOCK_FLAGS) \
		-o $(DEV_LOCK)
	$(BIN)/uv pip compile pyproject.toml requirements-tools.in -c $(DEV_LOCK) $(LOCK_FLAGS) \
		-o $(LOCK)
	$(if $(ADVISORY_DB),$(BIN)/python scripts/audit_lock.py refresh --from $(ADVISORY_DB) \
		$(LOCK) $(DEV_LOCK))
	$(BIN)/python scripts/audit_lock.py $(LOCK) $(DEV_LOCK)

# The dependency audit, offline: every locked version against the advisory snapshot in
# deploy/advisories/ (its date is printed; scripts/audit_lock.py --help says how to refresh).
audit: $(STAMP)
	$(BIN)/python scripts/audit_lock.py $(LOCK) $(DEV_LOCK)

# The hub as two wheels, built offline: ketenhub-sdk, which a partner's connector package
# depends on and installs from a file or a private index, and ketenhub, which depends on it.
DIST ?= dist
dist: $(STAMP)
	$(BIN)/python scripts/build_dist.py $(DIST)

clean:
	rm -rf $(VENV) dist .hub-data .pytest_cache .mypy_cache .ruff_cache mutants
