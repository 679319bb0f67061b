"""PostGIS table -> GeoParquet 1.1 file in bounded memory: ADBC record batches straight into a
pyarrow ``ParquetWriter``.

The run worker never holds the table: PostgreSQL sorts the rows along its Hilbert curve
(``ORDER BY`` a Z-order key of each row's bbox centre computed in the query; a large sort
spills to the server's temporary files, which PostgreSQL removes when the query ends) and
ADBC's binary COPY hands over a few MB at a time, read ahead by a thread while the previous
batches are written. Each batch gets its bbox covering column from each row's ``box3d``
computed once in the same query; the ``geo`` metadata (bbox, geometry types) is accumulated
batch by batch and written into the footer on close. Row groups are cut at
``row_group_size`` rows as the batches arrive.

The quality facts the lane contract checks (NULL, empty and invalid geometries) are counted in
the same pass: emptiness from the bbox (NULL for an empty geometry), validity by GEOS
(``ST_IsValid``) for lines and polygons only, unless the caller already knows it
(``check_validity=False``: the vector recipe tested every row). Points cannot be invalid in
GEOS's sense except through non-finite coordinates, which their bbox shows; this skips 2 s of
GEOS per 1M points.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_spatial.adbc_stream import record_batches
from etl_spatial.arrow_io import ArrowTransferError, srid_to_crs, table_columns, table_srid
from etl_spatial.identifiers import quote_identifier, validate_identifier
from etl_spatial.loader import FID_COLUMN, GEOMETRY_COLUMN
from etl_spatial.metadata import VectorMetadata, describe_geoparquet
from etl_spatial.writers import (
    COVERING_COLUMN,
    DEFAULT_ROW_GROUP_SIZE,
    GEOPARQUET_VERSION,
    WriterError,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from etl_spatial.postgis import Postgis, RunSchema

_BBOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")
_WORK_BBOX = tuple(f"_etl_{name}" for name in _BBOX_FIELDS)
_WORK_VALID = "_etl_valid"
_WORK_BOX = "_etl_box"
_WKB_NAMES = {
    1: "Point",
    2: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


@dataclass
class GeometryTally:
    """What one pass over the rows learnt about the geometry column."""

    rows: int = 0
    null: int = 0
    empty: int = 0
    invalid: int = 0
    bbox: list[float] | None = None
    types: set[str] = field(default_factory=set)

    def add(self, batch: pa.Table, geometry_column: str) -> None:
        import pyarrow.compute as pc

        geometry = batch.column(geometry_column)
        xmin, ymin, xmax, ymax = (batch.column(name) for name in _WORK_BBOX)
        self.rows += batch.num_rows
        self.null += geometry.null_count
        has_box = pc.is_valid(xmin)
        self.empty += int(pc.sum(pc.and_(pc.is_valid(geometry), pc.invert(has_box))).as_py() or 0)
        finite = pc.and_(
            pc.and_(pc.is_finite(xmin), pc.is_finite(ymin)),
            pc.and_(pc.is_finite(xmax), pc.is_finite(ymax)),
        )
        # GEOS's verdict where it was asked (lines, polygons); finite coordinates for points.
        # (No Python scalars here: converting one makes pyarrow import pandas, 0.2 s.)
        valid = batch.column(_WORK_VALID)
        point_invalid = pc.and_(pc.is_null(valid), pc.and_(has_box, pc.invert(finite)))
        bad = pc.or_kleene(pc.invert(valid), point_invalid)  # NULL: neither, not summed
        self.invalid += int(pc.sum(bad).as_py() or 0)
        if int(pc.sum(finite).as_py() or 0):
            box = [
                pc.min(pc.filter(xmin, finite)).as_py(),
                pc.min(pc.filter(ymin, finite)).as_py(),
                pc.max(pc.filter(xmax, finite)).as_py(),
                pc.max(pc.filter(ymax, finite)).as_py(),
            ]
            if self.bbox is None:
                self.bbox = box
            else:
                self.bbox = [
                    min(self.bbox[0], box[0]),
                    min(self.bbox[1], box[1]),
                    max(self.bbox[2], box[2]),
                    max(self.bbox[3], box[3]),
                ]
        self.types |= wkb_geometry_types(geometry)


def wkb_geometry_types(wkb: pa.Array) -> set[str]:
    """GeoParquet geometry type names ("Point", "MultiPolygon Z") of a WKB array, read from
    each value's 5-byte header (ISO and EWKB type codes; NULLs and empty values skipped)."""
    import numpy as np
    import pyarrow as pa

    if isinstance(wkb, pa.ChunkedArray):
        return set().union(*(wkb_geometry_types(chunk) for chunk in wkb.chunks))
    if pa.types.is_large_binary(wkb.type):
        offset_type = np.int64
    elif pa.types.is_binary(wkb.type):
        offset_type = np.int32
    else:
        raise WriterError(f"geometry column must be WKB binary, got {wkb.type}")
    if len(wkb) == wkb.null_count:
        return set()
    _, offsets_buffer, data_buffer = wkb.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[wkb.offset : wkb.offset + len(wkb)]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    lengths = (
        np.frombuffer(offsets_buffer, dtype=offset_type)[wkb.offset + 1 : wkb.offset + len(wkb) + 1]
        - offsets
    )
    present = lengths >= 5
    if wkb.null_count:
        # From the validity bitmap (Arrow's is_valid().to_numpy() makes pyarrow import pandas).
        bits = np.unpackbits(np.frombuffer(wkb.buffers()[0], dtype=np.uint8), bitorder="little")
        present &= bits[wkb.offset : wkb.offset + len(wkb)].astype(bool)
    starts = offsets[present]
    header = data[starts[:, None] + np.arange(5)].astype(np.uint32)
    little = header[:, 0] == 1
    code = np.where(
        little,
        header[:, 1] | header[:, 2] << 8 | header[:, 3] << 16 | header[:, 4] << 24,
        header[:, 4] | header[:, 3] << 8 | header[:, 2] << 16 | header[:, 1] << 24,
    )
    names = set()
    for value in np.unique(code):
        value = int(value)
        z = bool(value & 0x80000000) or (value & 0x0FFFFFFF) // 1000 in (1, 3)
        base = _WKB_NAMES.get((value & 0x0FFFFFFF) % 1000)
        if base is None:
            raise WriterError(f"unknown WKB geometry type code {value}")
        names.add(f"{base} Z" if z else base)
    return names


