# `make demo` and `make test` each build .venv/ themselves on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgeres-installed
# torch is pinned: 2.13.0 is the local CPU build; a looser pin pulls GBs of CUDA packages.
TORCH  := torch==2.13.0

.PHONY: setup test lint demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[train,dev,openvino]' $(TORCH)
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check edgeres tests tools
	$(BIN)/ruff format --check edgeres tests tools

test: lint
	$(BIN)/pytest -q

demo: setup
	$(BIN)/edgeres demo --out demo-out --force

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
