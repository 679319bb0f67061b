"""Fast Arrow transfer between PostGIS and the lake, through ADBC's PostgreSQL driver.

ADBC speaks PostgreSQL's binary COPY and fills Arrow buffers directly (measured 2.4x faster than
psycopg for 1M points here). Geometries travel as WKB: ``ST_AsBinary`` on the way out, and on the
way in the WKB bytes go straight into a ``geometry(Geometry, srid)`` column, whose binary input
function parses WKB and whose type modifier supplies the SRID.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from etl_spatial.geoparquet import (
    covering_bbox_column,
    geometry_column_metadata,
    has_geo_metadata,
    read_geo_metadata,
)
from etl_spatial.identifiers import quote_identifier, validate_identifier
from etl_spatial.loader import GEOMETRY_COLUMN

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from etl_spatial.postgis import Postgis, RunSchema


class ArrowTransferError(ValueError):
    """A table cannot be moved between Arrow and PostGIS as asked."""


@dataclass(frozen=True)
class TableColumn:
    name: str
    pg_type: str
    is_geometry: bool


def _schema_name(schema: RunSchema | str) -> str:
    return validate_identifier(schema if isinstance(schema, str) else schema.name, what="schema")


def table_columns(postgis: Postgis, schema: RunSchema | str, table: str) -> list[TableColumn]:
    """Columns of ``schema.table`` in order, with their PostgreSQL types."""
    schema_name = _schema_name(schema)
    validate_identifier(table, what="table name")
    with postgis.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (schema_name, table),
        ).fetchall()
    if not rows:
        raise ArrowTransferError(f"table {schema_name}.{table} does not exist or has no columns")
    return [TableColumn(name, pg_type, typname == "geometry") for name, pg_type, typname in rows]


def table_srid(
    postgis: Postgis, schema: RunSchema | str, table: str, column: str = GEOMETRY_COLUMN
) -> int:
    """SRID of a geometry column (from its type modifier, else from the first row)."""
    from psycopg import sql

    schema_name = _schema_name(schema)
    with postgis.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s "
            "AND f_geometry_column = %s",
            (schema_name, table, column),
        ).fetchone()
        if row and row[0]:
            return int(row[0])
        row = conn.execute(
            sql.SQL("SELECT ST_SRID({c}) FROM {t} WHERE {c} IS NOT NULL LIMIT 1").format(
                c=sql.Identifier(column), t=quote_identifier(schema_name, table)
            )
        ).fetchone()
    return int(row[0]) if row else 0


def srid_to_crs(postgis: Postgis, srid: int) -> Any:
    """A ``pyproj.CRS`` for a PostGIS SRID (authority code, else its stored WKT)."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if srid <= 0:
        return None
    with postgis.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s", (srid,)
        ).fetchone()
    if row is None:
        raise ArrowTransferError(f"SRID {srid} is not in spatial_ref_sys")
    auth_name, auth_srid, srtext = row
    if auth_name and auth_srid:
        # A custom entry GDAL inserted may carry an authority PROJ lacks: fall back to its WKT.
        with contextlib.suppress(CRSError):
            return CRS.from_authority(auth_name, auth_srid)
    return CRS.from_wkt(srtext)


# -- Arrow -> PostGIS ---------------------------------------------------------------------------


def _pg_type(arrow_type: pa.DataType) -> str:
    import pyarrow as pa
    import pyarrow.types as t

    if t.is_boolean(arrow_type):
        return "boolean"
    if t.is_int8(arrow_type) or t.is_int16(arrow_type) or t.is_uint8(arrow_type):
        return "smallint"
    if t.is_int32(arrow_type) or t.is_uint16(arrow_type):
        return "integer"
    if t.is_int64(arrow_type) or t.is_uint32(arrow_type):
        return "bigint"
    if t.is_float16(arrow_type) or t.is_float32(arrow_type):
        return "real"
    if t.is_float64(arrow_type):
        return "double precision"
    if t.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision},{arrow_type.scale})"
    if t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return "text"
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type):
        return "bytea"
    if t.is_date32(arrow_type):
        return "date"
    if t.is_timestamp(arrow_type):
        return "timestamp with time zone" if arrow_type.tz else "timestamp without time zone"
    if t.is_time64(arrow_type) or t.is_time32(arrow_type):
        return "time"
    if t.is_duration(arrow_type):
        return "interval"
    if isinstance(arrow_type, pa.ExtensionType):
        return _pg_type(arrow_type.storage_type)
    raise ArrowTransferError(f"no PostgreSQL type for Arrow type {arrow_type}")


