"""Building segmentation_models_pytorch networks from a :class:`ModelConfig`."""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch

from .config import ModelConfig


def architectures() -> dict[str, str]:
    """smp's architectures, lower-case name -> class name."""
    return {cls.__name__.lower(): cls.__name__ for cls in smp.MODEL_ARCHITECTURES_MAPPING.values()}


def check_architecture(name: str) -> str:
    known = architectures()
    if name.lower() not in known:
        raise ValueError(f"unknown architecture {name!r}; segmentation_models_pytorch has: "
                         f"{', '.join(sorted(known.values()))}")
    return known[name.lower()]


def decoder_channels(depth: int) -> list[int]:
    """smp's default decoder widths (256, 128, 64, 32, 16) cut to the encoder depth."""
    return [256, 128, 64, 32, 16][:depth]


def build(config: ModelConfig) -> torch.nn.Module:
    """A randomly initialised network (no pretrained weights: nothing is downloaded)."""
    architecture = check_architecture(config.architecture)
    kwargs = dict(encoder_name=config.encoder, encoder_depth=config.encoder_depth, encoder_weights=None,
                  in_channels=len(config.bands), classes=1)
    if architecture in ("Unet", "UnetPlusPlus"):
        kwargs["decoder_channels"] = list(config.decoder_channels or decoder_channels(config.encoder_depth))
    return smp.create_model(architecture, **kwargs)

