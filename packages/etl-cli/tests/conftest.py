"""Fixtures of the CLI tests: the ``etl`` app wired to the harness's real servers.

Each test gets fresh buckets and a fresh ledger database through the same environment
variables the CLI reads in production, and an empty platform env file so the developer's
``.local/platform.env`` never leaks in. ``store`` and ``ledger`` override the root fixtures of
the same name only to bind them to ``cli_env`` (same per-test buckets and database).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etl_cli.app import app
from etl_models.ledger_records import AssetRecord, ColumnInfo, InputFile, Recipe
from etl_storage import Ledger, ObjectStore

GEOJSON = (
    '{"type": "FeatureCollection", "features": [{"type": "Feature", '
    '"properties": {"road_id": 1, "name": "Main"}, '
    '"geometry": {"type": "Point", "coordinates": [144.9, -37.8]}}]}'
)


@dataclass(frozen=True)
class CliSetup:
    landing: str
    lake: str
    database: str
    workdir: Path


@pytest.fixture
def cli_env(s3_service, mongo_service, buckets, ledger_database, monkeypatch, tmp_path) -> CliSetup:
    """Environment for the CLI: the session's servers, this test's buckets and ledger."""
    landing, lake = buckets
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("# no platform settings in tests\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ETL_PLATFORM_ENV", str(empty_env))
    monkeypatch.setenv("MINIO_ENDPOINT", s3_service.endpoint)
    monkeypatch.setenv("MINIO_ROOT_USER", s3_service.access_key)
    monkeypatch.setenv("MINIO_ROOT_PASSWORD", s3_service.secret_key)
    monkeypatch.setenv("MINIO_SECURE", "false")
    monkeypatch.setenv("MONGO_CONNECTION_STRING", mongo_service.connection_string)
    monkeypatch.setenv("LANDING_BUCKET", landing)
    monkeypatch.setenv("LAKE_BUCKET", lake)
    monkeypatch.setenv("MONGO_DATABASE", ledger_database)
    monkeypatch.setenv("ETL_CLI_TIMEOUT_S", "5")
    monkeypatch.setenv("ETL_UPLOADER", "tester")
    return CliSetup(landing, lake, ledger_database, tmp_path)


@pytest.fixture
def store(cli_env: CliSetup, s3_service) -> ObjectStore:
    """The object store the CLI talks to (for arranging and checking objects)."""
    return ObjectStore(
        endpoint=s3_service.endpoint,
        access_key=s3_service.access_key,
        secret_key=s3_service.secret_key,
        landing_bucket=cli_env.landing,
        lake_bucket=cli_env.lake,
    )


@pytest.fixture
def ledger(cli_env: CliSetup, mongo_service) -> Iterator[Ledger]:
    """The ledger the CLI reads (migrated, as the platform leaves it)."""
    resource = Ledger(
        connection_string=mongo_service.connection_string,
        database=cli_env.database,
        server_selection_timeout_ms=5_000,
    )
    resource.migrate()
    yield resource
    resource.close()


@pytest.fixture
def run_cli(cli_env: CliSetup) -> Callable[..., object]:
    """Invoke ``etl`` in-process with ``cli_env``; click's Result (stdout, stderr separate)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def _parquet_bytes(rows: int = 3) -> bytes:
    """A real (small) Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"road_id": list(range(rows)), "name": [f"road {i}" for i in range(rows)]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _make_asset(
    store: ObjectStore,
    ledger: Ledger,
    dataset_id: str,
    *,
    columns: tuple[str, ...] = ("road_id", "name"),
    with_stac: bool = True,
    batch_id: str | None = None,
    inputs: list[InputFile] | None = None,
) -> AssetRecord:
    """Write a version of ``dataset_id`` to the lake (Parquet + STAC item) and register it."""
    version = ledger.allocate_version(dataset_id)
    key = f"{dataset_id}/v{version}/data.parquet"
    data = _parquet_bytes()
    meta = store.put_lake_bytes(key, data, content_type="application/vnd.apache.parquet")
    if with_stac:
        store.put_lake_bytes(
            f"{dataset_id}/v{version}/item.json",
            b'{"type": "Feature", "stac_version": "1.1.0", "id": "' + dataset_id.encode() + b'"}',
            content_type="application/geo+json",
        )
    record = AssetRecord(
        dataset_id=dataset_id,
        version=version,
        s3_key=key,
        uri=f"s3://{store.lake_bucket}/{key}",
        format="GeoParquet",
        content_hash=f"sha256:{uuid.uuid4().hex}",
        recipe=Recipe(name="test_recipe", version="1"),
        inputs=inputs or [],
        row_count=3,
        crs="EPSG:4326",
        column_schema=[ColumnInfo(name=c, type="string") for c in columns],
        size_bytes=meta.size,
        lake_etag=meta.etag,
        batch_id=batch_id,
    )
    record.id = ledger.register_asset(record)
    return record


@pytest.fixture
def add_asset(store: ObjectStore, ledger: Ledger) -> Callable[..., AssetRecord]:
    """``add_asset(dataset_id, **kw)``: a registered version with real Parquet in the lake."""

    def add(dataset_id: str, **kwargs) -> AssetRecord:
        return _make_asset(store, ledger, dataset_id, **kwargs)

    return add


@pytest.fixture
def geojson_file(cli_env: CliSetup) -> Path:
    """A one-feature GeoJSON file in the test's working directory."""
    path = cli_env.workdir / "roads.geojson"
    path.write_text(GEOJSON, encoding="utf-8")
    return path
