# Clinic app. `make run` and `make test` are the two commands; both work on a fresh machine with
# nothing but Python 3.11 (make test also installs Debian's chromium, and axe-core with npm, for the
# browser tests).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
SANDBOX_PORT ?= 5001
SANDBOX_LOG  ?= instance/cliniko-sandbox.log
CHROMIUM ?= /usr/bin/chromium
export FLASK_APP := wsgi

.PHONY: run test lint format bench worker install install-dev chromium browser-tools test-data clean mutation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

## run: migrate, start a sandbox Cliniko on 127.0.0.1:$(SANDBOX_PORT), seed the demo data (idempotent;
##      the demo clinic is connected to the sandbox) and serve on 127.0.0.1:$(PORT); Ctrl-C stops both
run: install
	$(BIN)/flask db upgrade
	@mkdir -p $(dir $(SANDBOX_LOG))
	@$(BIN)/flask --app devtools cliniko-sandbox --port $(SANDBOX_PORT) >$(SANDBOX_LOG) 2>&1 & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	echo "  Cliniko sandbox: http://127.0.0.1:$(SANDBOX_PORT)/au1/v1 (650 patients, about 1,000 appointments; log: $(SANDBOX_LOG))"; \
	CLINIKO_SANDBOX_URL=http://127.0.0.1:$(SANDBOX_PORT) $(BIN)/flask --app devtools seed-demo && \
	echo "" && \
	echo "  Clinic app: open http://127.0.0.1:$(PORT)/   (API docs: http://127.0.0.1:$(PORT)/docs)" && \
	echo "" && \
	$(BIN)/flask --app devtools run --host 127.0.0.1 --port $(PORT) --no-reload --with-threads

## test: the whole suite in $(TEST_WORKERS) processes (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set, else
##       SQLite; each worker gets its own database)
# Four workers on two cores: much of the suite waits (browsers, the sandbox Cliniko's HTTP, PostgreSQL
# round trips and commits), and two more workers fill those waits (CI: 15 min 37 s with two, 10 min 35 s
# with four, on this two-core machine).
TEST_WORKERS ?= 4
test: install-dev chromium browser-tools test-data
	$(BIN)/pytest -n $(TEST_WORKERS)

## lint: ruff lint and format check
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check clinic_app devtools tests bench wsgi.py

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format clinic_app devtools tests bench wsgi.py

## bench: benchmarks against a bare baseline app in the same run (needs PostgreSQL, Redis, wrk)
bench: install-dev
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk; } || { echo "wrk is needed: apt-get install wrk"; exit 1; }
	$(BIN)/python bench/run.py

## mutation: the mutation-score gate on the modules that guard patients (docs/testing.md), one process
##           at low priority, about 10 minutes; MUTATION_MODULES="clinic_app/core/access.py ..." for some
MUTATION_MODULES ?=
mutation: install-dev
	nice -n 10 $(BIN)/python devtools/mutation/run.py $(MUTATION_MODULES)

## worker: an RQ worker with its scheduler (needs REDIS_URL)
worker: install
	$(BIN)/flask worker

# System packages the tests need: Debian's chromium (browser tests) and what WeasyPrint (report
# PDFs) loads: Pango, HarfBuzz's subsetter (byte-identical PDFs) and one font.
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
chromium:
	@missing=""; [ -x "$(CHROMIUM)" ] || missing="chromium"; \
	for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages for the tests:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; \
	  else \
	    echo "The tests need these Debian packages: $$missing (run: sudo apt-get install $$missing)."; exit 1; \
	  fi; \
	fi

# What the browser tests load into the page (axe-core, the accessibility checker), at the versions
# pinned in tests/browser/package-lock.json; installed with npm into tests/browser/node_modules.
BROWSER_TOOLS := tests/browser/node_modules/.installed
browser-tools: $(BROWSER_TOOLS)
$(BROWSER_TOOLS): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && echo "Installing Debian's npm for the browser tests" && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm) >/dev/null; } || \
	  { echo "The browser tests need npm (run: sudo apt-get install npm)."; exit 1; }
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Public recordings the health-data tests check against: pyActigraphy's example_01.AWD, taken from the
# pyActigraphy 1.2.2 package on PyPI (downloaded once, without its dependencies) into tests/health_data/data.
TEST_DATA_DIR   := tests/health_data/data
TEST_DATA_CACHE := $(VENV)/test-data-cache
test-data: $(TEST_DATA_DIR)/example_01.AWD
$(TEST_DATA_DIR)/example_01.AWD: | $(BIN)/python
	@mkdir -p $(TEST_DATA_CACHE) $(TEST_DATA_DIR)
	$(BIN)/pip download --quiet --no-deps --no-binary :none: pyActigraphy==1.2.2 -d $(TEST_DATA_CACHE)
	$(BIN)/python -c "import sys, zipfile; \
	  z = zipfile.ZipFile('$(TEST_DATA_CACHE)/pyActigraphy-1.2.2-py3-none-any.whl'); \
	  sys.stdout.buffer.write(z.read('pyActigraphy/tests/data/example_01.AWD'))" > $@.tmp
	mv $@.tmp $@

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache tests/browser/node_modules
