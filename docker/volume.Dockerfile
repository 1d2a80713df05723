# rts-volume: elevation and volume change of RTS features from dated DEMs (xdem).
#   docker build -f docker/volume.Dockerfile -t rtsmap/volume .
#   docker run --rm -v "$PWD:/data" rtsmap/volume --help
# BASE_IMAGE: any Debian-like image with Python >= 3.11 and its venv module.
ARG BASE_IMAGE=python:3.11.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV VIRTUAL_ENV=/opt/rtsmap PATH=/opt/rtsmap/bin:$PATH \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN python3 -m venv $VIRTUAL_ENV
COPY docker/constraints.txt /tmp/constraints.txt
COPY tools/core /src/core
COPY tools/volume /src/volume
RUN pip install --constraint /tmp/constraints.txt /src/core /src/volume \
    && rm -rf /src /tmp/constraints.txt

RUN useradd --create-home --uid 1000 rts
USER rts
WORKDIR /data
ENTRYPOINT ["rts-volume"]
CMD ["--help"]
