"""rts-infer: Run ONNX models tile by tile over whole stacks and write probability rasters."""
