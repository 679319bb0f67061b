"""Vector steps in PostGIS: reproject, repair, drop empties, simplify, normalise types.

All steps compose into ONE ``CREATE UNLOGGED TABLE ... AS SELECT``: each step is a derived
table nested inside the next, fenced with ``OFFSET 0`` so PostgreSQL evaluates an expensive
expression (``ST_IsValid``, ``ST_MakeValid``, ``ST_Transform``) once per row instead of once per
reference. Derived tables stream row by row; nothing is copied until the single materialisation
of the target table.

Order of the steps, per feature::

    linearise curves  ->  drop NULL / empty  ->  repair (source CRS)  ->  reproject to 4326
      ->  simplify (metres, optional)  ->  re-repair if reprojection broke validity
      ->  normalise types (Multi*)  ->  drop geometries that became empty

Repair uses ``ST_MakeValid(g, 'method=structure')`` and then keeps only the parts with the
feature's own dimension (``ST_CollectionExtract``), so a self-intersecting polygon stays
polygonal instead of becoming a GeometryCollection with stray lines and points.

Simplification in metres: ``ST_SimplifyPreserveTopology`` works in the units of the CRS, so each
feature is projected to the UTM zone of the centre of its bounding box (EPSG:326xx north,
327xx south; UPS EPSG:32661 / 32761 beyond 84N / 80S), simplified with the tolerance in metres,
and projected back to EPSG:4326. UTM keeps scale error below 0.1 % inside a zone; a feature
spanning many zones gets proportionally coarser accuracy far from its centre.

Counts come from cheap aggregates over the source (before) and the target (after) plus a
per-row ``_etl_flags`` bitmask written in the same pass and then dropped (a catalogue-only
``ALTER TABLE ... DROP COLUMN``, no rewrite).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from etl_transforms.errors import SourceCrsError, VectorSchemaError
from etl_transforms.identifiers import (
    schema_name,
    validate_column_name,
    validate_platform_name,
)

TARGET_SRID = 4326
FLAGS_COLUMN = "_etl_flags"
INTERNAL_COLUMNS = frozenset({"_etl_g", "_etl_valid", FLAGS_COLUMN})
"""Working column names of the transform; a source column may not use them."""
FLAG_REPAIRED = 1
"""The source geometry was invalid in its own CRS and was repaired."""
FLAG_REPAIRED_AFTER_TRANSFORM = 2
"""Reprojection or simplification produced an invalid geometry that was repaired."""

_ZM_FLAGS = {0: "XY", 1: "XYM", 2: "XYZ", 3: "XYZM"}
_CRS_CODE = re.compile(r"^\s*([A-Za-z]+)\s*:\s*(\d+)\s*$")


class VectorSteps(BaseModel):
    """Which vector steps to apply. Part of a recipe, so part of the content hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_srid: int = Field(TARGET_SRID, gt=0, description="EPSG code of the output CRS")
    make_valid: bool = Field(True, description="repair invalid geometries (counted)")
    drop_empty: bool = Field(True, description="drop NULL and empty geometries (counted)")
    simplify_tolerance_m: float | None = Field(
        None, gt=0, description="opt-in simplification tolerance in metres; None = off"
    )
    normalize_types: bool = Field(
        True, description="linearise curves and promote to Multi* so each dimension has one type"
    )


class SourceGeometryProfile(BaseModel):
    """What a cheap aggregate over the source table says about its geometry column."""

    model_config = ConfigDict(frozen=True)

    rows: int
    null_count: int
    empty_count: int
    unknown_srid_count: int
    srids: tuple[int, ...]
    geometry_types: tuple[str, ...]
    coordinate_dimensions: tuple[str, ...] = Field(description="'XY', 'XYZ', 'XYM', 'XYZM'")
    column_srid: int


