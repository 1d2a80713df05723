"""ONNX export with the ``rts`` metadata, from our checkpoints or from DARTS v1 model
folders (``config.yml`` + ``checkpoints/NN.pt``)."""

from __future__ import annotations

import logging
import pickle
import re
import warnings
from pathlib import Path

import onnx
import torch
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from rts_core import atomic, contract, fingerprints, preprocessing

from .config import DARTS_NORMALISATION, ModelConfig
from .model import build, check_architecture

log = logging.getLogger(__name__)
OPSET = 17
# DARTS v1 stacked its sources in sorted name order; each source's bands in this order.
DARTS_SOURCES = {"ndvi": ["ndvi"], "planet": ["blue", "green", "red", "nir"],
                 "relative_elevation": ["relative_elevation"], "slope": ["slope"],
                 "tcvis": ["tc_brightness", "tc_greenness", "tc_wetness"]}


class ExportError(ValueError):
    pass


FINGERPRINT_KEY = "rts_fingerprint"  # metadata_props: what the file was made from (rts_core.runner)


def export_onnx(model: torch.nn.Module, config: ModelConfig, path: Path | str, sample_size: int = 64,
                fingerprint: str | None = None) -> Path:
    """Export with dynamic batch, height and width (opset 17), the metadata, and the
    fingerprint of the inputs and options it was made from."""
    model = model.eval().cpu()
    size = max(sample_size, 2 ** config.encoder_depth)
    dummy = torch.zeros(1, len(config.bands), size, size)
    with atomic.atomic_path(path) as temporary, warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of torch.export, which needs
        # onnxscript and explicit dynamic shapes; it still exports smp models exactly
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, dummy, str(temporary), opset_version=OPSET, input_names=["input"],
                          output_names=["output"], dynamo=False,
                          dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H", 3: "W"}})
        proto = onnx.load(str(temporary))
        props = {contract.MODEL_METADATA_KEY: config.metadata()}
        if fingerprint is not None:
            props[FINGERPRINT_KEY] = fingerprint
        onnx.helper.set_model_props(proto, props)
        proto.producer_name = "rts-train"
        onnx.save(proto, str(temporary))
    return Path(path)


