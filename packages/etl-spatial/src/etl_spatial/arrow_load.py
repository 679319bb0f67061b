"""Bulk load of a plain vector layer: GDAL's Arrow stream into PostgreSQL's binary COPY.

``ogr2ogr`` loads through a text COPY of hex EWKB from a separate GDAL process: for 1M points
it took 3.5 s where reading the layer as Arrow record batches in-process (pyogrio, the GDAL that
inspected it) and streaming them through ADBC's binary COPY takes 1.8 s, and a small batch
saves a GDAL process start. The table is laid out as ``ogr2ogr`` lays it out (same column
names, types, FID column and typed geometry column). Its values are what the inspection's
GDAL reads, and all of them: the text COPY of Debian's older ``ogr2ogr`` prints doubles with
15 digits and types some CSV and GeoJSON values differently (the parity tests list them).

Only layers whose load is fully understood take this path (:func:`plan_arrow_load` says why
not): local copies (remote reads keep ``ogr2ogr``'s larger buffers), GeoJSON up to
:data:`GEOJSON_MAX_BYTES`, attributes of plain types, a single 2D geometry type (promoted to
its multi form the way ``PROMOTE_TO_MULTI`` does), a CRS with an EPSG code in
``spatial_ref_sys``, names that need no more than GDAL's laundering. Everything else, and any
layer whose data does not fit the plan after all (a COPY or read error:
:class:`ArrowLoadUnfit`), is loaded by ``ogr2ogr``, which keeps its own messages for bad
input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from etl_spatial.gdal import (
    TIMEOUT_BASE_ENV,
    TIMEOUT_PER_MB_ENV,
    GdalTimeout,
    gdal_config_in_process,
    scrub_secrets,
)
from etl_spatial.identifiers import quote_identifier
from etl_spatial.layer_checks import launder as launder_name

if TYPE_CHECKING:
    import pyarrow as pa

    from etl_spatial.postgis import Postgis
    from etl_spatial.vector_inspection import LayerInfo

LOADER_ENV = "ETL_VECTOR_LOADER"
"""``auto`` (default): the Arrow path where it applies; ``ogr2ogr``: always ``ogr2ogr``."""

_COLUMN_TYPES: dict[str, tuple[str, str]] = {
    # GDAL field type -> (PostgreSQL type ogr2ogr creates with PRECISION=NO, Arrow type name)
    "Integer": ("integer", "int32"),
    "Integer(Boolean)": ("boolean", "bool_"),
    "Integer(Int16)": ("smallint", "int16"),
    "Integer64": ("bigint", "int64"),
    "Real": ("double precision", "float64"),
    "Real(Float32)": ("real", "float32"),
    "String": ("character varying", "string"),
    "Date": ("date", "date32"),
}
_GEOMETRY_TYPES = {
    "point": "Point",
    "multipoint": "MultiPoint",
    "linestring": "LineString",
    "multilinestring": "MultiLineString",
    "polygon": "Polygon",
    "multipolygon": "MultiPolygon",
}
_PROMOTED = {"LineString": "MultiLineString", "Polygon": "MultiPolygon"}
_WKB_CODES = {"LineString": 2, "Polygon": 3, "MultiLineString": 5, "MultiPolygon": 6}
ARROW_DRIVERS = frozenset({"GPKG", "GeoJSON", "ESRI Shapefile", "FlatGeobuf", "CSV"})
"""Drivers whose reading through the Arrow stream was checked against ``ogr2ogr``'s."""
GEOJSON_MAX_BYTES = 64 * 1024 * 1024
"""Larger GeoJSON files load through ``ogr2ogr``: GDAL's GeoJSON reader keeps state for every
feature it has read (about 50 bytes each: +160 MB for 2.3M features), which in the run worker
would make its memory grow with the file; ``ogr2ogr`` keeps it in its own process."""
_CRS_MEMBER = b'"crs"'
_SCAN_CHUNK = 8 * 1024 * 1024
_EPSG = re.compile(r"(?i)epsg:(\d{1,6})")
_MAX_IDENTIFIER_BYTES = 63
BATCH_ROWS = 16_384
"""Features per Arrow batch: a few MB of polygons (the worker holds about two at once); larger
batches were no faster (1M points: 1.9-2.0 s either way) and cost ~45 MB more."""