@dataclass(frozen=True)
class StreamedGeoParquet:
    """A GeoParquet file written by :func:`export_geoparquet`, and the geometry facts of its
    rows (for the lane's contract checks)."""

    metadata: VectorMetadata
    null_geometries: int
    empty_geometries: int
    invalid_geometries: int


def export_geoparquet(
    postgis: Postgis,
    schema: RunSchema | str,
    table: str,
    path: str | Path,
    *,
    geometry_column: str = GEOMETRY_COLUMN,
    exclude: Sequence[str] = (FID_COLUMN,),
    sort: str | None = "hilbert",
    extent: Sequence[float] | None = None,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    compression: str = "zstd",
    check_validity: bool = True,
) -> StreamedGeoParquet:
    """Write ``schema.table`` to ``path`` as GeoParquet 1.1 (WKB, bbox covering column, PROJJSON
    CRS), streaming: memory is bounded by a row group, whatever the table's size.

    ``sort="hilbert"`` orders the rows spatially in PostgreSQL (a space-filling curve key over
    ``extent``, ``(xmin, ymin, xmax, ymax)``, else over the table's extent, which costs one
    more scan; NULL and empty geometries last); ``None`` keeps the table's order. A partly
    written file is removed when anything fails.

    ``check_validity=False`` skips GEOS's validity test of lines and polygons for a caller that
    knows their validity already (the vector recipe tested every row in its final shape:
    :attr:`etl_transforms.vector.VectorTransformReport.output_invalid_count`); only
    non-finite coordinates seen in the bbox are then counted as invalid.
    """
    import pyarrow.parquet as pq

    if sort not in {"hilbert", None}:
        raise WriterError(f"sort must be 'hilbert' or None, got {sort!r}")
    if row_group_size < 1:
        raise WriterError(f"row_group_size must be positive, got {row_group_size}")
    schema_name = validate_identifier(
        schema if isinstance(schema, str) else schema.name, what="schema"
    )
    validate_identifier(table, what="table name")
    columns = [c for c in table_columns(postgis, schema_name, table) if c.name not in exclude]
    names = [c.name for c in columns]
    if geometry_column not in {c.name for c in columns if c.is_geometry}:
        raise ArrowTransferError(
            f"{schema_name}.{table} has no geometry column {geometry_column!r}"
        )
    covering = covering_column(names, geometry_column)
    crs = srid_to_crs(postgis, table_srid(postgis, schema_name, table, geometry_column))
    query = _export_query(
        schema_name,
        table,
        columns,
        geometry_column,
        sort=sort,
        extent=extent,
        check_validity=check_validity,
    )
    path = Path(path)
    tally = GeometryTally()
    writer = None
    try:
        with record_batches(postgis, query.as_string()) as reader:
            # No ARROW:schema entry: readers would take the schema metadata from it and miss
            # the ``geo`` entry that only exists once the last row group is written.
            # WKB is unique per row: dictionary attempts and min/max statistics on it are
            # wasted work (a third of the write time); the bbox column carries the statistics.
            attributes = [c.name for c in columns if not c.is_geometry]
            writer = pq.ParquetWriter(
                path,
                _output_schema(reader.schema, names, covering),
                compression=compression,
                store_schema=False,
                use_dictionary=attributes,
                write_statistics=[*attributes, *(f"{covering}.{f}" for f in _BBOX_FIELDS)],
            )
            for batch in _regroup(reader, row_group_size):
                tally.add(batch, geometry_column)
                writer.write_table(
                    _with_covering(batch, names, covering), row_group_size=row_group_size
                )
        geo = _geo(geometry_column, crs, tally, covering)
        writer.add_key_value_metadata({"geo": json.dumps(geo)})
        writer.close()
        writer = None
    except BaseException:
        if writer is not None:
            writer.close()
        path.unlink(missing_ok=True)
        raise
    return StreamedGeoParquet(
        metadata=describe_geoparquet(path),
        null_geometries=tally.null,
        empty_geometries=tally.empty,
        invalid_geometries=tally.invalid,
    )


