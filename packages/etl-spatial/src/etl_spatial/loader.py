"""Vector loader: raw files (straight from S3 through GDAL) into ``<run schema>.raw_data``.

Each source is inspected with ``ogrinfo -so`` first (layer, fields, geometry type, CRS, feature
count). A multi-file batch is loaded only when every file agrees with the first one on layer
fields, geometry family and CRS; then the first file creates the table and the others are
appended. A source without a CRS takes the manifest's declared ``crs`` or the load fails with an
error that says which file and how to fix the manifest.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etl_spatial.gdal import DEFAULT_TIMEOUT, run_gdal
from etl_spatial.identifiers import validate_identifier

if TYPE_CHECKING:
    from etl_spatial.postgis import PostgisResource, RunSchema

RAW_TABLE = "raw_data"
GEOMETRY_COLUMN = "geom"
FID_COLUMN = "_etl_fid"
"""Serial key GDAL adds to loaded tables; dropped by exports (it is not source data)."""

# Manifest ``format`` values (and common spellings) -> GDAL driver names.
FORMAT_DRIVERS: Mapping[str, str] = {
    "geojson": "GeoJSON",
    "json": "GeoJSON",
    "shp": "ESRI Shapefile",
    "shapefile": "ESRI Shapefile",
    "esri shapefile": "ESRI Shapefile",
    "gpkg": "GPKG",
    "geopackage": "GPKG",
    "fgb": "FlatGeobuf",
    "flatgeobuf": "FlatGeobuf",
    "csv": "CSV",
}
CSV_X_NAMES = ("lon", "longitude", "lng", "long", "x", "easting")
CSV_Y_NAMES = ("lat", "latitude", "y", "northing")
CSV_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "wkt_geom")

_POLYGONAL = {"polygon", "multipolygon"}
_LINEAL = {"linestring", "multilinestring"}
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
_GENERIC = {"unknown (any)", "geometry", "geometrycollection", "unknown"}


class VectorLoadError(ValueError):
    """A vector batch cannot be loaded; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class VectorSource:
    """One GDAL-readable vector input.

    ``path`` is a GDAL path: ``/vsis3/bucket/key``, ``/vsizip//vsis3/bucket/key.zip`` (or
    ``.../key.zip/inner.shp``), ``/vsicurl/<presigned url>`` or a local path. ``label`` is what
    error messages call the file (e.g. ``files[0] (s3://landing-zone/b/roads.gpkg)``); it defaults
    to ``path``. For CSV, coordinates come from lon/lat (``x_column``/``y_column``) or WKT
    (``wkt_column``) columns, detected by common names when not given.
    """

    path: str
    format: str | None = None
    layer: str | None = None
    label: str | None = None
    x_column: str | None = None
    y_column: str | None = None
    wkt_column: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.path

    @property
    def driver(self) -> str | None:
        if self.format is None:
            return None
        key = self.format.strip().lower()
        if key not in FORMAT_DRIVERS:
            raise VectorLoadError(
                f"{self.name}: format {self.format!r} is not a supported vector format; use one "
                f"of GeoJSON, Shapefile, GPKG, FlatGeobuf, CSV"
            )
        return FORMAT_DRIVERS[key]

    def open_options(self) -> list[str]:
        """GDAL ``-oo`` options (CSV geometry columns, type detection)."""
        if self.driver != "CSV":
            return []
        xs = (self.x_column,) if self.x_column else CSV_X_NAMES
        ys = (self.y_column,) if self.y_column else CSV_Y_NAMES
        wkts = (self.wkt_column,) if self.wkt_column else CSV_WKT_NAMES
        options = [
            "AUTODETECT_TYPE=YES",
            "AUTODETECT_SIZE_LIMIT=0",  # scan the whole file, so a late "1.5" is not an int
            "KEEP_GEOM_COLUMNS=NO",
            "EMPTY_STRING_AS_NULL=YES",
        ]
        if self.wkt_column or not (self.x_column or self.y_column):
            options.append("GEOM_POSSIBLE_NAMES=" + ",".join(wkts))
        if not self.wkt_column:
            options += [
                "X_POSSIBLE_NAMES=" + ",".join(xs),
                "Y_POSSIBLE_NAMES=" + ",".join(ys),
            ]
        out: list[str] = []
        for option in options:
            out += ["-oo", option]
        return out

    def gdal_path(self) -> str:
        """Path as GDAL opens it (CSV through the CSV driver's ``CSV:`` prefix when needed)."""
        if self.driver == "CSV" and not self.path.lower().endswith((".csv", ".csv.gz")):
            return "CSV:" + self.path
        return self.path


