"""The sample data ``make up`` submits: made locally from installed packages, valid ids."""

from __future__ import annotations

import csv
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from etl_devstack import sample_data
from etl_devstack.drops import file_entry, manifest_document
from etl_devstack.sample import BatchResult, SampleReport, format_report, prepare_sample, sample_ids
from etl_models.identity import validate_batch_id, validate_dataset_id
from etl_models.manifest import parse_manifest

pytestmark = pytest.mark.unit


def test_sample_ids_are_valid_and_fixed_per_generation():
    ids = sample_ids("20261122t231500")

    assert ids == sample_ids("20261122t231500")
    assert ids != sample_ids("20261123t000000")
    for batch_id, dataset_id in ids.values():
        validate_batch_id(batch_id)
        validate_dataset_id(dataset_id)


def test_countries_files_come_from_the_pyogrio_fixture(tmp_path: Path):
    shp = sample_data.countries_shapefile(tmp_path / "shp")
    archive = sample_data.countries_zip(tmp_path / "zip")
    gpkg = sample_data.countries_geopackage(tmp_path / "gpkg", layer="countries")

    assert sorted(p.suffix for p in shp.parent.iterdir()) == sorted(sample_data.SHAPEFILE_PARTS)
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == sorted(
            f"countries{s}" for s in sample_data.SHAPEFILE_PARTS
        )
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(gpkg), "countries"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "Feature Count: 177" in info


def test_country_stats_csv_is_keyed_on_iso_a3(tmp_path: Path):
    codes = sample_data.unique_country_codes()
    path = sample_data.country_stats_csv(tmp_path / "stats.csv", unmatched_codes=("ZZA",))

    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["iso_a3"] for r in rows] == [*codes, "ZZA"]
    assert len(set(codes)) == len(codes) and sample_data.UNKNOWN_CODE not in codes
    assert float(rows[0]["population_millions"]) > 0


def test_elevation_raster_is_a_georeferenced_geotiff(tmp_path: Path):
    tif = sample_data.elevation_geotiff(tmp_path / "elevation.tif", cell_degrees=10.0)

    info = json.loads(
        subprocess.run(
            ["gdalinfo", "-json", str(tif)], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    )
    assert info["driverShortName"] == "GTiff"
    assert info["size"] == [36, 18]
    assert info["cornerCoordinates"]["upperLeft"] == [-180.0, 90.0]
    assert not (tmp_path / "elevation.asc").exists()


def test_prepared_batches_make_valid_manifests(tmp_path: Path):
    batches = prepare_sample(tmp_path, "gen1")

    assert [b.name for b in batches] == [
        "countries", "country_stats", "elevation", "countries_stats",
    ]  # fmt: skip
    assert batches[-1].cli_args[:3] == (
        "join",
        "sample_gen1_countries",
        "sample_gen1_country_stats",
    )
    # The files each `etl submit` uploads exist and describe valid manifests.
    for batch, kind in zip(batches[:3], ("vector", "tabular", "raster"), strict=True):
        path = Path(batch.cli_args[1])
        assert path.is_file()
        intent = batch.cli_args[3]
        uri = f"s3://landing-zone/{batch.batch_id}/{path.name}"
        parse_manifest(
            manifest_document(
                batch.batch_id, intent, [file_entry(uri, kind)], dataset_id=batch.dataset_id
            )
        )


def test_report_names_failures_and_reruns(tmp_path: Path):
    batches = prepare_sample(tmp_path, "gen2")
    report = SampleReport(
        [
            BatchResult(batches[0], "success", submitted=False),
            BatchResult(batches[1], "failure", submitted=True, error="files[0].path: missing"),
        ]
    )

    text = format_report(report)

    assert not report.ok
    assert "already submitted" in text
    assert "files[0].path: missing" in text
