"""workflow/crossval.smk on the small demo world: one model per held-out region, each
validated on exactly that region's scenes, a summary whose means and deviations are the
folds' own, and a fold fitted again giving the same epochs to the last digit."""

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import run_process
from tests.e2e.conftest import ROOT, VENV

pytestmark = pytest.mark.slow  # Snakemake fits, infers, ensembles and validates each fold

CONFIGURATION = "Unet-resnet18-tcvis"
FIT = ("--encoder-depth 3 --decoder-channels 16,8,4 --tile-size 64 --batch-size 4 --epochs 2 --steps 3 --seed 0 "
       "--infer-tile-size 256 --infer-overlap 64")


def run(config_path):
    done = subprocess.run([str(VENV / "bin" / "snakemake"), "-s", str(ROOT / "workflow" / "crossval.smk"),
                           "--configfile", str(config_path), "--cores", "2", "--quiet", "rules"],
                          cwd=config_path.parent, capture_output=True, text=True,
                          env={"PATH": f"{VENV / 'bin'}:/usr/bin:/bin", "HOME": str(config_path.parent)})
    assert done.returncode == 0, done.stderr[-3000:]


def regions_of(demo_run) -> dict[str, list[str]]:
    with open(demo_run / "world" / "scenes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["region"], []).append(row["scene_id"])
    return {region: sorted(scenes) for region, scenes in sorted(found.items())}


def best_epoch(path):
    rows = list(csv.DictReader(path.open()))
    return max(rows, key=lambda row: float(row["f1"]))


@pytest.fixture(scope="module")
def crossval(demo_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("crossval")
    truth = demo_run / "world" / "truth"
    config = {"stacks": str(demo_run / "stacks.txt"), "regions": str(demo_run / "world" / "scenes.csv"),
              "labels": str(truth / "rts.parquet"), "footprints": str(truth / "extent.parquet"),
              "water": str(demo_run / "world" / "aux" / "landcover.tif"),
              "grid": {"arch": ["Unet"], "encoder": ["resnet18"], "bands": ["tcvis"]},
              "fit": FIT, "train_threads": 1, "out": str(folder / "cv")}
    config_path = folder / "crossval.yaml"
    config_path.write_text(yaml.safe_dump(config))
    run(config_path)
    return folder / "cv", config_path, regions_of(demo_run)


def test_each_region_is_held_out_once_and_validated_on_its_own_scenes(crossval):
    out, _, regions = crossval
    assert len(regions) >= 2
    folds = out / "folds" / CONFIGURATION
    assert sorted(p.name for p in folds.iterdir()) == sorted(regions)
    for region, scenes in regions.items():
        fold = folds / region
        checkpoint = torch.load(fold / "model" / "checkpoint.pt", map_location="cpu", weights_only=True)
        assert sorted(checkpoint["val_scenes"]) == scenes  # the held-out region's scenes, all of them
        assert not set(checkpoint["train_scenes"]) & set(scenes)
        probabilities = (fold / "probs.txt").read_text().split()
        assert sorted(p.split("/")[-1].split(".")[0] for p in probabilities) == scenes
        metrics = json.loads((fold / "validation" / "metrics.json").read_text())
        assert metrics["mode"] == "intersect" and metrics["overall"]["n_ref"] > 0  # scored on its region


def test_the_summary_is_the_mean_and_sample_deviation_of_the_folds(crossval):
    out, _, regions = crossval
    summary = json.loads((out / "summary" / "metrics.json").read_text())
    folds = out / "folds" / CONFIGURATION
    pixel_iou = [float(best_epoch(folds / region / "model" / "metrics.csv")["iou"]) for region in regions]
    object_f1 = [json.loads((folds / region / "validation" / "metrics.json").read_text())["overall"]["f1"]
                 for region in regions]
    (row,) = summary["configurations"]
    assert row["configuration"] == CONFIGURATION and row["n_regions"] == len(regions)
    assert row["pixel_iou_mean"] == pytest.approx(np.mean(pixel_iou), abs=1e-12)
    assert row["pixel_iou_std"] == pytest.approx(np.std(pixel_iou, ddof=1), abs=1e-12)
    assert row["object_f1_mean"] == pytest.approx(np.mean(object_f1), abs=1e-12)
    assert summary["best"] == CONFIGURATION
    table = list(csv.DictReader((out / "summary" / "metrics.csv").open()))
    assert {r["region"] for r in table if r.get("region")} >= set(regions)
    assert (out / "summary" / "crossval.png").stat().st_size > 0


def test_a_fold_fitted_again_gives_the_same_epochs(crossval, tmp_path):
    """The fold's rts-train fit, as the workflow's rule runs it, again into another
    folder: the same epochs to the last digit (same seed, same threads), so the
    cross-validation's result is reproducible."""
    out, config_path, regions = crossval
    config = yaml.safe_load(config_path.read_text())
    region = next(iter(regions))
    stacks = (Path(config["stacks"])).read_text().split()
    again = run_process("rts-train", "fit", *stacks, "--labels", config["labels"], "--footprints",
                        config["footprints"], "--arch", "Unet", "--encoder", "resnet18", "--bands", "tcvis",
                        "--name", CONFIGURATION, "--val-scenes", ",".join(regions[region]), "--threads", "1",
                        *FIT.split(), "-q", "-o", tmp_path / "again")
    assert again.returncode == 0, again.stderr
    fold = out / "folds" / CONFIGURATION / region
    assert (tmp_path / "again" / "metrics.csv").read_text() == (fold / "model" / "metrics.csv").read_text()
