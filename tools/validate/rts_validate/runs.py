"""One run of rts-validate: inputs read, scored, and the contract's files written (an
unchanged rerun skipped), for objects and for pixels."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from rts_core import atomic, cli
from rts_core.errors import InputError, blamed
from rts_core.fingerprints import fingerprint, up_to_date
from rts_core.runner import RunOptions, emit

from .crossval import crossval_metrics, read_fold
from .objects import ObjectOptions, SideError, assess_objects, matchable_frame
from .pixels import assess_pixels, sweep_thresholds
from .report import write_all

log = logging.getLogger(__name__)
TOOL = "rts-validate"


def require_existing(paths, run: RunOptions) -> None:
    """The first input that is not there ends the run with one line naming it."""
    from rts_core.vector import is_virtual

    for path in paths:
        if not is_virtual(path) and not Path(path).exists():  # a /vsizip/ or URL input says so when read
            raise blamed(path, InputError("no such file"))


def coverage_label(coverage: list[Path]) -> str | None:
    """How the coverage is named in params and inputs: its file, or how many."""
    if not coverage:
        return None
    return str(coverage[0]) if len(coverage) == 1 else f"{len(coverage)} files"


def metrics_file(run_dir) -> Path:
    """A validation run's metrics.json, given its folder or the file itself."""
    return Path(run_dir) / "metrics.json" if Path(run_dir).is_dir() else Path(run_dir)


def validate_objects(pred_paths: list[str], pred: str, ref: Path, coverage: list[Path], out: Path,
                     options: ObjectOptions, run: RunOptions) -> None:
    """Score predicted polygons (``pred_paths``, given as ``pred``) against ``ref``."""
    sources = [*pred_paths, str(ref), *map(str, coverage)]
    require_existing(sources, run)
    stamp = fingerprint(sources, options, "objects", cli.version_string(TOOL))
    if skip_if_done(out, stamp, run.overwrite):
        return
    predictions = read_frames(pred_paths, "predictions", run.debug)
    references = read_frames([str(ref)], "references", run.debug)
    cover = read_frames(list(map(str, coverage)), "coverage", run.debug) if coverage else None
    pred_file = pred_paths[0] if len(pred_paths) == 1 else None  # several: the message says "predictions"
    try:
        body, matches = assess_objects(predictions, references, options, cover)
    except SideError as exc:  # name the file at fault (several prediction files: "predictions")
        side = {"pred": pred_file or "predictions", "ref": ref}[exc.side]
        raise blamed(side, exc) from exc
    except Exception as exc:  # noqa: BLE001 - unexpected: blamed on the predictions, as in pixels
        raise blamed(pred_file or pred, exc) from exc
    try:
        atomic.cleanup_stale_temporaries(out)  # a no-op when the folder is new
        covered = coverage_label(coverage)
        inputs = {"pred": pred_file or f"{len(pred_paths)} files from {pred}",
                  "ref": str(ref), **({"coverage": covered} if coverage else {})}
        finish(out, {"mode": options.mode, "params": options.params(covered), **body},
               inputs, stamp, matches)
    except Exception as exc:  # noqa: BLE001 - the inputs were fine: writing the outputs failed
        raise blamed(out, exc) from exc


def validate_pixels(pred: Path, ref: Path, out: Path, threshold: float, run: RunOptions) -> None:
    """Score a prediction raster against a reference raster or polygons."""
    require_existing([pred, ref], run)
    stamp = fingerprint([pred, ref], threshold, "pixels", cli.version_string(TOOL))
    if skip_if_done(out, stamp, run.overwrite):
        return
    try:
        overall = assess_pixels(pred, ref, threshold)
        finish(out, {"mode": "pixels", "params": {"threshold": threshold}, "overall": overall, "groups": [],
                     "summary": {}}, {"pred": str(pred), "ref": str(ref)}, stamp)
    except Exception as exc:  # noqa: BLE001 - an InputError names the file at fault
        raise blamed(pred, exc) from exc


def validate_threshold(pred_paths: list[str], ref: Path, coverage: list[Path], thresholds, out: Path,
                       run: RunOptions) -> None:
    """Pixel scores of probability rasters at every threshold, and the best by F1."""
    sources = [*pred_paths, str(ref), *map(str, coverage)]
    require_existing(sources, run)
    stamp = fingerprint(sources, tuple(thresholds), "threshold", cli.version_string(TOOL))
    if skip_if_done(out, stamp, run.overwrite):
        return
    cover = read_frames(list(map(str, coverage)), "coverage", run.debug) if coverage else None
    try:
        rows = sweep_thresholds(pred_paths, ref, thresholds, cover)
    except Exception as exc:  # noqa: BLE001 - an InputError names the file at fault
        raise blamed(pred_paths[0] if len(pred_paths) == 1 else ref, exc) from exc
    best = max(rows, key=lambda row: (row["f1"], -abs(row["threshold"] - 0.5)))  # ties: nearest the default
    covered = coverage_label(coverage)
    metrics = {"mode": "threshold", "params": {"thresholds": [r["threshold"] for r in rows], "coverage": covered},
               "overall": best, "groups": [], "summary": {}, "thresholds": rows}
    inputs = {"pred": pred_paths[0] if len(pred_paths) == 1 else f"{len(pred_paths)} rasters", "ref": str(ref)}
    try:
        finish(out, metrics, inputs, stamp)
    except Exception as exc:  # noqa: BLE001
        raise blamed(out, exc) from exc


