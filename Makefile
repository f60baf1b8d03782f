# Canopy: `make run` serves the demo on SQLite; `make test` runs the suite (SQLite, then PostgreSQL).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
export CANOPY_TEST_POSTGRES_URL ?= $(POSTGRES_URL)

.PHONY: install install-bench browser run test test-sqlite test-postgres lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Canopy needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

# The browser tests (tests/web/test_browser.py) drive Debian's Chromium, and its screenshots need a
# CJK font to show the Chinese pages: installed with apt-get only when missing, and only as root.
CHROMIUM ?= /usr/bin/chromium
export CANOPY_TEST_CHROMIUM ?= $(CHROMIUM)
browser:
	@if [ ! -x "$(CHROMIUM)" ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
		else \
			echo "No Chromium at $(CHROMIUM) (or no Chinese font): install Debian's chromium and fonts-wqy-microhei"; \
		fi; \
	fi

# `make run PORT=9000 HOST=0.0.0.0`; links in mail and pages follow PORT unless
# CANOPY_PUBLIC_BASE_URL says otherwise. Its log lines are text for the terminal (docs/logging.md).
HOST ?= 127.0.0.1
PORT ?= 8000
LINK_HOST := $(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST))
run: install
	$(BIN)/canopy migrate
	CANOPY_PUBLIC_BASE_URL="$${CANOPY_PUBLIC_BASE_URL:-http://$(LINK_HOST):$(PORT)}" $(BIN)/canopy seed-demo
	CANOPY_PUBLIC_BASE_URL="$${CANOPY_PUBLIC_BASE_URL:-http://$(LINK_HOST):$(PORT)}" \
		CANOPY_LOG_FORMAT="$${CANOPY_LOG_FORMAT:-text}" \
		$(BIN)/canopy serve --host $(HOST) --port $(PORT)

test: test-sqlite
	@if $(BIN)/python -m tests.postgres_probe; then \
		$(MAKE) --no-print-directory test-postgres; \
	elif [ -n "$$CANOPY_REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL is required (CANOPY_REQUIRE_POSTGRES) but unreachable at $$CANOPY_TEST_POSTGRES_URL" >&2; exit 1; \
	else \
		echo "PostgreSQL unreachable at $$CANOPY_TEST_POSTGRES_URL: ran the SQLite suite only."; \
	fi

test-sqlite: install browser
	$(BIN)/pytest --db=sqlite

test-postgres: install browser
	$(BIN)/pytest --db=postgres

# `make lint`: ruff (style and format), import-linter (the architecture contracts of pyproject.toml)
# and mypy (server/ fully annotated and type-checked, [tool.mypy] in pyproject.toml).
lint: install
	$(BIN)/ruff check server tests alembic scripts bench
	$(BIN)/ruff format --check server tests alembic scripts bench
	$(BIN)/lint-imports
	$(BIN)/mypy server

format: install
	$(BIN)/ruff format server tests alembic scripts bench
	$(BIN)/ruff check --fix server tests alembic scripts bench

# `make bench` (not part of `make test`): the HTTP benchmark of bench/http/ with the batching row:
# uvicorn and granian, 1 and 2 workers, on SQLite, and on PostgreSQL too when
# CANOPY_BENCH_DATABASE_URL names a server (the bench creates and drops its own databases there):
#   make bench CANOPY_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres
# BENCH_DURATION is seconds per scenario; BENCH_ARGS passes more options, e.g.
#   make bench BENCH_ARGS="--users 10000 --server granian --workers 2 --scenarios collect,steps"
# (`.venv/bin/python -m bench http --help` lists them; `python -m bench batching` runs that row alone).
BENCH_DURATION ?= 10
BENCH_ARGS ?=
export CANOPY_BENCH_DATABASE_URL
bench: install-bench
	$(BIN)/python -m bench http --duration $(BENCH_DURATION) $(BENCH_ARGS)

install-bench: $(VENV)/.installed-bench

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $@


clean:
	rm -rf $(VENV) var *.egg-info
