# Regional cross-validation as in Nitze et al. (2021): for each configuration of a small
# grid (architecture x encoder x bands) and each region, rts-train fits a model on the
# other regions' scenes and validates it on the held-out region's (its best epoch's
# pixel IoU and F1 are the paper's scores); rts-infer, rts-ensemble and rts-validate
# objects score its Level 1 on the held-out region; rts-validate crossval writes the
# table (mean ± standard deviation across regions) and the Figure-4 chart.
#
#   snakemake -s workflow/crossval.smk --configfile workflow/crossval.demo.yaml --cores 2
#
# Outputs under `out`: folds/<configuration>/<region>/{model,probs,level1,validation}/
# and summary/ (metrics.json, metrics.csv, report.md, crossval.png). Every tool writes
# atomically and skips complete outputs, so a killed run resumes (see README.md).

import csv
import itertools
import sys
from pathlib import Path

# Names checked by rts_core's contract, which needs only the standard library for them.
sys.path.insert(0, str(Path(workflow.basedir).parent / "tools" / "core"))
from rts_core.contract import STACK_SUFFIX, safe_name  # noqa: E402

OUT = Path(config.get("out", "cv"))
IMAGE = config.get("image_prefix", "docker://rtsmap") + "/{}:" + config.get("image_tag", "latest")


def stacks():
    """Scene id -> stack, from config "stacks": a list of <scene_id>.stack.tif files, or
    a text file listing them (what rts-prep prints)."""
    listed = config["stacks"]
    if isinstance(listed, str):
        listed = [line.strip() for line in Path(listed).read_text().splitlines() if line.strip()]
    found = {}
    for path in map(str, listed):
        name = Path(path).name
        if not name.endswith(STACK_SUFFIX):
            raise ValueError(f"{path}: not a stack of rts-prep (<scene_id>{STACK_SUFFIX})")
        found[safe_name(name[: -len(STACK_SUFFIX)], "scene id")] = path
    return found


STACKS = stacks()


def regions():
    """Region -> its scene ids, from the CSV of config "regions" (columns scene_id and
    config "region_column", default region; rts-synth's scenes.csv is one). Every stack
    needs a region; at least two regions make a cross-validation."""
    column = config.get("region_column", "region")
    found = {}
    with open(config["regions"], newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("scene_id") in STACKS:
                found.setdefault(safe_name(str(row[column]).strip(), "region"), []).append(row["scene_id"])
    unassigned = sorted(set(STACKS) - {s for scenes in found.values() for s in scenes})
    if unassigned:
        raise ValueError(f"{config['regions']}: no {column} for the stacks of {', '.join(unassigned[:3])}")
    if len(found) < 2:
        raise ValueError(f"{config['regions']}: a cross-validation needs two regions or more, found {len(found)}")
    return dict(sorted(found.items()))


REGIONS = regions()


def configurations():
    """Configuration name -> (architecture, encoder, bands): the grid's product."""
    grid = config["grid"]
    found = {}
    for arch, encoder, bands in itertools.product(grid["arch"], grid["encoder"], grid["bands"]):
        name = safe_name(f"{arch}-{encoder}-{str(bands).replace(',', '_')}", "configuration")
        found[name] = (str(arch), str(encoder), str(bands))
    return found


CONFIGURATIONS = configurations()
FOLD = str(OUT / "folds" / "{configuration}" / "{region}")
FOLD_SHELL = FOLD.replace("{configuration}", "{wildcards.configuration}").replace("{region}", "{wildcards.region}")
FOLDS = expand(FOLD, configuration=list(CONFIGURATIONS), region=list(REGIONS))

wildcard_constraints:
    configuration="|".join(CONFIGURATIONS),
    region="|".join(REGIONS),


rule all:
    input: OUT / "summary" / "metrics.json"


rule fit:
    """All stacks go in; the held-out region's are the validation scenes."""
    input: stacks=list(STACKS.values()), labels=config["labels"], footprints=config.get("footprints", [])
    output: model=FOLD + "/model/{configuration}.onnx", epochs=FOLD + "/model/metrics.csv"
    params:
        model=lambda w: "--arch {} --encoder {} --bands {}".format(*CONFIGURATIONS[w.configuration]),
        val=lambda w: ",".join(REGIONS[w.region]),
        footprints=lambda w, input: f"--footprints {input.footprints}" if input.footprints else "",
        fit=config.get("fit", ""),
    threads: int(config.get("train_threads", 2))
    container: IMAGE.format("train")
    shell:
        "rts-train fit -q {input.stacks} --labels {input.labels} {params.footprints} {params.model}"
        " --name {wildcards.configuration} --val-scenes {params.val} --threads {threads} {params.fit}"
        " -o " + FOLD_SHELL + "/model > /dev/null"


rule infer:
    input: model=rules.fit.output.model, stacks=lambda w: [STACKS[s] for s in REGIONS[w.region]]
    output: FOLD + "/probs.txt"
    threads: 2
    resources: gpu=1
    container: IMAGE.format("infer")
    shell: "rts-infer -q {input.stacks} --model {input.model} --threads {threads} -o " + FOLD_SHELL + "/probs > {output}"


rule ensemble:
    input: rules.infer.output
    output: FOLD + "/level1.txt"
    params: water=f"--water {config['water']}" if config.get("water") else ""
    container: IMAGE.format("ensemble")
    shell: "rts-ensemble -q - {params.water} -o " + FOLD_SHELL + "/level1 < {input} > {output}"


rule validate:
    """The held-out region's Level 1 against the truth, inside its scenes' extents."""
    input: level1=rules.ensemble.output, truth=config.get("truth", config["labels"])
    output: FOLD + "/validation/metrics.json"
    params:
        coverage=lambda w: " ".join(
            f"--coverage {FOLD.format(configuration=w.configuration, region=w.region)}/level1/{scene}.extent.parquet"
            for scene in REGIONS[w.region]),
        validate=config.get("validate", ""),
    container: IMAGE.format("validate")
    shell:
        "rts-validate objects -q - {input.truth} {params.coverage} {params.validate}"
        " -o " + FOLD_SHELL + "/validation < {input.level1} > /dev/null"


rule summary:
    input:
        epochs=expand(FOLD + "/model/metrics.csv", configuration=list(CONFIGURATIONS), region=list(REGIONS)),
        objects=expand(FOLD + "/validation/metrics.json", configuration=list(CONFIGURATIONS), region=list(REGIONS)),
    output: OUT / "summary" / "metrics.json"
    container: IMAGE.format("validate")
    shell: "rts-validate crossval -q " + " ".join(FOLDS) + " -o {OUT}/summary > /dev/null"
