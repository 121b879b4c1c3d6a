# Lazuli build and test entry points. `make test` is what CI runs (see .ci/run).
#
#   make test        cargo tests, build the server, the SDK conformance suite, 5 s of each fuzz target
#   make fuzz        every fuzz target for FUZZ_SECONDS (default 600)
#   make test-sdk    only the SDK suite (against target/debug/lazuli, built beforehand)
#   make venv        the Python virtualenv for the suite (reruns only when the pins change)
#   make fmt         cargo fmt
#   make clippy      cargo clippy, warnings are errors
#
# Running the SDK suite against another server:
#   - one that is already running (restart tests are then skipped):
#       make test-sdk LAZULI_URL=http://127.0.0.1:10000/devstoreaccount1
#   - one that the suite starts itself, with Lazuli's command line shape
#     (--blobHost/--blobPort/--location), e.g. Azurite as a reference:
#       make test-sdk LAZULI_BIN=/path/to/node_modules/.bin/azurite-blob \
#            LAZULI_SERVER_ARGS='--blobHost {host} --blobPort {port} --location {location} --skipApiVersionCheck --loose --disableTelemetry'
#     (with a list of that server's known deviations: LAZULI_KNOWN_FAILURES=/path/to/list)
#   - a subset: make test-sdk PYTEST_ARGS='-k conditions'
# tests/sdk/README.md has the rest.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
SDK_DIR := tests/sdk
REQUIREMENTS := $(SDK_DIR)/requirements.txt
CONSTRAINTS := $(SDK_DIR)/constraints.txt
VENV_STAMP := $(VENV)/.lazuli-requirements.stamp

LAZULI_BIN ?= $(CURDIR)/target/debug/lazuli
PYTEST_ARGS ?=

.PHONY: test test-rust build test-sdk venv venv-freeze fmt clippy fuzz fuzz-short

venv: $(VENV_STAMP)

# The stamp records the pins the virtualenv was made from; changing either file reinstalls.
$(VENV_STAMP): $(REQUIREMENTS) $(CONSTRAINTS)
	@test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --disable-pip-version-check --no-input -q \
		-r $(REQUIREMENTS) -c $(CONSTRAINTS)
	@touch $@

# Refreeze the transitive pins after editing requirements.txt.
venv-freeze: venv
	{ echo "# Transitive dependencies of requirements.txt, frozen so that a CI run installs what was tested."; \
	  echo "# Regenerate after changing requirements.txt: make venv-freeze"; \
	  $(VENV_PY) -m pip freeze --disable-pip-version-check --exclude-editable \
	    | grep -v -i -E "^($$(grep -v -E '^\s*(#|$$)' $(REQUIREMENTS) | sed -E 's/[=<>!~ ].*//' | paste -sd'|'))==" ; \
	} > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	@touch $(VENV_STAMP)

# Steps run in order and stop at the first failure, whatever -j says.
test:
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory test-sdk
	$(MAKE) --no-print-directory fuzz-short

test-rust:
	cargo test --workspace

build:
	cargo build -p lazuli

test-sdk: venv
	LAZULI_BIN="$(LAZULI_BIN)" $(VENV_PY) -m pytest $(SDK_DIR) $(PYTEST_ARGS)

# Every fuzz target (fuzz/), briefly in `make test`, for as long as you like with `make fuzz`
# (FUZZ_SECONDS per target; cargo-fuzz is installed from crates.io when missing).
FUZZ_SECONDS ?= 600

fuzz-short:
	bash fuzz/run.sh 5

fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

fmt:
	cargo fmt --all

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# ---------------------------------------------------------------------------
# Benchmark kit (bench/, see bench/README.md). Separate from the targets above.
#   make bench                        Lazuli vs Azurite vs ceilings, writes bench/RESULTS.md (~20 min)
#   make bench BENCH_ARGS=--quick     smoke run, writes bench/RESULTS.quick.md
# Installs wrk/fio (apt-get) and Azurite (npm, into bench/.azurite) when missing.
BENCH_ARGS ?=

.PHONY: bench
bench:
	bash bench/run.sh $(BENCH_ARGS)
