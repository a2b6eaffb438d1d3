# The two commands a newcomer needs are `make run` and `make test`; both build the venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed

.PHONY: run test lint typecheck pytest bench lock clean

# Every package is checked against the hashes in the lock file (pip and setuptools included), and the
# project itself is built with that setuptools, so nothing unchecked is ever installed.
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "stadtfunk needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/stadtfunk run

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check bot handlers broadcasts city benchmarks tests
	$(BIN)/ruff format --check bot handlers broadcasts city benchmarks tests

typecheck: $(STAMP)
	$(BIN)/mypy

# The sandbox page's browser tests need Debian's chromium (never `playwright install`), the Redis Cluster
# and Sentinel tests Debian's redis-server 7 and redis-cli; say so loudly when they are missing.
pytest: $(STAMP)
	@test -x /usr/bin/chromium || echo "!!! /usr/bin/chromium is missing: the browser tests are SKIPPED (apt-get install chromium; .ci/run does) !!!"
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || echo "!!! redis-server or redis-cli is missing: the Redis Cluster and Sentinel tests are SKIPPED (apt-get install redis-server; .ci/run does) !!!"
	$(BIN)/pytest -q

# The peers the engine is measured against live in a venv of their own: aiogram pins an older pydantic.
$(PEERS_STAMP): benchmarks/requirements-peers.txt
	@test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-peers.txt
	@touch $(PEERS_STAMP)

# Writes docs/benchmarks.md; `make bench BENCH_ARGS=--quick` checks the harness in a few minutes.
bench: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python -m benchmarks --peers-python $(PEERS_VENV)/bin/python $(BENCH_ARGS)

# Re-resolve the pinned versions after changing dependencies in pyproject.toml, with the hash of every file
# (make and the image install with --require-hashes). requirements-runtime.lock is the image's: the same
# pins without the dev tools (started from a copy of the full lock, so that pip-compile keeps its pins).
LOCK_FLAGS := --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links --generate-hashes --allow-unsafe
lock:
	@test -x $(BIN)/pip-compile || ($(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet pip-tools)
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev --output-file requirements.lock pyproject.toml
	cp requirements.lock requirements-runtime.lock
	$(BIN)/pip-compile $(LOCK_FLAGS) --output-file requirements-runtime.lock pyproject.toml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
