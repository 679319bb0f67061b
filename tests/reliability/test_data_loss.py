"""Nothing lost, nothing corrupt: manifests re-uploaded under a used name, anything at all under
``manifests/``, rows lost to corrupt sources, impossible coordinates, the antimeridian and
concurrent identical batches. Each case ends in success or a clear failure, with nothing
partial in the lake, no run schema left and nothing left unprocessed under ``manifests/``.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from etl_models.status import ManifestStatus, RunStatus
from etl_spatial.postgis import schema_name_for_run

from .conftest import Lab, ci, full_only

pytestmark = pytest.mark.integration


def feature(geometry: dict[str, Any] | None, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def geojson(features: list[dict[str, Any]]) -> bytes:
    # allow_nan: the hostile file really holds NaN, as some exporters write it.
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def points(*coordinates: tuple[float, float]) -> bytes:
    return geojson(
        [
            feature({"type": "Point", "coordinates": list(c)}, id=i)
            for i, c in enumerate(coordinates)
        ]
    )


def run_to_end(lab: Lab, queued: Any) -> tuple[Any, Exception | None, str]:
    """Run the queued batch's lane runner as its job would: (result, error, run id)."""
    run = lab.run_for(queued)
    try:
        return lab.process(run), None, run.dagster_run_id
    except Exception as exc:  # judged by the caller
        return None, exc, run.dagster_run_id


def start_run(lab: Lab, queued: Any) -> None:
    """What the run-status sensor does when the batch's run starts: the manifest is archived."""
    from etl_pipeline.lifecycle import RunContext, record_run_started

    run = RunContext(str(uuid.uuid4()), queued.plan.job_name, queued.plan.tags)
    record_run_started(lab.store, lab.ledger, run)


def assert_failed_cleanly(lab: Lab, error: Exception | None, run_id: str, pattern: str) -> None:
    assert error is not None, "the run succeeded, a clear failure was expected"
    assert re.search(pattern, str(error)), str(error)
    assert "files[0]" in str(error), f"the message does not name the file: {error}"
    assert lab.lake_keys() == [], "a failed run left lake objects"
    assert schema_name_for_run(run_id) not in lab.run_schemas()


# --- 1. a manifest name used again ------------------------------------------------------------


def test_a_daily_manifest_name_is_taken_in_every_day_and_an_identical_reupload_is_recognised(
    lab: Lab,
) -> None:
    key = "manifests/daily_roads.json"
    body = {"r.geojson": ("vector", points((144.9, -37.8)))}
    lab.put(key, lab.manifest("daily_1", "ingest_vector", body, dataset_id="daily_roads"))
    first = lab.tick()
    assert [q.manifest.batch_id for q in first.queued] == ["daily_1"]
    start_run(lab, first.queued[0])
    assert lab.landing_keys("manifests/") == []

    # The next day: the same name, a new batch. The committed cursor still holds the name.
    lab.put(key, lab.manifest("daily_2", "ingest_vector", body, dataset_id="daily_roads"))
    second = lab.tick(cursor=first.cursor)
    assert [q.manifest.batch_id for q in second.queued] == ["daily_2"]
    again = lab.tick(cursor=second.cursor)  # the same object is not taken in twice
    assert again.queued == [] and again.rejected == []
    start_run(lab, second.queued[0])
    idle = lab.tick(cursor=second.cursor)  # the sensor keeps ticking while nothing is there
    assert idle.processed == 0

    # The very same bytes uploaded again: recognised as that batch, not run twice.
    lab.put(key, lab.manifest("daily_2", "ingest_vector", body, dataset_id="daily_roads"))
    third = lab.tick(cursor=idle.cursor)
    assert third.queued == []
    assert [r.key for r in third.rejected] == [key]
    assert "already taken in" in third.rejected[0].reason
    assert lab.landing_keys("manifests/") == []
    assert lab.ledger.get_manifest("daily_2").status == ManifestStatus.RUNNING


# --- 4. anything under manifests/ ----------------------------------------------------------------