def compare_runs(run_dirs: list[Path], out: Path, run: RunOptions) -> None:
    """Several validation runs' overall scores in one table and chart, the best by F1."""
    runs = []
    for folder, name in zip(run_dirs, run_names(run_dirs), strict=True):
        try:
            metrics = json.loads(metrics_file(folder).read_text())
            overall = metrics["overall"]
            runs.append({"run": name, "mode": metrics["mode"],
                         **{k: v for k, v in overall.items() if isinstance(v, (int, float))},
                         **metrics.get("instance", {})})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise blamed(folder, InputError(f"not a validation run (metrics.json: {exc})")) from exc
    stamp = fingerprint([metrics_file(f) for f in run_dirs], "compare",
                        cli.version_string(TOOL))
    if skip_if_done(out, stamp, run.overwrite):
        return
    best = max(runs, key=lambda r: r.get("f1", -1.0))
    metrics = {"mode": "compare", "params": {"runs": [str(f) for f in run_dirs]},
               "overall": {**best, "precision": best.get("precision", 0.0), "recall": best.get("recall", 0.0),
                           "f1": best.get("f1", 0.0)},
               "groups": [], "summary": {}, "runs": runs, "best": best["run"]}
    try:
        finish(out, metrics, {}, stamp)
    except Exception as exc:  # noqa: BLE001
        raise blamed(out, exc) from exc


def summarise_crossval(folds: list[Path], out: Path, run: RunOptions) -> None:
    """One regional cross-validation's folds in one table and chart, mean ± standard
    deviation across held-out regions per configuration."""
    files = [f / name for f in folds for name in ("model/metrics.csv", "validation/metrics.json")]
    stamp = fingerprint(files, "crossval", cli.version_string(TOOL))
    if skip_if_done(out, stamp, run.overwrite):
        return
    rows = []
    for fold in folds:
        try:
            rows.append(read_fold(Path(fold)))
        except (InputError, ValueError) as exc:
            raise blamed(getattr(exc, "source", None) or fold, exc) from exc
    try:
        metrics = crossval_metrics(rows)
    except InputError as exc:
        raise blamed(out, exc) from exc
    try:
        finish(out, metrics, {"folds": f"{len(rows)} folds"}, stamp)
    except Exception as exc:  # noqa: BLE001
        raise blamed(out, exc) from exc


def run_names(run_dirs: list[Path]) -> list[str]:
    """Each run's folder name, or where two share one (``a/validation``, ``b/validation``)
    its path below the folder all runs share."""
    folders = [Path(p).parent if Path(p).suffix == ".json" else Path(p) for p in run_dirs]
    names = [f.name for f in folders]
    if len(set(names)) == len(names):
        return names
    common = Path(os.path.commonpath([f.resolve() for f in folders]))
    return [str(f.resolve().relative_to(common)) or f.name for f in folders]


def skip_if_done(out: Path, stamp: str, overwrite: bool) -> bool:
    """Print the outputs of an earlier run with the same fingerprint and say so."""
    done = None if overwrite else up_to_date(out / "metrics.json", stamp)
    if done:
        log.info("validation is up to date with these inputs: skipped (--overwrite recomputes)")
        emit(done)
    return bool(done)


def read_frames(paths: list[str], what: str, debug: bool):
    """One GeoDataFrame from one or more vector files (each in its own CRS); a file that
    cannot be read, or holds other geometries than polygons, ends the command with one
    error line naming it. Null and empty geometries are dropped with a warning: counted,
    an empty prediction was a false positive and an empty reference a miss."""
    import geopandas
    import pandas

    frames = []
    for path in paths:
        try:
            frame = matchable_frame(path, what)
            if len(frame) and frame.crs is None:
                raise InputError(f"no CRS information in the {what}")
        except Exception as exc:  # noqa: BLE001 - one line per unreadable input
            raise blamed(path, exc) from exc
        frames.append(frame)
    if len(frames) == 1:
        return frames[0]
    frames = [f.to_crs("EPSG:4326") for f in frames if len(f)]
    if not frames:
        return geopandas.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return geopandas.GeoDataFrame(pandas.concat(frames, ignore_index=True), crs="EPSG:4326")


def finish(out: Path, metrics: dict, inputs: dict, stamp: str, matches=None) -> None:
    written = write_all(out, {**metrics, "inputs": inputs, "fingerprint": stamp}, inputs, matches)
    overall = metrics["overall"]
    detail = (f" ({overall['n_pred']} predictions, {overall['n_ref']} references)" if "n_pred" in overall else
              f" at threshold {overall['threshold']:g}" if "threshold" in overall else
              f" (best: {metrics['best']})" if "best" in metrics else "")
    log.info("%s: precision %.3f, recall %.3f, F1 %.3f%s", metrics["mode"], overall["precision"],
             overall["recall"], overall["f1"], detail)
    emit(written)
