# The two set-up commands of the README: `make demo` and `make test`. Both work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test browser bench bench-latency

$(BIN)/driftgraph: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/driftgraph

# Debian's chromium drives the browser tests; install it when it is not there (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v /usr/bin/chromium >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

demo: install
	$(BIN)/driftgraph demo

test: install browser
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/run.py

# How near the API limit a scan gets, behind 50 ms of injected latency (README, Near the API limit).
bench-latency: install
	$(BIN)/python bench/latency.py --scale 10 --workers 1,16,24,32 --processes 2
