"""Wrong or misleading outcomes: a declaration that was ignored, an error that blames the wrong
thing or names a temporary file, a bad-input failure retried as if the network were down.

Each batch is taken in and run like any other; it ends in a correct version, or in a clear
rejection/failure naming the user's file and the fix, with nothing in the lake and no run
schema left behind.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from etl_spatial.postgis import schema_name_for_run

from .conftest import Lab

pytestmark = pytest.mark.integration


# --- helpers --------------------------------------------------------------------------------


def _batch(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _run(lab: Lab, batch: str, intent: str, files: dict[str, tuple[str, bytes]], **kw: Any):
    """Submit, take in (must be queued) and process; ``(result, error, run)``."""
    lab.submit(batch, intent, files, **kw)
    intake = lab.tick()
    assert not intake.rejected, intake.rejected[0].reason
    run = lab.run_for(intake.queued[0])
    try:
        return lab.process(run), None, run
    except Exception as exc:  # the test judges the error
        return None, exc, run


def _assert_clean_failure(lab: Lab, error: Exception | None, run: Any, *needles: str) -> str:
    """A permanent failure whose user sentence holds ``needles``; nothing left behind."""
    from etl_pipeline.failures import is_permanent, user_message

    assert error is not None, "expected a clear failure, the run succeeded"
    message = user_message(error)
    for needle in needles:
        assert needle in message, message
    assert is_permanent(error), f"bad input must not be retried: {type(error).__name__}"
    assert "Error:" not in message and "caused by" not in message, message
    assert schema_name_for_run(run.dagster_run_id) not in lab.run_schemas()
    assert lab.lake_keys() == []
    return message


def _raster(tmp: Path, *, srs: str | None, georeferenced: bool = True) -> bytes:
    """A 16x16 GeoTIFF (or PNG without georeferencing) made with the GDAL tools."""
    from etl_spatial.gdal import run_gdal

    rows = "\n".join(" ".join(str((r * c) % 7) for c in range(16)) for r in range(16))
    asc = tmp / f"src_{uuid.uuid4().hex[:6]}.asc"
    asc.write_text(
        "ncols 16\nnrows 16\nxllcorner 500000\nyllcorner 5800000\ncellsize 10\n"
        f"NODATA_value -9999\n{rows}\n"
    )
    out = tmp / (asc.stem + (".tif" if georeferenced else ".png"))
    args = ["-of", "GTiff" if georeferenced else "PNG", "-ot", "Byte"]
    if srs:
        args += ["-a_srs", srs]
    run_gdal("gdal_translate", [*args, str(asc), str(out)])
    return out.read_bytes()


# --- 6: a raster's declared CRS --------------------------------------------------------------


def test_declared_crs_is_assigned_to_a_raster_without_one(lab: Lab, tmp_path: Path) -> None:
    body = _raster(tmp_path, srs=None)
    result, error, _ = _run(
        lab,
        _batch("rc"),
        "ingest_raster",
        {"dem.tif": ("raster", body)},
        dataset_id="dem_declared",
        file_fields={"crs": "EPSG:28355"},
    )
    assert error is None, error
    assert result.asset.crs == "EPSG:28355"
    assert result.asset.source_crs == "EPSG:28355"


def test_declared_crs_contradicting_the_rasters_own_fails_clearly(lab: Lab, tmp_path: Path) -> None:
    body = _raster(tmp_path, srs="EPSG:32755")
    batch = _batch("rx")
    _, error, run = _run(
        lab,
        batch,
        "ingest_raster",
        {"dem.tif": ("raster", body)},
        dataset_id="dem_conflict",
        file_fields={"crs": "EPSG:28355"},
    )
    _assert_clean_failure(lab, error, run, f"files[0] (s3://{lab.landing}/{batch}/dem.tif)")
    assert "EPSG:32755" in str(error) and "remove the manifest crs" in str(error)


def test_raster_without_crs_or_declaration_says_which_field_to_set(
    lab: Lab, tmp_path: Path
) -> None:
    _, error, run = _run(
        lab,
        _batch("rn"),
        "ingest_raster",
        {"dem.tif": ("raster", _raster(tmp_path, srs=None))},
        dataset_id="dem_nocrs",
    )
    _assert_clean_failure(lab, error, run, "has no CRS", "crs")


def test_raster_without_georeferencing_says_a_crs_is_not_enough(lab: Lab, tmp_path: Path) -> None:
    _, error, run = _run(
        lab,
        _batch("rg"),
        "ingest_raster",
        {"photo.png": ("raster", _raster(tmp_path, srs=None, georeferenced=False))},
        dataset_id="photo",
        file_fields={"crs": "EPSG:28355"},
    )
    _assert_clean_failure(lab, error, run, "not georeferenced", "geotransform")


# --- 7: tabular edge cases -------------------------------------------------------------------


@pytest.mark.parametrize("field_bytes", [200 * 1024, 6 * 1024 * 1024], ids=["200KiB", "6MiB"])
def test_csv_with_a_huge_field_converts_every_row(lab: Lab, field_bytes: int) -> None:
    body = f'id,note\n1,"{"x" * field_bytes}"\n2,short\n3,"a,b"\n'.encode()
    result, error, _ = _run(
        lab, _batch("tb"), "ingest_tabular", {"big.csv": ("tabular", body)}, dataset_id="big_csv"
    )
    assert error is None, error
    assert result.asset.row_count == 3
    assert result.quality.source_rows == 3


def test_utf16_csv_is_named_as_utf16_not_a_delimiter_problem(lab: Lab) -> None:
    body = "id,name\n1,Zoë\n2,Åsa\n".encode("utf-16")
    batch = _batch("tu")
    _, error, run = _run(
        lab, batch, "ingest_tabular", {"people.csv": ("tabular", body)}, dataset_id="people"
    )
    message = _assert_clean_failure(
        lab, error, run, "UTF-16", "files[].options.encoding", f"{batch}/people.csv"
    )
    assert "delimiter" not in message


def test_utf16_csv_with_declared_encoding_converts(lab: Lab) -> None:
    body = "id,name\n1,Zoë\n2,Åsa\n".encode("utf-16")
    result, error, _ = _run(
        lab,
        _batch("tv"),
        "ingest_tabular",
        {"people.csv": ("tabular", body)},
        dataset_id="people16",
        file_fields={"options": {"encoding": "utf-16"}},
    )
    assert error is None, error
    assert result.asset.row_count == 2


def test_tabular_errors_name_the_manifest_path_not_a_temporary_file(lab: Lab) -> None:
    batch = _batch("tp")
    _, error, run = _run(
        lab,
        batch,
        "ingest_tabular",
        {"ragged.csv": ("tabular", b"a,b\n1,2\n3,4,5\n")},
        dataset_id="ragged",
    )
    message = _assert_clean_failure(
        lab, error, run, f"files[0] (s3://{lab.landing}/{batch}/ragged.csv)"
    )
    assert "/tmp" not in message and "etl-run-" not in message


# --- 8: a zip holding several datasets -------------------------------------------------------


def _two_shapefile_zip(tmp: Path) -> bytes:
    from etl_spatial.gdal import run_gdal

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, count in (("a", 2), ("b", 5)):
            src = tmp / f"{name}.geojson"
            features = [
                {
                    "type": "Feature",
                    "properties": {"n": i},
                    "geometry": {"type": "Point", "coordinates": [144 + i / 10, -37]},
                }
                for i in range(count)
            ]
            src.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
            out = tmp / name
            out.mkdir()
            run_gdal("ogr2ogr", ["-f", "ESRI Shapefile", str(out / f"{name}.shp"), str(src)])
            for part in out.iterdir():
                zf.write(part, f"roads/{part.name}")
    return buffer.getvalue()


def test_zip_member_is_chosen_validated_and_read(lab: Lab, tmp_path: Path) -> None:
    body = _two_shapefile_zip(tmp_path)

    # No member: rejected at intake, naming the field and the datasets inside.
    batch = _batch("zn")
    key = lab.submit(batch, "ingest_vector", {"roads.zip": ("vector", body)}, dataset_id="zroads")
    rejected = lab.tick().rejected
    assert len(rejected) == 1
    report = lab.rejection_report(key)
    fields = {e["field"]: e["message"] for e in report["errors"]}
    assert "files[0].member" in fields, report
    assert "roads/a.shp" in fields["files[0].member"]

    # A member that is not in the zip: rejected at intake.
    key = lab.submit(
        _batch("zm"),
        "ingest_vector",
        {"roads.zip": ("vector", body)},
        dataset_id="zroads",
        file_fields={"member": "roads/c.shp"},
    )
    assert len(lab.tick().rejected) == 1
    assert "not in the zip" in json.dumps(lab.rejection_report(key))

    # The member written into the path: rejected with the way to write it.
    doc = lab.manifest(
        _batch("zp"), "ingest_vector", {"roads.zip": ("vector", body)}, dataset_id="zroads"
    )
    doc["files"][0]["path"] += "/roads/b.shp"
    key = lab.put(f"manifests/{doc['batch_id']}.json", doc)
    assert len(lab.tick().rejected) == 1
    assert '\\"member\\": \\"roads/b.shp\\"' in json.dumps(lab.rejection_report(key))

    # Each named member runs and is its own version (not a duplicate of the other).
    rows = {}
    for member in ("roads/b.shp", "roads/a.shp"):
        result, error, _ = _run(
            lab,
            _batch("zr"),
            "ingest_vector",
            {"roads.zip": ("vector", body)},
            dataset_id="zroads",
            file_fields={"member": member},
        )
        assert error is None, error
        assert not result.deduplicated
        rows[member] = result.asset.row_count
    assert rows == {"roads/b.shp": 5, "roads/a.shp": 2}


def test_member_outside_a_zip_is_a_manifest_error() -> None:
    from etl_models.manifest import ManifestValidationError, parse_manifest

    doc = {
        "batch_id": "m1",
        "uploader": "jane",
        "intent": "ingest_vector",
        "files": [{"path": "s3://landing-zone/m1/a.gpkg", "type": "vector", "member": "x.shp"}],
    }
    with pytest.raises(ManifestValidationError, match="member"):
        parse_manifest(doc)
    doc["files"][0].update(path="s3://landing-zone/m1/a.zip", member="../x.shp")
    with pytest.raises(ManifestValidationError, match="member"):
        parse_manifest(doc)
    doc["files"][0]["member"] = "data/roads.gpkg"
    # The lanes own the format tables: the member's extension gives the canonical format.
    from etl_pipeline.lanes.registry import canonical_manifest

    assert canonical_manifest(parse_manifest(doc)).files[0].format == "GPKG"


# --- 9: a very long string property ----------------------------------------------------------


def test_geojson_value_beyond_gdals_limit_names_feature_and_field(lab: Lab) -> None:
    from etl_spatial.oversized_values import GEOJSON_VALUE_LIMIT

    features = [
        {"type": "Feature", "properties": {"id": i, "note": "ok"}, "geometry": None}
        for i in range(3)
    ]
    features[1]["properties"]["note"] = "x" * (GEOJSON_VALUE_LIMIT + 10)
    features[1]["geometry"] = features[0]["geometry"] = features[2]["geometry"] = {
        "type": "Point",
        "coordinates": [144.9, -37.8],
    }
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    batch = _batch("ls")
    _, error, run = _run(
        lab, batch, "ingest_vector", {"long.geojson": ("vector", body)}, dataset_id="longstr"
    )
    message = _assert_clean_failure(
        lab, error, run, f"{batch}/long.geojson", "feature 2", "'note'", "GeoPackage"
    )
    assert "Too many characters in number" not in message


# --- 10 and 11: what users read, and what is retried -----------------------------------------


def test_raw_file_deleted_after_intake_fails_at_once_naming_it(lab: Lab) -> None:
    batch = _batch("rd")
    lab.submit(batch, "ingest_tabular", {"t.csv": ("tabular", b"a\n1\n")}, dataset_id="gone")
    intake = lab.tick()
    lab.store.client.remove_object(lab.landing, f"{batch}/t.csv")
    run = lab.run_for(intake.queued[0])
    with pytest.raises(Exception) as caught:
        lab.process(run)
    _assert_clean_failure(lab, caught.value, run, f"files[0] (s3://{lab.landing}/{batch}/t.csv)")


def test_permanent_and_transient_errors_are_told_apart() -> None:
    from minio.error import S3Error

    from etl_pipeline.failures import is_permanent
    from etl_spatial.gdal import GdalError, GdalTimeout
    from etl_storage.errors import ObjectNotFound
    from etl_transforms.errors import TabularParseError

    def s3_error(code: str) -> S3Error:
        return S3Error(None, code, "msg", "res", "req", "host")

    assert is_permanent(TabularParseError("files[0] (x.csv): bad"))
    assert is_permanent(ObjectNotFound("landing-zone", "b/x.csv"))
    assert is_permanent(s3_error("NoSuchKey"))
    assert is_permanent(GdalError("ogr2ogr failed", stderr="ERROR 1: bad geometry"))
    assert is_permanent(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    assert not is_permanent(GdalTimeout("gdalwarp did not finish"))
    assert not is_permanent(GdalError("x", stderr="ERROR 1: HTTP response code: 503"))
    assert not is_permanent(s3_error("SlowDown"))
    assert not is_permanent(TimeoutError("read timed out"))
    assert not is_permanent(ConnectionResetError("reset by peer"))


def test_user_messages_are_one_clean_sentence_with_the_chain_kept_apart() -> None:
    from etl_pipeline.failures import clean_text, technical_detail, user_message
    from etl_pipeline.lanes.contract import LaneError
    from etl_spatial.loader import VectorLoadError

    wkb = "0101000020E6100000" + "0" * 32
    try:
        try:
            raise ValueError(f"bad geometry {wkb} in proc_0a1b2c3d_4e5f.raw_data")
        except ValueError as inner:
            raise VectorLoadError(
                f"files[0] (s3://landing-zone/b/x.gpkg): row 7 of proc_0a1b2c3d_4e5f.raw_data "
                f"has geometry {wkb}; repair it\nCommand: ogr2ogr -f PostgreSQL PG:dbname=x"
            ) from inner
    except VectorLoadError as exc:
        message, detail = user_message(exc), technical_detail(exc)
    assert message == (
        "files[0] (s3://landing-zone/b/x.gpkg): row 7 of the loaded data has geometry "
        "<geometry>; repair it"
    )
    assert "VectorLoadError" in detail and "caused by: builtins.ValueError" in detail
    assert clean_text("Failure: LaneError: the batch is bad\ncaused by: x\ncaused by: y") == (
        "the batch is bad"
    )
    assert user_message(LaneError("files[0]: empty")) == "files[0]: empty"
    assert "temporary problem" in user_message(ConnectionResetError("reset by peer"))


def test_a_platform_defect_is_not_blamed_on_the_batch() -> None:
    from etl_pipeline.failures import is_permanent, technical_detail, user_message

    try:
        {"files": []}["files"].items()
    except AttributeError as exc:
        message, detail = user_message(exc), technical_detail(exc)
        permanent = is_permanent(exc)
    assert message.startswith(
        "the platform failed on an internal error (AttributeError: 'list' object has no "
        "attribute 'items'), not on the batch"
    )
    # Retrying a defect repeats it; the operator gets where it is.
    assert permanent
    assert "builtins.AttributeError" in detail
    assert "Traceback (most recent call last)" in detail
    assert "test_a_platform_defect_is_not_blamed_on_the_batch" in detail
    assert "Traceback" not in user_message(ValueError("files[0]: bad"))


def test_dagster_failure_carries_the_sentence_and_is_not_retried() -> None:
    import dagster as dg

    from etl_pipeline.orchestration.results import permanent_failure
    from etl_transforms.errors import TabularParseError

    failure = permanent_failure(TabularParseError("files[0] (s3://landing-zone/b/t.csv): bad"))
    assert isinstance(failure, dg.Failure)
    assert failure.description == "files[0] (s3://landing-zone/b/t.csv): bad"
    assert failure.allow_retries is False
    assert "TabularParseError" in failure.metadata["error_detail"].value
    assert permanent_failure(TimeoutError("slow")) is None
