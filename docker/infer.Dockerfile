# rts-infer: tiled ONNX Runtime inference on the GPU (CPU fallback) -> probability rasters.
#   docker build -f docker/infer.Dockerfile -t rtsmap/infer .
#   docker run --rm --gpus all -v "$PWD:/data" rtsmap/infer stacks/*.stack.tif --model m.onnx -o probs
# The base is NVIDIA's CUDA runtime with cuDNN; onnxruntime-gpu 1.31 is built for CUDA 13,
# so the base's CUDA major version must stay 13 (change both together). Any Debian-like
# image with Python >= 3.11 works as BASE_IMAGE for a CPU-only build.
ARG BASE_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04
FROM ${BASE_IMAGE}

RUN if ! python3 -m venv --help > /dev/null 2>&1; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv && rm -rf /var/lib/apt/lists/*; \
    fi
ENV VIRTUAL_ENV=/opt/rtsmap PATH=/opt/rtsmap/bin:$PATH \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN python3 -m venv $VIRTUAL_ENV
COPY docker/constraints.txt /tmp/constraints.txt
COPY tools/core /src/core
COPY tools/infer /src/infer
# onnxruntime-gpu instead of onnxruntime (both provide the same module): install the
# tool's other needs, then the tool itself without its CPU runtime requirement
RUN pip install --constraint /tmp/constraints.txt /src/core onnxruntime-gpu numpy scipy rasterio \
    && pip install --no-deps /src/infer \
    && rm -rf /src /tmp/constraints.txt

RUN useradd --create-home --uid 1000 rts 2> /dev/null || useradd --create-home rts
USER rts
WORKDIR /data
ENTRYPOINT ["rts-infer"]
CMD ["--help"]