def _spread_table() -> str:
    """``int[]`` literal: entry ``v + 1`` holds the 8 bits of ``v`` moved to the even bit
    positions (the Morton spread), for a key built by two lookups per axis."""
    values = [sum(((v >> bit) & 1) << (2 * bit) for bit in range(8)) for v in range(256)]
    return "'{" + ",".join(map(str, values)) + "}'::int[]"


def _export_query(
    schema: str,
    table: str,
    columns: Sequence[Any],
    geometry_column: str,
    *,
    sort: str | None,
    extent: Sequence[float] | None = None,
    check_validity: bool = True,
) -> Any:
    """The export's SELECT: WKB, per-row bbox and validity, ordered by a spatial key.

    Derived tables fenced with ``OFFSET 0`` keep PostgreSQL from inlining one level into the
    next, which would evaluate the functions once per reference. Each row's bbox is one
    ``geometry::box3d`` cast whose four corners are then read from the box (``ST_XMin(g)``
    is that cast and a read: four of them deserialised a point four times, 0.4 s of CPU per
    1M points against 0.1 s).
    """
    from psycopg import sql

    g = sql.SQL("t.{}").format(sql.Identifier(geometry_column))
    box = sql.Identifier(_WORK_BOX)
    inner: list[sql.Composable] = []
    outer: list[sql.Composable] = []
    for column in columns:
        ident = sql.Identifier(column.name)
        if column.is_geometry:
            inner.append(sql.SQL("ST_AsBinary(t.{}) AS {}").format(ident, ident))
        else:
            inner.append(sql.SQL("t.{}").format(ident))
        outer.append(sql.SQL("b.{}").format(ident))
    inner.append(sql.SQL("{}::box3d AS {}").format(g, box))
    # GEOS validity for lines and polygons only; NULL (checked via the bbox) for points.
    valid = (
        sql.SQL("CASE WHEN ST_Dimension({g}) > 0 THEN ST_IsValid({g}, 0) END").format(g=g)
        if check_validity
        else sql.SQL("NULL::boolean")
    )
    inner.append(sql.SQL("{} AS {}").format(valid, sql.Identifier(_WORK_VALID)))
    for function, name in zip(
        ("ST_XMin", "ST_YMin", "ST_XMax", "ST_YMax"), _WORK_BBOX, strict=True
    ):
        outer.append(
            sql.SQL("{}(b.{})::float8 AS {}").format(sql.SQL(function), box, sql.Identifier(name))
        )
    outer.append(sql.SQL("b.{}").format(sql.Identifier(_WORK_VALID)))
    source = quote_identifier(schema, table)
    boxed = sql.SQL("(SELECT {} FROM {} AS t OFFSET 0) AS b").format(
        sql.SQL(", ").join(inner), source
    )
    if sort != "hilbert":
        return sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(outer), boxed)
    output = sql.SQL(", ").join(
        sql.Identifier(name) for name in [*(c.name for c in columns), *_WORK_BBOX, _WORK_VALID]
    )
    extent_box = (
        sql.SQL("ST_Extent({})::box3d").format(sql.Identifier(geometry_column))
        if extent is None
        else sql.SQL("ST_MakeBox2D(ST_Point({}, {}), ST_Point({}, {}))::box3d").format(
            *(sql.Literal(float(v)) for v in extent)
        )
    )
    return sql.SQL(
        "SELECT {output} FROM (SELECT {outer}, {cell} FROM {boxed} CROSS JOIN "
        "(SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0, "
        "GREATEST(ST_XMax(e) - ST_XMin(e), 1e-9) AS w, GREATEST(ST_YMax(e) - ST_YMin(e), 1e-9) "
        "AS h FROM (SELECT {box} AS e FROM {source} LIMIT 1) AS s) AS x "
        "OFFSET 0) AS c ORDER BY {key} NULLS LAST"
    ).format(
        output=output,
        outer=sql.SQL(", ").join(outer),
        cell=_grid_cells(),
        boxed=boxed,
        box=extent_box,
        source=source if extent is None else sql.SQL("(SELECT 1) AS one"),
        key=_morton_key(),
    )