class VectorTransformReport(BaseModel):
    """Outcome of :func:`apply_vector_steps`. Invariant: ``rows_in == rows_out +
    dropped_null_count + dropped_empty_count``."""

    model_config = ConfigDict(frozen=True)

    source_table: str
    target_table: str
    geometry_column: str
    source_srid: int | None
    source_crs: str | None = Field(description="authority code, e.g. 'EPSG:28355'")
    declared_crs_applied: bool = Field(
        description="the declared CRS was assigned because the data carried none"
    )
    target_srid: int
    target_crs: str
    rows_in: int
    rows_out: int
    null_geometry_count: int = Field(description="source rows with a NULL geometry")
    empty_geometry_count: int = Field(description="source rows with an empty geometry")
    dropped_null_count: int
    dropped_empty_count: int = Field(
        description="source empties plus geometries that collapsed to empty when repaired "
        "or simplified"
    )
    collapsed_count: int = Field(
        description="non-empty source geometries dropped because repair or simplification "
        "left nothing of their dimension"
    )
    repaired_count: int = Field(description="kept rows whose source geometry was invalid")
    repaired_after_transform_count: int = Field(
        description="kept rows made valid again after reprojection or simplification"
    )
    simplify_tolerance_m: float | None
    source_geometry_types: tuple[str, ...]
    geometry_types: tuple[str, ...]
    coordinate_dimensions: tuple[str, ...] = Field(
        description="of the source: 'XY', 'XYZ', 'XYM' or 'XYZM' (kept as they are)"
    )
    bbox: tuple[float, float, float, float] | None = Field(
        description="(xmin, ymin, xmax, ymax) of the output in the target CRS"
    )
    steps: VectorSteps


# --- pure SQL construction -------------------------------------------------------------------


def _utm_srid(geom: sql.Composable) -> sql.Composed:
    """EPSG code of the UTM zone (or UPS) at the centre of ``geom``'s bbox, ``geom`` in 4326."""
    lon = sql.SQL("((ST_XMin({g}) + ST_XMax({g})) / 2.0)").format(g=geom)
    lat = sql.SQL("((ST_YMin({g}) + ST_YMax({g})) / 2.0)").format(g=geom)
    zone = sql.SQL("LEAST(60, GREATEST(1, floor(({lon} + 180.0) / 6.0)::int + 1))").format(lon=lon)
    return sql.SQL(
        "(CASE WHEN {lat} > 84.0 THEN 32661 WHEN {lat} < -80.0 THEN 32761 "
        "WHEN {lat} >= 0 THEN 32600 + {zone} ELSE 32700 + {zone} END)"
    ).format(lat=lat, zone=zone)


def _repair(geom: sql.Composable, valid: sql.Composable) -> sql.Composed:
    """Valid geometry unchanged; invalid repaired, keeping only parts of its own dimension.

    Each branch calls ``ST_MakeValid`` at most once per row (CASE evaluates one branch).
    """
    return sql.SQL(
        "CASE WHEN {v} IS NOT FALSE THEN {g} "
        "WHEN ST_GeometryType({g}) = 'ST_GeometryCollection' "
        "THEN ST_MakeValid({g}, 'method=structure') "
        "ELSE ST_CollectionExtract(ST_MakeValid({g}, 'method=structure'), ST_Dimension({g}) + 1) "
        "END"
    ).format(g=geom, v=valid)


