"""What a batch of vector layers must be before it is loaded: one table's worth of files (the
same fields, geometry family and CRS), a geometry column in each, field names a PostgreSQL
table can hold, and whether singles must be promoted to multi. Both loading engines
(:mod:`etl_spatial.arrow_load`, :mod:`etl_spatial.ogr2ogr_load`) rely on these checks, which
:func:`etl_spatial.loader.load_vector` makes once, before either runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from etl_spatial.crs import UnknownCrsError, crs_label, same_crs, validate_crs
from etl_spatial.vector_inspection import (
    GENERIC_TYPES,
    LINEAL_TYPES,
    POLYGONAL_TYPES,
    LayerInfo,
    base_geometry_type,
)
from etl_spatial.vector_source import VectorLoadError

MAX_COLUMN_BYTES = 63
"""PostgreSQL's identifier limit (NAMEDATALEN - 1): longer names are cut, not refused."""


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


def needs_promotion(infos: Sequence[LayerInfo]) -> bool:
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


def _no_geometry(info: LayerInfo) -> str:
    """What to do about a layer without a geometry column, in the terms of its format."""
    columns = ", ".join(f.name for f in info.fields[:12]) + (
        ", ..." if len(info.fields) > 12 else ""
    )
    source = info.source
    named = [
        f"{name} {value!r}"
        for name, value in (
            ("x_column", source.x_column),
            ("y_column", source.y_column),
            ("wkt_column", source.wkt_column),
        )
        if value
    ]
    if info.driver == "CSV" and named:
        given = ", ".join(named)
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


def check_column_names(info: LayerInfo, *, launder_names: bool, reserved: Sequence[str]) -> None:
    """Refuse field names the table cannot hold as they are: one that becomes a ``reserved``
    column (the loader's FID and geometry), and two that PostgreSQL would make one by cutting
    them to its 63-byte limit (GDAL's error for either is a bare "specified more than once",
    or the field silently taken as the FID)."""
    seen: dict[str, tuple[str, str]] = {}  # cut name -> (full name, the file's name)
    for field_info in info.fields:
        name = launder(field_info.name) if launder_names else field_info.name
        if name in reserved:
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
