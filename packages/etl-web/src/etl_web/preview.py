"""Map previews of lake versions: sampled GeoJSON features, raster thumbnails, the basemap.

The lake object is streamed to a temporary file the app names itself (nothing from a request
reaches the filesystem), read, and the file removed. Versions never change once published,
so results are cached by (dataset, version).
"""

from __future__ import annotations

import json
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl_models.ledger_records import AssetRecord
    from etl_storage import ObjectStore

THUMBNAIL_PX = 512
MAX_PROPERTY_COLUMNS = 12


class PreviewUnavailable(Exception):
    """No preview for this version; the message says why, in plain words."""


class LruCache:
    """A small thread-safe LRU of computed previews (versions are immutable)."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)[:200] if not isinstance(value, bytes | bytearray) else None


def _download(store: ObjectStore, record: AssetRecord, limit: int, workdir: str) -> Path:
    if record.size_bytes is not None and record.size_bytes > limit:
        raise PreviewUnavailable(
            f"this version is {record.size_bytes / 1e6:.0f} MB, too large to preview here; "
            "download it instead"
        )
    suffix = ".tif" if record.s3_key.endswith(".tif") else ".parquet"
    dest = Path(workdir) / f"object{suffix}"
    store.download_from_lake(record.s3_key, dest)
    return dest


def _geometry_column(schema_metadata: dict[bytes, bytes] | None) -> str:
    geo = json.loads((schema_metadata or {}).get(b"geo", b"{}") or b"{}")
    return str(geo.get("primary_column") or "geometry")


def sample_indices(total: int, limit: int) -> list[int]:
    """``limit`` row numbers spread evenly over ``total`` (deterministic: stable previews)."""
    if total <= limit:
        return list(range(total))
    step = total / limit
    return [int(i * step) for i in range(limit)]


def vector_geojson(store: ObjectStore, record: AssetRecord, limit: int, max_bytes: int) -> dict:
    """A GeoJSON FeatureCollection of at most ``limit`` features of a GeoParquet version."""
    import pyarrow.parquet as pq
    import shapely

    with tempfile.TemporaryDirectory(prefix="etl-web-preview-") as workdir:
        path = _download(store, record, max_bytes, workdir)
        parquet = pq.ParquetFile(path)
        geom_col = _geometry_column(parquet.schema_arrow.metadata)
        names = [n for n in parquet.schema_arrow.names if n != geom_col]
        columns = [geom_col, *names[:MAX_PROPERTY_COLUMNS]]
        table = parquet.read(columns=columns)
    total = table.num_rows
    table = table.take(sample_indices(total, limit))
    geoms = shapely.from_wkb(table.column(geom_col).to_pylist())
    texts = shapely.to_geojson(geoms)
    rows = table.drop_columns([geom_col]).to_pylist()
    features = [
        {
            "type": "Feature",
            "geometry": json.loads(text) if text else None,
            "properties": {k: _json_safe(v) for k, v in row.items()},
        }
        for text, row in zip(texts, rows, strict=True)
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "etl:total_features": total,
        "etl:sampled": total > limit,
    }


def raster_thumbnail(store: ObjectStore, record: AssetRecord, max_bytes: int) -> bytes:
    """A PNG of the raster in EPSG:4326 (first band, stretched 2-98 %, nodata transparent)."""
    import numpy as np
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile
    from rasterio.vrt import WarpedVRT

    with tempfile.TemporaryDirectory(prefix="etl-web-thumb-") as workdir:
        path = _download(store, record, max_bytes, workdir)
        with rasterio.open(path) as src, WarpedVRT(src, crs="EPSG:4326") as vrt:
            scale = max(vrt.width, vrt.height) / THUMBNAIL_PX
            shape = (
                max(1, round(vrt.height / max(scale, 1))),
                max(1, round(vrt.width / max(scale, 1))),
            )
            band = vrt.read(1, out_shape=shape, masked=True, resampling=Resampling.average)
    data = band.astype("float64").filled(np.nan)  # integer rasters cannot hold NaN
    valid = np.isfinite(data) & ~np.ma.getmaskarray(band)
    gray = np.zeros(shape, dtype="uint8")
    if valid.any():
        lo, hi = np.percentile(data[valid], [2, 98])
        span = hi - lo if hi > lo else 1.0
        gray[valid] = np.clip((data[valid] - lo) / span * 254 + 1, 1, 255).astype("uint8")
    alpha = np.where(valid, 255, 0).astype("uint8")
    # A PNG thumbnail has no georeferencing on purpose (the map places it by the bbox).
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(driver="PNG", width=shape[1], height=shape[0], count=2, dtype="uint8") as png:
            png.write(gray, 1)
            png.write(alpha, 2)
        return bytes(mem.read())


def basemap_geojson() -> dict:
    """Country outlines from the Natural Earth fixture pyogrio ships (offline), simplified."""
    import pyogrio

    path = (
        Path(pyogrio.__file__).parent / "tests/fixtures/naturalearth_lowres/naturalearth_lowres.shp"
    )
    if not path.is_file():
        return {"type": "FeatureCollection", "features": []}
    frame = pyogrio.read_dataframe(path, columns=["name"])
    frame = frame.to_crs("EPSG:4326") if frame.crs and frame.crs.to_epsg() != 4326 else frame
    frame["geometry"] = frame.geometry.simplify(0.05, preserve_topology=True)
    return json.loads(frame.to_json(drop_id=True))