class ArrowLoadUnfit(RuntimeError):
    """The layer's data did not fit the Arrow plan; ``ogr2ogr`` loads it instead."""


@dataclass(frozen=True)
class ArrowLoadPlan:
    """How one layer goes into its table: ``(source field, column, PostgreSQL type, Arrow
    type)`` per attribute, the geometry column's type and SRID."""

    columns: tuple[tuple[str, str, str, str], ...]
    geometry_type: str
    srid: int

    @property
    def promotes(self) -> bool:
        return self.geometry_type in _PROMOTED.values()


def loader_choice(environ: Mapping[str, str]) -> str:
    value = environ.get(LOADER_ENV, "auto").strip().lower() or "auto"
    if value not in {"auto", "ogr2ogr"}:
        raise ValueError(
            f"{LOADER_ENV} must be auto or ogr2ogr (got {value!r}); fix the platform setting"
        )
    return value


def plan_arrow_load(
    info: LayerInfo,
    *,
    epsg: int | None,
    promote: bool,
    launder: bool,
    reserved: Sequence[str],
) -> ArrowLoadPlan | str:
    """The plan for ``info``, or why ``ogr2ogr`` must load it. ``epsg`` is the layer's
    effective CRS code (its own, or the manifest's when it has none); ``reserved`` are the
    column names the loader adds (FID and geometry)."""
    if info.driver not in ARROW_DRIVERS:
        return f"driver {info.driver}"
    path = info.source.gdal_path()
    if path.startswith(("/vsi", "CSV:/vsi")) or not Path(path.removeprefix("CSV:")).is_file():
        # Remote reads stay in ogr2ogr's process, with its larger read buffers.
        return "it is read in place, not from a local copy"
    if info.driver == "GeoJSON" and Path(path).stat().st_size > GEOJSON_MAX_BYTES:
        return f"a GeoJSON larger than {GEOJSON_MAX_BYTES // 2**20} MB"
    if epsg is None:
        return "its CRS has no EPSG code"
    if info.driver == "GeoJSON" and geojson_may_declare_crs(info.source.gdal_path()):
        return "a GeoJSON crs member (GDAL in-process assumes WGS 84 when it cannot resolve it)"
    geometry = _GEOMETRY_TYPES.get(info.geometry_type.strip().lower())
    if geometry is None:
        return f"geometry type {info.geometry_type!r}"
    if promote:
        if geometry in {"Point", "MultiPoint"}:
            return "points in a batch promoted to multi geometries"
        geometry = _PROMOTED.get(geometry, geometry)
    columns = []
    taken = {name.lower() for name in reserved}
    for field in info.fields:
        types = _COLUMN_TYPES.get(field.type)
        if types is None:
            return f"field {field.name!r} of type {field.type}"
        if launder and not field.name.isascii():
            return f"field {field.name!r} is not ASCII (GDAL launders bytes, not letters)"
        column = launder_name(field.name) if launder else field.name
        if len(column.encode()) > _MAX_IDENTIFIER_BYTES or "\x00" in column or not column:
            return f"field {field.name!r} is not a plain PostgreSQL column name"
        if column.lower() in taken:
            return f"field {field.name!r} repeats a column name"
        taken.add(column.lower())
        columns.append((field.name, column, *types))
    return ArrowLoadPlan(columns=tuple(columns), geometry_type=geometry, srid=epsg)


