# rts-publish: the products as a static site (web map on PMTiles, STAC catalogue).
#   docker build -f docker/publish.Dockerfile -t rtsmap/publish .
#   docker run --rm -v "$PWD:/data" rtsmap/publish products --level1 level1 -o site
#   docker run --rm --network host -v "$PWD:/data" rtsmap/publish serve site   # 127.0.0.1:8000 of the host
# BASE_IMAGE: any Debian-like image with Python >= 3.11 and its venv module.
ARG BASE_IMAGE=python:3.11.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV VIRTUAL_ENV=/opt/rtsmap PATH=/opt/rtsmap/bin:$PATH \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN python3 -m venv $VIRTUAL_ENV
COPY docker/constraints.txt /tmp/constraints.txt
COPY tools/core /src/core
COPY tools/publish /src/publish
# [models]: onnxruntime (CPU) to read the models' metadata for their STAC items (--model)
RUN pip install --constraint /tmp/constraints.txt "/src/core[vector]" "/src/publish[models]" \
    && rm -rf /src /tmp/constraints.txt

RUN useradd --create-home --uid 1000 rts
USER rts
WORKDIR /data
ENTRYPOINT ["rts-publish"]
CMD ["--help"]