def test_nothing_under_manifests_is_ignored(lab: Lab) -> None:
    files = {"r.geojson": ("vector", points((144.9, -37.8)))}
    upper = lab.put("manifests/upper.JSON", lab.manifest("upper_1", "ingest_vector", files))
    nested = lab.put("manifests/sub/dir/x.json", lab.manifest("nested_1", "ingest_vector", files))
    stray = [
        lab.put("manifests/notes.txt", "not a manifest"),
        lab.put("manifests/.hidden", "{}"),
        lab.put("manifests/empty.json", b""),
    ]
    lab.put("manifests/folder/", b"")  # a folder marker holds no manifest
    result = lab.tick()
    assert sorted(q.key for q in result.queued) == sorted([upper, nested])
    assert sorted(r.key for r in result.rejected) == sorted(stray)
    reasons = {r.key: r.reason for r in result.rejected}
    assert "only .json files belong in manifests/" in reasons["manifests/notes.txt"]
    for key in stray:
        (record,) = lab.ledger.get_manifest_by_key(key)
        assert record.status == ManifestStatus.REJECTED and record.error
        assert lab.rejection_report(key)["reason"]
    # What remains waits for its run; the rest is archived with a report.
    assert lab.landing_keys("manifests/") == sorted(["manifests/folder/", nested, upper])
    assert lab.tick(cursor=result.cursor).processed == 0


def test_manifest_keys_that_are_not_plain_object_keys_are_rejected_and_archived(lab: Lab) -> None:
    """A key such as ``manifests//x.json`` cannot be mirrored under ``archive/``: it is still
    rejected with a readable record and moved out of manifests/, and later ticks go on."""
    poison = [
        lab.put("manifests//double.json", "{}"),
        lab.put("manifests/%2e%2e.json", "{}"),
    ]
    files = {"r.geojson": ("vector", points((144.9, -37.8)))}
    good = lab.put("manifests/fine.json", lab.manifest("fine_1", "ingest_vector", files))
    result = lab.tick()
    assert [q.key for q in result.queued] == [good]
    assert sorted(r.key for r in result.rejected) == sorted(poison)
    for key in poison:
        (record,) = lab.ledger.get_manifest_by_key(key)
        assert record.status == ManifestStatus.REJECTED
        assert "not usable" in record.error
        assert record.archive_key.startswith("archive/unsafe-keys/")
    assert lab.landing_keys("manifests/") == [good]


# --- 2. rows lost to a corrupt source -------------------------------------------------------


