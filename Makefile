# `make demo` and `make test` each build .venv/ themselves on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgeres-installed
# torch is pinned: 2.13.0 is the local CPU build; a looser pin pulls GBs of CUDA packages.
TORCH  := torch==2.13.0

.PHONY: setup test lint demo clean arm64-check

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[train,dev,openvino,fit]' $(TORCH)
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check edgeres tests tools
	$(BIN)/ruff format --check edgeres tests tools

test: lint
	$(BIN)/pytest -q --durations=15

demo: setup
	$(BIN)/edgeres demo --out demo-out --force

# The device install on emulated arm64 (Debian bookworm + qemu-user): root, and the Debian packages
# mmdebstrap qemu-user-static binfmt-support arch-test. ~6.5 min from scratch, < 2 cached.
arm64-check: setup
	$(BIN)/python tools/arm64_check.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
