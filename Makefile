# rtsmap: one machine runs the whole chain with these targets.
#   make demo    create .venv if needed, install, run the chain on the demo world
#   make test    install if needed, then the test suite
# VENV can point elsewhere (CI keeps one outside the clone: see .ci/run).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
TOOLS := synth prep train infer ensemble aggregate validate
# The stamp lives in the environment and names this checkout, so a venv shared between
# clones (CI's) is re-pointed at each new checkout's editable sources.
STAMP := $(VENV)/.installed-$(shell printf '%s' "$(CURDIR)" | cksum | cut -d' ' -f1)
DEMO_DIR ?= demo
export PATH := $(BIN):$(PATH)

.PHONY: install test demo lint bench clean

install: $(STAMP)

$(STAMP): $(wildcard tools/*/pyproject.toml) requirements-dev.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check \
	  -e 'tools/core[vector]' $(foreach tool,$(TOOLS),-e tools/$(tool)) -r requirements-dev.txt
	@touch $@

test: install
	$(BIN)/python -m pytest tests

WORLD := $(DEMO_DIR)/world

demo: install
	@mkdir -p $(DEMO_DIR)
	@echo "== 1/2 rts-synth: the demo world (24 scenes, 4 regions, 2021-2023) -> $(WORLD)" >&2
	rts-synth -o $(WORLD) --labels data/rts_labels_sample.gpkg --quicklook > $(DEMO_DIR)/scenes.txt
	@echo "== 2/2 rts-prep: input stacks -> $(DEMO_DIR)/stacks" >&2
	rts-prep - --dem $(WORLD)/aux/dem.tif --tcvis $(WORLD)/aux/tcvis.tif --landcover $(WORLD)/aux/landcover.tif \
	  -o $(DEMO_DIR)/stacks < $(DEMO_DIR)/scenes.txt > $(DEMO_DIR)/stacks.txt
	@echo "" >&2
	@echo "Demo results under $(DEMO_DIR)/:" >&2
	@echo "  world/scenes/<scene_id>/  $$(wc -l < $(DEMO_DIR)/scenes.txt) scenes (SR, udm2, metadata, quicklook PNG)" >&2
	@echo "  world/aux/                dem.tif, tcvis.tif, landcover.tif" >&2
	@echo "  world/truth/rts.parquet   true slumps (+ rts.gpkg); train/test split in world/scenes.csv" >&2
	@echo "  stacks/                   $$(wc -l < $(DEMO_DIR)/stacks.txt) input stacks (<scene_id>.stack.tif)" >&2
	@echo "Not built yet: train, infer, ensemble, aggregate, validate." >&2

lint: install
	$(BIN)/ruff check tools tests bench

bench: install
	@for script in bench/*.py; do [ -e "$$script" ] || continue; \
	  echo "== $$script" >&2; $(BIN)/python "$$script"; done

clean:
	rm -rf build $(DEMO_DIR) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