@pytest.fixture(scope="module")
def truncated_shapefile(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A zipped shapefile of 40 points whose .shp lost its last 18 records (as a cut upload)."""
    from etl_spatial.gdal import run_gdal

    root = tmp_path_factory.mktemp("truncated")
    (root / "p.geojson").write_bytes(points(*[(144.0 + i / 100, -37.0) for i in range(40)]))
    run_gdal("ogr2ogr", ["-f", "ESRI Shapefile", "-a_srs", "EPSG:4326", str(root / "pts.shp"),
                         str(root / "p.geojson")])  # fmt: skip
    shp = (root / "pts.shp").read_bytes()
    record = 28  # a point record: 8-byte header + type + x + y
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for suffix in (".shx", ".dbf", ".prj"):
            zf.writestr(f"pts{suffix}", (root / f"pts{suffix}").read_bytes())
        zf.writestr("pts.shp", shp[: len(shp) - 18 * record])
    return buffer.getvalue()


def submit_and_run(lab: Lab, name: str, body: bytes, **fields: Any):
    batch = f"dl_{uuid.uuid4().hex[:8]}"
    lab.submit(batch, "ingest_vector", {name: ("vector", body)}, dataset_id="lossy",
               file_fields=fields or None)  # fmt: skip
    intake = lab.tick()
    assert not intake.rejected, intake.rejected[0].reason
    return (batch, *run_to_end(lab, intake.queued[0]))


def test_a_truncated_shapefile_fails_naming_the_file_and_the_lost_rows(
    lab: Lab, truncated_shapefile: bytes
) -> None:
    _, _, error, run_id = submit_and_run(lab, "pts.zip", truncated_shapefile)
    assert_failed_cleanly(lab, error, run_id, r"18 of 40 features would be lost")
    assert "a .shp shorter than its .dbf" in str(error) and "ETL_MAX_CORRUPT_ROWS" in str(error)


def test_csv_rows_with_blank_coordinates_fail_saying_so(lab: Lab) -> None:
    body = b"lon,lat,name\n144.9,-37.8,a\n,,b\n144.8,abc,c\n145.0,-37.7,d\n"
    _, _, error, run_id = submit_and_run(lab, "sites.csv", body, crs="EPSG:4326")
    assert_failed_cleanly(
        lab, error, run_id, r"2 of 4 features would be lost: 2 have blank or unreadable coordinates"
    )
    assert ".shp" not in str(error)


@pytest.mark.reliability
def test_corrupt_rows_within_the_allowance_are_published_and_reported(
    lab: Lab, truncated_shapefile: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_MAX_CORRUPT_ROWS", "18")
    batch, result, error, _ = submit_and_run(lab, "pts.zip", truncated_shapefile)
    assert error is None, error
    assert result.asset.row_count == 22 and result.quality.corrupt_rows == 18
    assert result.quality.violations() == []
    warnings = lab.ledger.get_manifest(batch).warnings
    assert any("18 features without a readable geometry" in w for w in warnings), warnings


def test_nan_coordinates_fail_the_batch(lab: Lab) -> None:
    body = geojson(
        [
            feature({"type": "Point", "coordinates": [144.9, -37.8]}, id=1),
            feature({"type": "Point", "coordinates": [float("nan"), -37.8]}, id=2),
        ]
    )
    _, _, error, run_id = submit_and_run(lab, "nan.geojson", body)
    # GDAL reads the NaN point as an empty one: still a lost row, not a silent drop.
    assert_failed_cleanly(lab, error, run_id, r"1 of 2 features would be lost.*NaN")


# --- 3. impossible coordinates and the antimeridian ------------------------------------------


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ci(points((200.0, 95.0)), r"outside longitude -180..180 / latitude -90..90", id="lat95"),
        ci(
            points((500000.0, 5800000.0), (500100.0, 5800100.0)),
            r"cannot be longitude/latitude degrees.*files\[\]\.crs",
            id="utm-without-crs",
        ),
        full_only(points((10.0, -90.5)), r"latitude -90..90", id="just-past-the-pole"),
    ],
)
def test_impossible_coordinates_are_refused(lab: Lab, body: bytes, pattern: str) -> None:
    _, _, error, run_id = submit_and_run(lab, "bad.geojson", body)
    assert_failed_cleanly(lab, error, run_id, pattern)


def test_a_polygon_across_the_antimeridian_is_wrapped_split_and_reported(
    lab: Lab, tmp_path: Path
) -> None:
    import geopandas as gpd

    ring = [[170.0, -10.0], [190.0, -10.0], [190.0, 0.0], [170.0, 0.0], [170.0, -10.0]]
    body = geojson([feature({"type": "Polygon", "coordinates": [ring]}, id=1)])
    batch, result, error, _ = submit_and_run(lab, "fiji.geojson", body)
    assert error is None, error
    xmin, _, xmax, _ = result.asset.bounds
    assert xmin >= -180.0 and xmax <= 180.0
    local = tmp_path / "data.parquet"
    lab.store.download_from_lake(result.asset.s3_key, local)
    (geometry,) = gpd.read_parquet(local).geometry
    assert geometry.geom_type == "MultiPolygon" and len(geometry.geoms) == 2
    assert abs(geometry.area - 200.0) < 1e-6  # nothing lost in the split
    warnings = lab.ledger.get_manifest(batch).warnings
    assert any("antimeridian" in w for w in warnings), warnings


# --- 5. concurrent identical batches ---------------------------------------------------------


def test_concurrent_identical_batches_publish_one_version_and_link_both_runs(lab: Lab) -> None:
    body = points((144.9, -37.8), (145.0, -37.9))
    queued = []
    for batch in ("twin_a", "twin_b"):
        lab.submit(batch, "ingest_vector", {"r.geojson": ("vector", body)}, dataset_id="twins")
    intake = lab.tick()
    queued = sorted(intake.queued, key=lambda q: q.manifest.batch_id)
    assert len(queued) == 2
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda q: run_to_end(lab, q), queued))
    errors = [e for _, e, _ in outcomes if e is not None]
    assert errors == []
    assets = {(r.asset.dataset_id, r.asset.version, r.asset.s3_key) for r, _, _ in outcomes}
    assert len(assets) == 1, assets  # one version, whichever run won the race
    ((_, version, s3_key),) = assets
    assert lab.ledger.versions("twins") == [version]
    assert lab.lake_keys() == [s3_key, f"twins/v{version}/item.json"]  # nothing orphaned
    for _, _, run_id in outcomes:
        record = lab.ledger.get_run(run_id)
        assert record is not None and record.status != RunStatus.FAILURE
        assert [p.asset_id for p in record.produced_assets] == [outcomes[0][0].asset.id]
        assert schema_name_for_run(run_id) not in lab.run_schemas()
