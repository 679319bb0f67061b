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

import contextlib
import logging
import os
import tempfile
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
from etl_spatial.crs import UnknownCrsError, crs_label, same_crs, validate_crs
from etl_spatial.gdal import DEFAULT_TIMEOUT
from etl_spatial.identifiers import quote_identifier, validate_identifier
from etl_spatial.ogr2ogr_load import run_ogr2ogr
from etl_spatial.vector_inspection import (
    GENERIC_TYPES,
    LINEAL_TYPES,
    POLYGONAL_TYPES,
    LayerInfo,
    base_geometry_type,
    inspect_layer,
)
from etl_spatial.vector_source import VectorLoadError, VectorSource
from etl_spatial.vector_text import needs_rewrite, prepare_text_source

if TYPE_CHECKING:
    from etl_spatial.postgis import Postgis, RunSchema

log = logging.getLogger(__name__)

RAW_TABLE = "raw_data"
GEOMETRY_COLUMN = "geom"
FID_COLUMN = "_etl_fid"
MAX_COLUMN_BYTES = 63
"""PostgreSQL's identifier limit (NAMEDATALEN - 1): longer names are cut, not refused."""
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


def _declared_crs_wkt(declared: str, label: str) -> str:
    from etl_spatial.crs import parse_crs

    try:
        validate_crs(declared)
    except UnknownCrsError as exc:
        raise VectorLoadError(f"{label}: crs {exc}") from None
    return parse_crs(declared).to_wkt()


def check_batch(
    infos: Sequence[LayerInfo], *, declared_crs: Sequence[str | None]
) -> tuple[str | None, bool]:
    """Check that the files of a batch can be appended into one table.

    Returns the effective CRS (text for ``-a_srs``/comparison) and whether it was declared
    because the sources had none. Raises :class:`VectorLoadError` on any disagreement.
    """
    for info in infos:
        if info.geometry_type == "None":
            raise VectorLoadError(_no_geometry(info))
    first = infos[0]
    first_fields = {f.name.lower(): f for f in first.fields}
    effective: list[str] = []
    used_declared = False
    for info, declared in zip(infos, declared_crs, strict=True):
        if info.crs is None:
            if not declared:
                raise VectorLoadError(
                    f"file {info.source.name} has no CRS; set the file's crs in the manifest, "
                    'e.g. "crs": "EPSG:4326"'
                )
            effective.append(_declared_crs_wkt(declared, info.source.name))
            used_declared = True
        else:
            if declared and not same_crs(_declared_crs_wkt(declared, info.source.name), info.crs):
                raise VectorLoadError(
                    f"file {info.source.name} declares crs {declared!r} in the manifest but "
                    f"the file itself is in {crs_label(info.crs)}; remove the manifest "
                    "crs (it only fills in a missing CRS) or fix the file"
                )
            effective.append(info.crs)
    for info, crs in zip(infos[1:], effective[1:], strict=True):
        if not same_crs(crs, effective[0]):
            raise VectorLoadError(
                f"file {info.source.name} is in {crs_label(crs)} but {first.source.name} is in "
                f"{crs_label(effective[0])}; files of one batch must share a CRS"
            )
        if info.geometry_family != first.geometry_family and "generic" not in {
            info.geometry_family,
            first.geometry_family,
        }:
            raise VectorLoadError(
                f"file {info.source.name} has {info.geometry_type} geometries but "
                f"{first.source.name} has {first.geometry_type}; split the batch by geometry type"
            )
        fields = {f.name.lower(): f for f in info.fields}
        missing = sorted(set(first_fields) - set(fields))
        extra = sorted(set(fields) - set(first_fields))
        if missing or extra:
            detail = []
            if missing:
                detail.append(f"lacks {', '.join(missing)}")
            if extra:
                detail.append(f"adds {', '.join(extra)}")
            raise VectorLoadError(
                f"file {info.source.name} {' and '.join(detail)} compared with "
                f"{first.source.name}; files of one batch must have the same fields"
            )
        for name, fdef in fields.items():
            if fdef.type != first_fields[name].type:
                raise VectorLoadError(
                    f"file {info.source.name}: field {fdef.name!r} is {fdef.type} but "
                    f"{first_fields[name].type} in {first.source.name}; files of one batch must "
                    "have the same field types"
                )
    return (effective[0] if effective else None), used_declared


def _needs_promotion(infos: Sequence[LayerInfo]) -> bool:
    """Whether polygons/lines may be mixed with their multi forms, so PROMOTE_TO_MULTI is needed.

    Shapefiles do not distinguish Polygon from MultiPolygon (a "Polygon" layer holds both);
    GeoPackage does not enforce its declared type (``ogr2ogr`` from a shapefile writes
    MultiPolygons into a "Polygon" layer); generic layers (GeoJSON, WKT CSV) may hold anything;
    and a batch may mix the two forms.
    """
    types = {base_geometry_type(info.geometry_type) for info in infos}
    if any(
        info.driver in {"ESRI Shapefile", "GPKG"} and info.geometry_family in {"polygon", "line"}
        for info in infos
    ):
        return True
    if types & GENERIC_TYPES:
        return True
    return len(types & POLYGONAL_TYPES) > 1 or len(types & LINEAL_TYPES) > 1


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
    with contextlib.ExitStack() as cleanup:
        if workdir is None and any(needs_rewrite(s) for s in sources):
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="etl-text-")))
        sources = [prepare_text_source(s, workdir, i) for i, s in enumerate(sources)]
        return _load_vector(
            postgis, schema, sources, gdal_env=gdal_env, declared_crs=declared_crs,
            table=table, timeout=timeout, keep_source_names=keep_source_names,
        )  # fmt: skip