def recorded_fingerprint(path: Path | str) -> str | None:
    """The fingerprint an exported model records; None when it records none or cannot
    be read whole (then it is made again)."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - a damaged file: protobuf raises several kinds
        return None
    return {p.key: p.value for p in proto.metadata_props}.get(FINGERPRINT_KEY)


def is_current(outputs, stamp: str) -> bool:
    """Every output there, the ONNX file whole and made from ``stamp``'s inputs and
    options; the reason it is not is logged."""
    missing = [p for p in outputs if not Path(p).exists()]
    onnx_path = next(p for p in outputs if Path(p).suffix == ".onnx")
    if len(missing) == len(outputs):
        return False
    if missing:
        log.warning("%s is missing beside the other outputs; making them again", missing[0])
        return False
    recorded = recorded_fingerprint(onnx_path)
    if recorded is None:
        log.warning("%s is damaged or records no fingerprint; making it again", onnx_path)
        return False
    if recorded != stamp:
        log.info("%s was made from other inputs or options; making it again", onnx_path)
        return False
    return True


def read_metadata(path: Path | str) -> ModelConfig:
    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    key = contract.MODEL_METADATA_KEY
    if key not in props:
        raise ExportError(f"{path}: no '{key}' metadata in the ONNX model")
    return ModelConfig.from_metadata(props[key])


def load_weights(path: Path):
    """A checkpoint's contents as plain data and tensors: unpickling anything else can
    run code that came with a downloaded file, so it is refused (torch's weights_only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[-1] if lines else type(exc).__name__
        raise ExportError(f"{path}: refused: not a checkpoint of weights and plain data, and loading it fully could "
                          f"run code from the file ({detail[:160]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ExportError(f"{path}: not a readable torch checkpoint ({' '.join(str(exc).split())[:160]})") from None


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, ModelConfig]:
    """Our own checkpoint: ``{"config": {...}, "state_dict": ...}``."""
    saved = load_weights(path)
    if not isinstance(saved, dict) or "config" not in saved or "state_dict" not in saved:
        raise ExportError(f"{path}: not an rts-train checkpoint (no config/state_dict)")
    config = ModelConfig(**saved["config"])
    model = build(config)
    model.load_state_dict(saved["state_dict"])
    return model, config


def load_darts_v1(folder: Path, checkpoint: str | None = None) -> tuple[torch.nn.Module, ModelConfig]:
    """A DARTS v1 model folder, with its legacy channel order and normalisation
    expressed in our physical-unit metadata."""
    import yaml

    config_path = folder / "config.yml"
    if not config_path.exists():
        raise ExportError(f"{folder}: no config.yml (not a DARTS v1 model folder)")
    settings = yaml.safe_load(config_path.read_text()) or {}
    model_settings = settings.get("model", {})
    try:
        architecture = check_architecture(model_settings["architecture"])
        encoder = model_settings["encoder"]
        channels = int(model_settings["input_channels"])
    except KeyError as exc:
        raise ExportError(f"{config_path}: missing model.{exc.args[0]}") from None
    sources = settings.get("data_sources")
    if not sources:
        raise ExportError(f"{config_path}: missing data_sources")
    unknown = [s for s in sources if s not in DARTS_SOURCES]
    if unknown:
        raise ExportError(f"{config_path}: unknown data source(s) {', '.join(unknown)}")
    bands = [band for source in sorted(sources) for band in DARTS_SOURCES[source]]
    if len(bands) != channels:
        raise ExportError(f"{config_path}: data_sources give {len(bands)} channels, input_channels says {channels}")
    name = "tcvis" if "tcvis" in sources else "notcvis"
    config = ModelConfig(name=name, bands=bands, architecture=architecture, encoder=encoder,
                         encoder_depth=int(model_settings.get("encoder_depth", contract.DEFAULT_ENCODER_DEPTH)),
                         # DARTS v1's inference (scripts/inference.py): 1024 px patches, 256 px margin
                         tile_size=1024, overlap=256,
                         scale=[DARTS_NORMALISATION[b][0] for b in bands],
                         offset=[DARTS_NORMALISATION[b][1] for b in bands],
                         preprocessing=dict(preprocessing.DARTS_V1))
    checkpoints = sorted((folder / "checkpoints").glob("*.pt"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    if checkpoint:
        checkpoints = [p for p in checkpoints if p.stem == checkpoint or p.name == checkpoint]
    if not checkpoints:
        raise ExportError(f"{folder}: no checkpoints/*.pt" + (f" named {checkpoint}" if checkpoint else ""))
    state = load_weights(checkpoints[-1])
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    model = build(config)
    try:
        consume_prefix_in_state_dict_if_present(state, "module.")  # DataParallel's, in place
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ExportError(f"{checkpoints[-1]}: weights do not fit {architecture}/{encoder}: {first}") from None
    return model, config


def load_any(path: Path) -> tuple[torch.nn.Module, ModelConfig]:
    return load_darts_v1(path) if path.is_dir() else load_checkpoint(path)


def export_model(checkpoint: Path, output: Path, *, name=None, tile_size=None, overlap=None, stated=None,
                 version: str, overwrite: bool = False) -> Path:
    """Export a checkpoint or DARTS v1 folder to ``output`` unless it is complete and made
    from these files and options (its recorded fingerprint)."""
    checkpoint, stated = Path(checkpoint), dict(stated or {})
    sources = sorted(p for p in checkpoint.rglob("*") if p.is_file()) if checkpoint.is_dir() else [checkpoint]
    stamp = fingerprints.fingerprint(sources, name, tile_size, overlap, sorted(stated.items()), version)
    if not overwrite and is_current([output], stamp):
        log.info("%s is complete; skipped (--overwrite to export again)", output)
        return Path(output)
    model, config = load_any(checkpoint)
    config.name = name or config.name
    config.tile_size = tile_size or config.tile_size
    config.overlap = overlap if overlap is not None else config.overlap
    if stated:
        config.preprocessing = {**(config.preprocessing or {}), **stated}
    return export_onnx(model, config, output, fingerprint=stamp)