@dataclass(frozen=True)
class FieldInfo:
    """A source attribute as GDAL reports it (``name: Type (width.precision)``)."""

    name: str
    type: str
    width: int = 0
    precision: int = 0


@dataclass(frozen=True)
class LayerInfo:
    """What ``ogrinfo -so`` says about one layer of a source."""

    source: VectorSource
    layer: str
    driver: str
    geometry_type: str
    feature_count: int
    extent: tuple[float, float, float, float] | None
    crs_wkt: str | None
    fields: tuple[FieldInfo, ...]

    @property
    def geometry_family(self) -> str:
        """``polygon``/``line``/``point``/``generic``, for comparing files of a batch."""
        kind = self.geometry_type.lower().replace(" z", "").replace(" m", "").replace("3d ", "")
        if kind in _POLYGONAL:
            return "polygon"
        if kind in _LINEAL:
            return "line"
        if kind in {"point", "multipoint"}:
            return "point"
        return "generic"


@dataclass
class LoadReport:
    """Result of :func:`load_vector`."""

    table: str
    schema: str
    row_count: int
    source_crs: str | None
    """The CRS of the sources (``EPSG:xxxx`` when it has an EPSG code, else WKT)."""
    crs_declared: bool
    """True when the CRS came from the manifest because the source had none."""
    srid: int
    fields: list[dict[str, str]]
    geometry_types: list[str]
    promoted_to_multi: bool
    files: list[dict[str, Any]] = field(default_factory=list)
    """Per file: ``path`` (label), ``layer``, ``driver``, ``feature_count``, ``loaded_rows``."""


# -- inspection ---------------------------------------------------------------------------------

_FIELD_LINE = re.compile(
    r"^(?P<name>.+?): (?P<type>[A-Za-z0-9]+(?:\([A-Za-z0-9]+\))?) "
    r"\((?P<width>\d+)\.(?P<precision>\d+)\)(?P<rest>.*)$"
)
_EXTENT = re.compile(r"^Extent: \(([-\d.e+]+), ([-\d.e+]+)\) - \(([-\d.e+]+), ([-\d.e+]+)\)$")
_LAYER_LIST = re.compile(r"^\d+: (?P<name>.+?)(?: \((?P<type>[^()]*)\))?$")
_DRIVER = re.compile(r"using driver `(?P<driver>[^']+)' successful")


def resolve_source(
    source: VectorSource, *, gdal_env: Mapping[str, str] | None = None
) -> VectorSource:
    """``source`` with a zip archive path pointed at the one dataset inside it."""
    from etl_spatial.archives import ArchiveError, resolve_zip_member

    try:
        path = resolve_zip_member(source.path, source.driver, gdal_env, label=source.name)
    except ArchiveError as exc:
        raise VectorLoadError(str(exc)) from None
    if path == source.path:
        return source
    return dataclasses.replace(source, path=path, label=source.name)


def list_layers(source: VectorSource, *, gdal_env: Mapping[str, str] | None = None) -> list[str]:
    """Layer names of ``source`` (``ogrinfo -ro -q``)."""
    args = ["-ro", "-q", *_driver_args(source), *source.open_options(), source.gdal_path()]
    out = run_gdal("ogrinfo", args, env=gdal_env, timeout=300).stdout
    layers = []
    for line in out.splitlines():
        match = _LAYER_LIST.match(line.strip())
        if match:
            layers.append(match.group("name"))
    return layers


