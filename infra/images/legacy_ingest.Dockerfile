# syntax=docker/dockerfile:1.7
# Code location "legacy_ingest": its own gRPC server, with the GDAL command-line tools its runs use.
# Build from the workspace root (compose does: context ..):
#   docker build -f infra/images/legacy_ingest.Dockerfile -t spatial-etl/legacy-ingest .
FROM python:3.11.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PATH=/opt/venv/bin:$PATH

# GDAL tools only in code-location images: the webserver and daemon never run GDAL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gdal-bin \
 && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /opt/dagster/app
# The whole workspace is needed to resolve the lock; only this location's dependency closure
# is installed (no dev group, no other code location). Editable on purpose: the location's
# definitions are loaded by dg from its project folder (its pyproject.toml holds [tool.dg]).
COPY pyproject.toml uv.lock ./
COPY packages/ packages/
COPY code_locations/ code_locations/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package legacy-ingest

COPY infra/dagster.yaml /opt/dagster/dagster_home/dagster.yaml

RUN useradd --system --uid 10001 --home-dir /opt/dagster dagster \
 && chown -R dagster /opt/dagster/dagster_home
USER dagster

EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", \
     "-m", "legacy_ingest.definitions", "--location-name", "legacy_ingest"]
