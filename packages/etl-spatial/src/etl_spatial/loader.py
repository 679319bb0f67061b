"""Vector loader: raw files into ``<run schema>.raw_data``.

Each source is inspected first (:mod:`etl_spatial.vector_inspection`: layer, fields, geometry
type, CRS, feature count). A multi-file batch is loaded only when every file agrees with the
first one on layer fields, geometry family and CRS; the first file creates the table and the
others append. A source without a CRS takes the manifest's declared ``crs`` or the load fails
with an error that says which file and how to fix the manifest.

Two engines lay the table out the same way: :mod:`etl_spatial.arrow_load` (GDAL's Arrow
stream into a binary COPY, for the layers it plans for) and :mod:`etl_spatial.ogr2ogr_load`
(everything else, and any batch that does not fit the Arrow plan). This module chooses,
checks row counts and describes the result (``load_vector``, ``LoadReport``);
:mod:`etl_spatial.vector_source` holds ``VectorSource`` and ``VectorLoadError``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_spatial.arrow_load import (
    ArrowLoadUnfit,
    copy_layer,
    create_table,
    epsg_code,
    loader_choice,
    plan_arrow_load,
    srid_for_epsg,
)
from etl_spatial.crs import crs_label
from etl_spatial.gdal import DEFAULT_TIMEOUT
from etl_spatial.identifiers import quote_identifier, validate_identifier
from etl_spatial.layer_checks import check_batch, check_column_names, launder, needs_promotion
from etl_spatial.ogr2ogr_load import ogr2ogr_args, run_ogr2ogr
from etl_spatial.vector_inspection import LayerInfo, inspect_layer
from etl_spatial.vector_source import VectorLoadError, VectorSource
from etl_spatial.vector_text import readable_sources

if TYPE_CHECKING:
    from etl_spatial.postgis import Postgis, RunSchema

log = logging.getLogger(__name__)

RAW_TABLE = "raw_data"
GEOMETRY_COLUMN = "geom"
FID_COLUMN = "_etl_fid"
"""Serial key GDAL adds to loaded tables; dropped by exports (it is not source data)."""

_PG_GEOMETRY_NAMES = {
    "POINT": "Point",
    "MULTIPOINT": "MultiPoint",
    "LINESTRING": "LineString",
    "MULTILINESTRING": "MultiLineString",
    "POLYGON": "Polygon",
    "MULTIPOLYGON": "MultiPolygon",
    "GEOMETRYCOLLECTION": "GeometryCollection",
    "GEOMETRY": "Geometry",
}


@dataclass
class LoadReport:
    """Result of :func:`load_vector`."""

    table: str
    schema: str
    row_count: int
    source_crs: str | None
    """The CRS of the sources, labelled by :func:`etl_spatial.crs.crs_label`."""
    crs_declared: bool
    """True when the CRS came from the manifest because the source had none."""
    srid: int
    fields: list[dict[str, str]]
    geometry_types: list[str]
    promoted_to_multi: bool
    files: list[dict[str, Any]] = field(default_factory=list)
    """Per file: ``path`` (label), ``layer``, ``driver``, ``feature_count``, ``loaded_rows``."""
    source_names: dict[str, str] = field(default_factory=dict)
    """Loaded column -> its name in the source file (GDAL lower-cases and launders names)."""


def load_vector(
    postgis: Postgis,
    schema: RunSchema | str,
    sources: Sequence[VectorSource],
    *,
    gdal_env: Mapping[str, str] | None = None,
    declared_crs: str | Sequence[str | None] | None = None,
    table: str = RAW_TABLE,
    timeout: float = DEFAULT_TIMEOUT,
    keep_source_names: bool = False,
    workdir: Path | None = None,
) -> LoadReport:
    """Load ``sources`` into ``schema.table`` (UNLOGGED, no index, geometry column ``geom``).

    ``gdal_env`` carries the S3 settings for ``/vsis3/`` (see :func:`etl_spatial.gdal.
    gdal_s3_env`); the PostgreSQL password goes to GDAL as ``PGPASSWORD``, never in argv.
    ``declared_crs`` is the manifest's ``crs``: one value for all files or one per file.
    ``keep_source_names`` loads attribute names as the file has them (no laundering).
    ``workdir`` holds the UTF-8 copies of files with another declared encoding or delimiter
    (:mod:`etl_spatial.vector_text`); a temporary directory, removed afterwards, when ``None``.
    """
    if not sources:
        raise VectorLoadError("no vector files to load; the manifest lists none")
    schema_name = schema if isinstance(schema, str) else schema.name
    validate_identifier(schema_name, what="schema")
    validate_identifier(table, what="table name")
    if declared_crs is None or isinstance(declared_crs, str):
        declared = [declared_crs] * len(sources)
    else:
        declared = list(declared_crs)
        if len(declared) != len(sources):
            raise ValueError("declared_crs needs one entry per source")

    launder_names = not keep_source_names
    # GDAL reads UTF-8 copies of files with another declared encoding or delimiter.
    with readable_sources(sources, workdir) as readable:
        infos = [inspect_layer(source, gdal_env=gdal_env) for source in readable]
        crs_text, crs_declared = check_batch(infos, declared_crs=declared)
        promote = needs_promotion(infos)
        for info in infos:
            check_column_names(
                info, launder_names=launder_names, reserved=(FID_COLUMN, GEOMETRY_COLUMN)
            )
        files = None
        if loader_choice(os.environ) == "auto":
            files = _load_with_arrow(
                postgis, schema_name, table, infos, declared, promote, launder_names, gdal_env,
                timeout,
            )  # fmt: skip
        if files is None:
            files = _load_with_ogr2ogr(
                postgis, schema_name, table, infos, crs_text if crs_declared else None, promote,
                launder_names, gdal_env, timeout,
            )  # fmt: skip
    loaded_total = sum(f["loaded_rows"] for f in files)

    srid, srs_text, column_types, geometry_types = _describe_loaded(postgis, schema_name, table)
    source_crs = crs_label(crs_text or srs_text)
    return LoadReport(
        table=table,
        schema=schema_name,
        row_count=loaded_total,
        source_crs=source_crs,
        crs_declared=crs_declared,
        srid=srid,
        fields=column_types,
        geometry_types=geometry_types,
        promoted_to_multi=promote,
        files=files,
        source_names=source_names(infos[0], [c["name"] for c in column_types]),
    )


def _load_with_ogr2ogr(
    postgis: Postgis,
    schema: str,
    table: str,
    infos: Sequence[LayerInfo],
    declared_crs_text: str | None,
    promote: bool,
    launder_names: bool,
    gdal_env: Mapping[str, str] | None,
    timeout: float,
) -> list[dict[str, Any]]:
    """One ``ogr2ogr`` per file: the first creates the table, the others append."""
    from etl_spatial.postgis import Postgis

    application_name = Postgis.application_name_for(schema)
    env = {**(gdal_env or {}), **postgis.libpq_env(application_name=application_name)}
    files: list[dict[str, Any]] = []
    loaded_before = 0
    for index, info in enumerate(infos):
        args = ogr2ogr_args(
            postgis,
            schema,
            table,
            info,
            append=index > 0,
            assign_crs=declared_crs_text if info.crs is None else None,
            promote=promote,
            launder=launder_names,
            fid=FID_COLUMN,
            geometry=GEOMETRY_COLUMN,
        )
        run_ogr2ogr(info, args, env=env, timeout=timeout)
        total = _count_rows(postgis, schema, table)
        loaded = total - loaded_before
        loaded_before = total
        if info.feature_count >= 0 and loaded != info.feature_count:
            raise VectorLoadError(_count_mismatch(info, loaded))
        files.append(_file_record(info, loaded))
    return files


def _load_with_arrow(
    postgis: Postgis,
    schema: str,
    table: str,
    infos: Sequence[LayerInfo],
    declared: Sequence[str | None],
    promote: bool,
    launder_names: bool,
    gdal_env: Mapping[str, str] | None,
    timeout: float,
) -> list[dict[str, Any]] | None:
    """The batch through :mod:`etl_spatial.arrow_load`, or ``None`` (nothing left behind)
    when a file is outside its plans or its data turns out not to fit: ``ogr2ogr`` then
    loads the batch."""
    plans = []
    for info, declared_crs in zip(infos, declared, strict=True):
        code = epsg_code(info.crs if info.crs is not None else declared_crs)
        srid = srid_for_epsg(postgis, code) if code is not None else None
        plan = plan_arrow_load(
            info,
            epsg=srid,
            promote=promote,
            launder=launder_names,
            reserved=(FID_COLUMN, GEOMETRY_COLUMN),
        )
        if isinstance(plan, str):
            log.info("loading %s with ogr2ogr: %s", info.source.name, plan)
            return None
        plans.append(plan)
    if len({(p.geometry_type, p.srid) for p in plans}) > 1:
        log.info("loading the batch with ogr2ogr: its files differ in geometry type")
        return None
    create_table(postgis, schema, table, plans[0], fid=FID_COLUMN, geometry=GEOMETRY_COLUMN)
    files: list[dict[str, Any]] = []
    loaded_before = 0
    try:
        for info, plan in zip(infos, plans, strict=True):
            written = copy_layer(
                postgis,
                schema,
                table,
                info,
                plan,
                geometry=GEOMETRY_COLUMN,
                gdal_env=gdal_env,
                timeout=timeout,
            )
            # The COPY's own row count spares a scan of the table (20M rows: ~1 s).
            total = (
                loaded_before + written
                if written is not None
                else _count_rows(postgis, schema, table)
            )
            loaded = total - loaded_before
            loaded_before = total
            if info.feature_count >= 0 and loaded != info.feature_count:
                raise ArrowLoadUnfit(_count_mismatch(info, loaded))
            files.append(_file_record(info, loaded))
    except ArrowLoadUnfit as exc:
        log.info("loading the batch with ogr2ogr: the Arrow load did not fit (%s)", exc)
        _drop_table(postgis, schema, table)
        return None
    except BaseException:
        _drop_table(postgis, schema, table)
        raise
    return files


def _count_mismatch(info: LayerInfo, loaded: int) -> str:
    return (
        f"file {info.source.name}: GDAL reports {info.feature_count} features but "
        f"{loaded} rows were loaded; the file may be corrupt or have invalid records"
    )


def _file_record(info: LayerInfo, loaded: int) -> dict[str, Any]:
    return {
        "path": info.source.name,
        "layer": info.layer,
        "driver": info.driver,
        "feature_count": info.feature_count,
        "loaded_rows": loaded,
    }


def _drop_table(postgis: Postgis, schema: str, table: str) -> None:
    from psycopg import sql

    with postgis.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(quote_identifier(schema, table)))


def source_names(info: LayerInfo, loaded: Sequence[str]) -> dict[str, str]:
    """Loaded column -> source field name: ogr2ogr creates one column per field, in field
    order; if the counts differ, only columns that are a field's laundered name are named."""
    attributes = [c for c in loaded if c != GEOMETRY_COLUMN]
    fields = [f.name for f in info.fields]
    if len(attributes) == len(fields):
        return dict(zip(attributes, fields, strict=True))
    by_launder = {launder(f): f for f in fields}
    return {c: by_launder[c] for c in attributes if c in by_launder}