def geojson_may_declare_crs(path: str) -> bool:
    """Whether the GeoJSON at ``path`` may carry a legacy ``crs`` member (or is not a local
    file, so cannot be scanned cheaply). GDAL reports such a file as WGS 84 when PROJ cannot
    resolve the member; only the ``ogr2ogr`` path sees (and refuses) that."""
    from pathlib import Path

    local = Path(path)
    if path.startswith("/vsi") or not local.is_file():
        return True
    tail = b""
    with local.open("rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            if _CRS_MEMBER in tail + chunk:
                return True
            tail = chunk[-len(_CRS_MEMBER) :]
    return False


def epsg_code(crs: str | None) -> int | None:
    """The EPSG code of an ``EPSG:xxxx`` CRS text (the form inspection and manifests use)."""
    match = _EPSG.fullmatch((crs or "").strip())
    return int(match.group(1)) if match else None


def srid_for_epsg(postgis: Postgis, code: int) -> int | None:
    """The SRID ``ogr2ogr`` would pick for EPSG ``code``: the ``spatial_ref_sys`` row with
    that authority code; ``None`` when there is none (``ogr2ogr`` would insert one)."""
    with postgis.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT srid FROM spatial_ref_sys WHERE upper(auth_name) = 'EPSG' AND auth_srid = %s "
            "ORDER BY srid LIMIT 1",
            (code,),
        ).fetchone()
    return int(row[0]) if row else None


def create_table(
    postgis: Postgis, schema: str, table: str, plan: ArrowLoadPlan, *, fid: str, geometry: str
) -> None:
    """``CREATE UNLOGGED TABLE`` as ``ogr2ogr`` would: serial FID key, attributes in field
    order, then the typed geometry column."""
    from psycopg import sql

    parts = [sql.SQL("{} serial PRIMARY KEY").format(sql.Identifier(fid))]
    parts += [
        sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(pg_type))
        for _, column, pg_type, _ in plan.columns
    ]
    parts.append(
        sql.SQL("{} geometry({}, {})").format(
            sql.Identifier(geometry), sql.SQL(plan.geometry_type), sql.Literal(plan.srid)
        )
    )
    with postgis.connect(autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(
                quote_identifier(schema, table), sql.SQL(", ").join(parts)
            )
        )


def copy_layer(
    postgis: Postgis,
    schema: str,
    table: str,
    info: LayerInfo,
    plan: ArrowLoadPlan,
    *,
    geometry: str,
    gdal_env: Mapping[str, str] | None,
    timeout: float,
) -> int | None:
    """Stream the layer's features into ``schema.table`` in one COPY (one transaction: a
    failed load leaves no rows from it); the rows written, when the driver says. Raises
    :class:`ArrowLoadUnfit` when the data does not fit the plan and
    :class:`~etl_spatial.gdal.GdalTimeout` (operational, as for ``ogr2ogr``) past
    ``timeout`` seconds."""
    import adbc_driver_manager as adbc
    import adbc_driver_postgresql
    import pyarrow as pa
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    source = info.source
    target = _target_schema(plan, geometry)
    # The reason goes to the log: no password (in ADBC's URI) or S3 secret in it.
    secrets = {**(gdal_env or {}), **postgis.libpq_env()}
    if postgis.password:
        secrets["PGPASSWORD_IN_URI"] = quote(postgis.password, safe="")
    try:
        with (
            gdal_config_in_process(gdal_env),
            pyogrio.open_arrow(
                source.gdal_path(),
                layer=info.layer,
                batch_size=BATCH_ROWS,
                use_pyarrow=True,
                **source.open_options(),
            ) as (meta, reader),
            adbc_driver_postgresql.connect(postgis.adbc_uri()) as database,
            adbc.AdbcConnection(database) as conn,
        ):
            _set_statement_timeout(conn, timeout)
            batches = _conformed(reader, meta, plan, target)
            stream = pa.RecordBatchReader.from_batches(target, batches)
            with adbc.AdbcStatement(conn) as statement:
                statement.set_options(
                    **{
                        "adbc.ingest.target_table": table,
                        "adbc.ingest.target_db_schema": schema,
                        "adbc.ingest.mode": "adbc.ingest.mode.append",
                    }
                )
                statement.bind_stream(stream.__arrow_c_stream__())
                written = statement.execute_update()
    except adbc.Error as exc:
        if getattr(exc, "sqlstate", None) == "57014" or "statement timeout" in str(exc):
            raise GdalTimeout(
                f"loading {source.name} did not finish within {timeout:g}s and was stopped "
                f"(an operational limit, not a fault of the input): raise {TIMEOUT_PER_MB_ENV} "
                f"or {TIMEOUT_BASE_ENV} if the input is this large, then run it again"
            ) from exc
        raise ArrowLoadUnfit(scrub_secrets(str(exc), secrets)) from exc
    except (DataSourceError, DataLayerError, pa.ArrowException, ValueError) as exc:
        raise ArrowLoadUnfit(scrub_secrets(str(exc), secrets)) from exc
    return written if isinstance(written, int) and written >= 0 else None