def _grid_cells() -> Any:
    """Each row's bbox centre as a cell of a 2^16 x 2^16 grid over the table's extent."""
    from psycopg import sql

    cell = (
        "LEAST(65535, GREATEST(0, floor(((ST_{lo}(b._etl_box) + ST_{hi}(b._etl_box)) / 2 "
        "- x.{origin}) / x.{size} * 65535)))::int AS _etl_{axis}"
    )
    return sql.SQL(", ").join(
        [
            sql.SQL(cell.format(lo="XMin", hi="XMax", origin="x0", size="w", axis="cx")),
            sql.SQL(cell.format(lo="YMin", hi="YMax", origin="y0", size="h", axis="cy")),
        ]
    )


def _morton_key() -> Any:
    """Z-order (Morton: the GeoHash curve) code of the cell, interleaving the 16 bits of each
    axis by table lookup; NULL for NULL and empty geometries (they have no bbox).

    Not ``ORDER BY geom``: PostGIS's btree order runs its Hilbert curve over the float bit
    patterns of the coordinates, which scatters neighbours at continental extents.
    """
    from psycopg import sql

    spread = _spread_table()

    def spread16(axis: str) -> str:
        high = f"({spread})[(_etl_{axis} >> 8) + 1]::int8"
        return f"({high} << 16 | ({spread})[(_etl_{axis} & 255) + 1])"

    return sql.SQL(
        f"CASE WHEN _etl_xmin IS NOT NULL THEN {spread16('cx')} | ({spread16('cy')} << 1) END"
    )


def _regroup(reader: Iterable[pa.RecordBatch], rows_per_group: int) -> Iterator[pa.Table]:
    """Tables of exactly ``rows_per_group`` rows (the last one shorter) made of zero-copy
    slices of the incoming batches: at most one group plus one batch is held, never copied."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in reader:
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= rows_per_group:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows_per_group)
            rest = table.slice(rows_per_group)
            pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows:
        yield pa.Table.from_batches(pending)


def covering_column(names: Sequence[str], geometry_column: str) -> str:
    """The name of the bbox covering column: ``bbox``, unless the data has a column of that
    name (kept as the user named it), then ``<geometry>_bbox`` and numbered variants. Readers
    find it through the ``covering`` entry of the ``geo`` metadata, whatever its name."""
    taken = set(names)
    candidates = [COVERING_COLUMN, f"{geometry_column}_{COVERING_COLUMN}"]
    candidates += [f"{geometry_column}_{COVERING_COLUMN}_{i}" for i in range(2, len(taken) + 3)]
    return next(name for name in candidates if name not in taken)


def _output_schema(source: pa.Schema, names: Sequence[str], covering: str) -> pa.Schema:
    """The file's columns: the table's, in order, then the ``covering`` bbox struct."""
    import pyarrow as pa

    box = pa.struct([(name, pa.float64()) for name in _BBOX_FIELDS])
    return pa.schema([*(source.field(n) for n in names), pa.field(covering, box)])


def _with_covering(table: pa.Table, names: Sequence[str], covering_name: str) -> pa.Table:
    """The output columns of ``table`` plus the GeoParquet 1.1 ``bbox`` struct column (NULL
    for NULL and empty geometries), chunk by chunk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    boxes = [table.column(name) for name in _WORK_BBOX]
    chunks = []
    for i in range(boxes[0].num_chunks):
        parts = [box.chunk(i) for box in boxes]
        chunks.append(
            pa.StructArray.from_arrays(
                parts, names=list(_BBOX_FIELDS), mask=pc.invert(pc.is_valid(parts[0]))
            )
        )
    covering = pa.chunked_array(chunks, type=pa.struct([(n, pa.float64()) for n in _BBOX_FIELDS]))
    columns = [table.column(name) for name in names]
    return pa.Table.from_arrays([*columns, covering], names=[*names, covering_name])


def _geo(geometry_column: str, crs: Any, tally: GeometryTally, covering: str) -> dict[str, Any]:
    column: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": sorted(tally.types),
        "covering": {
            "bbox": {name: [covering, name] for name in _BBOX_FIELDS},
        },
    }
    # GeoParquet: an absent crs means OGC:CRS84, so an unknown CRS must be an explicit null.
    column["crs"] = crs.to_json_dict() if crs is not None else None
    if tally.bbox is not None:
        column["bbox"] = tally.bbox
    return {
        "version": GEOPARQUET_VERSION,
        "primary_column": geometry_column,
        "columns": {geometry_column: column},
    }
