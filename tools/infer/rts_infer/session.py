"""ONNX Runtime sessions: providers (CUDA, TensorRT, CPU), precision, and the model's
``rts`` metadata (CONTRACT.md section 4)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from scipy.special import expit

from rts_core import contract, preprocessing
from rts_core.model_input import Normalisation
from rts_core.runner import RunError

log = logging.getLogger(__name__)


class ModelError(ValueError):
    """A model that cannot be used; the message names the reason."""


class DeviceError(RuntimeError):
    """A requested device that is not there."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    normalisation: Normalisation  # bands, scale, offset, clip: the model-input transform
    output: str  # "logits" or "probability"
    tile_size: int
    overlap: int
    multiple: int  # the network's stride: input height and width must be multiples of this
    preprocessing: dict | None = None  # what its training stacks were made with

    @property
    def bands(self) -> tuple[str, ...]:
        return self.normalisation.bands


def read_info(metadata: dict, inputs) -> ModelInfo:
    key = contract.MODEL_METADATA_KEY
    if key not in metadata:
        raise ModelError(f"no '{key}' metadata (export it with rts-train export)")
    try:
        meta = json.loads(metadata[key])
        clip = meta.get("clip")
        normalisation = Normalisation.of(tuple(meta["bands"]), meta["scale"], meta["offset"], clip or None)
        record = preprocessing.parse(meta.get("preprocessing"))
    except preprocessing.RecordError as exc:
        raise ModelError(str(exc)) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"unreadable '{key}' metadata: {exc}") from None
    bands = normalisation.bands
    output = meta.get("output", contract.DEFAULT_MODEL_OUTPUT)
    if output not in contract.MODEL_OUTPUTS:
        raise ModelError(f"metadata output {output!r} is neither logits nor probability")
    if len(inputs) != 1:
        raise ModelError(f"expected one input, found {len(inputs)}")
    shape = inputs[0].shape
    if len(shape) != 4:
        raise ModelError(f"expected an N x C x H x W input, found {shape}")
    if isinstance(shape[1], int) and shape[1] != len(bands):
        raise ModelError(f"model input has {shape[1]} channels but its metadata lists {len(bands)} bands")
    depth = _bounded(meta, "encoder_depth", contract.DEFAULT_ENCODER_DEPTH, 0, 8)
    tile_size = _bounded(meta, "tile_size", contract.DEFAULT_TILE_SIZE, 16, 16384)
    overlap = _bounded(meta, "overlap", contract.DEFAULT_OVERLAP, 0, tile_size // 2)
    try:
        name = contract.safe_name(meta.get("name") or "model", "model name")
    except contract.UnsafeNameError as exc:
        raise ModelError(str(exc)) from None
    return ModelInfo(name=name, normalisation=normalisation, output=output,
                     tile_size=tile_size, overlap=overlap, multiple=2 ** depth, preprocessing=record)


def _bounded(meta: dict, key: str, default: int, low: int, high: int) -> int:
    """An integer of the metadata that sizes arrays: checked before it does."""
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelError(f"metadata {key} {value!r} is not an integer from {low} to {high}")
    return value


def providers_for(device: str, tensorrt: bool = False) -> list:
    """Execution providers for ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    has_cuda = "CUDAExecutionProvider" in available
    if device == "auto":
        if not has_cuda:
            log.warning("no CUDA execution provider (available: %s): running on the CPU", ", ".join(available))
            return ["CPUExecutionProvider"]
        device = "cuda"
    if device.startswith("cuda"):
        if not has_cuda:
            raise DeviceError(f"--device {device}: CUDA is not available to ONNX Runtime "
                              f"(providers: {', '.join(available)}; install onnxruntime-gpu on a GPU machine)")
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        chosen = [("CUDAExecutionProvider", {"device_id": index})]
        if tensorrt:
            if "TensorrtExecutionProvider" not in available:
                raise DeviceError("--tensorrt: the TensorRT execution provider is not installed")
            chosen.insert(0, ("TensorrtExecutionProvider", {"device_id": index}))
        return chosen + ["CPUExecutionProvider"]
    raise DeviceError(f"unknown device {device!r} (auto, cpu, cuda or cuda:N)")


def to_fp16(path: Path) -> bytes:
    """The model with float16 weights and computation, keeping float32 input and output."""
    try:
        import onnx
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError as exc:
        raise ModelError(f"--precision fp16 needs onnx and onnxconverter-common (pip install 'rts-infer[fp16]'): "
                         f"{exc}") from None
    model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    return model.SerializeToString()


class Model:
    """A loaded model: one ONNX Runtime session, reused for every scene of the run."""

    def __init__(self, path: Path | str, providers: list, precision: str = "fp32", threads: int | None = None):
        self.path = Path(path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = False  # return activations after each batch: bounded peak memory
        wants_cuda = any((p[0] if isinstance(p, tuple) else p) == "CUDAExecutionProvider" for p in providers)
        try:
            source = to_fp16(self.path) if precision == "fp16" else str(self.path)
            if wants_cuda:  # a CUDA provider that cannot load (no libraries, no GPU) is reported below, once
                ort.set_default_logger_severity(4)
            self.session = ort.InferenceSession(source, sess_options=options, providers=providers)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - ORT raises several types for unreadable models
            raise ModelError(f"cannot load the model: {' '.join(str(exc).split())}") from None
        finally:
            ort.set_default_logger_severity(2)
        #: CUDA was asked for but ONNX Runtime fell back to the CPU (missing CUDA/cuDNN libraries or GPU)
        self.cuda_unavailable = wants_cuda and "CUDAExecutionProvider" not in self.session.get_providers()
        self.info = read_info(self.session.get_modelmeta().custom_metadata_map, self.session.get_inputs())
        self.input_name = self.session.get_inputs()[0].name
        self.provider = self.session.get_providers()[0]
        self.precision = precision

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, H, W) for a normalised batch (N, C, H, W)."""
        out = self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})[0]
        out = out[:, 0].astype(np.float32, copy=False)
        if self.info.output == "logits":
            out = expit(out)
        return np.clip(out, 0.0, 1.0)


def load_models(paths, device: str, tensorrt: bool, precision: str, threads: int | None) -> list[Model]:
    """Every model of the run, loaded once; the first that cannot be used (unreadable,
    no rts metadata, a device that is not there, two models of one name) stops the run
    before any stack is read (RunError: one line, exit 2)."""
    try:
        providers = providers_for(device, tensorrt)
    except DeviceError as exc:
        raise RunError(f"--device {device}", str(exc)) from None
    loaded = []
    for path in paths:
        try:
            model = Model(path, providers, precision, threads)
        except ModelError as exc:
            raise RunError(path, str(exc)) from None
        if model.cuda_unavailable:
            reason = "the CUDA execution provider could not be loaded (CUDA/cuDNN libraries or GPU missing)"
            if device != "auto":
                raise RunError(f"--device {device}", reason)
            log.warning("%s: running on the CPU", reason)
        if model.info.preprocessing is None:
            log.warning("%s: model %s has no preprocessing record (exported by an older rtsmap): stacks cannot be "
                        "checked against it", path, model.info.name)
        log.info("model %s (%s): %d bands, provider %s, %s", model.info.name, path, len(model.info.bands),
                 model.provider, precision)
        loaded.append(model)
    names = [m.info.name for m in loaded]
    if len(set(names)) != len(names):
        raise RunError(", ".join(map(str, paths)), f"two models share a name ({', '.join(names)}): outputs would clash")
    return loaded
