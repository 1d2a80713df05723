# rts-infer: tiled ONNX Runtime inference on the GPU (CPU fallback) -> probability rasters.
#   docker build -f docker/infer.Dockerfile -t rtsmap/infer .
#   docker run --rm --gpus all -v "$PWD:/data" rtsmap/infer stacks/*.stack.tif --model m.onnx -o probs
# No NVIDIA base image: onnxruntime-gpu and the CUDA 13, cuDNN 9 and TensorRT 10 libraries
# it loads all come as wheels from PyPI (versions that go together: docker/README.md);
# only the driver (libcuda) comes from the host, through the NVIDIA Container Toolkit.
# BASE_IMAGE: any Debian-like image with Python >= 3.11 and its venv module.
ARG BASE_IMAGE=python:3.11.11-slim-bookworm
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
# tool's other needs with the GPU runtime and its libraries, then the tool itself
# without its CPU runtime requirement
RUN pip install --constraint /tmp/constraints.txt /src/core numpy scipy rasterio onnx onnxconverter-common \
      "onnxruntime-gpu[cuda,cudnn]" nvidia-cublas tensorrt-cu13-libs \
    && pip install --no-deps /src/infer \
    && rm -rf /src /tmp/constraints.txt
# the wheels' libraries on the loader's path (ONNX Runtime's CUDA and TensorRT providers
# open libcudart, libcublas, libcudnn, libnvinfer ... by name)
RUN find $VIRTUAL_ENV/lib -path '*site-packages/nvidia/*/lib' -type d > /etc/ld.so.conf.d/rtsmap-cuda.conf \
    && find $VIRTUAL_ENV/lib -path '*site-packages/tensorrt_libs' -type d >> /etc/ld.so.conf.d/rtsmap-cuda.conf \
    && ldconfig

RUN useradd --create-home --uid 1000 rts 2> /dev/null || useradd --create-home rts
USER rts
WORKDIR /data
ENTRYPOINT ["rts-infer"]
CMD ["--help"]
