"""A seeded catalog on the harness's real S3 and Mongo servers, served by uvicorn on a free port.

The seed is what the lanes publish: GeoParquet/Parquet/GeoTIFF objects in the lake with asset
records, lineage edges and manifest records in the ledger (a join with two parents, a raster,
a dataset with several versions, a large point set, a rejected and a failed batch). One
catalog per test module keeps the browser tests fast; tests that write use their own.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "test-token-0123456789"


@dataclass
class Catalog:
    url: str
    store: object
    ledger: object
    token: str | None
    server: object = None
    thread: threading.Thread | None = None


def _squares(n: int, offset: float = 0.0, extra: bool = False):
    import geopandas as gpd
    from shapely.geometry import box

    data = {
        "name": [f"country {i}" for i in range(n)],
        "iso_a3": [f"C{i:02d}" for i in range(n)],
        "geometry": [box(offset + i * 10, 0, offset + i * 10 + 8, 8) for i in range(n)],
    }
    if extra:
        data["pop_est"] = [1000 * (i + 1) for i in range(n)]
    return gpd.GeoDataFrame(data, crs="EPSG:4326")


def _points(n: int):
    import geopandas as gpd
    from shapely.geometry import Point

    return gpd.GeoDataFrame(
        {
            "id": list(range(n)),
            "geometry": [Point(-60 + (i % 100) * 0.5, -30 + i // 100) for i in range(n)],
        },
        crs="EPSG:4326",
    )


def _raster(path: Path) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_bounds

    # Integer elevations, as the sample's GeoTIFF has (NaN cannot fill them).
    data = np.arange(64 * 64, dtype="int16").reshape(64, 64)
    with rasterio.open(
        path, "w", driver="GTiff", width=64, height=64, count=1, dtype="int16",
        crs="EPSG:4326", transform=from_bounds(100, -10, 116, 6, 64, 64), nodata=-9999,
    ) as dst:  # fmt: skip
        dst.write(data, 1)


def _publish(
    store, ledger, tmp: Path, *, dataset_id, version, batch_id, frame=None, raster=False,
    uploader="ada", parents=(), report=None, when=None, metadata=None,
):  # fmt: skip
    """Upload one version to the lake and record it as the lanes do."""
    from etl_models.ledger_records import AssetRecord, ColumnInfo, ParentAsset, Recipe

    ledger.record_manifest_intake(
        manifest_key=f"manifests/{batch_id}.json",
        status="queued",
        batch_id=batch_id,
        uploader=uploader,
        intent="ingest_raster" if raster else "ingest_vector",
        dataset_id=dataset_id,
        manifest={
            "batch_id": batch_id,
            "uploader": uploader,
            "intent": "ingest_vector",
            "files": [
                {"path": f"s3://{store.landing_bucket}/{batch_id}/in.geojson", "type": "vector"}
            ],
            "metadata": {"tags": {"dataset_id": dataset_id}, **(metadata or {})},
        },
    )
    ledger.set_manifest_status(batch_id, "running")
    ledger.set_manifest_status(batch_id, "success")
    local = tmp / f"{dataset_id}-v{version}.{'tif' if raster else 'parquet'}"
    if raster:
        _raster(local)
        columns, bounds, geoms, rows, fmt = [], (100.0, -10.0, 116.0, 6.0), [], None, "cog"
    elif "geometry" in frame:
        frame.to_parquet(local)
        columns = [ColumnInfo(name=c, type=str(frame[c].dtype)) for c in frame.columns]
        bounds = tuple(float(v) for v in frame.total_bounds)
        geoms = sorted(set(frame.geom_type))
        rows, fmt = len(frame), "geoparquet"
    else:
        frame.to_parquet(local)
        columns = [ColumnInfo(name=c, type=str(frame[c].dtype)) for c in frame.columns]
        bounds, geoms, rows, fmt = None, [], len(frame), "parquet"
    key = f"{dataset_id}/v{version}/data.{'tif' if raster else 'parquet'}"
    meta = store.upload_to_lake(local, key)
    parent_refs = []
    for pid, pversion, role in parents:
        parent = ledger.get_asset(pid, pversion)
        parent_refs.append(
            ParentAsset(asset_id=parent.id, dataset_id=pid, version=pversion, role=role)
        )
    record = AssetRecord(
        dataset_id=dataset_id, version=version, s3_key=key, uri=store.lake_uri(key), format=fmt,
        content_hash="sha256:" + hashlib.sha256(key.encode()).hexdigest(),
        recipe=Recipe(name="seed", version="1"), parents=parent_refs, row_count=rows,
        bounds=bounds, crs="EPSG:4326", geometry_types=geoms, column_schema=columns,
        size_bytes=meta.size, lake_etag=meta.etag, lane="join" if parents else "spatial",
        batch_id=batch_id,
        stats={"quality": {"output_rows": rows, "invalid_geometries": 0}, "report": report or {}},
        created_at=when or datetime.now(UTC),
    )  # fmt: skip
    asset_id = ledger.register_asset(record)
    for parent in parent_refs:
        ledger.add_parent_lineage(asset_id, parent.asset_id, role=parent.role)
    return asset_id


def seed(store, ledger, tmp: Path) -> None:
    import pandas as pd

    t0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    meta = {"title": "World countries", "description": "Country outlines for tests."}
    _publish(store, ledger, tmp, dataset_id="countries", version=1, frame=_squares(3),
             batch_id="countries-b1", when=t0, metadata=meta)  # fmt: skip
    _publish(store, ledger, tmp, dataset_id="countries", version=2, frame=_squares(4, extra=True),
             batch_id="countries-b2", when=t0 + timedelta(days=1), metadata=meta)  # fmt: skip
    # Fields other writers add to asset records (licence, attribution, keywords, a column's
    # source name) are read from the raw document: set them as such a writer would.
    ledger.db["assets"].update_one(
        {"dataset_id": "countries", "version": 2},
        {"$set": {"license": "ODbL-1.0", "attribution": "Natural Earth", "keywords": ["boundaries"],
                  "column_schema.1.source_name": "ISO_A3"}},
    )  # fmt: skip
    stats = pd.DataFrame({"iso_a3": ["C00", "C01", "C09"], "gdp": [1.5, 2.5, 3.5]})
    _publish(store, ledger, tmp, dataset_id="country-stats", version=1, frame=stats,
             batch_id="stats-b1", uploader="grace", when=t0 + timedelta(days=2))  # fmt: skip
    _publish(store, ledger, tmp, dataset_id="countries-stats", version=1,
             frame=_squares(4).assign(gdp=[1.5, 2.5, None, None]), batch_id="join-b1",
             parents=[("countries", 2, "spatial"), ("country-stats", 1, "tabular")],
             report={"match_rate": 0.5, "matched_rows": 2, "unmatched_left": 1},
             when=t0 + timedelta(days=3))  # fmt: skip
    _publish(store, ledger, tmp, dataset_id="elevation", version=1, raster=True,
             batch_id="elev-b1", when=t0 + timedelta(days=4))  # fmt: skip
    _publish(store, ledger, tmp, dataset_id="many-points", version=1, frame=_points(5000),
             batch_id="points-b1", when=t0 + timedelta(days=5))  # fmt: skip
    ledger.record_manifest_intake(
        manifest_key="manifests/broken-b1.json", status="rejected", claimed_batch_id="broken-b1",
        uploader="ada", error="files[0].crs: 'EPSG:99999' is not a known CRS; declare a valid one",
        manifest={"batch_id": "broken-b1", "uploader": "ada", "intent": "ingest_vector",
                  "files": [{"path": f"s3://{store.landing_bucket}/broken-b1/in.geojson",
                             "type": "vector", "crs": "EPSG:99999"}]},
    )  # fmt: skip


def make_catalog(store, ledger, token: str | None, preview_features: int = 500) -> Catalog:
    import uvicorn

    from etl_devstack.services import free_port
    from etl_web import WebSettings, create_app

    port = free_port()
    settings = WebSettings(
        port=port, token=token, secret=uuid.uuid4().hex, dagster_ui_url="http://127.0.0.1:3000",
        preview_features=preview_features, max_upload_bytes=2 * 1024 * 1024,
    )  # fmt: skip
    app = create_app(ledger, store, settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the catalog did not start")
        time.sleep(0.05)
    return Catalog(f"http://127.0.0.1:{port}", store, ledger, token, server, thread)


def stop_catalog(catalog: Catalog) -> None:
    catalog.server.should_exit = True
    catalog.thread.join(timeout=10)


def _module_resources(s3_service, mongo_service):
    from etl_devstack.services import ensure_buckets
    from etl_storage import Ledger, ObjectStore

    suffix = uuid.uuid4().hex[:10]
    landing, lake = f"landing-{suffix}", f"lake-{suffix}"
    ensure_buckets(
        s3_service.endpoint, s3_service.access_key, s3_service.secret_key, [landing, lake]
    )
    store = ObjectStore(
        endpoint=s3_service.endpoint, access_key=s3_service.access_key,
        secret_key=s3_service.secret_key, landing_bucket=landing, lake_bucket=lake,
    )  # fmt: skip
    ledger = Ledger(
        connection_string=mongo_service.connection_string,
        database=f"spatial_etl_web_{suffix}", server_selection_timeout_ms=5_000,
    )  # fmt: skip
    ledger.migrate()
    return store, ledger


@pytest.fixture(scope="module")
def catalog(s3_service, mongo_service, tmp_path_factory) -> Iterator[Catalog]:
    """A seeded catalog that accepts writes with ``TOKEN``."""
    store, ledger = _module_resources(s3_service, mongo_service)
    seed(store, ledger, tmp_path_factory.mktemp("seed"))
    served = make_catalog(store, ledger, TOKEN)
    yield served
    stop_catalog(served)
    ledger.client.drop_database(ledger.database)
    ledger.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run `bash scripts/bootstrap.sh` as root")
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    yield tab
    context.close()