def inspect_layer(source: VectorSource, *, gdal_env: Mapping[str, str] | None = None) -> LayerInfo:
    """Describe the layer of ``source`` to load (``ogrinfo -ro -so``).

    A source with several layers needs ``source.layer``; a missing layer is an error that lists
    the layers the file has.
    """
    source = resolve_source(source, gdal_env=gdal_env)
    layers = list_layers(source, gdal_env=gdal_env)
    if not layers:
        raise VectorLoadError(f"{source.name}: GDAL found no vector layer in this file")
    if source.layer is None:
        if len(layers) > 1:
            raise VectorLoadError(
                f"{source.name} has {len(layers)} layers ({', '.join(layers)}); choose one with "
                "the file's 'layer' in the manifest"
            )
        layer = layers[0]
    else:
        if source.layer not in layers:
            raise VectorLoadError(
                f"{source.name}: layer {source.layer!r} not found; the file has "
                f"{', '.join(repr(n) for n in layers)}"
            )
        layer = source.layer
    args = [
        "-ro",
        "-so",
        "-wkt_format",
        "WKT2",
        *_driver_args(source),
        *source.open_options(),
        source.gdal_path(),
        layer,
    ]
    completed = run_gdal("ogrinfo", args, env=gdal_env, timeout=DEFAULT_TIMEOUT)
    # GDAL reports a CRS that PROJ cannot resolve on stderr and carries on with a default
    # (WGS 84 for GeoJSON): the data would be silently mislocated, so refuse it.
    unresolved = [
        line.strip()
        for line in (completed.stderr or "").splitlines()
        if "proj_create" in line and "not found" in line
    ]
    if unresolved:
        raise VectorLoadError(
            f"{source.name}: the file declares a CRS that cannot be resolved ({unresolved[0]}); "
            "GDAL would silently assume another one. Fix the CRS in the file (an EPSG code "
            "PROJ knows) and upload it again"
        )
    info = parse_ogrinfo_summary(completed.stdout, source=source, layer=layer)
    expected = source.driver
    if expected and info.driver and info.driver != expected:
        raise VectorLoadError(
            f"{source.name}: the manifest says format {source.format!r} but GDAL reads the file "
            f"as {info.driver}; fix the file's format in the manifest"
        )
    return info


def parse_ogrinfo_summary(text: str, *, source: VectorSource, layer: str) -> LayerInfo:
    """Parse the text of ``ogrinfo -so <file> <layer>`` (GDAL 3.6 has no ``-json`` there)."""
    lines = text.splitlines()
    driver = ""
    geometry_type = "Unknown (any)"
    feature_count = -1
    extent = None
    crs_lines: list[str] = []
    fields: list[FieldInfo] = []
    in_layer = False
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _DRIVER.search(line)
        if match:
            driver = match.group("driver")
        if line.startswith("Layer name: "):
            in_layer = True
        elif not in_layer or not line.strip():
            pass
        elif line.startswith("Geometry: "):
            geometry_type = line[len("Geometry: ") :].strip()
        elif line.startswith("Feature Count: "):
            feature_count = int(line[len("Feature Count: ") :].strip())
        elif line.startswith("Extent: "):
            em = _EXTENT.match(line.strip())
            if em:
                extent = tuple(float(v) for v in em.groups())  # type: ignore[assignment]
        elif line.startswith("Layer SRS WKT:"):
            # The WKT spans lines; continuation lines are indented or start with "]".
            i += 1
            while i < len(lines):
                candidate = lines[i]
                if crs_lines and not candidate.startswith((" ", "\t", "]")):
                    break
                crs_lines.append(candidate)
                i += 1
            continue
        elif line.startswith((" ", "\t")) or line.startswith(
            ("Metadata:", "Data axis to CRS", "FID Column", "Geometry Column", "INFO:")
        ):
            pass
        else:
            fm = _FIELD_LINE.match(line)
            if fm:
                fields.append(
                    FieldInfo(
                        name=fm.group("name"),
                        type=fm.group("type"),
                        width=int(fm.group("width")),
                        precision=int(fm.group("precision")),
                    )
                )
        i += 1
    crs_wkt = "\n".join(crs_lines).strip() or None
    if crs_wkt in {"(unknown)", "unknown"}:
        crs_wkt = None
    return LayerInfo(
        source=source,
        layer=layer,
        driver=driver,
        geometry_type=geometry_type,
        feature_count=feature_count,
        extent=extent,
        crs_wkt=crs_wkt,
        fields=tuple(fields),
    )