def build_vector_transform(
    schema: str | Any,
    *,
    attribute_columns: Sequence[str],
    source_srid: int,
    steps: VectorSteps,
    source_table: str = "raw_data",
    target_table: str = "transformed",
    geom: str = "geom",
    assign_srid: bool = False,
    promote_points: bool = False,
    typed_column: bool = True,
) -> sql.Composed:
    """Build the single ``CREATE UNLOGGED TABLE ... AS SELECT`` applying ``steps``.

    ``attribute_columns`` are the non-geometry columns to carry, in order. ``source_srid`` is the
    CRS of the source geometries; with ``assign_srid`` it is stamped onto them first (the data
    carried SRID 0 and a CRS was declared). ``promote_points`` turns Points into MultiPoints
    (used when the source mixes both). The target gets the attribute columns, ``geom`` and an
    integer ``_etl_flags`` column (see ``FLAG_*``) that :func:`apply_vector_steps` drops after
    counting. With ``typed_column`` (for 2D data) ``geom`` is typed ``geometry(Geometry,
    target_srid)`` so ``geometry_columns`` reports the SRID; Z/M data stays ``geometry`` (a 2D
    type modifier would reject it), each value still carrying the target SRID.
    """
    schema = schema_name(schema)
    validate_platform_name(source_table, field="source_table")
    validate_platform_name(target_table, field="target_table")
    validate_column_name(geom, field="geometry column")
    for column in attribute_columns:
        validate_column_name(column)
        if column in INTERNAL_COLUMNS:
            raise VectorSchemaError(
                f"column {column!r} is reserved for the transform's working columns "
                f"({', '.join(sorted(INTERNAL_COLUMNS))}); rename it"
            )
        if column == geom:
            raise VectorSchemaError(f"attribute_columns must not include the geometry {geom!r}")
    if source_srid <= 0:
        raise SourceCrsError(f"source_srid must be a positive SRID (got {source_srid})")

    g = sql.Identifier("_etl_g")
    flags = sql.Identifier(FLAGS_COLUMN)
    attrs = [sql.Identifier(c) for c in attribute_columns]
    level = 0

    def stage(items: list[sql.Composable], inner: sql.Composable, where: sql.Composable | None):
        nonlocal level
        level += 1
        parts = [
            sql.SQL("SELECT "),
            sql.SQL(", ").join([*attrs, *items]),
            sql.SQL(" FROM "),
            inner,
        ]
        if where is not None:
            parts += [sql.SQL(" WHERE "), where]
        # OFFSET 0 stops the planner from flattening this level into the next one, which
        # would duplicate (and re-evaluate) the expressions computed here.
        parts.append(sql.SQL(" OFFSET 0"))
        return sql.SQL("({}) AS {}").format(sql.Composed(parts), sql.Identifier(f"_etl_s{level}"))

    # Level 1: read, linearise curves (GEOS cannot repair them), stamp the declared SRID.
    src_geom = sql.Identifier(geom)
    g_expr: sql.Composable = src_geom
    if steps.normalize_types:
        g_expr = sql.SQL("CASE WHEN ST_HasArc({g}) THEN ST_CurveToLine({g}) ELSE {g} END").format(
            g=src_geom
        )
    if assign_srid:
        g_expr = sql.SQL("ST_SetSRID({e}, {srid})").format(e=g_expr, srid=sql.Literal(source_srid))
    where = None
    if steps.drop_empty:
        where = sql.SQL("{g} IS NOT NULL AND NOT ST_IsEmpty({g})").format(g=src_geom)
    relation = stage(
        [sql.SQL("{} AS {}").format(g_expr, g), sql.SQL("0 AS {}").format(flags)],
        sql.Identifier(schema, source_table),
        where,
    )

    if steps.make_valid:
        # ST_IsValid(g, 0): same test as ST_IsValid(g) without one NOTICE per invalid row.
        valid = sql.Identifier("_etl_valid")
        relation = stage(
            [g, flags, sql.SQL("ST_IsValid({g}, 0) AS {v}").format(g=g, v=valid)], relation, None
        )
        relation = stage(
            [
                sql.SQL("{} AS {}").format(_repair(g, valid), g),
                sql.SQL("CASE WHEN {v} IS FALSE THEN {f} | {bit} ELSE {f} END AS {f}").format(
                    v=valid, f=flags, bit=sql.Literal(FLAG_REPAIRED)
                ),
            ],
            relation,
            None,
        )

    reprojected = source_srid != steps.target_srid
    if reprojected:
        relation = stage(
            [
                sql.SQL("ST_Transform({g}, {srid}) AS {g}").format(
                    g=g, srid=sql.Literal(steps.target_srid)
                ),
                flags,
            ],
            relation,
            None,
        )

    simplified = steps.simplify_tolerance_m is not None
    if simplified:
        # The UTM trip needs lon/lat; go through 4326 when the target is another CRS.
        if steps.target_srid != 4326:
            relation = stage(
                [sql.SQL("ST_Transform({g}, 4326) AS {g}").format(g=g), flags], relation, None
            )
        relation = stage(
            [
                sql.SQL(
                    "ST_Transform(ST_SimplifyPreserveTopology(ST_Transform({g}, {utm}), {tol}), "
                    "{srid}) AS {g}"
                ).format(
                    g=g,
                    utm=_utm_srid(g),
                    tol=sql.Literal(float(steps.simplify_tolerance_m)),
                    srid=sql.Literal(steps.target_srid),
                ),
                flags,
            ],
            relation,
            None,
        )

    if steps.make_valid and (reprojected or simplified):
        # Valid in the source CRS does not guarantee valid after reprojection (coordinate
        # rounding, curvature); repair again and flag it so the report shows it.
        valid = sql.Identifier("_etl_valid")
        relation = stage(
            [g, flags, sql.SQL("ST_IsValid({g}, 0) AS {v}").format(g=g, v=valid)], relation, None
        )
        relation = stage(
            [
                sql.SQL("{} AS {}").format(_repair(g, valid), g),
                sql.SQL("CASE WHEN {v} IS FALSE THEN {f} | {bit} ELSE {f} END AS {f}").format(
                    v=valid, f=flags, bit=sql.Literal(FLAG_REPAIRED_AFTER_TRANSFORM)
                ),
            ],
            relation,
            None,
        )

    if steps.normalize_types:
        single_types = ["ST_Polygon", "ST_LineString"] + (["ST_Point"] if promote_points else [])
        relation = stage(
            [
                sql.SQL(
                    "CASE WHEN ST_GeometryType({g}) IN ({types}) THEN ST_Multi({g}) "
                    "ELSE {g} END AS {g}"
                ).format(g=g, types=sql.SQL(", ").join(sql.Literal(t) for t in single_types)),
                flags,
            ],
            relation,
            None,
        )

    final_where = None
    if steps.drop_empty:
        final_where = sql.SQL("{g} IS NOT NULL AND NOT ST_IsEmpty({g})").format(g=g)
    out_geom: sql.Composable = g
    if typed_column:
        out_geom = sql.SQL("{g}::geometry(Geometry, {srid})").format(
            g=g, srid=sql.Literal(steps.target_srid)
        )
    select_items: list[sql.Composable] = [
        *attrs,
        sql.SQL("{} AS {}").format(out_geom, sql.Identifier(geom)),
        flags,
    ]
    query = sql.SQL("SELECT {items} FROM {rel}").format(
        items=sql.SQL(", ").join(select_items), rel=relation
    )
    if final_where is not None:
        query = sql.SQL("{q} WHERE {w}").format(q=query, w=final_where)
    return sql.SQL("CREATE UNLOGGED TABLE {target} AS {query}").format(
        target=sql.Identifier(schema, target_table), query=query
    )


