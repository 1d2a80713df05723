"""The training loop: Adam, ExponentialLR, focal loss, validation metrics per epoch,
the best epoch kept, exported to ONNX."""

from __future__ import annotations

import copy
import csv
import io
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch
from rasterio.windows import Window
from scipy.special import expit

from rts_core import atomic, contract, fingerprints, preprocessing
from rts_core.errors import InputError
from rts_core.log import progress, scene_items
from rts_core.metrics import confusion, is_rts, pixel_scores
from rts_core.model_input import model_input
from rts_core.runner import read_each

from .config import ModelConfig
from .data import IGNORE, TileSampler, TrainingScene, augment, close_stacks, load_scene, read_labels
from .export import export_onnx, is_current
from .model import build

log = logging.getLogger(__name__)


@dataclass
class FitOptions:
    epochs: int = 10
    batch_size: int = 8
    steps: int = 50  # batches per epoch
    lr: float = 1e-3
    tile_size: int = 256
    val_scenes: list[str] = field(default_factory=list)
    val_fraction: float = 0.2
    seed: int = 0
    threads: int = 2
    debug: bool = False

    def settings(self) -> tuple:
        """What changes the model (not the threads or the logging)."""
        return (self.epochs, self.batch_size, self.steps, self.lr, self.tile_size, tuple(self.val_scenes),
                self.val_fraction, self.seed)


@dataclass
class FitResult:
    onnx: Path
    best_epoch: int
    best: dict
    failed: list = field(default_factory=list)


def outputs(out: Path, config: ModelConfig) -> dict[str, Path]:
    return {"onnx": out / f"{config.name}.onnx", "checkpoint": out / "checkpoint.pt",
            "metrics": out / "metrics.csv", "plot": out / "training.png"}


def load_scenes(stacks, labels_path, footprints_path, bands, debug=False) -> tuple[list[TrainingScene], list]:
    labels = read_labels(Path(labels_path))
    footprints = read_labels(Path(footprints_path)) if footprints_path else None
    loaded, failed = read_each(stacks, lambda path: load_scene(Path(path), bands, labels, footprints), debug=debug,
                               label="reading stacks")
    scenes = [scene for _, scene in loaded]
    matched = [s for s in scenes if s.positives]
    if scenes and not matched:
        ids = ", ".join(sorted({s.scene_id for s in scenes})[:3])
        raise InputError(f"no label matches any stack (stack scene ids: {ids}, ...)")
    return scenes, failed


def training_record(scenes: list[TrainingScene]) -> dict | None:
    """The preprocessing record the model carries: the one its stacks share (they must
    agree). Stacks made before stacks recorded it leave the model without one."""
    records = [s.preprocessing for s in scenes if s.preprocessing is not None]
    if len(records) < len(scenes):
        log.warning("%d of %d stacks have no %s record (made by an older rts-prep): the model cannot "
                    "record what its inputs were made with", len(scenes) - len(records), len(scenes),
                    contract.TAG_PREPROCESSING)
    try:
        return preprocessing.common(records) or None
    except preprocessing.RecordError as exc:
        raise InputError(str(exc)) from None


def split(scenes: list[TrainingScene], options: FitOptions) -> tuple[list[TrainingScene], list[TrainingScene]]:
    """Validation scenes by id, else a seeded random fraction of the scenes."""
    if options.val_scenes:
        wanted = set(options.val_scenes)
        unknown = wanted - {s.scene_id for s in scenes}
        if unknown:
            raise InputError(f"--val-scenes not among the stacks: {', '.join(sorted(unknown))}")
        val = [s for s in scenes if s.scene_id in wanted]
    else:
        order = np.random.default_rng(options.seed).permutation(len(scenes))
        n_val = max(1, round(options.val_fraction * len(scenes))) if len(scenes) > 1 else 0
        val = [scenes[i] for i in sorted(order[:n_val])]
    train = [s for s in scenes if s not in val]
    if not train or not any(s.positives for s in train):
        raise InputError("no training scene with a labelled slump after setting validation scenes apart")
    return train, val


def predict_tiles(model, scene: TrainingScene, config: ModelConfig, tile: int = 512):
    """Logits and targets of a scene, tile by tile as read from the stack, each tile padded
    by reflection to a multiple of the network's stride (no scene-sized array is held)."""
    rows, cols = scene.shape
    multiple = 2 ** config.encoder_depth
    normalisation = config.normalisation()
    with torch.no_grad():
        for row in range(0, rows, tile):
            for col in range(0, cols, tile):
                stored, valid, target = scene.read(Window(col, row, min(tile, cols - col), min(tile, rows - row)))
                block = model_input(stored, valid, scene.bands, normalisation)
                h, w = block.shape[1:]
                ph, pw = (-h) % multiple, (-w) % multiple
                if ph or pw:
                    block = np.pad(block, ((0, 0), (0, ph), (0, pw)), mode="reflect")
                out = model(torch.from_numpy(np.ascontiguousarray(block))[None])[0, 0].numpy()
                yield out[:h, :w], target