def _load_vector(
    postgis: Postgis,
    schema: RunSchema | str,
    sources: Sequence[VectorSource],
    *,
    gdal_env: Mapping[str, str] | None,
    declared_crs: str | Sequence[str | None] | None,
    table: str,
    timeout: float,
    keep_source_names: bool,
) -> LoadReport:
    schema_name = schema if isinstance(schema, str) else schema.name
    validate_identifier(schema_name, what="schema")
    validate_identifier(table, what="table name")
    if declared_crs is None or isinstance(declared_crs, str):
        declared = [declared_crs] * len(sources)
    else:
        declared = list(declared_crs)
        if len(declared) != len(sources):
            raise ValueError("declared_crs needs one entry per source")

    infos = [inspect_layer(source, gdal_env=gdal_env) for source in sources]
    crs_text, crs_declared = check_batch(infos, declared_crs=declared)
    promote = _needs_promotion(infos)

    launder_names = not keep_source_names
    for info in infos:
        check_column_names(info, launder_names=launder_names)
    files = None
    if loader_choice(os.environ) == "auto":
        files = _load_with_arrow(
            postgis, schema_name, table, infos, declared, promote, launder_names, gdal_env, timeout
        )
    if files is None:
        files = _load_with_ogr2ogr(
            postgis,
            schema_name,
            table,
            infos,
            crs_text if crs_declared else None,
            promote,
            launder_names,
            gdal_env,
            timeout,
        )
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
        run_ogr2ogr(
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
            env=env,
            timeout=timeout,
        )
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


def _no_geometry(info: LayerInfo) -> str:
    """What to do about a layer without a geometry column, in the terms of its format."""
    columns = ", ".join(f.name for f in info.fields[:12]) + (
        ", ..." if len(info.fields) > 12 else ""
    )
    named = {
        name: value
        for name, value in (
            ("x_column", info.source.x_column),
            ("y_column", info.source.y_column),
            ("wkt_column", info.source.wkt_column),
        )
        if value
    }
    if info.driver == "CSV" and named:
        given = ", ".join(f"{name} {value!r}" for name, value in named.items())
        return (
            f"{info.source.name}: the coordinate columns named in files[].options ({given}) "
            f"are not among its columns ({columns}); correct the names"
        )
    if info.driver == "CSV":
        return (
            f"{info.source.name}: no coordinate columns were found among its columns "
            f"({columns}); name them with files[].options.x_column and y_column (e.g. 'lon' "
            "and 'lat'), or wkt_column for a column of WKT geometries"
        )
    return (
        f"{info.source.name}: layer {info.layer!r} has no geometry column (a table of "
        "attributes only); submit it with the file type 'tabular', or pick a layer with "
        "geometries with files[].layer"
    )


def check_column_names(info: LayerInfo, *, launder_names: bool) -> None:
    """Refuse field names the table cannot hold as they are: one that becomes the platform's
    FID or geometry column, and two that PostgreSQL would make one by cutting them to its
    63-byte limit (GDAL's error for either is a bare "specified more than once", or the
    field silently taken as the FID)."""
    seen: dict[str, tuple[str, str]] = {}  # cut name -> (full name, the file's name)
    for field_info in info.fields:
        name = launder(field_info.name) if launder_names else field_info.name
        if name in (FID_COLUMN, GEOMETRY_COLUMN):
            raise VectorLoadError(
                f"{info.source.name}: field {field_info.name!r} would be the column {name!r}, "
                "which the platform uses for the feature's key or geometry; rename the field "
                "in the file and upload it again"
            )
        # Names equal in full are told apart by GDAL (``name``, ``name2``); names that differ
        # only after the limit would become one column.
        cut = name.encode("utf-8")[:MAX_COLUMN_BYTES].decode("utf-8", errors="ignore")
        other, other_field = seen.setdefault(cut, (name, field_info.name))
        if other != name:
            raise VectorLoadError(
                f"{info.source.name}: fields {other_field!r} and {field_info.name!r} are the same "
                f"in their first {MAX_COLUMN_BYTES} bytes, all of a column name PostgreSQL keeps; "
                "shorten or rename one of them and upload the file again"
            )


def launder(name: str) -> str:
    """GDAL's PostgreSQL name laundering (LAUNDER=YES): lower case, ``'``, ``-`` and ``#``
    become ``_``."""
    return "".join("_" if c in "'-#" else c for c in name.lower())


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
