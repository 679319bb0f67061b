"""Vector steps in PostGIS: reproject, repair, drop empties, simplify, normalise types.

:func:`apply_vector_steps` profiles the source, settles its CRS, runs the single statement built
by :func:`etl_transforms.vector_sql.build_vector_transform` and reports what happened. Counts come
from cheap aggregates over the source (before) and the target (after) plus a per-row
``_etl_flags`` bitmask written in the same pass and then dropped (a catalogue-only
``ALTER TABLE ... DROP COLUMN``, no rewrite).

When the source profile proves that no step changes anything (see :func:`is_noop`: e.g. a
Point layer already in the target CRS, finite, within +-180, nothing to drop, promote or
simplify), nothing is copied: the target is a view over the source
(:func:`etl_transforms.vector_sql.build_noop_view`) and the output profile is the source's.

Where things live: :mod:`etl_transforms.vector_sql` (``VectorSteps``, ``build_vector_transform``),
:mod:`etl_transforms.vector_profile` (``profile_source_geometry``, ``resolve_declared_srid``,
``table_columns``) and this module (``apply_vector_steps``, ``VectorTransformReport``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from etl_transforms.errors import SourceCrsError, VectorSchemaError
from etl_transforms.identifiers import schema_name, validate_platform_name
from etl_transforms.vector_profile import (
    SourceGeometryProfile,
    primary_key_column,
    profile_output,
    profile_source_geometry,
    resolve_declared_srid,
    resolve_source_srid,
    srid_crs_label,
    table_columns,
)
from etl_transforms.vector_sql import (
    FLAGS_COLUMN,
    VectorSteps,
    build_noop_view,
    build_vector_transform,
)

CURVED_TYPES = frozenset(
    {
        "CIRCULARSTRING",
        "COMPOUNDCURVE",
        "CURVEPOLYGON",
        "MULTICURVE",
        "MULTISURFACE",
        "GEOMETRYCOLLECTION",
    }
)
"""Source types that may hold arcs (a collection may hold curves): only then ST_HasArc."""


class VectorTransformReport(BaseModel):
    """Outcome of :func:`apply_vector_steps`. Invariant: ``rows_in == rows_out +
    dropped_null_count + dropped_nonfinite_count + dropped_empty_count``.

    NULL and empty source geometries and NaN/infinite coordinates are corruption
    (``corrupt_count``: the caller decides whether the batch may lose them); geometries that
    repair or simplification collapsed are the recipe's deliberate drops."""

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
    dropped_nonfinite_count: int = Field(
        0, description="source rows dropped for NaN or infinite X/Y coordinates"
    )
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
    wrapped_count: int = Field(
        0, description="kept rows whose longitudes were wrapped into [-180, 180] (antimeridian)"
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
    _output_invalid: int | None = PrivateAttr(None)

    @property
    def output_invalid_count(self) -> int | None:
        """Output rows whose geometry GEOS still finds invalid after repair, when the
        transform knows it (a line or polygon layer with ``make_valid``: every row was tested
        by GEOS in its final shape, the repaired ones once more); ``None`` otherwise. Not part
        of the report's fields: the export uses it instead of testing every row again."""
        return self._output_invalid

    @property
    def dropped_source_empty_count(self) -> int:
        """Source rows dropped because their geometry was empty (GDAL reads a NaN point so)."""
        return self.dropped_empty_count - self.collapsed_count

    @property
    def corrupt_count(self) -> int:
        """Rows lost to corruption: no readable geometry (NULL or empty, which is what readers
        make of NaN points) or NaN/infinite coordinates. Collapsed ones are the recipe's."""
        return (
            self.dropped_null_count
            + self.dropped_nonfinite_count
            + (self.dropped_source_empty_count)
        )


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
    is missing. The source table is left in place; the target must not exist yet. The target
    is a table, or a view over the source when no step has work to do (:func:`is_noop`): it
    has the same columns either way, without ``_etl_flags``.
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
        source_srid, assign = resolve_source_srid(
            profile, declared_srid, f"{schema}.{source_table}"
        )
        source_crs = srid_crs_label(conn, source_srid) if source_srid is not None else None
        target_crs = srid_crs_label(conn, steps.target_srid)
        # Promote Points only when Point and MultiPoint are mixed; polygons and lines are
        # always promoted because repair can turn a Polygon into a MultiPolygon.
        base_types = {t.rstrip("M") for t in profile.geometry_types}
        promote_points = {"POINT", "MULTIPOINT"} <= base_types
        # Steps the profile proves are no-ops for this data are left out of the statement.
        point_layer = bool(base_types) and base_types <= {"POINT", "MULTIPOINT"}
        within_180 = (
            profile.x_range is not None
            and profile.nonfinite_count == 0
            and profile.x_range[0] >= -180.0
            and profile.x_range[1] <= 180.0
        )
        same_crs = source_srid is None or source_srid == steps.target_srid
        # Nothing beyond +-180 in a source already in the target CRS: nothing to wrap.
        wrap = not (same_crs and steps.simplify_tolerance_m is None and within_180)
        if is_noop(profile, steps, source_srid=source_srid, wrap=wrap):
            # Every step leaves this data as it is: the target is the source, seen through a
            # view, and the output profile is the source's (nothing repaired, wrapped, dropped
            # or promoted; same rows, types and extent).
            conn.execute(
                build_noop_view(
                    schema,
                    attribute_columns=attribute_columns,
                    target_srid=steps.target_srid,
                    source_table=source_table,
                    target_table=target_table,
                    geom=geom,
                )
            )
            out = {
                "rows": profile.rows,
                "repaired": 0,
                "repaired_after": 0,
                "wrapped": 0,
                "types": profile.geometry_types,
                "bbox": profile.bbox,
            }
        else:
            out = _transform(
                conn,
                schema,
                profile,
                steps,
                key_column=primary_key_column(conn, schema, source_table),
                attribute_columns=attribute_columns,
                source_srid=source_srid,
                assign=assign,
                promote_points=promote_points,
                point_layer=point_layer,
                curves=bool(base_types & CURVED_TYPES),
                wrap=wrap,
                source_table=source_table,
                target_table=target_table,
                geom=geom,
                labels=(source_crs, target_crs),
            )

    dropped_null = profile.null_count if steps.drop_empty else 0
    dropped_nonfinite = profile.nonfinite_count if steps.make_valid and steps.drop_empty else 0
    dropped_empty = profile.rows - out["rows"] - dropped_null - dropped_nonfinite
    source_empty_dropped = profile.empty_count if steps.drop_empty else 0
    report = VectorTransformReport(
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
        dropped_nonfinite_count=dropped_nonfinite,
        dropped_empty_count=dropped_empty,
        collapsed_count=dropped_empty - source_empty_dropped,
        repaired_count=out["repaired"],
        repaired_after_transform_count=out["repaired_after"],
        wrapped_count=out["wrapped"],
        simplify_tolerance_m=steps.simplify_tolerance_m,
        source_geometry_types=profile.geometry_types,
        geometry_types=out["types"],
        coordinate_dimensions=profile.coordinate_dimensions,
        bbox=out["bbox"],
        steps=steps,
    )
    report._output_invalid = out.get("invalid")
    return report


def is_noop(
    profile: SourceGeometryProfile, steps: VectorSteps, *, source_srid: int | None, wrap: bool
) -> bool:
    """Whether ``steps`` provably leave every row of the profiled source as it is.

    True only for a non-empty 2D layer of one point type (Points or MultiPoints, not both:
    a mix is promoted) in the target CRS with no SRID to assign, no NULL, empty or non-finite
    geometry (nothing to drop or repair: a finite point is valid), nothing to wrap
    (``wrap`` False: within +-180 or not EPSG:4326) and no simplification. Lines and
    polygons always go through the transform: only GEOS can tell whether they are valid, and
    the transform's repair pass is where it is asked.
    """
    return (
        profile.rows > 0
        and profile.null_count == 0
        and profile.empty_count == 0
        and profile.nonfinite_count == 0
        and profile.unknown_srid_count == 0
        and source_srid == steps.target_srid
        and profile.coordinate_dimensions == ("XY",)
        and profile.geometry_types in {("POINT",), ("MULTIPOINT",)}
        and steps.simplify_tolerance_m is None
        and not (wrap and steps.target_srid == 4326)
        and profile.bbox is not None
    )


def _transform(
    conn: psycopg.Connection,
    schema: str,
    profile: SourceGeometryProfile,
    steps: VectorSteps,
    *,
    attribute_columns: list[str],
    source_srid: int | None,
    assign: bool,
    promote_points: bool,
    point_layer: bool,
    curves: bool,
    wrap: bool,
    source_table: str,
    target_table: str,
    geom: str,
    labels: tuple[str | None, str],
    key_column: str | None = None,
) -> dict[str, Any]:
    """The single CTAS, then the output profile read from it (its flags column dropped)."""
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
        point_layer=point_layer,
        source_nonfinite=profile.nonfinite_count > 0,
        curves=curves,
        wrap=wrap,
        key_column=key_column,
    )
    try:
        conn.execute(statement)
    except psycopg.errors.DatabaseError as exc:
        if "transform" not in str(exc).lower():
            raise
        source_crs, target_crs = labels
        # PROJ rejects coordinates outside the CRS's domain: almost always a wrong CRS.
        raise SourceCrsError(
            f"reprojecting {schema}.{source_table} from {source_crs} to {target_crs} "
            f"failed ({str(exc).strip()}); the coordinates do not fit {source_crs}. "
            "Check the source CRS (files[].crs) against the data's coordinates"
        ) from exc
    out = profile_output(conn, schema, target_table, geom)
    conn.execute(
        sql.SQL("ALTER TABLE {t} DROP COLUMN {f}").format(
            t=sql.Identifier(schema, target_table), f=sql.Identifier(FLAGS_COLUMN)
        )
    )
    if not (steps.make_valid and not point_layer):
        out["invalid"] = None  # not asked: the export tests validity itself
    return out
