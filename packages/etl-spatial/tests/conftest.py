"""Fixtures for etl-spatial tests: real PostGIS, the real S3 server, real GDAL tools."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from etl_spatial.gdal import gdal_s3_env, run_gdal


@pytest.fixture(scope="session")
def natural_earth_shp() -> Path:
    """The Natural Earth countries shapefile that pyogrio ships with its tests."""
    import pyogrio

    path = (
        Path(pyogrio.__file__).parent
        / "tests"
        / "fixtures"
        / "naturalearth_lowres"
        / "naturalearth_lowres.shp"
    )
    assert path.exists(), f"pyogrio no longer ships {path}"
    return path


@pytest.fixture
def run_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def s3_gdal_env(s3_service) -> dict[str, str]:
    return gdal_s3_env(
        endpoint=s3_service.endpoint,
        access_key=s3_service.access_key,
        secret_key=s3_service.secret_key,
    )


@pytest.fixture
def upload(s3_service) -> Callable[[str, str, Path], str]:
    """Upload a local file; returns its ``/vsis3/`` path."""
    client = s3_service.client()

    def _upload(bucket: str, key: str, path: Path) -> str:
        client.fput_object(bucket, key, str(path))
        return f"/vsis3/{bucket}/{key}"

    return _upload


def write_geotiff(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:4326",
    bounds: tuple[float, float, float, float] = (10.0, 40.0, 12.0, 42.0),
    nodata: float | None = None,
    creation_options: tuple[str, ...] = (),
) -> Path:
    """A GeoTIFF from a numpy array via an ENVI raw file and ``gdal_translate`` (no bindings)."""
    data = np.ascontiguousarray(data)
    bands, rows, cols = data.shape if data.ndim == 3 else (1, *data.shape)
    envi_types = {np.dtype("uint8"): 1, np.dtype("int16"): 2, np.dtype("float32"): 4}
    raw = path.with_suffix(".bin")
    data.astype(data.dtype.newbyteorder("<")).tofile(raw)
    raw.with_suffix(".hdr").write_text(
        "ENVI\n"
        f"samples = {cols}\nlines = {rows}\nbands = {bands}\nheader offset = 0\n"
        f"data type = {envi_types[data.dtype]}\ninterleave = bsq\nbyte order = 0\n"
    )
    minx, miny, maxx, maxy = bounds
    args = ["-of", "GTiff", "-a_ullr", str(minx), str(maxy), str(maxx), str(miny)]
    if crs:
        args += ["-a_srs", crs]
    if nodata is not None:
        args += ["-a_nodata", str(nodata)]
    for option in creation_options:
        args += ["-co", option]
    run_gdal("gdal_translate", [*args, str(raw), str(path)])
    return path


@pytest.fixture
def make_geotiff() -> Callable[..., Path]:
    return write_geotiff