def _normalise_for_ingest(arrow_table: pa.Table, geometry_column: str | None) -> pa.Table:
    """Decode dictionaries, unwrap extension types, map uint64/date64/string views to types
    ADBC's binary COPY writer handles."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as t

    columns, fields = [], []
    for field, column in zip(arrow_table.schema, arrow_table.columns, strict=True):
        col = column
        if t.is_dictionary(col.type):
            col = pc.cast(col, col.type.value_type)
        if isinstance(col.type, pa.ExtensionType):
            col = pa.chunked_array([c.storage for c in col.chunks], type=col.type.storage_type)
        if t.is_uint64(col.type):
            col = pc.cast(col, pa.decimal128(20, 0))
        elif t.is_date64(col.type):
            col = pc.cast(col, pa.date32())
        elif t.is_large_string(col.type) or getattr(t, "is_string_view", lambda _: False)(col.type):
            col = pc.cast(col, pa.string())
        elif field.name == geometry_column and t.is_large_binary(col.type):
            col = pc.cast(col, pa.binary())
        columns.append(col)
        fields.append(pa.field(field.name, col.type, nullable=field.nullable))
    return pa.table(columns, schema=pa.schema(fields))


def srid_from_geoparquet_metadata(arrow_table: pa.Table, geometry_column: str) -> int | None:
    """EPSG code of ``geometry_column`` from the table's GeoParquet ``geo`` metadata, if any
    (4326 for GeoParquet's default OGC:CRS84, see :mod:`etl_spatial.crs`)."""
    from etl_spatial.crs import epsg_code
    from etl_spatial.geoparquet import column_crs

    if not has_geo_metadata(arrow_table.schema):
        return None
    geo = read_geo_metadata(arrow_table.schema)
    if geometry_column not in geo["columns"]:
        return None
    return epsg_code(column_crs(geometry_column_metadata(arrow_table.schema, geometry_column)))


def load_arrow_table(
    postgis: Postgis,
    schema: RunSchema | str,
    table: str,
    arrow_table: pa.Table,
    *,
    geometry_column: str | None = None,
    srid: int | None = None,
) -> int:
    """Create UNLOGGED ``schema.table`` from ``arrow_table`` via ADBC binary COPY; returns rows.

    ``geometry_column`` (WKB) becomes ``geometry(Geometry, srid)``; ``srid`` defaults to the
    EPSG code in the table's GeoParquet ``geo`` metadata. A GeoParquet bbox covering column is
    dropped (PostGIS derives boxes itself). No index is created.
    """
    import pyarrow as pa

    reader = pa.RecordBatchReader.from_batches(arrow_table.schema, arrow_table.to_batches())
    return _load_batches(postgis, schema, table, reader, geometry_column, srid)


def load_parquet(
    postgis: Postgis,
    schema: RunSchema | str,
    table: str,
    path: str | Path,
    *,
    geometry_column: str | None = None,
    srid: int | None = None,
    batch_rows: int = 64_000,
) -> int:
    """:func:`load_arrow_table` for a (Geo)Parquet file, streamed: the file is read and sent
    ``batch_rows`` at a time, so memory does not grow with the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    schema_arrow = parquet.schema_arrow
    names = schema_arrow.names
    if geometry_column is not None and has_geo_metadata(schema_arrow):
        bbox = covering_bbox_column(geometry_column_metadata(schema_arrow, geometry_column))
        names = [n for n in names if n != bbox]
    reader = parquet.iter_batches(batch_size=batch_rows, columns=names)
    kept = pa.schema([schema_arrow.field(n) for n in names], metadata=schema_arrow.metadata)
    return _load_batches(
        postgis,
        schema,
        table,
        pa.RecordBatchReader.from_batches(kept, reader),
        geometry_column,
        srid,
    )


def _load_batches(
    postgis: Postgis,
    schema: RunSchema | str,
    table: str,
    reader: pa.RecordBatchReader,
    geometry_column: str | None,
    srid: int | None,
) -> int:
    import pyarrow as pa
    from psycopg import sql

    schema_name = _schema_name(schema)
    validate_identifier(table, what="table name")
    source_schema = reader.schema
    drop: list[str] = []
    if geometry_column is not None:
        if geometry_column not in source_schema.names:
            raise ArrowTransferError(
                f"geometry column {geometry_column!r} not in the table "
                f"(columns: {', '.join(source_schema.names)})"
            )
        if srid is None:
            srid = srid_from_geoparquet_metadata(source_schema.empty_table(), geometry_column)
        if srid is None:
            raise ArrowTransferError(
                f"no SRID for geometry column {geometry_column!r}: the data has no EPSG CRS in "
                "its GeoParquet metadata; pass srid=... explicitly"
            )
        if has_geo_metadata(source_schema):
            bbox_column = covering_bbox_column(
                geometry_column_metadata(source_schema, geometry_column)
            )
            if bbox_column in source_schema.names:
                drop.append(bbox_column)

    def normalised(batch: pa.RecordBatch) -> pa.Table:
        return _normalise_for_ingest(
            pa.Table.from_batches([batch], schema=source_schema).drop_columns(drop),
            geometry_column,
        )

    empty = source_schema.empty_table().drop_columns(drop)
    target = _normalise_for_ingest(empty, geometry_column).schema
    definitions = []
    for field in target:
        if field.name == geometry_column:
            pg_type = sql.SQL("geometry(Geometry, {})").format(sql.Literal(int(srid or 0)))
        else:
            pg_type = sql.SQL(_pg_type(field.type))
        definitions.append(sql.SQL("{} {}").format(sql.Identifier(field.name), pg_type))
    create = sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(
        quote_identifier(schema_name, table), sql.SQL(", ").join(definitions)
    )
    with postgis.connect(autocommit=True) as conn:
        conn.execute(create)
    batches = (b for batch in reader for b in normalised(batch).to_batches())
    stream = pa.RecordBatchReader.from_batches(target, batches)
    with postgis.adbc_connect() as conn:
        with conn.cursor() as cursor:
            rows = cursor.adbc_ingest(table, stream, mode="append", db_schema_name=schema_name)
        conn.commit()
    if rows is not None and rows >= 0:
        return int(rows)
    return _count(postgis, schema_name, table)


def _count(postgis: Postgis, schema_name: str, table: str) -> int:
    from psycopg import sql

    with postgis.connect(autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(quote_identifier(schema_name, table))
        ).fetchone()
    return int(row[0]) if row else 0