def _target_schema(plan: ArrowLoadPlan, geometry: str) -> pa.Schema:
    import pyarrow as pa

    fields = [pa.field(column, getattr(pa, arrow)()) for _, column, _, arrow in plan.columns]
    return pa.schema([*fields, pa.field(geometry, pa.binary())])


def _conformed(
    reader: Any, meta: Mapping[str, Any], plan: ArrowLoadPlan, target: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """The reader's batches with the table's column names and types (a cast is a no-op when
    GDAL already gives the type), geometries promoted when the plan says so."""
    import pyarrow as pa

    geometry_source = meta.get("geometry_name") or "wkb_geometry"
    names = [source for source, *_ in plan.columns]
    for batch in reader:
        pairs = zip(names, target, strict=False)  # target ends with the geometry
        arrays = [batch.column(name).cast(field.type) for name, field in pairs]
        wkb = batch.column(geometry_source)
        wkb = wkb.view(pa.binary()) if isinstance(wkb.type, pa.ExtensionType) else wkb
        wkb = wkb.cast(pa.binary())
        if plan.promotes:
            wkb = promote_wkb(wkb, plan.geometry_type)
        yield pa.RecordBatch.from_arrays([*arrays, wkb], schema=target)


def promote_wkb(wkb: pa.Array, multi: str) -> pa.Array:
    """Single geometries of ``multi``'s kind wrapped into a one-part ``multi`` (WKB level, as
    ``PROMOTE_TO_MULTI`` does); an empty single becomes an empty multi; others unchanged.

    GDAL's Arrow stream writes little-endian ISO WKB; a big-endian or other value passes
    unchanged and fails the typed column, which sends the layer to ``ogr2ogr``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    single_code = _WKB_CODES[next(k for k, v in _PROMOTED.items() if v == multi)]
    multi_code = _WKB_CODES[multi]
    header = b"\x01" + single_code.to_bytes(4, "little")
    multi_header = b"\x01" + multi_code.to_bytes(4, "little")
    is_single = pc.equal(pc.binary_slice(wkb, 0, 5), pa.scalar(header, pa.binary()))
    # The count after the header: rings of a polygon, points of a line; 0 means empty.
    is_empty = pc.and_(
        is_single,
        pc.equal(pc.binary_slice(wkb, 5, 9), pa.scalar(b"\x00\x00\x00\x00", pa.binary())),
    )
    wrapped = pc.binary_join_element_wise(
        pa.scalar(multi_header + (1).to_bytes(4, "little"), pa.binary()), wkb, b""
    )
    empty = pa.scalar(multi_header + (0).to_bytes(4, "little"), pa.binary())
    promoted = pc.if_else(is_single, wrapped, wkb)
    return pc.if_else(is_empty, empty, promoted)


def _set_statement_timeout(conn: Any, timeout: float) -> None:
    import adbc_driver_manager as adbc
    import pyarrow as pa

    # Milliseconds, within PostgreSQL's range for the setting (an int).
    milliseconds = min(2**31 - 1, max(1, int(timeout * 1000)))
    with adbc.AdbcStatement(conn) as statement:
        statement.set_sql_query(f"SELECT set_config('statement_timeout', '{milliseconds}', false)")
        handle, _ = statement.execute_query()
        pa.RecordBatchReader.from_stream(handle).read_all()
