# rtsmap: one machine runs the whole chain with these targets.
#   make demo    create .venv if needed, install, run the chain on the demo world
#   make test    install if needed, then the test suite
# VENV can point elsewhere (CI keeps one outside the clone: see .ci/run).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
TOOLS := synth prep train infer ensemble aggregate validate volume publish
# The stamp lives in the environment and names this checkout, so a venv shared between
# clones (CI's) is re-pointed at each new checkout's editable sources; installing
# removes the other checkouts' stamps, whose sources the venv no longer points at.
STAMP := $(VENV)/.installed-$(shell printf '%s' "$(CURDIR)" | cksum | cut -d' ' -f1)
DEMO_DIR ?= demo
export PATH := $(BIN):$(PATH)

.PHONY: install test test-fast docs demo lint bench clean

install: $(STAMP)

$(STAMP): $(wildcard tools/*/pyproject.toml) requirements-dev.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check \
	  -e 'tools/core[vector]' $(foreach tool,$(TOOLS),-e 'tools/$(tool)$(if $(filter infer,$(tool)),[cpu])') \
	  -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

# Two workers (pytest-xdist), a test file to each at a time so that its fixtures are
# made once: the tests take about 4 minutes on 2 cores. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest tests -n $(TEST_WORKERS) --dist loadfile

# The documentation site (docs/, mkdocs.yml) into build/site, strict: a broken link or a
# page missing from the navigation fails it.
docs: install
	$(BIN)/mkdocs build --strict --quiet
	@echo "Documentation: $(CURDIR)/build/site/index.html" >&2

# The unit set: everything but the tests marked slow (end to end, network fitting, worlds).
test-fast: install
	$(BIN)/python -m pytest tests -m "not slow"

WORLD = $(DEMO_DIR)/world
DEMO_MODELS ?= models/demo
# The demo world is as hard as the field (docs/synth.md): confounders, the errors of real
# inputs, half the slumps partly revegetated; 30 scenes in 5 regions, 2021-2023. Regions 1-3 train
# (3 without slumps), regions 4 and 5 are held apart (5 without slumps).
DEMO_SYNTH_ARGS := --scenes 30 --confounders hard --rts-free-regions 3,5 --test-regions 2 --input-errors \
  --revegetated-slumps 0.5
DEMO_RTS_FREE_TRAIN ?= 3
SYNTH_ARGS ?= $(DEMO_SYNTH_ARGS)
# Small demo models: ResNet18 encoder, depth 3, narrow decoder; 256 px training tiles.
DEMO_FIT := --encoder resnet18 --encoder-depth 3 --decoder-channels 64,32,16 --tile-size 256 --batch-size 8 \
  --epochs 8 --steps 30 --val-fraction 0.2 --infer-tile-size 512 --infer-overlap 128 --seed 0

# Containers: ENGINE builds and runs the images (podman stands in on machines without a
# Docker engine: see docker/README.md). With DOCKER=1 the demo and pipeline recipes run
# every stage in its image, data through DATA mounted at /data (paths relative to it).
ENGINE ?= docker
IMAGE_PREFIX ?= rtsmap
BASE_IMAGE ?=
INFER_BASE_IMAGE ?=
# TENSORRT: pip requirement(s) adding TensorRT to the infer image where NVIDIA's package
# index is reachable, e.g. TENSORRT=tensorrt-cu13-libs==10.16.1.11 (docker/README.md)
TENSORRT ?=
DATA ?= $(CURDIR)
DOCKER_DEMO_DIR ?= demo-docker
IMAGES := $(TOOLS)
DOCKER_RUN = $(ENGINE) run --rm -i --network none --user $$(id -u):$$(id -g) -v "$(abspath $(DATA)):/data" -w /data
# $(call tool,prep): the command that runs rts-prep, locally or in its image
tool = $(if $(DOCKER),$(DOCKER_RUN) $(IMAGE_PREFIX)/$(1),rts-$(1))
SETUP = $(if $(DOCKER),,install)

.PHONY: demo-world demo-stacks demo-models demo-chain demo-thresholds demo-gallery demo-publish thresholds demo-cv demo-s2 demo-s2-models demo-report demo-classic demo-cv-run demo-ablation-model demo-volume test-slurm \
  docker-demo images test-images \
  pipeline docker-pipeline

demo-world: $(SETUP)
	@mkdir -p $(DEMO_DIR)
	@echo "== rts-synth: the demo world ($(or $(SYNTH_ARGS),the classic world)) -> $(WORLD)" >&2
	$(call tool,synth) -o $(WORLD) --labels data/rts_labels_sample.gpkg --quicklook $(SYNTH_ARGS) > $(DEMO_DIR)/scenes.txt

demo-stacks: demo-world
	@echo "== rts-prep: input stacks -> $(DEMO_DIR)/stacks" >&2
	$(call tool,prep) - --dem $(WORLD)/aux/dem.tif --tcvis $(WORLD)/aux/tcvis.tif \
	  --landcover $(WORLD)/aux/landcover.tif -o $(DEMO_DIR)/stacks < $(DEMO_DIR)/scenes.txt > $(DEMO_DIR)/stacks.txt
	awk -F, 'NR > 1 && $$5 == "train" {print "$(DEMO_DIR)/stacks/" $$1 ".stack.tif"}' $(WORLD)/scenes.csv \
	  > $(DEMO_DIR)/train_stacks.txt
	awk -F, 'NR > 1 && $$5 == "test" {print "$(DEMO_DIR)/stacks/" $$1 ".stack.tif"}' $(WORLD)/scenes.csv \
	  > $(DEMO_DIR)/test_stacks.txt

# Retrains the committed demo models (about 45 minutes on 2 cores) from the demo world's
# training scenes; the held-apart regions are never seen. With DEMO_RTS_FREE_TRAIN (a region
# number), also the ablation's tcvis model trained without that RTS-free region.
DEMO_TRAIN = $(call tool,train) fit - --labels $(WORLD)/truth/rts.parquet --footprints $(WORLD)/truth/extent.parquet \
  $(DEMO_FIT) --overwrite
demo-models: demo-stacks
	@mkdir -p $(DEMO_MODELS)
	for bands in tcvis notcvis; do \
	  $(DEMO_TRAIN) --bands $$bands -o $(DEMO_DIR)/models/$$bands < $(DEMO_DIR)/train_stacks.txt; \
	  for ext in onnx metrics.csv training.png; do \
	    cp $(DEMO_DIR)/models/$$bands/$$( [ $$ext = onnx ] && echo $$bands.onnx || echo $$ext ) \
	      $(DEMO_MODELS)/$$bands.$$ext; done; \
	done
	$(if $(DEMO_RTS_FREE_TRAIN),@$(MAKE) --no-print-directory demo-ablation-model)

# The ablation's model: tcvis, trained on the training scenes outside region DEMO_RTS_FREE_TRAIN.
demo-ablation-model: demo-stacks
	awk -F, 'NR > 1 && $$5 == "train" && $$2 != $(DEMO_RTS_FREE_TRAIN) {print "$(DEMO_DIR)/stacks/" $$1 ".stack.tif"}' \
	  $(WORLD)/scenes.csv > $(DEMO_DIR)/train_stacks_with_rts.txt
	$(DEMO_TRAIN) --bands tcvis --name tcvis-without-rts-free -o $(DEMO_DIR)/models/ablation \
	  < $(DEMO_DIR)/train_stacks_with_rts.txt
	for ext in onnx metrics.csv training.png; do \
	  cp $(DEMO_DIR)/models/ablation/$$( [ $$ext = onnx ] && echo tcvis-without-rts-free.onnx || echo $$ext ) \
	    $(DEMO_MODELS)/tcvis-without-rts-free.$$ext; done

demo: demo-gallery

# The demo's page: reports, figures and the quicklooks of the held-apart scenes (standard
# library only, so it runs the same with DOCKER=1, where the venv may not exist).
GALLERY_PYTHON = $(if $(DOCKER),$(PYTHON),$(BIN)/python)
demo-gallery: demo-thresholds demo-publish $(if $(DOCKER),,demo-report)
	@$(GALLERY_PYTHON) workflow/gallery.py $(DEMO_DIR) --models $(DEMO_MODELS) > /dev/null
	@echo "" >&2
	@echo "Demo gallery (reports, quicklooks of the held-apart scenes): $(DEMO_DIR)/index.html" >&2
	@echo "  open file://$(abspath $(DEMO_DIR))/index.html" >&2
	@echo "Web map and STAC catalogue: $(DEMO_DIR)/site (it needs a server for its tiles):" >&2
	@echo "  $(BIN)/rts-publish serve $(DEMO_DIR)   then open http://127.0.0.1:8000/site/" >&2

# The web map (rts-publish): the products, the Level 1 of every scene, the validation and the
# models as a static site with its STAC catalogue.
demo-publish: demo-chain
	@echo "== rts-publish: products, scenes, validation and models as a web map -> $(DEMO_DIR)/site" >&2
	$(call tool,publish) $(DEMO_DIR)/products --level1 $(DEMO_DIR)/level1 --validation $(DEMO_DIR)/validation \
	  --model $(DEMO_MODELS)/tcvis.onnx --model $(DEMO_MODELS)/notcvis.onnx -q -o $(DEMO_DIR)/site > /dev/null

# Sentinel-2: the same kind of world as Sentinel-2 L2A products (10 m; SAFE folders and STAC
# items), through the same chain with its own small models (make demo-s2-models retrains them,
# about 10 minutes on 2 cores).
S2_DEMO_DIR ?= demo-s2
S2_MODELS ?= models/demo-s2
S2_FIT := --encoder resnet18 --encoder-depth 3 --decoder-channels 32,16,8 --tile-size 128 --batch-size 8 \
  --epochs 10 --steps 30 --val-fraction 0.2 --infer-tile-size 256 --infer-overlap 64 --seed 0
S2_MAKE = $(MAKE) --no-print-directory DEMO_DIR=$(S2_DEMO_DIR) DEMO_MODELS=$(S2_MODELS) \
  SYNTH_ARGS="--sensor sentinel2" DEMO_RTS_FREE_TRAIN=

# The classic world (no confounders, no input errors; every method scores about 0.9 on it),
# through the chain with the demo models: how far the hard world's figures are from it.
CLASSIC_DEMO_DIR ?= demo-classic
demo-classic:
	@$(MAKE) --no-print-directory demo-chain DEMO_DIR=$(CLASSIC_DEMO_DIR) SYNTH_ARGS=

demo-s2:
	@$(S2_MAKE) demo-chain

# A real SLURM run (not part of make test): a single-node cluster on this machine, the
# workflow through Snakemake's SLURM executor on the demo world, products compared with
# make demo's (workflow/slurm/test-slurm.sh; needs root, installs slurm-wlm and munge).
SLURM_OUT ?= demo-slurm
test-slurm: demo
	workflow/slurm/test-slurm.sh $(VENV) $(DEMO_DIR) $(SLURM_OUT)

demo-s2-models:
	@$(S2_MAKE) demo-models DEMO_FIT="$(S2_FIT)"

docker-demo:
	@$(MAKE) --no-print-directory demo-chain DOCKER=1 DEMO_DIR=$(DOCKER_DEMO_DIR)

demo-chain: demo-stacks
	@echo "== models: the committed demo models in $(DEMO_MODELS) (make demo-models retrains them)" >&2
	@echo "== rts-infer: probabilities of both models -> $(DEMO_DIR)/probs" >&2
	$(call tool,infer) - --model $(DEMO_MODELS)/tcvis.onnx --model $(DEMO_MODELS)/notcvis.onnx -o $(DEMO_DIR)/probs \
	  < $(DEMO_DIR)/stacks.txt > $(DEMO_DIR)/probs.txt
	@echo "== rts-ensemble: mean, DARTS clean-up, water filter, Level-1 polygons, quicklooks -> $(DEMO_DIR)/level1" >&2
	$(call tool,ensemble) - --water $(WORLD)/aux/landcover.tif --quicklook --stacks $(DEMO_DIR)/stacks \
	  -o $(DEMO_DIR)/level1 < $(DEMO_DIR)/probs.txt > $(DEMO_DIR)/level1.txt
	@echo "== rts-aggregate: Level 2, tracks, coverage, H3 (EPSG:4326) -> $(DEMO_DIR)/products" >&2
	$(call tool,aggregate) - --gpkg -o $(DEMO_DIR)/products < $(DEMO_DIR)/level1.txt > $(DEMO_DIR)/products.txt
	@echo "== rts-validate: Level 1 of the held-apart test scenes against the synth truth -> $(DEMO_DIR)/validation" >&2
	@test -s $(DEMO_DIR)/test_stacks.txt || { echo "no held-apart test scenes in this world" >&2; exit 1; }
	sed 's#.*/\(.*\)\.stack\.tif#$(DEMO_DIR)/level1/\1.l1.parquet#' $(DEMO_DIR)/test_stacks.txt \
	  | $(call tool,validate) objects - $(WORLD)/truth/rts.parquet --group-by year -o $(DEMO_DIR)/validation \
	    $$(sed 's#.*/\(.*\)\.stack\.tif#--coverage $(DEMO_DIR)/level1/\1.extent.parquet#' $(DEMO_DIR)/test_stacks.txt) \
	  > $(DEMO_DIR)/validation.txt
	@echo "" >&2
	@echo "Demo results under $(DEMO_DIR)/$(if $(DOCKER), (every stage in its container image)):" >&2
	@echo "  world/scenes/<scene_id>/  $$(wc -l < $(DEMO_DIR)/scenes.txt) scenes (SR, udm2, metadata, quicklook PNG)" >&2
	@echo "  world/aux/                dem.tif, tcvis.tif, landcover.tif" >&2
	@echo "  world/truth/rts.parquet   true slumps (+ rts.gpkg); train/test split in world/scenes.csv" >&2
	@echo "  stacks/                   $$(wc -l < $(DEMO_DIR)/stacks.txt) input stacks (<scene_id>.stack.tif)" >&2
	@echo "  models                    $(DEMO_MODELS)/tcvis.onnx, notcvis.onnx (+ metrics.csv, training.png)" >&2
	@echo "  probs/                    $$(wc -l < $(DEMO_DIR)/probs.txt) probability rasters (<scene_id>.<model>.prob.tif)" >&2
	@echo "  level1/                   $$(wc -l < $(DEMO_DIR)/level1.txt) scenes of Level-1 polygons (.l1.parquet, .mask.tif, .quicklook.png, ...)" >&2
	@echo "  products/                 level1, level2, tracks, coverage_*, h3 (.parquet) and rts.gpkg (all layers)" >&2
	@echo "  validation/               metrics.json, metrics.csv, report.md (+ scores.png, map.png), matches.parquet" >&2
	@echo "" >&2
	@$(PYTHON) -c "import json, sys; m = json.load(open(sys.argv[1])); o = m['overall']; \
	  print('Held-apart test scenes, object level ({}): precision {:.2f}, recall {:.2f}, F1 {:.2f} ' \
	        '({} predictions, {} true slumps)'.format(m['mode'], o['precision'], o['recall'], o['f1'], \
	        o['n_pred'], o['n_ref']))" $(DEMO_DIR)/validation/metrics.json

# The demo world's figures (workflow/demo_report.py prints the tables): the DARTS recipe per
# held-apart region with its false-positive anatomy beside DARTS' Table 5, and two ablations
# on the same scenes: one model (tcvis) instead of the ensemble, and that model trained
# without the RTS-free region (when $(DEMO_MODELS) has it).
REPORT_VALIDATE = $(call tool,validate) objects - $(WORLD)/truth/rts.parquet --group-by region,year \
  --coverage $(DEMO_DIR)/report/test_extent.parquet --landcover $(WORLD)/truth/anatomy.tif \
  --landcover-classes "$$(cat $(WORLD)/truth/anatomy_classes.txt)"
REPORT_ENSEMBLE = $(call tool,ensemble) - --water $(WORLD)/aux/landcover.tif
demo-report: demo-chain
	@echo "== the demo's figures: per region, false-positive anatomy, ablations -> $(DEMO_DIR)/report" >&2
	$(BIN)/python workflow/demo_report.py coverage $(DEMO_DIR) > /dev/null
	sed 's#.*/\(.*\)\.stack\.tif#$(DEMO_DIR)/level1/\1.l1.parquet#' $(DEMO_DIR)/test_stacks.txt \
	  | $(REPORT_VALIDATE) -o $(DEMO_DIR)/report/ensemble > /dev/null
	grep -F -f <(sed 's#.*/\(.*\)\.stack\.tif#/\1.tcvis.prob.tif#' $(DEMO_DIR)/test_stacks.txt) $(DEMO_DIR)/probs.txt \
	  | $(REPORT_ENSEMBLE) -o $(DEMO_DIR)/report/level1-single | $(REPORT_VALIDATE) -o $(DEMO_DIR)/report/single > /dev/null
	$(if $(wildcard $(DEMO_MODELS)/tcvis-without-rts-free.onnx),$(call tool,infer) - \
	  --model $(DEMO_MODELS)/tcvis-without-rts-free.onnx -o $(DEMO_DIR)/report/probs-ablation \
	  < $(DEMO_DIR)/test_stacks.txt | $(REPORT_ENSEMBLE) -o $(DEMO_DIR)/report/level1-ablation \
	  | $(REPORT_VALIDATE) -o $(DEMO_DIR)/report/without_rts_free > /dev/null)
	@$(BIN)/python workflow/demo_report.py summary $(DEMO_DIR)

# Volume change (rts-volume): the demo world's dated DEM strips (rts-synth --dems), the chain's
# tracks measured in every pair of them, and rts-aggregate joining the volumes; then the error
# per slump against the truth (workflow/volume_report.py) for the tracks, the true outlines, and
# the true outlines without co-registration.
DEMO_DEMS ?= 3
VOLUME = $(call tool,volume) $(WORLD)/dems -q
demo-volume: demo-chain
	@echo "== rts-synth --dems: $(DEMO_DEMS) dated DEM strips of the demo world -> $(WORLD)/dems" >&2
	$(call tool,synth) -o $(WORLD) --labels data/rts_labels_sample.gpkg --quicklook $(SYNTH_ARGS) --dems $(DEMO_DEMS) \
	  -q > /dev/null
	@echo "== rts-volume: the chain's tracks in every pair of strips -> $(DEMO_DIR)/volume/tracks" >&2
	$(VOLUME) --features $(DEMO_DIR)/products/tracks.parquet -o $(DEMO_DIR)/volume/tracks > /dev/null
	@echo "== rts-aggregate --volume: volumes joined to tracks and Level 2 -> $(DEMO_DIR)/products-volume" >&2
	$(call tool,aggregate) - -q --volume $(DEMO_DIR)/volume/tracks/volume.parquet -o $(DEMO_DIR)/products-volume \
	  < $(DEMO_DIR)/level1.txt > /dev/null
	@echo "== rts-volume: the true outlines, with and without co-registration -> $(DEMO_DIR)/volume" >&2
	$(BIN)/python workflow/volume_report.py outlines $(DEMO_DIR) > /dev/null
	$(VOLUME) --features $(DEMO_DIR)/volume/truth_outlines.parquet -o $(DEMO_DIR)/volume/outlines > /dev/null
	$(VOLUME) --features $(DEMO_DIR)/volume/truth_outlines.parquet --no-coregistration -o $(DEMO_DIR)/volume/raw \
	  > /dev/null
	@$(BIN)/python workflow/volume_report.py summary $(DEMO_DIR)
	@echo "Volume report: $(DEMO_DIR)/volume/report.md; products with volumes: $(DEMO_DIR)/products-volume" >&2

# Threshold optimisation on the held-apart test scenes: pixels (rts-validate threshold over
# the ensemble's mean probabilities) and objects (the thresholds target below).
DEMO_TESTS = $$(sed 's|.*/\(.*\)\.stack\.tif|$(1)|' $(DEMO_DIR)/test_stacks.txt | tr '\n' ' ')
demo-thresholds: demo-chain
	@echo "== rts-validate threshold: pixel sweep on the held-apart scenes -> $(DEMO_DIR)/thresholds/pixels" >&2
	$(call tool,validate) threshold $(call DEMO_TESTS,$(DEMO_DIR)/level1/\1.prob.tif) $(WORLD)/truth/rts.parquet \
	  $(call DEMO_TESTS,--coverage $(DEMO_DIR)/level1/\1.extent.parquet) -o $(DEMO_DIR)/thresholds/pixels > /dev/null
	grep -F -f <(sed 's#.*/\(.*\)\.stack\.tif#/\1.#' $(DEMO_DIR)/test_stacks.txt) $(DEMO_DIR)/probs.txt \
	  > $(DEMO_DIR)/test_probs.txt
	@$(MAKE) --no-print-directory thresholds PROBS=$(DEMO_DIR)/test_probs.txt REF=$(WORLD)/truth/rts.parquet \
	  WATER=$(WORLD)/aux/landcover.tif OUT=$(DEMO_DIR) OBJECT_ARGS="--mode iou" \
	  COVERAGE="$(call DEMO_TESTS,$(DEMO_DIR)/level1/\1.extent.parquet)"
	@$(PYTHON) -c "import json, sys; p, o = (json.load(open(f)) for f in sys.argv[1:3]); \
	  at = {r['run']: r for r in o['runs']}; b = at[o['best']]; d = at.get('0.5', {}); \
	  print('Best threshold on the held-apart test scenes: objects {} (IoU-matched F1 {:.2f}; ' \
	        'the default 0.5: F1 {:.2f}), ' \
	        'pixels {:.2f} (F1 {:.2f}, IoU {:.2f})'.format(o['best'], b['f1'], d.get('f1', float('nan')), \
	        p['overall']['threshold'], p['overall']['f1'], p['overall']['iou']))" \
	  $(DEMO_DIR)/thresholds/pixels/metrics.json $(DEMO_DIR)/thresholds/compare/metrics.json

# Object-level threshold optimisation with the production clean-up itself: rts-ensemble at
# each threshold, rts-validate objects on each result, rts-validate compare over them.
#   make thresholds PROBS=probs.txt REF=truth.gpkg [WATER=lc.tif] [COVERAGE="a.parquet ..."]
#     [THRESHOLDS="0.3 0.5 0.7"] [OBJECT_ARGS="--mode iou"] [OUT=run]
# PROBS lists each scene's probability rasters, one path a line, as rts-infer prints them.
THRESHOLDS ?= 0.2 0.3 0.4 0.5 0.6 0.7 0.8
PROBS ?=
REF ?=
COVERAGE ?=
OBJECT_ARGS ?=

thresholds: $(SETUP)
	@test -n "$(PROBS)" -a -n "$(REF)" || { echo "usage: make $@ PROBS=probs.txt REF=truth.gpkg [WATER=lc.tif]" \
	  "[COVERAGE=\"a.parquet ...\"] [THRESHOLDS=\"0.3 0.5 0.7\"] [OBJECT_ARGS=...] [OUT=run]" >&2; exit 2; }
	@for t in $(THRESHOLDS); do \
	  echo "== threshold $$t: rts-ensemble -> $(OUT)/thresholds/level1/$$t, rts-validate objects" >&2; \
	  $(call tool,ensemble) - --threshold $$t $(if $(WATER),--water $(WATER)) -q -o $(OUT)/thresholds/level1/$$t \
	    < $(PROBS) | $(call tool,validate) objects - $(REF) $(foreach c,$(COVERAGE),--coverage $(c)) $(OBJECT_ARGS) -q \
	    -o $(OUT)/thresholds/validation/$$t > /dev/null; \
	done
	$(call tool,validate) compare $(foreach t,$(THRESHOLDS),$(OUT)/thresholds/validation/$(t)) \
	  -o $(OUT)/thresholds/compare > /dev/null
	@echo "Threshold sweep: $(OUT)/thresholds/compare/report.md (+ compare.png)" >&2

# Regional cross-validation through Snakemake (workflow/crossval.smk) on the classic world
# (every region has slumps): 4 held-out regions x 2 small configurations, about 9 minutes on
# 2 cores after its stacks. demo-cv-run cross-validates the world in DEMO_DIR as it is.
CV_DIR ?= demo-cv
demo-cv:
	@$(MAKE) --no-print-directory demo-cv-run DEMO_DIR=$(CLASSIC_DEMO_DIR) SYNTH_ARGS=
demo-cv-run: demo-stacks
	@echo "== Snakemake: regional cross-validation (workflow/crossval.smk) -> $(CV_DIR)" >&2
	$(BIN)/snakemake -s workflow/crossval.smk --configfile workflow/crossval.demo.yaml --cores 2 --quiet rules \
	  --config out=$(CV_DIR) stacks=$(DEMO_DIR)/stacks.txt regions=$(WORLD)/scenes.csv \
	    labels=$(WORLD)/truth/rts.parquet footprints=$(WORLD)/truth/extent.parquet \
	    truth=$(WORLD)/truth/rts.parquet water=$(WORLD)/aux/landcover.tif
	@echo "" >&2
	@sed -n '/^| configuration/,/^$$/p' $(CV_DIR)/summary/report.md
	@echo "Cross-validation summary: $(CV_DIR)/summary/report.md (+ crossval.png, metrics.csv); folds in $(CV_DIR)/folds" >&2

# Your own data, local install or one container per stage (DOCKER=1, or docker-pipeline):
#   make pipeline SCENES="scenes/*/" DEM=dem.vrt TCVIS=tcvis.tif MODELS="a.onnx b.onnx" [WATER=lc.tif] [OUT=run]
SCENES ?=
DEM ?=
TCVIS ?=
MODELS ?=
WATER ?=
LANDCOVER ?=
OUT ?= run

pipeline: $(SETUP)
	@test -n "$(SCENES)" -a -n "$(DEM)" -a -n "$(TCVIS)" -a -n "$(MODELS)" || \
	  { echo "usage: make $@ SCENES=... DEM=... TCVIS=... MODELS=... [WATER=...] [LANDCOVER=...] [OUT=run]" >&2; exit 2; }
	$(call tool,prep) $(SCENES) --dem $(DEM) --tcvis $(TCVIS) $(if $(LANDCOVER),--landcover $(LANDCOVER)) \
	    -o $(OUT)/stacks \
	  | $(call tool,infer) - $(foreach model,$(MODELS),--model $(model)) -o $(OUT)/probs \
	  | $(call tool,ensemble) - $(if $(WATER),--water $(WATER)) -o $(OUT)/level1 \
	  | $(call tool,aggregate) - --gpkg -o $(OUT)/products
	@echo "Products in $(OUT)/products (stacks, probs and level1 beside it)." >&2

docker-pipeline:
	@$(MAKE) --no-print-directory pipeline DOCKER=1

images:
	@for name in $(IMAGES); do \
	  base="$(BASE_IMAGE)"; extra=""; [ "$$name" = infer ] && base="$(INFER_BASE_IMAGE)" && extra="$(TENSORRT)"; \
	  echo "== $(ENGINE) build $(IMAGE_PREFIX)/$$name" >&2; \
	  $(ENGINE) build -f docker/$$name.Dockerfile -t $(IMAGE_PREFIX)/$$name \
	    $${base:+--build-arg BASE_IMAGE=$$base} $${extra:+--build-arg "TENSORRT=$$extra"} . || exit 1; \
	done

# Builds every image, runs the demo through them and checks its products against the
# local demo's; prints the image sizes.
test-images: images install
	@$(MAKE) --no-print-directory demo
	@$(MAKE) --no-print-directory docker-demo
	$(BIN)/python -m tests.e2e.compare_products $(DEMO_DIR) $(DOCKER_DEMO_DIR)
	@$(ENGINE) images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '$(IMAGE_PREFIX)/' >&2

lint: install
	$(BIN)/ruff check tools tests bench workflow

bench: install
	@for script in bench/[!_]*.py; do [ -e "$$script" ] || continue; \
	  echo "== $$script" >&2; $(BIN)/python "$$script"; done

clean:
	rm -rf build $(DEMO_DIR) $(DOCKER_DEMO_DIR) $(CV_DIR) $(S2_DEMO_DIR) $(CLASSIC_DEMO_DIR) $(SLURM_OUT) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
