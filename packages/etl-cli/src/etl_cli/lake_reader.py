"""Reading a lake Parquet object without downloading it: ranged reads of the footer and of
only the row groups asked for.

``RangedObject`` is a seekable, read-only file over one object (HTTP range requests through
the object store client); pyarrow reads the footer from its end, then only the byte ranges of
the row groups it is asked for.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from etl_cli.errors import UsageProblem

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from etl_models.ledger_records import AssetRecord
    from etl_storage import ObjectStore

BUFFER_BYTES = 1 << 20  # one request reads at least this much (a footer usually fits)


class RangedObject(io.RawIOBase):
    """A read-only, seekable view of ``bucket/key``; ``requests``/``bytes_read`` count use."""

    def __init__(self, store: ObjectStore, bucket: str, key: str, size: int) -> None:
        self.store, self.bucket, self.key, self.size = store, bucket, key, size
        self.position = 0
        self.requests = 0
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        length = min(len(buffer), self.size - self.position)
        if length <= 0:
            return 0
        response = self.store.client.get_object(
            self.bucket, self.key, offset=self.position, length=length
        )
        try:
            data = response.read()
        finally:
            response.close()
            response.release_conn()
        self.requests += 1
        self.bytes_read += len(data)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def open_parquet(store: ObjectStore, asset: AssetRecord) -> tuple[pq.ParquetFile, RangedObject]:
    """The version's Parquet file, read lazily (``UsageProblem`` for a raster)."""
    import pyarrow.parquet as pq

    if not asset.s3_key.lower().endswith(".parquet"):
        raise UsageProblem(
            f"{asset.dataset_id}@v{asset.version} is {asset.format} ({asset.s3_key}), not a "
            "table: only Parquet versions have rows and columns",
            f"download it with `etl download {asset.dataset_id}@v{asset.version} ./`",
        )
    size = asset.size_bytes
    if size is None:
        size = store.client.stat_object(store.lake_bucket, asset.s3_key).size
    raw = RangedObject(store, store.lake_bucket, asset.s3_key, int(size))
    return pq.ParquetFile(io.BufferedReader(raw, BUFFER_BYTES)), raw


def geometry_columns(parquet: pq.ParquetFile) -> set[str]:
    """Columns GeoParquet metadata declares as geometry (WKB)."""
    import json

    meta = parquet.schema_arrow.metadata or {}
    raw = meta.get(b"geo")
    if not raw:
        return set()
    try:
        return set(json.loads(raw).get("columns", {}))
    except ValueError:
        return set()


def head_rows(parquet: pq.ParquetFile, count: int) -> tuple[list[str], list[list[Any]]]:
    """The first ``count`` rows (geometry as WKT), reading only the row groups needed."""
    import pyarrow as pa

    geometry = geometry_columns(parquet)
    tables: list[pa.Table] = []
    have = 0
    for group in range(parquet.num_row_groups):
        if have >= count:
            break
        table = parquet.read_row_group(group)
        tables.append(table)
        have += table.num_rows
    if not tables:
        return list(parquet.schema_arrow.names), []
    table = pa.concat_tables(tables).slice(0, count)
    names = table.column_names
    columns = [_column_values(table.column(n), n in geometry) for n in names]
    return names, [list(row) for row in zip(*columns, strict=True)] if columns else []


def _column_values(column: pa.ChunkedArray, is_geometry: bool) -> list[Any]:
    values = column.to_pylist()
    if not is_geometry:
        return values
    import shapely

    return [None if v is None else shapely.from_wkb(v).wkt for v in values]
