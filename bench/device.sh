#!/usr/bin/env bash
# The GPU checks of rts-infer on a lent device machine (an H100 or H200 with Python 3.12,
# PyTorch, ONNX Runtime with its CUDA provider and the NVIDIA libraries, and no network):
# the CUDA end-to-end test (tests/infer/test_cuda.py) and bench/gpu.py, whose last part is
# bench/region.py --piped.
#
# Here, once (downloads the wheels the device lacks into .whl/1 and .whl/2, ignored by git):
#   bench/device.sh wheels
# There, two calls in a row on the same warm machine (a call carries at most 64 MiB with
# the working tree, about 18 MB, and rasterio's and pyogrio's wheels are 39 and 33 MB):
#   carry [".whl/1"]:  bench/device.sh install .whl/1 && bench/device.sh run
#   carry [".whl/2"]:  bench/device.sh install .whl/2 && bench/device.sh region
# `run` is the CUDA test and bench/gpu.py but its region runs (rasterio suffices); `region`
# is bench/gpu.py --only-region (rts-synth needs pyogrio and pyproj). Each writes its log
# to $OUT; bench/results/ keeps them. About 4 and 4 minutes on an H100.
set -euo pipefail
cd "$(dirname "$0")/.."
PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
          --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64)

case "${1:-}" in
  wheels)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
    rm -rf .whl && mkdir -p .whl/1 .whl/2
    # what the chain needs beyond the device's own packages (torch, onnx, onnxruntime, numpy,
    # scipy, pandas, pyarrow, matplotlib, tqdm, click, timm, pytest are there)
    # (each call's working tree, about 18 MB, and its wheels must stay under 64 MiB)
    python3 -m pip download -q --no-deps "${PLATFORM[@]}" -d .whl/1 rasterio affine cligj click-plugins \
      shapely geopandas segmentation-models-pytorch onnxconverter-common
    python3 -m pip download -q --no-deps "${PLATFORM[@]}" -d .whl/2 pyogrio pyproj
    du -sh .whl/1 .whl/2
    ;;
  install)
    folder=${2:?which wheel folder}
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "$folder"/*.whl
    ;;
  run|region)
    # the project's tools into the device's Python, its console scripts beside it
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir \
      tools/core tools/synth tools/prep tools/train tools/infer tools/ensemble
    export PYTHONUNBUFFERED=1
    out=${OUT:-/tmp/out}
    mkdir -p "$out"
    if [ "$1" = region ]; then
      python3 bench/gpu.py --only-region 2>&1 | grep -v "warning: " | tee "$out/region.txt"
      exit 0
    fi
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
    python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" \
      | tee -a "$out/device.txt"
    python3 -m pytest -q -p no:cacheprovider tests/infer/test_cuda.py 2>&1 | tee "$out/test_cuda.txt" || true
    python3 bench/gpu.py --no-region 2>&1 | grep -v "warning: " | tee "$out/gpu.txt"
    ;;
  *)
    echo "usage: bench/device.sh wheels | install FOLDER | run | region" >&2
    exit 2
    ;;
esac
