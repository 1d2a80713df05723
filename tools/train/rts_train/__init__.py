"""rts-train: Fit UNet++ models, export them to ONNX with their metadata, import DARTS v1 models."""
