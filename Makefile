# tradeviz — the two commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK := $(BIN)/python -m tradeviz.devstack
PYTEST_ARGS ?=

.PHONY: install run test lint bench services lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml $(wildcard package-lock.json)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi
	@touch $@

## Bring the whole product up on http://127.0.0.1:$${PORT:-8000}/ (Ctrl-C stops everything).
run: install
	$(STACK) run

## The whole test suite, against embedded services or DATABASE_URL / REDIS_URL.
test: install
	@DJANGO_ENV=test $(STACK) exec -- $(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating that as a failure"; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true
	DJANGO_ENV=test $(STACK) exec -- $(BIN)/mypy .

bench: install
	DJANGO_ENV=test $(STACK) exec -- $(BIN)/python -m bench.run $(BENCH)

## Just PostgreSQL and Redis in the foreground (for manage.py, psql, redis-cli in another terminal).
services: install
	$(STACK) services

## Re-pin every dependency after changing pyproject.toml.
lock:
	$(BIN)/pip install --quiet -e '.[dev]'
	{ echo "# Exact pins for every runtime and development dependency; 'make install' uses this file."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | sort -f; } > requirements.lock

clean:
	rm -rf $(VENV) node_modules
