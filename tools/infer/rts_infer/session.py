"""ONNX Runtime sessions: providers (CUDA, TensorRT, CPU), precision, the model's
``rts`` metadata (CONTRACT.md section 4), and feeding a session on the GPU.

On a GPU a model runs wrapped (graph.py): the session takes a stack's stored integer
bands and returns probabilities, so tiles cross to the device as they are stored. On the
CPU it runs as exported, fed the normalised input, and its output becomes a probability
on the writer's thread (:func:`to_probability`): the model's thread only runs models.
The ``onnx`` package (whose import costs about half a second of CPU) is loaded only where
a graph is rewritten (in-graph normalisation, fp16) or inspected (GPU batch sizes). On CUDA the
inputs are bound through IOBinding and the output stays on the device until it is
copied back once per batch; with ``cuda_graphs`` ONNX Runtime replays the captured
kernels for the fixed tile shape. TensorRT runs in fp16 with its engines cached on
disk, keyed by the model's hash and the tile shape, so a rerun does not rebuild them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rts_core import contract, preprocessing
from rts_core.errors import RunError
from rts_core.model_input import Normalisation

try:
    import onnxruntime as ort
except ImportError:  # neither rts-infer[cpu] nor rts-infer[gpu]: said when models load
    ort = None

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


def read_info(metadata: dict, inputs: list[list]) -> ModelInfo:
    """The model's description from its ``rts`` metadata, checked against its inputs'
    shapes (each a list of ints and names)."""
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
    check_finite(normalisation)
    output = meta.get("output", contract.DEFAULT_MODEL_OUTPUT)
    if output not in contract.MODEL_OUTPUTS:
        raise ModelError(f"metadata output {output!r} is neither logits nor probability")
    if len(inputs) != 1:
        raise ModelError(f"expected one input, found {len(inputs)}")
    shape = inputs[0]
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


def check_finite(normalisation: Normalisation) -> None:
    """The normalisation's numbers are finite and of a sane size (JSON admits NaN and
    Infinity): a NaN scale would make every input NaN, and the run would score garbage."""
    for key, values in (("scale", normalisation.scale), ("offset", normalisation.offset),
                        ("clip", np.asarray(normalisation.clip if normalisation.clip is not None else [0.0, 1.0]))):
        values = np.asarray(values, np.float64)
        bad = ~np.isfinite(values) | (np.abs(values) > 1e12)
        if bad.any():
            raise ModelError(f"metadata {key} {values.tolist()!r} holds a value that is not finite or over 1e12")
    if normalisation.clip is not None and not normalisation.clip[0] < normalisation.clip[1]:
        raise ModelError(f"metadata clip {list(normalisation.clip)!r} is no range (low < high)")


def _bounded(meta: dict, key: str, default: int, low: int, high: int) -> int:
    """An integer of the metadata that sizes arrays: checked before it does."""
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelError(f"metadata {key} {value!r} is not an integer from {low} to {high}")
    return value


NO_RUNTIME = ("ONNX Runtime is not installed: pip install 'rts-infer[cpu]' (the CPU runtime) or "
              "'rts-infer[gpu]' (CUDA, with its CUDA and cuDNN wheels)")


def providers_for(device: str, tensorrt: bool = False) -> list:
    """Execution providers for ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (TensorRT first
    when asked for); per-model options are added by :class:`Model`."""
    if ort is None:
        raise DeviceError(NO_RUNTIME)
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
        try:
            index = int(device.split(":", 1)[1]) if ":" in device else 0
        except ValueError:
            raise DeviceError(f"unknown device {device!r} (auto, cpu, cuda or cuda:N)") from None
        preload_cuda_libraries()
        chosen = [("CUDAExecutionProvider", {"device_id": index})]
        if tensorrt:
            if "TensorrtExecutionProvider" not in available:
                raise DeviceError("--tensorrt: the TensorRT execution provider is not installed")
            chosen.insert(0, ("TensorrtExecutionProvider", {"device_id": index}))
        return chosen + ["CPUExecutionProvider"]
    raise DeviceError(f"unknown device {device!r} (auto, cpu, cuda or cuda:N)")


def preload_cuda_libraries() -> None:
    """CUDA, cuBLAS and cuDNN from the NVIDIA wheels beside onnxruntime-gpu (pip's
    ``onnxruntime-gpu[cuda,cudnn]``), which the loader does not search by itself; a
    library found on the loader's path (ldconfig, LD_LIBRARY_PATH) serves as well. Its
    messages go to standard error: standard output carries the output paths."""
    preload = getattr(ort, "preload_dlls", None)  # ONNX Runtime >= 1.21
    if preload is None:
        return
    with contextlib.redirect_stdout(sys.stderr):
        try:
            preload(directory="")
        except Exception as exc:  # noqa: BLE001 - a library not preloaded is reported when the session loads
            log.debug("preloading the CUDA libraries: %s", exc)


def to_fp16(proto):
    """The model with float16 weights and computation, keeping float32 input and output
    (onnxconverter-common's converter)."""
    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError as exc:
        raise ModelError(f"--precision fp16 needs onnxconverter-common (pip install 'rts-infer[fp16]'): "
                         f"{exc}") from None
    return convert_float_to_float16(proto, keep_io_types=True)


def engine_cache_dir(root: Path | None, proto_bytes: bytes) -> Path:
    """Where TensorRT keeps the engines of one model: a folder per model hash under
    ``root`` (default: the user's cache, $XDG_CACHE_HOME/rtsmap/tensorrt). TensorRT names
    each engine by its input shapes inside it."""
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rtsmap" / \
        "tensorrt"
    return base / hashlib.sha256(proto_bytes).hexdigest()[:16]


#: ONNX Runtime CUDA provider options that --cuda-option may set, each with the values it takes
CUDA_OPTIONS = {"prefer_nhwc": ("0", "1"), "cudnn_conv_algo_search": ("EXHAUSTIVE", "HEURISTIC", "DEFAULT"),
                "cudnn_conv_use_max_workspace": ("0", "1"), "cudnn_conv1d_pad_to_nc1d": ("0", "1"),
                "do_copy_in_default_stream": ("0", "1"), "use_tf32": ("0", "1"),
                "tunable_op_enable": ("0", "1"), "tunable_op_tuning_enable": ("0", "1"),
                "arena_extend_strategy": ("kNextPowerOfTwo", "kSameAsRequested")}


def parse_cuda_options(pairs) -> dict[str, str]:
    """``KEY=VALUE`` pairs for the CUDA provider, each checked against :data:`CUDA_OPTIONS`."""
    options = {}
    for pair in pairs:
        key, _, value = str(pair).partition("=")
        if key not in CUDA_OPTIONS:
            raise DeviceError(f"--cuda-option {pair}: unknown option (one of {', '.join(CUDA_OPTIONS)})")
        if value not in CUDA_OPTIONS[key]:
            raise DeviceError(f"--cuda-option {pair}: {key} takes {' or '.join(CUDA_OPTIONS[key])}")
        options[key] = value
    return options


def provider_options(providers: list, proto_bytes: bytes, engine_cache: Path | None, cuda_graphs: bool,
                     cuda_options: dict | None = None) -> list:
    """Each provider with this model's options: TensorRT in fp16 with its engine and
    timing caches on disk; CUDA capturing graphs when asked, with ``cuda_options``."""
    chosen = []
    for provider in providers:
        name, options = (provider if isinstance(provider, tuple) else (provider, {}))
        options = dict(options)
        if name == "TensorrtExecutionProvider":
            options.update(trt_fp16_enable=True, trt_engine_cache_enable=True, trt_timing_cache_enable=True,
                           trt_engine_cache_path=str(engine_cache_dir(engine_cache, proto_bytes)))
        if name == "CUDAExecutionProvider":
            options.update(cuda_options or {})
            if cuda_graphs:
                options["enable_cuda_graph"] = True
        chosen.append((name, options) if options else name)
    return chosen


def _input_shapes(proto) -> list[list]:
    initialised = {init.name for init in proto.graph.initializer}
    return [[d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]
            for value in proto.graph.input if value.name not in initialised]


#: tiles per batch on the CPU: 8000 px with two small models took 18.7 s at 1, 15.6 s at 2 and 16.4 s at 4,
#: with peak memory 1.51, 1.85 and 2.61 GB (bench/infer.py): batches are held twice, one run while one is cut
CPU_BATCH = 2


class Model:
    """A loaded model, reused for every scene of the run: its sessions (one per kind of
    stored input, usually just int16) and how to feed them."""

    def __init__(self, path: Path | str, providers: list, precision: str = "fp32", threads: int | None = None,
                 normalise: str = "auto", engine_cache: Path | None = None, cuda_graphs: bool = False,
                 cuda_options: dict | None = None):
        self.path, self.precision = Path(path), precision
        wants_gpu = any(_name(p) in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for p in providers)
        # auto: in the graph where tiles cross to a GPU; on the CPU numpy on the reader
        # thread, once per strip for all models, is cheaper than the session's per tile
        self.normalise = normalise if normalise != "auto" else "graph" if wants_gpu else "host"
        self._proto = None
        try:
            self.content = self.path.read_bytes()
            #: the model file's SHA-256, which names the model's version in the data records
            self.sha256 = hashlib.sha256(self.content).hexdigest()
            if self.normalise == "graph" or precision == "fp16":
                proto = self.proto  # the graph is rewritten: read and checked with onnx
                metadata = {p.key: p.value for p in proto.metadata_props}
                self.info = read_info(metadata, _input_shapes(proto))
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - protobuf and onnx raise several types for unreadable files
            raise ModelError(f"cannot load the model: {' '.join(str(exc).split())}") from None
        self.options = ort.SessionOptions()
        self.options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            self.options.intra_op_num_threads = threads
        # ONNX Runtime's own (ANSI-coloured) log lines only with --debug: its errors reach
        # the user as the input's one error line (CONTRACT.md section 1)
        self.options.log_severity_level = ort_log_level()
        # ONNX Runtime's threads sleep between runs instead of spinning: the reader and writer
        # threads need the cores (two demo models over 1500 px on 2 cores: 8.5 s instead of 9.1)
        self.options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # one CPU arena for every session, grown by what each run asks (bench/infer.py, 8000 px with two models:
        # 15.6 s and 1.85 GB; no arena: 21.7 s and 1.72 GB, the kernel zeroing fresh pages for every batch;
        # an arena per session: 14.5 s and 2.18 GB)
        shared_cpu_arena()
        self.options.add_session_config_entry("session.use_env_allocators", "1")
        self.cuda_graphs = cuda_graphs
        self.providers = provider_options(providers, f"{self.sha256} {precision}".encode(), engine_cache, cuda_graphs,
                                          cuda_options)
        self.sessions: dict = {}
        if self._proto is None:  # the file as it is: its metadata from ONNX Runtime's reading of it
            session = self.session(None)
            meta = session.get_modelmeta()
            self.info = read_info(dict(meta.custom_metadata_map),
                                  [list(value.shape) for value in session.get_inputs()])
        # the session of the common case now, so that a model that cannot run stops the run here
        self.session(np.int16, -32768) if self.in_graph(np.int16) else self.session(None)
        wants_cuda = any(_name(p) == "CUDAExecutionProvider" for p in providers)
        first = next(iter(self.sessions.values()))
        #: CUDA was asked for but ONNX Runtime fell back to the CPU (missing CUDA/cuDNN libraries or GPU)
        self.cuda_unavailable = wants_cuda and "CUDAExecutionProvider" not in first.get_providers()
        self.provider = first.get_providers()[0]
        self.on_gpu = self.provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
        if normalise == "auto" and not self.on_gpu:
            self.normalise = "host"  # CUDA could not load: the CPU's way
        self.device_id = next((p[1].get("device_id", 0) for p in self.providers if isinstance(p, tuple)), 0)
        self.feed = "persistent" if cuda_graphs else "bound" if self.on_gpu else "plain"
        self.buffers: dict = {}
        self.largest: dict[int, int] = {}  # elements of the largest tensor per tile size

    @property
    def proto(self):
        """The model as an ONNX graph (in fp16 with --precision fp16), read on first use."""
        if self._proto is None:
            import onnx

            proto = onnx.load_from_string(self.content)
            self._proto = to_fp16(proto) if self.precision == "fp16" else proto
        return self._proto

    def batch_size(self, tile: int, requested: int | None = None) -> int:
        """Tiles per batch: ``requested``, else 2 on the CPU and on a GPU as many as half
        its free memory holds; on a GPU never so many that the largest tensor passes the
        2^31 elements CUDA kernels can index (:func:`graph.largest_tensor`)."""
        if not self.on_gpu:
            return requested or CPU_BATCH
        chosen = requested or batch_size_for(free_gpu_bytes(self.device_id), tile, len(self.info.bands),
                                             self.precision)
        if tile not in self.largest:  # shape inference copies the model: once per tile size
            from . import graph

            self.largest[tile] = graph.largest_tensor(self.proto, tile)
        limit = max(1, (2**31 - 1) // self.largest[tile])
        if requested and requested > limit:
            log.warning("%s: --batch-size %d at %d px tiles passes the 2^31 elements CUDA can index in one tensor:"
                        " %d tiles per batch", self.path, requested, tile, limit)
        return min(chosen, limit)

    def in_graph(self, dtype) -> bool:
        """Whether stacks of ``dtype`` are normalised inside the graph (else on the host:
        float stacks, whose NaN the graph does not test, and --normalise host)."""
        if self.normalise != "graph" or dtype is None:
            return False
        from . import graph

        return graph.supports(self.proto, dtype)

    def session(self, dtype, sentinel: float = 0):
        """The session for stored values of ``dtype`` with nodata ``sentinel`` (None: the
        plain model, taking normalised float32 input)."""
        key = (np.dtype(dtype).name, float(sentinel)) if dtype is not None else None
        if key not in self.sessions:
            if dtype is None:
                source = self.content if self._proto is None else self._proto.SerializeToString()
            else:
                from . import graph

                source = graph.with_stored_input(self.proto, self.info.normalisation, self.info.output, dtype,
                                                 sentinel).SerializeToString()
            try:  # a CUDA provider that cannot load (no libraries, no GPU) is reported once, by load_models
                ort.set_default_logger_severity(ort_log_level())
                self.sessions[key] = ort.InferenceSession(source, sess_options=self.options,
                                                          providers=self.providers)
            except Exception as exc:  # noqa: BLE001 - ORT raises several types for models it cannot run
                raise ModelError(f"cannot load the model: {' '.join(str(exc).split())}") from None
        return self.sessions[key]

    def close(self) -> None:
        """Free the ONNX Runtime sessions now (by reference counting), not whenever a
        garbage collection finds the model: one in a process forked later, where the
        sessions' threads did not come along, waits for them forever."""
        self.sessions.clear()
        self.buffers.clear()

    def run_normalised(self, batch: np.ndarray) -> np.ndarray:
        """The network's output (N, H, W) for a normalised batch (N, C, H, W) (host
        normalisation): logits or probabilities as the metadata says; :func:`to_probability`
        makes them probabilities."""
        session = self.session(None)
        return self._run(session, {session.get_inputs()[0].name: batch.astype(np.float32, copy=False)})

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, H, W) for a normalised batch (N, C, H, W)."""
        return to_probability(self.run_normalised(batch), self.info.output)

    def run_stored(self, stored: np.ndarray, factor: np.ndarray, term: np.ndarray, sentinel: float) -> np.ndarray:
        """Probabilities (N, H, W) for a batch of stored bands (N, C, H, W), invalid pixels
        holding ``sentinel`` in every band; per band, the factor and term that take them to
        the model's input (rts_core.model_input.affine)."""
        from . import graph

        per_band = (1, stored.shape[1], 1, 1)
        feeds = {graph.STORED: stored, graph.FACTOR: factor.reshape(per_band).astype(np.float32),
                 graph.TERM: term.reshape(per_band).astype(np.float32)}
        return self._run(self.session(stored.dtype, sentinel), feeds)

    def _run(self, session, feeds: dict) -> np.ndarray:
        """One batch, fed as ``self.feed`` says:

        - ``plain``: ``session.run`` (the CPU);
        - ``bound``: IOBinding, inputs copied to the device once, the output kept there
          until one copy back (a GPU's default);
        - ``persistent``: device buffers made once per shape and refilled in place, as
          CUDA graphs need (the same addresses every run; the batch shape is fixed)."""
        if self.feed == "plain":
            return session.run(None, feeds)[0][:, 0]
        device, output_name = ("cuda" if self.on_gpu else "cpu"), session.get_outputs()[0].name
        if self.feed == "bound":
            binding = session.io_binding()
            for name, value in feeds.items():
                binding.bind_cpu_input(name, np.ascontiguousarray(value))
            binding.bind_output(output_name, device, self.device_id)
            session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()[0][:, 0]
        key = (id(session), tuple((name, value.shape, value.dtype.str) for name, value in feeds.items()))
        if key not in self.buffers:
            inputs = {name: ort.OrtValue.ortvalue_from_shape_and_type(value.shape, value.dtype, device, self.device_id)
                      for name, value in feeds.items()}
            first = next(iter(feeds.values()))
            output = ort.OrtValue.ortvalue_from_shape_and_type((first.shape[0], 1, *first.shape[2:]), np.float32,
                                                               device, self.device_id)
            binding = session.io_binding()
            for name, value in inputs.items():
                binding.bind_ortvalue_input(name, value)
            binding.bind_ortvalue_output(output_name, output)
            self.buffers[key] = (inputs, output, binding)
        inputs, output, binding = self.buffers[key]
        for name, value in feeds.items():
            inputs[name].update_inplace(np.ascontiguousarray(value))
        session.run_with_iobinding(binding)
        result = output.numpy()  # a copy from a device; a view of the buffer on the CPU, which the next run reuses
        return (result if result.flags.owndata else result.copy())[:, 0]


def ort_log_level() -> int:
    """ONNX Runtime's log severity: warnings with --debug, else fatal errors only."""
    return 2 if log.isEnabledFor(logging.DEBUG) else 4


_ARENA: list = []


def shared_cpu_arena() -> None:
    """Register ONNX Runtime's CPU arena for the process, once: sessions that opt in
    (``session.use_env_allocators``) share it, so models run one after another reuse the
    same memory; it grows by exactly what a run asks (kSameAsRequested), not to the next
    power of two."""
    if _ARENA:
        return
    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))  # max, kSameAsRequested, defaults
    _ARENA.append(info)


