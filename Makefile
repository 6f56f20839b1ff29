# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-test install-lint lint lint-console clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[server]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(VENV)/.installed-lint: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[lint]'
	touch $@

install-lint: $(VENV)/.installed-lint

# The issuer follows the address served unless AUTHSVC_ISSUER is set (environment or the
# instance's config.py); `init` says which one is in force and where the console is.
run: install
	AUTHSVC_SERVED_URL=http://$(HOST):$(PORT) $(BIN)/flask --app authsvc init
	AUTHSVC_SERVED_URL=http://$(HOST):$(PORT) $(BIN)/flask --app authsvc run --host $(HOST) --port $(PORT)

# Node peers for the interoperability tests (openid-client, ...); they skip without npm.
tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error) && touch $@; \
	else echo "npm missing: the Node interoperability tests will skip"; fi

tests/js-status/node_modules/.installed: tests/js-status/package.json tests/js-status/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  (cd tests/js-status && npm ci --no-audit --no-fund --loglevel=error) && touch $@; \
	else echo "npm missing: the status-list interoperability test will skip"; fi

# One pytest worker per core, at most four (pytest-xdist); TEST_WORKERS=0: one process.
TEST_WORKERS ?= auto
test: install-test tests/js/node_modules/.installed tests/js-status/node_modules/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses=4 $(PYTEST_ARGS)

# mypy --strict, ruff (lint and format), the import contracts
lint: install-lint
	$(BIN)/mypy
	$(BIN)/ruff check authsvc tests bench examples
	$(BIN)/ruff format --check authsvc tests bench examples
	$(BIN)/lint-imports
	$(MAKE) lint-console

# the console's ES modules: tsc over JSDoc types (no build step), and ESLint
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint-console: node_modules/.installed
	npx --no-install tsc -p jsconfig.json
	npx --no-install eslint authsvc/web/console/static

clean:
	rm -rf $(VENV) node_modules .pytest_cache .coverage htmlcov *.egg-info
