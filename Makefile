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

demo: install
	@mkdir -p $(DEMO_DIR)
	@echo "== 1/1 rts-synth: the demo world (24 scenes, 4 regions, 2021-2023) -> $(DEMO_DIR)/world" >&2
	rts-synth -o $(DEMO_DIR)/world --labels data/rts_labels_sample.gpkg --quicklook > $(DEMO_DIR)/scenes.txt
	@echo "" >&2
	@echo "Demo world: $$(wc -l < $(DEMO_DIR)/scenes.txt) scenes listed in $(DEMO_DIR)/scenes.txt" >&2
	@echo "  scenes      $(DEMO_DIR)/world/scenes/<scene_id>/ (SR, udm2, metadata, quicklook PNG)" >&2
	@echo "  auxiliary   $(DEMO_DIR)/world/aux/ (dem.tif, tcvis.tif, landcover.tif)" >&2
	@echo "  truth       $(DEMO_DIR)/world/truth/rts.parquet (+ rts.gpkg), split in $(DEMO_DIR)/world/scenes.csv" >&2
	@echo "The later stages (prep, train, infer, ensemble, aggregate, validate) are not built yet." >&2

lint: install
	$(BIN)/ruff check tools tests bench

bench: install
	@for script in bench/*.py; do [ -e "$$script" ] || continue; \
	  echo "== $$script" >&2; $(BIN)/python "$$script"; done

clean:
	rm -rf build $(DEMO_DIR) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