def _name(provider) -> str:
    return provider[0] if isinstance(provider, tuple) else provider


def to_probability(output: np.ndarray, kind: str) -> np.ndarray:
    """A network's output as probabilities in 0..1, in place: the logistic function
    1 / (1 + exp(-x)) of logits (exp overflows to inf for x < -88: probability 0), clipped."""
    if kind == "logits":
        with np.errstate(over="ignore"):
            np.negative(output, out=output)
            np.exp(output, out=output)
        output += 1.0
        np.reciprocal(output, out=output)
    return np.clip(output, 0.0, 1.0, out=output)


def free_gpu_bytes(device: int = 0) -> int | None:
    """Free memory of a CUDA device from the CUDA runtime library (the one ONNX
    Runtime's CUDA provider loads), or None when there is none."""
    import ctypes

    for name in ("libcudart.so", "libcudart.so.13", "libcudart.so.12"):
        try:
            runtime = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return None
    free, total = ctypes.c_size_t(), ctypes.c_size_t()
    if runtime.cudaSetDevice(device) != 0 or runtime.cudaMemGetInfo(ctypes.byref(free), ctypes.byref(total)) != 0:
        return None
    return int(free.value)


def batch_size_for(free_bytes: int | None, tile: int, channels: int, precision: str) -> int:
    """Tiles per batch from free GPU memory: a UNet++ holds about 600 activation values
    per pixel at fp32 (less than half at fp16); keep to half the free memory, 1 to 32.
    Without a GPU (``free_bytes`` None) the CPU's :data:`CPU_BATCH`."""
    if free_bytes is None:
        return CPU_BATCH
    per_tile = tile * tile * (600 * (2 if precision == "fp16" else 4) + channels * 2)
    return int(np.clip(free_bytes // 2 // per_tile, 1, 32))


def load_models(paths, device: str = "auto", tensorrt: bool = False, precision: str = "fp32",
                threads: int | None = None, normalise: str = "auto", engine_cache: Path | None = None,
                cuda_graphs: bool = False, cuda_options: dict | None = None) -> list[Model]:
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
            model = Model(path, providers, precision, threads, normalise, engine_cache, cuda_graphs, cuda_options)
        except ModelError as exc:
            raise RunError(path, str(exc)) from None
        if tensorrt and model.provider != "TensorrtExecutionProvider" and model.on_gpu:
            log.warning("%s: --tensorrt: TensorRT could not be loaded (libnvinfer.so.10: pip install "
                        "tensorrt-cu13-libs): running on %s", path, model.provider)
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