# --- database side ---------------------------------------------------------------------------


def table_columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    """``(name, udt_name)`` of a table's columns in order; empty when the table is missing."""
    rows = conn.execute(
        "SELECT column_name, udt_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    return [(str(name), str(udt)) for name, udt in rows]


def profile_source_geometry(
    conn: psycopg.Connection, schema: str, table: str, geom: str = "geom"
) -> SourceGeometryProfile:
    """One aggregate pass over the source: rows, NULL / empty / SRID-0 counts, SRIDs, types."""
    g = sql.Identifier(geom)
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE {g} IS NULL), "
            "count(*) FILTER (WHERE ST_IsEmpty({g})), "
            "count(*) FILTER (WHERE ST_SRID({g}) = 0), "
            "coalesce(array_agg(DISTINCT ST_SRID({g})) FILTER (WHERE ST_SRID({g}) <> 0), "
            "'{{}}'::int[]), "
            "coalesce(array_agg(DISTINCT GeometryType({g})) FILTER (WHERE {g} IS NOT NULL), "
            "'{{}}'::text[]), "
            "coalesce(array_agg(DISTINCT ST_Zmflag({g})) FILTER (WHERE {g} IS NOT NULL), "
            "'{{}}'::smallint[]) "
            "FROM {t}"
        ).format(g=g, t=sql.Identifier(schema, table))
    ).fetchone()
    assert row is not None
    column_srid_row = conn.execute(
        "SELECT srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s "
        "AND f_geometry_column = %s",
        (schema, table, geom),
    ).fetchone()
    return SourceGeometryProfile(
        rows=row[0],
        null_count=row[1],
        empty_count=row[2],
        unknown_srid_count=row[3],
        srids=tuple(sorted(row[4])),
        geometry_types=tuple(sorted(row[5])),
        coordinate_dimensions=tuple(_ZM_FLAGS[int(flag)] for flag in sorted(row[6])),
        column_srid=int(column_srid_row[0]) if column_srid_row and column_srid_row[0] else 0,
    )


def crs_code(conn: psycopg.Connection, srid: int) -> str:
    """Authority code (``'EPSG:28355'``) of an SRID in ``spatial_ref_sys``."""
    row = conn.execute(
        "SELECT auth_name, auth_srid FROM spatial_ref_sys WHERE srid = %s", (srid,)
    ).fetchone()
    if row is None:
        raise SourceCrsError(
            f"SRID {srid} is not in PostGIS spatial_ref_sys, so the data cannot be reprojected; "
            "declare a known CRS in files[].crs (e.g. 'EPSG:28355')"
        )
    auth_name, auth_srid = row
    return f"{auth_name}:{auth_srid}" if auth_name and auth_srid else f"SRID:{srid}"


def resolve_declared_srid(conn: psycopg.Connection, crs: str | int) -> int:
    """SRID of a declared CRS: an int SRID, ``'EPSG:28355'``, ``'ESRI:102100'`` or
    ``'OGC:CRS84'`` (lon/lat WGS 84, which is how PostGIS stores EPSG:4326)."""
    if isinstance(crs, bool):
        raise SourceCrsError(f"files[].crs must be a CRS code like 'EPSG:28355' (got {crs!r})")
    if isinstance(crs, int):
        crs_code(conn, crs)
        return crs
    text = str(crs).strip()
    if text.upper() in ("OGC:CRS84", "CRS84"):
        return 4326
    match = _CRS_CODE.match(text)
    if not match:
        raise SourceCrsError(f"files[].crs {crs!r} is not an authority code; use e.g. 'EPSG:28355'")
    auth, code = match.group(1).upper(), int(match.group(2))
    row = conn.execute(
        "SELECT srid FROM spatial_ref_sys WHERE upper(auth_name) = %s AND auth_srid = %s "
        "ORDER BY srid LIMIT 1",
        (auth, code),
    ).fetchone()
    if row is None:
        raise SourceCrsError(
            f"files[].crs {crs!r} is not known to PostGIS (spatial_ref_sys); use an EPSG code "
            "PostGIS ships, e.g. 'EPSG:28355'"
        )
    return int(row[0])


def _resolve_source_srid(
    profile: SourceGeometryProfile, declared_srid: int | None, table: str
) -> tuple[int | None, bool]:
    """Return ``(source_srid, assign)``; raise when the source CRS is unknown or ambiguous."""
    data_srids = set(profile.srids)
    if profile.column_srid:
        data_srids.add(profile.column_srid)
    geometries = profile.rows - profile.null_count
    if declared_srid is not None:
        conflicting = sorted(data_srids - {declared_srid})
        if conflicting:
            raise SourceCrsError(
                f"files[].crs declares SRID {declared_srid} but the data in {table!r} carries "
                f"SRID {conflicting}; remove files[].crs (the data knows its CRS) or fix the data"
            )
        return declared_srid, True
    if len(data_srids) > 1:
        raise SourceCrsError(
            f"the geometries in {table!r} mix SRIDs {sorted(data_srids)}; split the data per CRS "
            "or reproject it to one CRS before upload"
        )
    if profile.unknown_srid_count and geometries:
        raise SourceCrsError(
            f"{profile.unknown_srid_count} geometries in {table!r} have no CRS (SRID 0), so they "
            "cannot be reprojected to EPSG:4326; declare the source CRS in files[].crs "
            "(e.g. 'EPSG:28355')"
        )
    if data_srids:
        return next(iter(data_srids)), False
    return None, False  # no geometries at all: nothing to reproject


def apply_vector_steps(
    conn: psycopg.Connection,
    schema: str | Any,
    steps: VectorSteps | None = None,
    *,
    source_table: str = "raw_data",
    target_table: str = "transformed",
    geom: str = "geom",
    declared_crs: str | int | None = None,
) -> VectorTransformReport:
    """Materialise ``schema.target_table`` from ``schema.source_table`` with ``steps`` applied.

    ``declared_crs`` (``files[].crs``) is assigned when the data has no CRS (SRID 0) and must
    agree with it otherwise. Raises :class:`SourceCrsError` when the CRS is unknown, mixed or
    contradicts the declaration, :class:`VectorSchemaError` when the table or geometry column
    is missing. The source table is left in place; the target must not exist yet.
    """
    steps = steps or VectorSteps()
    schema = schema_name(schema)
    validate_platform_name(source_table, field="source_table")
    validate_platform_name(target_table, field="target_table")
    columns = table_columns(conn, schema, source_table)
    if not columns:
        raise VectorSchemaError(
            f"source table {schema}.{source_table} does not exist (or has no columns); load the "
            "vector data first"
        )
    by_name = dict(columns)
    if by_name.get(geom) != "geometry":
        geometry_columns = [name for name, udt in columns if udt == "geometry"]
        raise VectorSchemaError(
            f"geometry column {geom!r} not found in {schema}.{source_table}; geometry columns "
            f"present: {geometry_columns or 'none'}"
        )
    attribute_columns = [name for name, _ in columns if name != geom]

    with conn.transaction():
        profile = profile_source_geometry(conn, schema, source_table, geom)
        declared_srid = None
        if declared_crs is not None:
            declared_srid = resolve_declared_srid(conn, declared_crs)
        source_srid, assign = _resolve_source_srid(
            profile, declared_srid, f"{schema}.{source_table}"
        )
        source_crs = crs_code(conn, source_srid) if source_srid is not None else None
        target_crs = crs_code(conn, steps.target_srid)
        # Promote Points only when Point and MultiPoint are mixed; polygons and lines are
        # always promoted because repair can turn a Polygon into a MultiPolygon.
        base_types = {t.rstrip("M") for t in profile.geometry_types}
        promote_points = {"POINT", "MULTIPOINT"} <= base_types
        statement = build_vector_transform(
            schema,
            attribute_columns=attribute_columns,
            # Without geometries there is nothing to reproject; stamp the target CRS.
            source_srid=source_srid if source_srid is not None else steps.target_srid,
            steps=steps,
            source_table=source_table,
            target_table=target_table,
            geom=geom,
            assign_srid=assign or source_srid is None,
            promote_points=promote_points,
            typed_column=set(profile.coordinate_dimensions) <= {"XY"},
        )
        try:
            conn.execute(statement)
        except psycopg.errors.DatabaseError as exc:
            if "transform" not in str(exc).lower():
                raise
            # PROJ rejects coordinates outside the CRS's domain: almost always a wrong CRS.
            raise SourceCrsError(
                f"reprojecting {schema}.{source_table} from {source_crs} to {target_crs} "
                f"failed ({str(exc).strip()}); the coordinates do not fit {source_crs}. "
                "Check the source CRS (files[].crs) against the data's coordinates"
            ) from exc
        out = _profile_output(conn, schema, target_table, geom)
        conn.execute(
            sql.SQL("ALTER TABLE {t} DROP COLUMN {f}").format(
                t=sql.Identifier(schema, target_table), f=sql.Identifier(FLAGS_COLUMN)
            )
        )

    dropped_null = profile.null_count if steps.drop_empty else 0
    dropped_empty = profile.rows - out["rows"] - dropped_null
    source_empty_dropped = profile.empty_count if steps.drop_empty else 0
    return VectorTransformReport(
        source_table=source_table,
        target_table=target_table,
        geometry_column=geom,
        source_srid=source_srid,
        source_crs=source_crs,
        declared_crs_applied=bool(assign and profile.unknown_srid_count),
        target_srid=steps.target_srid,
        target_crs=target_crs,
        rows_in=profile.rows,
        rows_out=out["rows"],
        null_geometry_count=profile.null_count,
        empty_geometry_count=profile.empty_count,
        dropped_null_count=dropped_null,
        dropped_empty_count=dropped_empty,
        collapsed_count=dropped_empty - source_empty_dropped,
        repaired_count=out["repaired"],
        repaired_after_transform_count=out["repaired_after"],
        simplify_tolerance_m=steps.simplify_tolerance_m,
        source_geometry_types=profile.geometry_types,
        geometry_types=out["types"],
        coordinate_dimensions=profile.coordinate_dimensions,
        bbox=out["bbox"],
        steps=steps,
    )


def _profile_output(conn: psycopg.Connection, schema: str, table: str, geom: str) -> dict[str, Any]:
    g = sql.Identifier(geom)
    f = sql.Identifier(FLAGS_COLUMN)
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE {f} & {r1} <> 0), "
            "count(*) FILTER (WHERE {f} & {r2} <> 0), "
            "coalesce(array_agg(DISTINCT GeometryType({g})) FILTER (WHERE {g} IS NOT NULL), "
            "'{{}}'::text[]), "
            "ST_XMin(ST_Extent({g})), ST_YMin(ST_Extent({g})), "
            "ST_XMax(ST_Extent({g})), ST_YMax(ST_Extent({g})) "
            "FROM {t}"
        ).format(
            g=g,
            f=f,
            r1=sql.Literal(FLAG_REPAIRED),
            r2=sql.Literal(FLAG_REPAIRED_AFTER_TRANSFORM),
            t=sql.Identifier(schema, table),
        )
    ).fetchone()
    assert row is not None
    bbox = None if row[4] is None else (float(row[4]), float(row[5]), float(row[6]), float(row[7]))
    return {
        "rows": row[0],
        "repaired": row[1],
        "repaired_after": row[2],
        "types": tuple(sorted(row[3])),
        "bbox": bbox,
    }