def _count_rows(postgis: Postgis, schema: str, table: str) -> int:
    from psycopg import sql

    with postgis.connect(autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(quote_identifier(schema, table))
        ).fetchone()
    return int(row[0]) if row else 0


def _describe_loaded(
    postgis: Postgis, schema: str, table: str
) -> tuple[int, str | None, list[dict[str, str]], list[str]]:
    from psycopg import sql

    with postgis.connect(autocommit=True) as conn:
        columns = conn.execute(
            "SELECT column_name, format_type(a.atttypid, a.atttypmod) "
            "FROM information_schema.columns c "
            "JOIN pg_attribute a ON a.attrelid = to_regclass(quote_ident(c.table_schema) || '.' "
            "  || quote_ident(c.table_name)) AND a.attname = c.column_name "
            "WHERE c.table_schema = %s AND c.table_name = %s ORDER BY c.ordinal_position",
            (schema, table),
        ).fetchall()
        geometry = conn.execute(
            "SELECT srid, type FROM geometry_columns WHERE f_table_schema = %s "
            "AND f_table_name = %s AND f_geometry_column = %s",
            (schema, table, GEOMETRY_COLUMN),
        ).fetchone()
        srid = int(geometry[0]) if geometry else 0
        column_type = str(geometry[1]).upper() if geometry else "GEOMETRY"
        if srid == 0:
            row = conn.execute(
                sql.SQL("SELECT ST_SRID({}) FROM {} WHERE {} IS NOT NULL LIMIT 1").format(
                    sql.Identifier(GEOMETRY_COLUMN),
                    quote_identifier(schema, table),
                    sql.Identifier(GEOMETRY_COLUMN),
                )
            ).fetchone()
            srid = int(row[0]) if row else 0
        srs = conn.execute(
            "SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s", (srid,)
        ).fetchone()
        if column_type.rstrip("ZM") in _PG_GEOMETRY_NAMES and column_type != "GEOMETRY":
            # A typed column holds only that type: no need to scan the rows.
            geometry_types = [_PG_GEOMETRY_NAMES[column_type.rstrip("ZM")]]
        else:
            rows = conn.execute(
                sql.SQL(
                    "SELECT DISTINCT GeometryType({g}) FROM {t} WHERE {g} IS NOT NULL ORDER BY 1"
                ).format(g=sql.Identifier(GEOMETRY_COLUMN), t=quote_identifier(schema, table))
            ).fetchall()
            geometry_types = sorted(
                {_PG_GEOMETRY_NAMES.get(str(r[0]).upper().rstrip("ZM"), str(r[0])) for r in rows}
            )
    srs_text = None
    if srs:
        srs_text = f"{srs[0]}:{srs[1]}" if srs[0] and srs[0] != "" else srs[2]
    fields = [
        {"name": name, "type": type_name} for name, type_name in columns if name != FID_COLUMN
    ]
    return srid, srs_text, fields, geometry_types