def evaluate(model, scenes: list[TrainingScene], config: ModelConfig, loss_fn) -> dict:
    """Pixel-wise precision, recall, F1 and IoU of the RTS class at the threshold, and the
    loss (its mean over labelled pixels: each tile's mean weighted by its labelled pixels)."""
    model.eval()
    counts = np.zeros(4, np.int64)  # tp, fp, fn, tn
    loss_sum, labelled_sum = 0.0, 0
    for scene in scenes:
        for logits, target in predict_tiles(model, scene, config):
            labelled = target != IGNORE
            counts += confusion(is_rts(expit(logits), config.threshold), target == 1, labelled)
            count = int(labelled.sum())
            if count:
                with torch.no_grad():
                    loss = loss_fn(torch.from_numpy(np.ascontiguousarray(logits))[None, None],
                                   torch.from_numpy(target.astype(np.int64))[None, None])
                loss_sum += float(loss) * count
                labelled_sum += count
    scores = pixel_scores(*counts)
    return {"val_loss": loss_sum / labelled_sum if labelled_sum else float("nan"),
            **{key: scores[key] for key in ("precision", "recall", "f1", "iou")}}


def write_metrics(path: Path, rows: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, text.getvalue())


def plot_metrics(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [r["loss"] for r in rows], label="train loss")
    left.plot(epochs, [r["val_loss"] for r in rows], label="validation loss")
    left.set_xlabel("epoch")
    left.legend()
    for key in ("precision", "recall", "f1", "iou"):
        right.plot(epochs, [r[key] for r in rows], label=key)
    right.set_xlabel("epoch")
    right.set_ylim(0, 1)
    right.legend()
    figure.tight_layout()
    atomic.write_figure(path, figure, dpi=100)


def fit(stacks, labels, footprints, out: Path, config: ModelConfig, options: FitOptions,
        fingerprint: str | None = None) -> FitResult:
    torch.manual_seed(options.seed)
    torch.set_num_threads(options.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(options.seed)
    scenes, failed = load_scenes(stacks, labels, footprints, config.bands, options.debug)
    if not scenes:
        raise InputError("no usable stack")
    train, val = split(scenes, options)
    config.preprocessing = training_record(scenes)
    log.info("%d training scene(s) (%d slump pixels), %d validation scene(s)", len(train),
             sum(s.positives for s in train), len(val))
    model = build(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=options.lr, betas=(0.9, 0.999), eps=1e-8)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=0.9)
    loss_fn = smp.losses.FocalLoss(mode="binary", ignore_index=IGNORE)
    sampler = TileSampler(train, options.tile_size, rng)
    normalisation = config.normalisation()
    paths = outputs(out, config)
    rows, best, best_state = [], None, None
    for epoch in progress(range(1, options.epochs + 1), label="epochs"):
        model.train()
        share = sampler.positive_share(epoch - 1, options.epochs)
        losses = []
        for _ in scene_items(range(options.steps), f"epoch {epoch}/{options.epochs}", unit="step"):
            xs, ys = [], []
            for _ in range(options.batch_size):
                index, row, col = sampler.tile(rng.random() < share)
                x, target = sampler.cut(index, row, col, normalisation)
                x, y = augment(x, target, config.bands, rng)
                xs.append(x)
                ys.append(y)
            x = torch.from_numpy(np.stack(xs))
            y = torch.from_numpy(np.stack(ys).astype(np.int64))[:, None]
            optimiser.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        schedule.step()
        metrics = evaluate(model, val, config, loss_fn) if val else evaluate(model, train, config, loss_fn)
        row = {"epoch": epoch, "loss": float(np.mean(losses)), **metrics, "lr": schedule.get_last_lr()[0]}
        rows.append(row)
        log.info("epoch %d: loss %.4f, validation F1 %.3f (precision %.3f, recall %.3f, IoU %.3f)", epoch,
                 row["loss"], row["f1"], row["precision"], row["recall"], row["iou"])
        if best is None or row["f1"] > best["f1"]:
            best, best_state = row, copy.deepcopy(model.state_dict())
        write_metrics(paths["metrics"], rows)
    plot_metrics(paths["plot"], rows)
    model.load_state_dict(best_state)
    with atomic.atomic_path(paths["checkpoint"]) as temporary:
        torch.save({"config": asdict(config), "state_dict": best_state, "epoch": best["epoch"], "metrics": rows,
                    "train_scenes": [s.scene_id for s in train], "val_scenes": [s.scene_id for s in val]},
                   temporary)
    export_onnx(model, config, paths["onnx"], sample_size=min(options.tile_size, 128), fingerprint=fingerprint)
    return FitResult(paths["onnx"], best["epoch"], best, failed)


def fit_and_export(stacks, labels, footprints, out: Path, config: ModelConfig, options: FitOptions, *, version: str,
                   overwrite: bool = False) -> FitResult:
    """Fit and export unless the outputs are complete and made from these stacks, labels
    and options (their fingerprint, recorded in the ONNX file)."""
    sources = [*stacks, labels, *([footprints] if footprints else [])]
    stamp = fingerprints.fingerprint(sources, config, options.settings(), version)
    paths = outputs(out, config)
    if not overwrite and is_current(list(paths.values()), stamp):
        log.info("%s is complete; skipped (--overwrite to refit)", paths["onnx"])
        return FitResult(paths["onnx"], 0, {})
    try:
        result = fit(stacks, labels, footprints, out, config, options, stamp)
    finally:
        close_stacks()
    log.info("best epoch %d: validation F1 %.3f, IoU %.3f", result.best_epoch, result.best["f1"], result.best["iou"])
    return result
