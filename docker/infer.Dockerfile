# rts-infer: tiled ONNX Runtime inference on the GPU (CPU fallback) -> probability rasters.
#   docker build -f docker/infer.Dockerfile -t rtsmap/infer .
#   docker run --rm --gpus all -v "$PWD:/data" rtsmap/infer stacks/*.stack.tif --model m.onnx -o probs
# No NVIDIA base image: onnxruntime-gpu and the CUDA 13, cuBLAS and cuDNN 9 libraries it
# loads all come as wheels from PyPI ('rts-infer[gpu]'; versions that go together:
# docker/README.md); only the driver (libcuda) comes from the host, through the NVIDIA
# Container Toolkit.
# BASE_IMAGE: any Debian-like image with Python >= 3.11 and its venv module.
# TENSORRT: pip requirement(s) adding TensorRT for --tensorrt, for builds that reach
#   NVIDIA's package index (PyPI's tensorrt-cu13-libs only downloads the real wheel from
#   there), e.g. --build-arg TENSORRT="tensorrt-cu13-libs==10.16.1.11". Empty by default:
#   the image builds from PyPI alone, and --tensorrt then warns and runs on CUDA.
ARG BASE_IMAGE=python:3.11.11-slim-bookworm
FROM ${BASE_IMAGE}
ARG TENSORRT=""

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
RUN pip install --constraint /tmp/constraints.txt /src/core "/src/infer[gpu,fp16]" $TENSORRT \
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
