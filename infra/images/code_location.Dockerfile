# syntax=docker/dockerfile:1.7
# One image per code location, from this one parametrised Dockerfile: its own gRPC server, with
# the GDAL command-line tools its runs use. On Kubernetes the same image runs the location's
# run pods (K8sRunLauncher). Build from the workspace root (compose does: context ..):
#   docker build -f infra/images/code_location.Dockerfile \
#     --build-arg LOCATION_PACKAGE=asset-lanes --build-arg LOCATION_MODULE=asset_lanes \
#     -t spatial-etl/asset-lanes .
# (legacy_ingest: LOCATION_PACKAGE=legacy-ingest LOCATION_MODULE=legacy_ingest)
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# --- the workspace's pyproject.toml files only: a stable input for the dependency layer -------
FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /src
COPY packages/ packages/
COPY code_locations/ code_locations/
RUN find . -type f ! -name pyproject.toml -delete

# --- build: dependencies first (cached until uv.lock or a pyproject.toml changes), then ours ---
FROM ${PYTHON_IMAGE} AS build
ARG LOCATION_PACKAGE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /opt/dagster/app
COPY pyproject.toml uv.lock ./
COPY --from=manifests /src/ ./
# Third-party dependencies of this location only (no dev group, no workspace member).
RUN --mount=type=cache,target=/root/.cache/uv \
    test -n "${LOCATION_PACKAGE}" \
 && uv sync --frozen --no-dev --package "${LOCATION_PACKAGE}" --no-install-workspace
# The workspace members it needs (etl-*, the location), installed as packages, not editable.
COPY packages/ packages/
COPY code_locations/ code_locations/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package "${LOCATION_PACKAGE}" --no-editable

# --- runtime: Python, pinned GDAL tools, the venv; no uv, no sources --------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG LOCATION_MODULE
# Debian bookworm's GDAL, pinned (bump together with the base image; `apt-cache policy gdal-bin`).
ARG GDAL_VERSION=3.6.2+dfsg-1+b2
RUN apt-get update \
 && apt-get install -y --no-install-recommends "gdal-bin=${GDAL_VERSION}" \
 && rm -rf /var/lib/apt/lists/*
ENV PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PATH=/opt/venv/bin:$PATH \
    LOCATION_MODULE=${LOCATION_MODULE}
COPY --from=build /opt/venv /opt/venv
COPY infra/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
# A numeric user: Kubernetes' runAsNonRoot can verify a UID, not a name.
RUN groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid 10001 --home-dir /opt/dagster dagster \
 && mkdir -p /tmp/dagster-compute-logs \
 && chown -R 10001:10001 /opt/dagster/dagster_home /tmp/dagster-compute-logs
USER 10001:10001
WORKDIR /opt/dagster
EXPOSE 4000
# Shell form only to expand LOCATION_MODULE; exec replaces the shell (signals reach dagster).
CMD exec dagster code-server start -h 0.0.0.0 -p 4000 \
    -m "${LOCATION_MODULE}.definitions" --location-name "${LOCATION_MODULE}"
