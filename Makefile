# The front door: `make demo` and `make test` (see README). Every target builds .venv itself.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# One stamp per requirements set: editing any requirements file reinstalls.
REQS := requirements-dev.txt requirements-checkov.txt polybot/requirements.txt yolo5/requirements.txt yolo5/requirements-export.txt local/requirements.txt
STAMP := $(VENV)/.installed
# The checkpoint is found as the worker finds it: YOLO_WEIGHTS (make demo YOLO_WEIGHTS=...),
# else ~/.cache/polybot, else the pinned download (yolo5/weights.py).
export YOLO_WEIGHTS
export YOLO_AUTOINSTALL := false
export YOLOv5_AUTOINSTALL := false
WORKERS ?= 1
export WORKERS

.PHONY: help venv test test-fast lint fmt demo up bench rehearse clean

help:
	@echo "make demo   - run the whole service locally and send bus.jpg through it"
	@echo "make up     - run the local stack until Ctrl-C (WORKERS=n for n yolo5 workers)"
	@echo "make test   - the whole test suite (what CI runs)"
	@echo "make lint   - ruff, cfn-lint, checkov, shellcheck, hadolint, yamllint, bandit"
	@echo "make bench  - benchmarks; writes docs/benchmarks.md (BENCH_ARGS='--compare REV' adds a side-by-side)"
	@echo "make rehearse - the delivery pipeline's stages on this machine (root, podman; docs/delivery.md)"

$(STAMP): $(REQS)
	@test -x $(BIN)/python || { echo ">> creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo ">> installing pinned dependencies into $(VENV) (first run: torch and YOLOv5 take a few minutes)"
	$(BIN)/python -m pip install --progress-bar on --disable-pip-version-check -r requirements-dev.txt
	@test -x $(VENV)/checkov/bin/python || $(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --disable-pip-version-check -q -r requirements-checkov.txt
	@touch $@

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m tools.lint

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

up: $(STAMP)
	$(BIN)/python -m local.up

demo: $(STAMP)
	$(BIN)/python -m local.demo

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Source, Test, Build and Deploy with real tools: podman, a loopback registry, the AWS CLI
# against moto. Needs root and the Debian packages .ci/run installs.
rehearse: $(STAMP)
	$(BIN)/python -m rehearsal $(REHEARSE_ARGS)

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache
