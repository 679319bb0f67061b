"""The vector transform as ONE ``CREATE UNLOGGED TABLE ... AS SELECT`` (pure SQL construction).

Each step is a derived table nested inside the next, fenced with ``OFFSET 0`` so PostgreSQL
evaluates an expensive expression (``ST_IsValid``, ``ST_MakeValid``, ``ST_Transform``) once per
row instead of once per reference. Derived tables stream row by row; nothing is copied until the
single materialisation of the target table.

Order of the steps, per feature::

    linearise curves  ->  drop NULL / empty  ->  repair (source CRS)  ->  reproject to 4326
      ->  simplify (metres, optional)  ->  wrap longitudes to [-180, 180] (EPSG:4326)
      ->  re-repair if reprojection or wrapping broke validity
      ->  normalise types (Multi*)  ->  drop geometries that became empty

Repair uses ``ST_MakeValid(g, 'method=structure')`` and then keeps only the parts with the
feature's own dimension (``ST_CollectionExtract``), so a self-intersecting polygon stays
polygonal instead of becoming a GeometryCollection with stray lines and points.

Simplification in metres: ``ST_SimplifyPreserveTopology`` works in the units of the CRS, so each
feature is projected to the UTM zone of the centre of its bounding box (EPSG:326xx north,
327xx south; UPS EPSG:32661 / 32761 beyond 84N / 80S), simplified with the tolerance in metres,
and projected back to EPSG:4326. UTM keeps scale error below 0.1 % inside a zone; a feature
spanning many zones gets proportionally coarser accuracy far from its centre.

For data no step changes (a finite Point layer in the target CRS, within +-180, nothing to drop,
promote or simplify: the caller proves it from the source profile),
:func:`build_noop_view` makes the target a view over the source instead: no copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
INTERNAL_COLUMNS = frozenset({"_etl_g", "_etl_valid", "_etl_bad_key", FLAGS_COLUMN})
"""Working column names of the transform; a source column may not use them."""
FLAG_REPAIRED = 1
"""The source geometry was invalid in its own CRS and was repaired."""
FLAG_REPAIRED_AFTER_TRANSFORM = 2
"""Reprojection or simplification produced an invalid geometry that was repaired."""
FLAG_WRAPPED = 4
"""Longitudes beyond +-180 were wrapped (and a geometry crossing the antimeridian split)."""
FLAG_INVALID = 8
"""The output geometry is still invalid after its last repair (GEOS asked again of the rows
that repair changed; every other row of a line or polygon layer was found valid by GEOS in
its final shape, up to ``ST_Multi``, which keeps validity). Set only when ``make_valid``."""
WRAP_LIMIT = 540.0
"""Longitudes up to this far out are wrapped once; anything further is not degrees at all
(left for the output range check to refuse)."""


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
    keep_source_names: bool = Field(
        False, description="load attribute names unchanged (no lower-casing by the loader)"
    )


def _utm_srid(geom: sql.Composable) -> sql.Composed:
    """EPSG code of the UTM zone (or UPS) at the centre of ``geom``'s bbox, ``geom`` in 4326."""
    lon = sql.SQL("((ST_XMin({g}) + ST_XMax({g})) / 2.0)").format(g=geom)
    lat = sql.SQL("((ST_YMin({g}) + ST_YMax({g})) / 2.0)").format(g=geom)
    zone = sql.SQL("LEAST(60, GREATEST(1, floor(({lon} + 180.0) / 6.0)::int + 1))").format(lon=lon)
    return sql.SQL(
        "(CASE WHEN {lat} > 84.0 THEN 32661 WHEN {lat} < -80.0 THEN 32761 "
        "WHEN {lat} >= 0 THEN 32600 + {zone} ELSE 32700 + {zone} END)"
    ).format(lat=lat, zone=zone)


def nonfinite_xy(g: sql.Composable) -> sql.Composed:
    """True when a geometry has a NaN or infinite X/Y coordinate (NULL for NULL / empty Points).

    The verdict is GEOS's: its validity test reports such coordinates as ``Invalid
    Coordinate``. GEOS is only asked where a cheap test cannot clear the geometry:

    - a Point is tested on its two coordinates (``x * 0 + y * 0`` is 0 only when both are
      finite: NaN and +-Infinity times 0 give NaN), which is exactly GEOS's test;
    - a (Multi)Polygon whose perimeter is finite, or a (Multi)LineString whose length is
      finite, has only finite X/Y (a non-finite X or Y makes the length of each segment that
      touches it NaN or infinite, and PostGIS's parsers refuse rings of fewer than four points
      and lines of fewer than two, so every vertex is on a segment): cleared without GEOS
      (0.17 s against 1.8 s per 100k 20-vertex polygons). A non-finite length (NaN, infinity,
      or an overflow of huge finite coordinates) leaves the verdict to GEOS, so a row is
      counted exactly when it was before;
    - anything else (MultiPoints, curves, collections) asks GEOS. A MultiPoint's bbox cannot
      stand in for the test: the bbox code drops a NaN followed by a finite point.
    """
    return sql.SQL(
        "(CASE WHEN ST_GeometryType({g}) = 'ST_Point' "
        "THEN ST_X({g}) * 0 + ST_Y({g}) * 0 <> 0 "
        "WHEN ST_GeometryType({g}) IN ('ST_Polygon', 'ST_MultiPolygon') "
        "AND ST_Perimeter({g}) * 0 = 0 THEN false "
        "WHEN ST_GeometryType({g}) IN ('ST_LineString', 'ST_MultiLineString') "
        "AND ST_Length({g}) * 0 = 0 THEN false "
        "ELSE NOT ST_IsValid({g}, 0) AND ST_IsValidReason({g}) LIKE 'Invalid Coordinate%%' END)"
    ).format(g=g)


def _repair(geom: sql.Composable, valid: sql.Composable) -> sql.Composed:
    """Valid geometry unchanged; invalid repaired, keeping only parts of its own dimension.

    A geometry with NaN or infinite X/Y coordinates becomes NULL instead of being "repaired"
    into a different shape: the row is corrupt, and ``apply_vector_steps`` counts it as such
    (from the source profile). Each branch calls ``ST_MakeValid`` at most once per row (CASE
    evaluates one branch).
    """
    return sql.SQL(
        "CASE WHEN {v} IS NOT FALSE THEN {g} "
        "WHEN ST_IsValidReason({g}) LIKE 'Invalid Coordinate%%' THEN NULL "
        "WHEN ST_GeometryType({g}) = 'ST_GeometryCollection' "
        "THEN ST_MakeValid({g}, 'method=structure') "
        "ELSE ST_CollectionExtract(ST_MakeValid({g}, 'method=structure'), ST_Dimension({g}) + 1) "
        "END"
    ).format(g=geom, v=valid)


def _check_names(
    schema: str | Any,
    attribute_columns: Sequence[str],
    source_table: str,
    target_table: str,
    geom: str,
) -> str:
    """Validate the names a transform statement uses; the schema name."""
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
    return schema


def build_noop_view(
    schema: str | Any,
    *,
    attribute_columns: Sequence[str],
    target_srid: int = TARGET_SRID,
    source_table: str = "raw_data",
    target_table: str = "transformed",
    geom: str = "geom",
) -> sql.Composed:
    """``CREATE VIEW target AS SELECT`` the source's columns, for data every step leaves as it
    is (no copy, nothing computed but the column's type modifier check on read).

    Same columns, in the same order and of the same types as :func:`build_vector_transform`'s
    table: the attribute columns, then ``geom`` typed ``geometry(Geometry, target_srid)`` (the
    caller proved the data 2D, in ``target_srid``, and kept whole), without ``_etl_flags``.
    The source table must outlive the view (the run schema is dropped as a whole).
    """
    schema = _check_names(schema, attribute_columns, source_table, target_table, geom)
    items = [sql.Identifier(c) for c in attribute_columns]
    items.append(
        sql.SQL("{g}::geometry(Geometry, {srid}) AS {g}").format(
            g=sql.Identifier(geom), srid=sql.Literal(target_srid)
        )
    )
    return sql.SQL("CREATE VIEW {target} AS SELECT {items} FROM {source}").format(
        target=sql.Identifier(schema, target_table),
        items=sql.SQL(", ").join(items),
        source=sql.Identifier(schema, source_table),
    )


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
    point_layer: bool = False,
    source_nonfinite: bool = True,
    curves: bool = True,
    wrap: bool = True,
    key_column: str | None = None,
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

    What the source profile proved lets steps that would change nothing go (same table, same
    flags): ``point_layer`` (only Points / MultiPoints, whose only invalidity is a NaN or
    infinite coordinate) tests validity without GEOS for Points and never calls
    ``ST_MakeValid``; with ``source_nonfinite`` False as well the first repair pass goes, and
    the second one too unless reprojection or simplification moved the points (wrapping whole
    degrees cannot make a coordinate non-finite). ``curves`` False skips ``ST_HasArc``
    (no curve types or collections in the source); ``wrap`` False skips the antimeridian
    stage (the caller knows the longitudes lie within [-180, 180] already).

    ``key_column`` (the source's single-column primary key, if it has one) moves the first
    validity test (GEOS, the costliest step for polygons) out of the serial part of the
    statement: the levels above are fenced with ``OFFSET 0`` so that nothing is computed
    twice, and a fenced level runs in the leader only. The test becomes a self-join on the
    key whose inner side keeps the invalid rows, which PostgreSQL runs in its parallel workers
    (100k polygons: 1.8 -> 1.0 s on 2 cores); each row is still tested once.
    """
    schema = _check_names(schema, attribute_columns, source_table, target_table, geom)
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

    valid = sql.Identifier("_etl_valid")

    def repair(relation: sql.Composable, bit: int, *, tested: bool = False) -> sql.Composable:
        """Two levels: test validity (unless ``tested``: the relation carries ``_etl_valid``),
        then repair the invalid rows and set ``bit`` on them."""
        if point_layer:
            # A point is invalid only for a NaN/infinite coordinate: NULL it (corrupt), as
            # _repair would, without GEOS for Points and without ST_MakeValid.
            test = sql.SQL("NOT {} AS {}").format(nonfinite_xy(g), valid)
            fixed = sql.SQL("CASE WHEN {v} IS NOT FALSE THEN {g} END").format(v=valid, g=g)
        else:
            # ST_IsValid(g, 0): same test as ST_IsValid(g) without one NOTICE per invalid row.
            test = sql.SQL("ST_IsValid({g}, 0) AS {v}").format(g=g, v=valid)
            fixed = _repair(g, valid)
        relation = stage([g, flags, valid if tested else test], relation, None)
        return stage(
            [
                sql.SQL("{} AS {}").format(fixed, g),
                sql.SQL("CASE WHEN {v} IS FALSE THEN {f} | {bit} ELSE {f} END AS {f}").format(
                    v=valid, f=flags, bit=sql.Literal(bit)
                ),
            ],
            relation,
            None,
        )

    # Level 1: read, linearise curves (GEOS cannot repair them), stamp the declared SRID.
    src_geom = sql.Identifier(geom)
    g_expr: sql.Composable = src_geom
    if steps.normalize_types and curves:
        g_expr = sql.SQL("CASE WHEN ST_HasArc({g}) THEN ST_CurveToLine({g}) ELSE {g} END").format(
            g=src_geom
        )
    if assign_srid:
        g_expr = sql.SQL("ST_SetSRID({e}, {srid})").format(e=g_expr, srid=sql.Literal(source_srid))
    where = None
    if steps.drop_empty:
        where = sql.SQL("{g} IS NOT NULL AND NOT ST_IsEmpty({g})").format(g=src_geom)
    first_repair = steps.make_valid and (source_nonfinite or not point_layer)
    pretest = first_repair and not point_layer and key_column is not None
    items = [sql.SQL("{} AS {}").format(g_expr, g), sql.SQL("0 AS {}").format(flags)]
    source: sql.Composable = sql.Identifier(schema, source_table)
    if pretest:
        key = sql.Identifier(str(key_column))
        items.append(sql.SQL("{} IS NULL AS {}").format(sql.Identifier("_etl_bad_key"), valid))
        # Not fenced: PostgreSQL flattens it into level 1 and runs the join in its workers.
        source = sql.SQL(
            "(SELECT {src_all}, {bad_key} FROM {src} AS {src_alias} LEFT JOIN "
            "(SELECT {key} FROM {src} WHERE NOT ST_IsValid({g_expr}, 0)) AS {bad} "
            "ON {bad_key_ref} = {src_key}) AS {joined}"
        ).format(
            src_all=sql.SQL("{}.*").format(sql.Identifier("_etl_src")),
            bad_key=sql.SQL("{} AS {}").format(
                sql.Identifier("_etl_bad", str(key_column)), sql.Identifier("_etl_bad_key")
            ),
            src=sql.Identifier(schema, source_table),
            src_alias=sql.Identifier("_etl_src"),
            key=key,
            g_expr=g_expr,
            bad=sql.Identifier("_etl_bad"),
            bad_key_ref=sql.Identifier("_etl_bad", str(key_column)),
            src_key=sql.Identifier("_etl_src", str(key_column)),
            joined=sql.Identifier("_etl_s0"),
        )
    relation = stage(items, source, where)

    if first_repair:
        relation = repair(relation, FLAG_REPAIRED, tested=pretest)

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

    wrapped = steps.target_srid == 4326 and wrap
    if wrapped:
        # RFC 7946: longitudes in [-180, 180], a geometry crossing the antimeridian split there.
        # ST_WrapX cuts at the line and moves what lies beyond by 360 degrees.
        beyond = sql.SQL(
            "(ST_XMax({g}) > 180.0 AND ST_XMax({g}) <= {lim}) "
            "OR (ST_XMin({g}) < -180.0 AND ST_XMin({g}) >= -{lim})"
        ).format(g=g, lim=sql.Literal(WRAP_LIMIT))
        relation = stage(
            [
                sql.SQL(
                    "CASE WHEN ST_XMax({g}) > 180.0 AND ST_XMax({g}) <= {lim} "
                    "THEN ST_WrapX({g}, 180.0, -360.0) "
                    "WHEN ST_XMin({g}) < -180.0 AND ST_XMin({g}) >= -{lim} "
                    "THEN ST_WrapX({g}, -180.0, 360.0) ELSE {g} END AS {g}"
                ).format(g=g, lim=sql.Literal(WRAP_LIMIT)),
                sql.SQL("CASE WHEN {b} THEN {f} | {bit} ELSE {f} END AS {f}").format(
                    b=beyond, f=flags, bit=sql.Literal(FLAG_WRAPPED)
                ),
            ],
            relation,
            None,
        )

    moved = reprojected or simplified or (wrapped and not point_layer)
    if steps.make_valid and moved:
        # Valid in the source CRS does not guarantee valid after reprojection (coordinate
        # rounding, curvature); repair again and flag it so the report shows it.
        relation = repair(relation, FLAG_REPAIRED_AFTER_TRANSFORM)

    out_flags: sql.Composable = flags
    if steps.make_valid and not point_layer:
        # The last repair tested every row; ask GEOS again only of the rows it changed, so the
        # output's validity is known without another pass over all rows (FLAG_INVALID).
        last = FLAG_REPAIRED_AFTER_TRANSFORM if moved else FLAG_REPAIRED
        out_flags = sql.SQL(
            "CASE WHEN {f} & {last} <> 0 AND {g} IS NOT NULL "
            "THEN CASE WHEN ST_IsValid({g}, 0) THEN {f} ELSE {f} | {bad} END ELSE {f} END AS {f}"
        ).format(f=flags, g=g, last=sql.Literal(last), bad=sql.Literal(FLAG_INVALID))
        if not steps.normalize_types:
            relation = stage([g, out_flags], relation, None)
            out_flags = flags

    if steps.normalize_types:
        single_types = ["ST_Polygon", "ST_LineString"] + (["ST_Point"] if promote_points else [])
        relation = stage(
            [
                sql.SQL(
                    "CASE WHEN ST_GeometryType({g}) IN ({types}) THEN ST_Multi({g}) "
                    "ELSE {g} END AS {g}"
                ).format(g=g, types=sql.SQL(", ").join(sql.Literal(t) for t in single_types)),
                out_flags,
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
