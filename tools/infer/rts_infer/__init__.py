"""rts-infer: Run ONNX models tile by tile over whole stacks and write probability rasters.

    from rts_infer import load_models, predict
    models = load_models(["tcvis.onnx", "notcvis.onnx"], device="auto")
    predict("stacks/x.stack.tif", models, "probs")   # -> [probs/x.tcvis.prob.tif, probs/x.notcvis.prob.tif]
"""

from .predict import InferOptions, predict
from .session import load_models

__all__ = ["InferOptions", "load_models", "predict"]