# -- CRS ----------------------------------------------------------------------------------------


def crs_label(crs_text: str) -> str:
    """``EPSG:xxxx`` when the CRS has an EPSG code (at 70% confidence), else its WKT2."""
    from pyproj import CRS

    crs = CRS.from_user_input(crs_text)
    epsg = crs.to_epsg(min_confidence=70)
    if epsg is not None:
        return f"EPSG:{epsg}"
    authority = crs.to_authority(min_confidence=70)
    if authority is not None:
        return f"{authority[0]}:{authority[1]}"
    return crs.to_wkt()


def _parse_declared_crs(declared: str, label: str) -> Any:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(declared)
    except CRSError as exc:
        raise VectorLoadError(
            f"{label}: crs {declared!r} is not a CRS PROJ knows ({exc}); use an authority code "
            "such as 'EPSG:4326'"
        ) from None


def _same_crs(a: str, b: str) -> bool:
    from pyproj import CRS

    return CRS.from_user_input(a).equals(CRS.from_user_input(b), ignore_axis_order=True)


# -- loading ------------------------------------------------------------------------------------


def check_batch(
    infos: Sequence[LayerInfo], *, declared_crs: Sequence[str | None]
) -> tuple[str | None, bool]:
    """Check that the files of a batch can be appended into one table.

    Returns the effective CRS (text for ``-a_srs``/comparison) and whether it was declared
    because the sources had none. Raises :class:`VectorLoadError` on any disagreement.
    """
    first = infos[0]
    first_fields = {f.name.lower(): f for f in first.fields}
    effective: list[str] = []
    used_declared = False
    for info, declared in zip(infos, declared_crs, strict=True):
        if info.crs_wkt is None:
            if not declared:
                raise VectorLoadError(
                    f"file {info.source.name} has no CRS; set the file's crs in the manifest, "
                    'e.g. "crs": "EPSG:4326"'
                )
            declared_obj = _parse_declared_crs(declared, info.source.name)
            effective.append(declared_obj.to_wkt())
            used_declared = True
        else:
            if declared:
                declared_obj = _parse_declared_crs(declared, info.source.name)
                if not _same_crs(declared_obj.to_wkt(), info.crs_wkt):
                    raise VectorLoadError(
                        f"file {info.source.name} declares crs {declared!r} in the manifest but "
                        f"the file itself is in {crs_label(info.crs_wkt)}; remove the manifest "
                        "crs (it only fills in a missing CRS) or fix the file"
                    )
            effective.append(info.crs_wkt)
    for info, crs in zip(infos[1:], effective[1:], strict=True):
        if not _same_crs(crs, effective[0]):
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
    types = {info.geometry_type.lower() for info in infos}
    if any(
        info.driver in {"ESRI Shapefile", "GPKG"} and info.geometry_family in {"polygon", "line"}
        for info in infos
    ):
        return True
    if types & _GENERIC:
        return True
    return len(types & _POLYGONAL) > 1 or len(types & _LINEAL) > 1


def _driver_args(source: VectorSource) -> list[str]:
    # GDAL 3.6's ogrinfo has no -if; the driver GDAL picked is checked after inspection instead.
    return []


