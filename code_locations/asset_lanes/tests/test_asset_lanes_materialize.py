"""The lane assets of ``asset_lanes`` materialized with ``dg.materialize`` against the real
S3 server, ledger and PostGIS, for runs requested by the real sensors (their partition and
tags): metadata, asset checks, and how bad input fails."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from etl_models.status import ManifestStatus
from etl_pipeline.orchestration.platform import build_location

ASSET_LANES = build_location("asset_lanes")
join_sensor = ASSET_LANES.sensor("join_sensor")
joined_spatial_asset = ASSET_LANES.asset("join")
raw_spatial_asset = ASSET_LANES.asset("spatial")
spatial_sensor = ASSET_LANES.sensor("spatial_sensor")
raw_tabular_asset = ASSET_LANES.asset("tabular")
tabular_sensor = ASSET_LANES.sensor("tabular_sensor")

pytestmark = pytest.mark.integration

SPATIAL_CHECKS = {
    "crs_is_epsg4326",
    "geometries_valid_and_non_empty",
    "row_count_matches_source",
    "schema_drift",
}
ROADS = {
    "type": "FeatureCollection",
    "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
    "features": [
        {
            "type": "Feature",
            "properties": {"road_id": f"R{i:03d}", "name": f"road {i}"},
            "geometry": {
                "type": "LineString",
                "coordinates": [
                    [16_000_000 + i * 100, -4_500_000],
                    [16_000_050 + i * 100, -4_500_080],
                ],
            },
        }
        for i in range(6)
    ],
}
COUNTS_CSV = "Road,N\n" + "".join(f"R{i:03d},{i}\n" for i in range(4)) + "X1,9\n"


def _materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    (event,) = result.get_asset_materialization_events()
    return event.materialization


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _ingest_roads(lanes, batch_id: str = "roads_1") -> dg.ExecuteInProcessResult:
    lanes.submit(
        batch_id,
        "ingest_vector",
        {"roads.geojson": ("vector", json.dumps(ROADS))},
        dataset_id="roads",
    )
    (request,) = lanes.tick(spatial_sensor).run_requests
    return lanes.materialize(raw_spatial_asset, request)


def test_spatial_vector_batch_materializes_with_metadata_and_checks(lanes) -> None:
    result = _ingest_roads(lanes)

    assert result.success
    materialization = _materialization(result)
    assert materialization.asset_key == dg.AssetKey(["asset_lanes", "spatial", "raw_spatial_asset"])
    assert materialization.partition == "roads"
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert meta["dagster/uri"] == f"s3://{lanes.store.lake_bucket}/roads/v1/data.parquet"
    assert meta["dagster/row_count"] == 6
    columns = {c.name: c.type for c in meta["dagster/column_schema"].columns}
    assert {"road_id", "name"} <= set(columns)
    assert meta["crs"] == "EPSG:4326" and meta["source_crs"] == "EPSG:3857"
    west, south, east, north = meta["bbox"]
    assert 143 < west < east < 145 and -38 < south < north < -37
    assert meta["geometry_types"] == ["MultiLineString"]
    assert meta["version"] == 1 and meta["deduplicated"] is False
    assert _checks(result) == dict.fromkeys(SPATIAL_CHECKS, True)
    # Written straight to the lake through the resources: no IO manager handled an output.
    event_types = {event.event_type for event in result.all_events}
    assert dg.DagsterEventType.HANDLED_OUTPUT not in event_types

    assert "roads/v1/data.parquet" in lanes.lake_keys()
    asset = lanes.ledger.get_asset("roads", 1)
    assert asset is not None and asset.row_count == 6
    assert lanes.ledger.get_run(result.run_id).batch_id == "roads_1"
    assert not lanes.run_schema_exists(result.run_id)


def test_spatial_raster_batch_materializes_as_cog(lanes, tmp_path: Path) -> None:
    from etl_spatial.gdal import run_gdal

    source = tmp_path / "dem.asc"
    rows = "\n".join(" ".join(str((r * 7 + c) % 50) for c in range(32)) for r in range(32))
    source.write_text(
        "ncols 32\nnrows 32\nxllcorner 144.0\nyllcorner -38.0\ncellsize 0.01\n"
        f"NODATA_value -9999\n{rows}\n"
    )
    tif = tmp_path / "dem.tif"
    run_gdal("gdal_translate", ["-of", "GTiff", "-a_srs", "EPSG:4326", str(source), str(tif)])
    lanes.submit(
        "dem_1", "ingest_raster", {"dem.tif": ("raster", tif.read_bytes())}, dataset_id="dem"
    )
    (request,) = lanes.tick(spatial_sensor).run_requests

    result = lanes.materialize(raw_spatial_asset, request)

    assert result.success
    meta = {k: v.value for k, v in _materialization(result).metadata.items()}
    assert meta["dagster/uri"].endswith("/dem/v1/data.tif")
    assert "dagster/row_count" not in meta  # a raster has no rows
    assert [c.name for c in meta["dagster/column_schema"].columns] == ["band_1"]
    assert meta["crs"] == "EPSG:4326" and meta["bbox"][0] == pytest.approx(144.0)
    assert meta["geometry_types"] == [] and meta["version"] == 1
    assert _checks(result) == dict.fromkeys(SPATIAL_CHECKS, True)
    assert lanes.ledger.get_asset("dem", 1).format == "cog"


def _ingest_counts(lanes) -> dg.ExecuteInProcessResult:
    lanes.submit(
        "counts_1", "ingest_tabular", {"counts.csv": ("tabular", COUNTS_CSV)}, dataset_id="counts"
    )
    (request,) = lanes.tick(tabular_sensor).run_requests
    return lanes.materialize(raw_tabular_asset, request)


def test_tabular_batch_materializes_as_parquet(lanes) -> None:
    result = _ingest_counts(lanes)

    assert result.success
    materialization = _materialization(result)
    assert materialization.asset_key == dg.AssetKey(["asset_lanes", "tabular", "raw_tabular_asset"])
    assert materialization.partition == "counts"
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert meta["dagster/uri"].endswith("/counts/v1/data.parquet")
    assert meta["dagster/row_count"] == 5
    assert [c.name for c in meta["dagster/column_schema"].columns] == ["road", "n"]
    assert meta["crs"] == "none" and meta["geometry_types"] == []
    assert _checks(result) == {"row_count_matches_source": True, "schema_drift": True}


def test_join_batch_materializes_after_spatial_and_tabular(lanes) -> None:
    assert _ingest_roads(lanes).success
    assert _ingest_counts(lanes).success
    lanes.submit(
        "join_1",
        "join_datasets",
        dataset_id="roads_counts",
        join_config={
            "spatial_dataset_id": "roads",
            "tabular_dataset_id": "counts",
            "left_key": "road",
            "right_key": "road_id",
            "how": "left",
        },
    )
    (request,) = lanes.tick(join_sensor).run_requests
    assert request.run_key == "join:join_1" and request.partition_key == "roads_counts"

    result = lanes.materialize(joined_spatial_asset, request)

    assert result.success
    materialization = _materialization(result)
    assert materialization.asset_key == dg.AssetKey(["asset_lanes", "join", "joined_spatial_asset"])
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert meta["dagster/row_count"] == 5  # every tabular row (left join), 4 with geometry
    assert {"road", "n", "road_id", "name"} <= {
        c.name for c in meta["dagster/column_schema"].columns
    }
    assert meta["crs"] == "EPSG:4326"
    # 4 of 5 tabular rows matched (80 %, under the default 90 %): the warning check fails.
    assert _checks(result) == {**dict.fromkeys(SPATIAL_CHECKS, True), "join_match_rate": False}
    warnings = lanes.ledger.get_manifest("join_1").warnings
    assert any("join matched 4 of 5 tabular rows" in w for w in warnings)
    joined = lanes.ledger.get_asset("roads_counts", 1)
    assert {(p.role, p.dataset_id, p.version) for p in joined.parents} == {
        ("spatial", "roads", 1),
        ("tabular", "counts", 1),
    }


def test_corrupt_input_fails_once_with_the_real_error(lanes) -> None:
    lanes.submit(
        "broken_1",
        "ingest_vector",
        {"broken.geojson": ("vector", b'{"type": "FeatureCollection", "features": [')},
        dataset_id="broken",
    )
    (request,) = lanes.tick(spatial_sensor).run_requests

    result = lanes.materialize(raw_spatial_asset, request)

    assert not result.success
    (failure,) = result.get_step_failure_events()
    user_failure = failure.step_failure_data.user_failure_data
    assert user_failure is not None
    # GDAL's own words and the file they are about, not a generic "step failed".
    assert "Unterminated array" in user_failure.description
    assert "broken.geojson" in user_failure.description
    assert user_failure.metadata["error_type"].value in {"VectorLoadError", "GdalError"}
    # dg.Failure(allow_retries=False): the retry policy does not apply to bad input.
    event_types = [event.event_type for event in result.all_events]
    assert event_types.count(dg.DagsterEventType.STEP_START) == 1
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in event_types
    assert dg.DagsterEventType.STEP_RESTARTED not in event_types
    assert result.get_asset_materialization_events() == []
    assert not lanes.run_schema_exists(result.run_id)
    assert lanes.lake_keys() == []
    assert lanes.ledger.versions("broken") == []


def test_partition_not_matching_the_batch_fails_clearly(lanes) -> None:
    lanes.submit(
        "roads_p",
        "ingest_vector",
        {"roads.geojson": ("vector", json.dumps(ROADS))},
        dataset_id="roads",
    )
    (request,) = lanes.tick(spatial_sensor).run_requests
    lanes.instance.add_dynamic_partitions("spatial_datasets", ["some_other_dataset"])

    result = lanes.materialize(raw_spatial_asset, request, partition_key="some_other_dataset")

    assert not result.success
    (failure,) = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert "partition 'some_other_dataset' does not match the batch's dataset 'roads'" in (
        description
    )
    assert lanes.lake_keys() == []
    assert lanes.ledger.get_manifest("roads_p").status == ManifestStatus.QUEUED


def test_materializing_without_a_batch_tag_fails_with_guidance(lanes) -> None:
    lanes.instance.add_dynamic_partitions("spatial_datasets", ["roads"])

    result = dg.materialize(
        [raw_spatial_asset],
        instance=lanes.instance,
        resources=lanes.resources,
        partition_key="roads",
        raise_on_error=False,
    )

    assert not result.success
    (failure,) = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert "no batch_id tag" in description and "Upload a manifest" in description
    with pytest.raises(dg.Failure, match="Upload a manifest"):
        dg.materialize(
            [raw_spatial_asset],
            instance=lanes.instance,
            resources=lanes.resources,
            partition_key="roads",
        )
