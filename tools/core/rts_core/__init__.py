"""Shared contract of the rtsmap tools (../shared/CONTRACT.md sections 1-3).

Every tool imports only this package, never another tool:

- :mod:`rts_core.contract` - band names, tag keys, file suffixes, column names;
- :mod:`rts_core.sceneid` - PlanetScope scene ids from file names;
- :mod:`rts_core.cli` - the shared Click options and the ``-`` stdin convention;
- :mod:`rts_core.runner` - the per-item run loop (plans, skips, failures isolated to their input);
- :mod:`rts_core.errors` - input and run-level errors, the one error line, exit statuses;
- :mod:`rts_core.fingerprints` - what outputs are made from, verified skips, run manifests;
- :mod:`rts_core.metrics` - the one threshold rule and the pixel scores;
- :mod:`rts_core.atomic` - temporary-name-then-rename outputs and their clean-up;
- :mod:`rts_core.raster` - Cloud-Optimized GeoTIFF writer and the ``RTS_*`` tags;
- :mod:`rts_core.vector` - GeoParquet 1.1 and GeoPackage writers;
- :mod:`rts_core.crs` - the metric CRS for measuring, EPSG:4326 split at 180° (vector extra);
- :mod:`rts_core.model_input` - a stack window -> the model's input (training and inference);
- :mod:`rts_core.preprocessing` - the record of how stacks were made, and its comparison;
- :mod:`rts_core.log` - logging and progress on standard error.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rts-core")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