def load_vector(
    postgis: PostgisResource,
    schema: RunSchema | str,
    sources: Sequence[VectorSource],
    *,
    gdal_env: Mapping[str, str] | None = None,
    declared_crs: str | Sequence[str | None] | None = None,
    table: str = RAW_TABLE,
    timeout: float = DEFAULT_TIMEOUT,
) -> LoadReport:
    """Load ``sources`` into ``schema.table`` (UNLOGGED, no index, geometry column ``geom``).

    ``gdal_env`` carries the S3 settings for ``/vsis3/`` (see :func:`etl_spatial.gdal.
    s3_environment`); the PostgreSQL password goes to GDAL as ``PGPASSWORD``, never in argv.
    ``declared_crs`` is the manifest's ``crs``: one value for all files or one per file.
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

    infos = [inspect_layer(source, gdal_env=gdal_env) for source in sources]
    crs_text, crs_declared = check_batch(infos, declared_crs=declared)
    promote = _needs_promotion(infos)

    from etl_spatial.postgis import PostgisResource as _Resource

    application_name = _Resource.application_name_for(schema_name)
    env = {**(gdal_env or {}), **postgis.libpq_env(application_name=application_name)}
    files: list[dict[str, Any]] = []
    loaded_before = 0
    for index, info in enumerate(infos):
        args = _ogr2ogr_args(
            postgis,
            schema_name,
            table,
            info,
            append=index > 0,
            assign_crs=crs_text if crs_declared and info.crs_wkt is None else None,
            promote=promote,
        )
        run_gdal("ogr2ogr", args, env=env, timeout=timeout)
        total = _count_rows(postgis, schema_name, table)
        loaded = total - loaded_before
        loaded_before = total
        if info.feature_count >= 0 and loaded != info.feature_count:
            raise VectorLoadError(
                f"file {info.source.name}: GDAL reports {info.feature_count} features but "
                f"{loaded} rows were loaded; the file may be corrupt or have invalid records"
            )
        files.append(
            {
                "path": info.source.name,
                "layer": info.layer,
                "driver": info.driver,
                "feature_count": info.feature_count,
                "loaded_rows": loaded,
            }
        )

    srid, srs_text, column_types, geometry_types = _describe_loaded(postgis, schema_name, table)
    source_crs = crs_label(crs_text) if crs_text else (srs_text or None)
    return LoadReport(
        table=table,
        schema=schema_name,
        row_count=loaded_before,
        source_crs=source_crs,
        crs_declared=crs_declared,
        srid=srid,
        fields=column_types,
        geometry_types=geometry_types,
        promoted_to_multi=promote,
        files=files,
    )


def _ogr2ogr_args(
    postgis: PostgisResource,
    schema: str,
    table: str,
    info: LayerInfo,
    *,
    append: bool,
    assign_crs: str | None,
    promote: bool,
) -> list[str]:
    source = info.source
    args = [
        "-f",
        "PostgreSQL",
        postgis.ogr_pg_datasource(),
        *_driver_args(source),
        *source.open_options(),
        source.gdal_path(),
        info.layer,
        "-nln",
        f"{schema}.{table}",
        "--config",
        "PG_USE_COPY",
        "YES",
        # One transaction per file: COPY streams without commits in between, and a failed file
        # leaves nothing half-loaded from that file.
        "-gt",
        "unlimited",
    ]
    if append:
        args.append("-append")
    else:
        args += [
            "-lco",
            f"SCHEMA={schema}",
            "-lco",
            f"GEOMETRY_NAME={GEOMETRY_COLUMN}",
            "-lco",
            "UNLOGGED=ON",
            "-lco",
            "SPATIAL_INDEX=NONE",
            "-lco",
            f"FID={FID_COLUMN}",
            # float8/int/varchar instead of numeric(w,p)/varchar(n): widths from a .dbf are not
            # constraints worth failing a load over, and numeric does not map well to Arrow.
            "-lco",
            "PRECISION=NO",
        ]
    if promote:
        args += ["-nlt", "PROMOTE_TO_MULTI"]
    if assign_crs:
        # -a_srs assigns (no reprojection). The WKT goes through argv; it is not a secret.
        args += ["-a_srs", assign_crs]
    return args


def _count_rows(postgis: PostgisResource, schema: str, table: str) -> int:
    from psycopg import sql

    from etl_spatial.identifiers import quote_identifier

    with postgis.connect(autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(quote_identifier(schema, table))
        ).fetchone()
    return int(row[0]) if row else 0


def _describe_loaded(
    postgis: PostgisResource, schema: str, table: str
) -> tuple[int, str | None, list[dict[str, str]], list[str]]:
    from psycopg import sql

    from etl_spatial.identifiers import quote_identifier

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
