"""Which dataset of a zip the platform reads (``etl_spatial.archives.choose_member``)."""

from __future__ import annotations

import pytest

from etl_spatial.archives import ArchiveError, choose_member
from etl_spatial.vector_source import VectorSource, resolve_source

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("members", "driver", "chosen"),
    [
        # Undeclared: a Shapefile first, even beside the CSV or JSON that often comes with it.
        (["roads/roads.shp", "roads/roads.dbf", "roads/attributes.csv", "meta.json"], None,
         "roads/roads.shp"),
        # Undeclared, no Shapefile: the one dataset, whatever its format.
        (["export/parcels.gpkg", "export/readme.txt"], None, "export/parcels.gpkg"),
        (["stops.geojson", "__MACOSX/._stops.geojson"], None, "stops.geojson"),
        # Declared: only that format counts.
        (["a.geojson", "a.gpkg"], "GPKG", "a.gpkg"),
    ],
)  # fmt: skip
def test_the_dataset_read_from_a_zip(members: list[str], driver: str | None, chosen: str):
    assert choose_member(members, driver, name="files[0] (x.zip)") == chosen


@pytest.mark.parametrize(
    ("members", "driver", "message"),
    [
        (["a.geojson", "b.gpkg"], None, r"holds several datasets \(a.geojson, b.gpkg\)"),
        (["readme.txt"], None, r"holds no vector dataset"),
        (["a.geojson"], "ESRI Shapefile", r"holds no ESRI Shapefile dataset \(looked for .shp\)"),
    ],
)
def test_a_zip_without_one_dataset_says_what_to_set(members, driver, message):
    with pytest.raises(ArchiveError, match=message):
        choose_member(members, driver, name="files[0] (x.zip)")


def test_an_undeclared_zip_takes_its_members_format(tmp_path):
    import zipfile

    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("folder/stops.geojson", '{"type": "FeatureCollection", "features": []}')
    source = resolve_source(VectorSource(path=f"/vsizip/{archive}"))
    assert source.path == f"/vsizip/{archive}/folder/stops.geojson"
    assert source.driver == "GeoJSON"
    declared = resolve_source(VectorSource(path=f"/vsizip/{archive}", format="GeoJSON"))
    assert declared.format == "GeoJSON"
