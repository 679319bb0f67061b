# syntax=docker/dockerfile:1.7
# Dagster webserver and daemon: no user code and no GDAL; they reach the code locations over gRPC.
# The only platform package here is etl-instance (run launcher, S3 run logs, K8s launcher), with
# its `server` extra (dagster-webserver), installed from the lock like the code locations.
# Build from the workspace root (compose does: context ..):
#   docker build -f infra/images/dagster.Dockerfile -t spatial-etl/dagster .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /src
COPY packages/ packages/
COPY code_locations/ code_locations/
RUN find . -type f ! -name pyproject.toml -delete

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /opt/dagster/app
COPY pyproject.toml uv.lock ./
COPY --from=manifests /src/ ./
# The very Dagster release the code locations are locked with (frozen sync, no export/pip).
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package etl-instance --extra server --no-install-workspace
COPY packages/etl-instance/ packages/etl-instance/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package etl-instance --extra server --no-editable

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PATH=/opt/venv/bin:$PATH
COPY --from=build /opt/venv /opt/venv
COPY infra/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
COPY infra/workspace.yaml /opt/dagster/app/workspace.yaml
RUN groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid 10001 --home-dir /opt/dagster dagster \
 && mkdir -p /tmp/dagster-compute-logs \
 && chown -R 10001:10001 /opt/dagster/dagster_home /tmp/dagster-compute-logs
USER 10001:10001
WORKDIR /opt/dagster
EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/opt/dagster/app/workspace.yaml"]
