"""What a model is, independent of torch: its bands, normalisation and architecture,
serialised as the ``rts`` metadata of CONTRACT.md section 4.

The normalisation is expressed in physical units (x_norm = x * scale + offset) and is
exactly what training applies and export writes, so training and inference cannot
disagree. The defaults reproduce DARTS v1's, which divided raw stored values
(REFERENCE.md): reflectance * 10/3, (ndvi + 1) / 2, (rel + 50) / 100, slope / 90, tc / 255.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from rts_core import contract, preprocessing
from rts_core.model_input import Normalisation

DARTS_NORMALISATION = {
    "blue": (10 / 3, 0.0), "green": (10 / 3, 0.0), "red": (10 / 3, 0.0), "nir": (10 / 3, 0.0),
    "ndvi": (0.5, 0.5), "relative_elevation": (0.01, 0.5), "slope": (1 / 90, 0.0),
    "tc_brightness": (1 / 255, 0.0), "tc_greenness": (1 / 255, 0.0), "tc_wetness": (1 / 255, 0.0),
    "water": (1.0, 0.0),
}


def resolve_bands(spec: str) -> tuple[str, list[str]]:
    """``tcvis``, ``notcvis`` or comma-separated band names -> (model name, bands)."""
    if spec in contract.BAND_SETS:
        return spec, list(contract.BAND_SETS[spec])
    bands = [b.strip() for b in spec.split(",") if b.strip()]
    unknown = [b for b in bands if b not in contract.ALL_BANDS]
    if not bands or unknown:
        raise ValueError(f"unknown band(s) {', '.join(unknown) or '(none)'}; known: {' '.join(contract.ALL_BANDS)}")
    return "custom", bands


@dataclass
class ModelConfig:
    name: str
    bands: list[str]
    scale: list[float] = field(default_factory=list)
    offset: list[float] = field(default_factory=list)
    clip: list[float] | None = None
    output: str = contract.DEFAULT_MODEL_OUTPUT
    tile_size: int = contract.DEFAULT_TILE_SIZE
    overlap: int = contract.DEFAULT_OVERLAP
    threshold: float = contract.DEFAULT_THRESHOLD
    architecture: str = "UnetPlusPlus"
    encoder: str = "resnet34"
    encoder_depth: int = contract.DEFAULT_ENCODER_DEPTH
    decoder_channels: list[int] | None = None  # None: smp's (256, 128, 64, 32, 16) cut to the depth
    preprocessing: dict | None = None  # what the training stacks were made with (rts_core.preprocessing)

    def __post_init__(self):
        contract.safe_name(self.name, "model name")  # it names the model's files
        if not self.scale:
            self.scale = [DARTS_NORMALISATION[b][0] for b in self.bands]
        if not self.offset:
            self.offset = [DARTS_NORMALISATION[b][1] for b in self.bands]
        if not (len(self.bands) == len(self.scale) == len(self.offset)):
            raise ValueError("bands, scale and offset must have the same length")

    def normalisation(self) -> Normalisation:
        """The model-input transform this model is trained and run with."""
        return Normalisation.of(self.bands, self.scale, self.offset, self.clip)

    def metadata(self) -> str:
        """The JSON written under the ONNX metadata key (contract.MODEL_METADATA_KEY)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_metadata(cls, text: str) -> ModelConfig:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        if data.get("preprocessing") is not None:
            data["preprocessing"] = preprocessing.check(data["preprocessing"])
        return cls(**{k: v for k, v in data.items() if k in known})
