# syntax=docker/dockerfile:1.7
# Dagster webserver and daemon: no user code and no GDAL; they reach the code locations over gRPC.
# The only platform package here is etl-instance (the run launcher named in dagster.yaml).
# Build from the workspace root (compose does: context ..):
#   docker build -f infra/images/dagster.Dockerfile -t spatial-etl/dagster .
FROM python:3.11.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PATH=/opt/venv/bin:$PATH

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /opt/dagster/app
# Versions come from the workspace lock (as constraints), so the webserver and daemon run the
# very Dagster release the code locations were locked with.
COPY pyproject.toml uv.lock ./
COPY packages/ packages/
COPY code_locations/ code_locations/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv export --frozen --all-packages --no-hashes --no-emit-workspace \
        --format requirements-txt -o /tmp/constraints.txt \
 && uv venv /opt/venv \
 && VIRTUAL_ENV=/opt/venv uv pip install -c /tmp/constraints.txt \
        dagster dagster-webserver dagster-graphql dagster-postgres ./packages/etl-instance

COPY infra/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
COPY infra/workspace.yaml /opt/dagster/app/workspace.yaml

RUN useradd --system --uid 10001 --home-dir /opt/dagster dagster \
 && chown -R dagster /opt/dagster/dagster_home
USER dagster

EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/opt/dagster/app/workspace.yaml"]
