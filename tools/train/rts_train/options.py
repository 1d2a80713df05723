"""Option callbacks shared by the rts-train commands (torch is imported only when used)."""

from __future__ import annotations

import click

from rts_core import preprocessing


def bands_option(_ctx, _param, value):
    from .config import resolve_bands

    try:
        return resolve_bands(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def preprocessing_option(_ctx, _param, values) -> dict:
    """KEY=VALUE pairs -> a preprocessing record (rts_core.preprocessing.from_pairs)."""
    try:
        return preprocessing.from_pairs(values)
    except preprocessing.RecordError as exc:
        raise click.BadParameter(str(exc)) from None


def architecture_option(_ctx, _param, value):
    from .model import check_architecture

    try:
        return check_architecture(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
