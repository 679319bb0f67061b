"""Raster recipe -> COG through the etl_spatial writer, with real GDAL tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from etl_transforms.raster import RasterOptions, raster_to_lake_cog

pytestmark = pytest.mark.integration

NODATA = -9999
COLS, ROWS = 600, 400


@pytest.fixture
def source_tif(tmp_path: Path) -> Path:
    """A 600 x 400 Int32 GeoTIFF in EPSG:28355 whose top-left 10 x 10 block is nodata."""
    lines = [
        f"ncols {COLS}",
        f"nrows {ROWS}",
        "xllcorner 320000",
        "yllcorner 5810000",
        "cellsize 10",
        f"NODATA_value {NODATA}",
    ]
    for r in range(ROWS):
        lines.append(
            " ".join(str(NODATA) if r < 10 and c < 10 else str((r * c) % 7) for c in range(COLS))
        )
    asc = tmp_path / "source.asc"
    asc.write_text("\n".join(lines) + "\n", encoding="ascii")
    tif = tmp_path / "source.tif"
    subprocess.run(
        ["gdal_translate", "-q", "-a_srs", "EPSG:28355", "-ot", "Int32", str(asc), str(tif)],
        check=True,
        timeout=120,
    )
    return tif


def _value_at(path: Path, pixel: int, line: int) -> str:
    result = subprocess.run(
        ["gdallocationinfo", "-valonly", str(path), str(pixel), str(line)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout.strip()


def test_cog_keeps_crs_and_nodata_and_has_overviews(source_tif, tmp_path):
    options = RasterOptions(blocksize=256)
    assert isinstance(options, RasterOptions)
    dst = tmp_path / "out" / "data.tif"
    info = raster_to_lake_cog(str(source_tif), dst, options)
    assert dst.exists()
    assert info.layout == "COG"
    assert info.crs == "EPSG:28355"
    assert info.source_crs == "EPSG:28355"
    assert info.nodata == [NODATA]
    assert info.overview_count >= 1
    assert (info.width, info.height) == (COLS, ROWS)
    assert _value_at(dst, 0, 0) == str(NODATA)  # nodata pixels are still nodata
    assert _value_at(dst, 20, 30) == str((30 * 20) % 7)  # values copied exactly


def test_cog_reprojection_is_optional(source_tif, tmp_path):
    dst = tmp_path / "wgs84.tif"
    info = raster_to_lake_cog(
        str(source_tif), dst, RasterOptions(target_crs="epsg:4326", blocksize=256)
    )
    assert info.crs == "EPSG:4326"
    assert info.source_crs == "EPSG:28355"
    assert info.nodata == [NODATA]
    assert info.layout == "COG"
    assert info.bounds is not None
    assert 144.0 < info.bounds[0] < info.bounds[2] < 146.0
