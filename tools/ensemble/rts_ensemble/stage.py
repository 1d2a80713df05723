"""One scene: its models' probability rasters -> ensemble probability, cleaned mask,
Level-1 polygons and valid extent (and, with --quicklook, a PNG of what was kept and
dropped)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import geopandas
import numpy as np
import pandas
import rasterio

from rts_core import contract, errors, geoparquet, raster
from rts_core.crs import equal_area_m2
from rts_core.errors import InputError
from rts_core.fingerprints import fingerprint
from rts_core.raster import SceneInfo
from rts_core.runner import Plan, read_each

from .cleanup import CleanupOptions, clean_objects
from .polygons import dropped_objects, extent_polygon, object_statistics, polygonise
from .quicklook import SceneLayers, quicklook_name, write_quicklook
from .water import WaterSource, open_water

log = logging.getLogger(__name__)


@dataclass
class Member:
    path: Path
    model: str
    sha256: str = ""  # the model file's, from rts-infer's tag ("" from an older rts-infer)
    acquisition: tuple = ()  # (acquired, sensor) from its tags: every member of a scene must agree
    scene_id: str = ""


@dataclass(frozen=True)
class Quicklook:
    """--quicklook: a PNG per scene, on the false colour of its stack in ``stacks``
    (``<scene_id>.stack.tif``) when given, else on the ensemble probability."""

    stacks: Path | None = None


OUTPUT_KEYS = ("prob", "mask", "l1", "extent", "quicklook")  # the order of a plan's outputs


def scene_outputs(out: Path, scene_id: str, quicklook: bool = False) -> dict[str, Path]:
    """The four files of a scene, and its quicklook when asked for (names checked: the id
    comes from a file's tag)."""
    outputs = {"prob": out / contract.prob_name(scene_id), "mask": out / contract.mask_name(scene_id),
               "l1": out / contract.l1_name(scene_id), "extent": out / contract.extent_name(scene_id)}
    if quicklook:
        outputs["quicklook"] = out / quicklook_name(scene_id)
    return outputs


def group_members(paths, wanted: tuple[str, ...] = (), allow_partial: bool = False, weights=None,
                  debug: bool = False) -> tuple[dict[str, list[Member]], bool]:
    """Probability rasters grouped by scene, each scene holding the run's full set of
    models (``wanted``, else every model among the inputs). An unreadable or untagged
    raster is an error for it and its scene; a scene missing a model is an error
    unless ``allow_partial``. Returns the complete groups and whether any failed (the
    failures are reported, one line each)."""
    broken: set[str] = set()  # scenes with a raster that cannot be read: not written

    def member(path) -> Member:
        scene_id = None
        try:
            with rasterio.open(path) as dataset:
                tags = dataset.tags()
                scene_id = tags.get(contract.TAG_SCENE_ID)  # the scene fails with it, whatever fails
                info = raster.read_scene_info(dataset)
            if not info.model:
                raise InputError("no RTS_MODEL tag: not a probability raster of rts-infer")
            contract.safe_name(info.model, "model name")
        except Exception as exc:
            if scene_id is None:
                raise
            broken.add(scene_id)
            raise InputError(f"{errors.one_line(exc)}; scene {scene_id} is not written") from exc
        return Member(Path(path), info.model, tags.get(contract.TAG_MODEL_SHA256, ""), (info.acquired, info.sensor),
                      info.scene_id)

    members, unreadable = read_each(paths, member, debug=debug)
    failed = bool(unreadable)
    groups: dict[str, list[Member]] = {}
    for _, found in members:
        groups.setdefault(found.scene_id, []).append(found)
    for scene_id in broken:
        groups.pop(scene_id, None)
    for scene_id, members in list(groups.items()):
        odd = next((m for m in members if m.acquisition != members[0].acquisition), None)
        if odd is not None:  # one scene id, two acquisitions: written from the first, it would misdate the other
            first = members[0]
            errors.report_error(odd.path, InputError(
                f"acquired {odd.acquisition[0]:%Y-%m-%dT%H:%M:%SZ} by {odd.acquisition[1]}, but "
                f"{first.path.name} says {first.acquisition[0]:%Y-%m-%dT%H:%M:%SZ} by {first.acquisition[1]}: "
                f"not one acquisition; scene {scene_id} is not written"), debug=debug)
            failed = True
            del groups[scene_id]
    models = set(wanted) or {m.model for members in groups.values() for m in members}
    for scene_id in list(groups):
        members = groups[scene_id]
        have = {m.model for m in members}
        extra = have - models
        missing = models - have
        if extra:  # --models leaves these out
            groups[scene_id] = members = [m for m in members if m.model in models]
        if missing and (allow_partial and members):
            log.warning("%s: lacks model(s) %s; written from %s (--allow-partial)", scene_id,
                        ", ".join(sorted(missing)), ", ".join(sorted(have & models)))
        elif missing:
            errors.report_error(members[0].path if members else scene_id, InputError(
                f"scene {scene_id} lacks the probabilities of model(s) {', '.join(sorted(missing))} "
                f"(the run's models: {', '.join(sorted(models))}; --allow-partial to write it anyway)"), debug=debug)
            failed = True
            del groups[scene_id]
    unknown = set(weights or {}) - models
    if unknown:
        log.warning("--weights names model(s) not among the inputs: %s", ", ".join(sorted(unknown)))
    return groups, failed


def plan_scene(group: tuple[str, list[Member]], *, out: Path, options: CleanupOptions, weights: dict[str, float],
               water: WaterSource | None, version: str, quicklook: Quicklook | None = None) -> Plan:
    """A scene's four files (five with the quicklook: one output of the scene like the
    others, so a failure anywhere leaves none of them), and the fingerprint of its
    rasters, the water layer and the options; the scene's rasters ride along. The
    quicklook records no fingerprint (a PNG): it is remade with the scene's rasters,
    or with --overwrite."""
    scene_id, members = group
    outputs = scene_outputs(out, scene_id, quicklook is not None)
    sources = [m.path for m in members] + ([water.path] if water is not None else [])
    stamp = fingerprint(sources, options, sorted(weights.items()), water.classes if water else None, version)
    return Plan(list(outputs.values()), printed=[outputs["l1"]], fingerprint=stamp, data=members)


def mean_of_members(members: list[Member], weights: dict[str, float]):
    """Weighted mean probability (float32, 0-1) and validity (valid where every model
    is valid), accumulated one model at a time so that memory holds one raster more
    than the result, whatever the number of models. All must share one grid."""
    total = valid = grid = None
    weight_sum = 0.0
    for member in members:
        weight = float(weights.get(member.model, 1.0))
        try:
            with rasterio.open(member.path) as dataset:
                this = (dataset.crs, dataset.transform, dataset.shape)
                if grid is None:
                    grid = this
                elif this != grid:
                    raise InputError(f"{member.path.name} is not on the grid of {members[0].path.name}")
                probability = dataset.read(1, out_dtype=np.float32)
                probability *= np.float32(dataset.scales[0] * weight)
                probability += np.float32(dataset.offsets[0] * weight)
                member_valid = (dataset.dataset_mask() > 0) & np.isfinite(probability)  # NaN, inf: invalid
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read {member.path}: {exc}") from None
        if total is None:
            total, valid = probability, member_valid
        else:
            total += probability
            valid &= member_valid
        weight_sum += weight
    total /= np.float32(weight_sum)
    total[~valid] = 0.0  # no NaN beyond this point
    return total, valid, grid


def level1_frame(scene: SceneInfo, acquired: pandas.Timestamp, geometries: dict, statistics: dict, crs,
                 models: str):
    """One row per object; the clean-up numbers objects 1..n, so object i is row i - 1
    of ``statistics`` and key i of ``geometries``."""
    n = len(statistics["n_pixels"])
    frame = geopandas.GeoDataFrame({
        "scene_id": pandas.Series([scene.scene_id] * n, dtype="string"),
        "acquired": pandas.Series([acquired] * n, dtype="datetime64[us, UTC]"),
        "year": pandas.Series([acquired.year] * n, dtype="int32"),
        "month": pandas.Series([acquired.month] * n, dtype="int32"),
        "area_m2": 0.0, "area_ha": 0.0,
        "n_pixels": statistics["n_pixels"], "prob_mean": statistics["prob_mean"], "prob_max": statistics["prob_max"],
        "models": pandas.Series([models] * n, dtype="string"),
        "sensor": pandas.Series([scene.sensor] * n, dtype="string"),
    }, geometry=[geometries[label] for label in range(1, n + 1)], crs=crs)
    frame["area_m2"] = equal_area_m2(frame.geometry.values, crs)  # the one area rule, not the scene's UTM
    frame["area_ha"] = frame["area_m2"] / 10_000
    return frame[list(contract.L1_COLUMNS)]


def models_version(members: list[Member]) -> str:
    """The models of an ensemble with a short hash of each ONNX file, "name@sha12,...",
    from rts-infer's tags (a raster from an older rts-infer gives the name alone): the
    DARTS data records' model version."""
    return ",".join(f"{m.model}@{m.sha256[:12]}" if re.fullmatch(r"[0-9a-f]{12,64}", m.sha256) else m.model
                    for m in members)


def ensemble_scene(plan: Plan, *, options: CleanupOptions, weights: dict[str, float], water: WaterSource | None,
                   version: str, quicklook: Quicklook | None = None) -> int:
    """Write the outputs of one scene; returns the number of Level-1 objects."""
    members, stamp = plan.data, plan.fingerprint
    outputs = dict(zip(OUTPUT_KEYS[:len(plan.outputs)], plan.outputs, strict=True))
    # in model-name order, so the result and its "models" label do not depend on the order
    # the inputs arrived in (a pipe, a workflow engine)
    members = sorted(members, key=lambda m: (m.model, str(m.path)))
    scene = raster.read_scene_info(members[0].path)
    if len(members) == 1:
        log.warning("%s: only one model (%s); no ensemble", scene.scene_id, members[0].model)
    mean, valid, (crs, transform, shape) = mean_of_members(members, weights)
    if crs is None or not crs.is_projected:
        raise InputError("probability rasters must be in a projected (metric) CRS")
    footprint = extent_polygon(valid, transform)  # first, while memory holds least
    water_mask = water.mask(shape, transform, crs) if water is not None else None
    cleaned = clean_objects(mean, valid, options, water_mask, keep_dropped=quicklook is not None)
    labels, n_pixels = cleaned.labels, cleaned.n_pixels
    del water_mask
    dropped = ()
    if quicklook is not None:  # the objects the clean-up removed, as polygons, with its reasons
        dropped = dropped_objects(cleaned.dropped, cleaned.reasons, transform)
        cleaned.dropped = None
    models = ",".join(m.model for m in members)
    model_version = models_version(members)
    tags = raster.scene_tags(scene.scene_id, scene.acquired, version, sensor=scene.sensor, model=models,
                             fingerprint=stamp, RTS_THRESHOLD=f"{options.threshold:g}",
                             **{contract.TAG_MODEL_VERSION: model_version},
                             RTS_EDGE_PX=str(options.edge_px), RTS_MIN_PX=str(options.min_px),
                             RTS_MAX_WATER=f"{options.max_water:g}")
    stored = np.round(mean / contract.PROB_SCALE).astype(np.uint8)
    stored[~valid] = contract.PROB_NODATA
    raster.write_cog(outputs["prob"], stored, crs=crs, transform=transform, nodata=contract.PROB_NODATA,
                     tags=tags, band_descriptions=("rts_probability",), scales=[contract.PROB_SCALE], offsets=[0.0])
    mask = (labels > 0).astype(np.uint8)
    mask[~valid] = contract.MASK_NODATA
    raster.write_cog(outputs["mask"], mask, crs=crs, transform=transform, nodata=contract.MASK_NODATA, tags=tags,
                     band_descriptions=("rts",), overview_resampling="nearest")
    geometries = polygonise(labels, transform)
    statistics = object_statistics(labels, mean, n_pixels)
    acquired = pandas.Timestamp(scene.acquired)
    geoparquet.write(level1_frame(scene, acquired, geometries, statistics, crs, models), outputs["l1"],
                            stamp, metadata={contract.PARQUET_MODEL_VERSION: model_version,
                                             contract.PARQUET_THRESHOLD: f"{options.threshold:g}"})
    extent = geopandas.GeoDataFrame({"scene_id": [scene.scene_id], "acquired": [acquired], "year": [acquired.year]},
                                    geometry=[footprint], crs=crs)
    extent["year"] = extent["year"].astype("int32")
    geoparquet.write(extent, outputs["extent"], stamp)
    if quicklook is not None:
        layers = SceneLayers(scene.scene_id, mean, valid, transform, crs, level1=list(geometries.values()),
                             dropped=dropped, stack=scene_stack(quicklook, scene.scene_id))
        write_quicklook(outputs["quicklook"], layers)
    return len(n_pixels)


def level1(probabilities, out, options: CleanupOptions = CleanupOptions(), *, water=None,
           water_classes: tuple[int, ...] = (1,),
           weights: dict[str, float] | None = None, version: str = "rts-ensemble") -> dict[str, Path]:
    """One scene's probability rasters (one per model) as its mean probability, mask,
    Level-1 polygons and extent in ``out``, written whatever is there: the stage without
    the command's runner. Returns the paths by kind (prob, mask, l1, extent)."""
    weights = dict(weights or {})
    groups, failed = group_members([str(p) for p in probabilities], (), False, weights)
    if failed or len(groups) != 1:
        raise InputError(f"the rasters make {len(groups)} complete scene(s), not one" +
                         (" (see the error lines)" if failed else ""))
    water_source = open_water(water, water_classes) if water is not None else None
    plan = plan_scene(next(iter(groups.items())), out=Path(out), options=options, weights=weights,
                      water=water_source, version=version)
    ensemble_scene(plan, options=options, weights=weights, water=water_source, version=version)
    return dict(zip(OUTPUT_KEYS, plan.outputs, strict=False))


def scene_stack(quicklook: Quicklook, scene_id: str) -> Path | None:
    """The scene's stack in --stacks, if given and there (a missing one: a warning, and
    the quicklook is drawn on the probability)."""
    if quicklook.stacks is None:
        return None
    path = quicklook.stacks / contract.stack_name(scene_id)
    if not path.is_file():
        log.warning("%s: no %s in --stacks %s; quicklook on the probability", scene_id, path.name, quicklook.stacks)
        return None
    return path
