"""The ``ogr2ogr`` engine of :func:`etl_spatial.loader.load_vector`: one GDAL process per file,
GDAL's PostgreSQL driver loading through COPY. It takes every layer the Arrow engine
(:mod:`etl_spatial.arrow_load`) does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from etl_spatial.gdal import GdalError, run_gdal
from etl_spatial.vector_source import VectorLoadError, VectorSource
from etl_spatial.vector_text import non_utf8_error

if TYPE_CHECKING:
    from etl_spatial.postgis import Postgis
    from etl_spatial.vector_inspection import LayerInfo


def run_ogr2ogr(
    info: LayerInfo, args: list[str], *, env: Mapping[str, str], timeout: float
) -> None:
    """Run ``ogr2ogr`` with ``args`` (:func:`ogr2ogr_args`) to load ``info``; ``env`` carries
    the S3 settings and the libpq variables (the password never goes in argv). Raises
    :class:`~etl_spatial.gdal.GdalError` when GDAL fails, and :class:`VectorLoadError` when the
    file's text is not UTF-8 or GDAL silently fell back from a CRS it could not resolve."""
    try:
        completed = run_gdal("ogr2ogr", args, env=env, timeout=timeout)
    except GdalError as exc:
        refused = non_utf8_error(info.source, exc.stderr)
        if refused is not None:
            raise refused from exc
        raise
    refuse_unresolved_crs(info, completed.stderr)


def ogr2ogr_args(
    postgis: Postgis,
    schema: str,
    table: str,
    info: LayerInfo,
    *,
    append: bool,
    assign_crs: str | None,
    promote: bool,
    launder: bool,
    fid: str,
    geometry: str,
) -> list[str]:
    """``ogr2ogr``'s arguments for loading ``info`` into ``schema.table``: an UNLOGGED table
    without index, keyed by ``fid``, geometry column ``geometry``, in one COPY transaction."""
    source = info.source
    args = [
        "-f",
        "PostgreSQL",
        postgis.ogr_pg_datasource(),
        *_open_option_args(source),
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
            f"GEOMETRY_NAME={geometry}",
            "-lco",
            "UNLOGGED=ON",
            "-lco",
            "SPATIAL_INDEX=NONE",
            "-lco",
            f"FID={fid}",
            # float8/int/varchar instead of numeric(w,p)/varchar(n): widths from a .dbf are not
            # constraints worth failing a load over, and numeric does not map well to Arrow.
            "-lco",
            "PRECISION=NO",
        ]
        if not launder:
            args += ["-lco", "LAUNDER=NO"]
    if promote:
        args += ["-nlt", "PROMOTE_TO_MULTI"]
    if assign_crs:
        # -a_srs assigns (no reprojection). The WKT goes through argv; it is not a secret.
        args += ["-a_srs", assign_crs]
    return args


def _open_option_args(source: VectorSource) -> list[str]:
    options = source.open_options().items()
    return [arg for name, value in options for arg in ("-oo", f"{name}={value}")]


def refuse_unresolved_crs(info: LayerInfo, stderr: str | None) -> None:
    """GDAL reports a CRS that PROJ cannot resolve only as a message and carries on with a
    default (WGS 84 for GeoJSON): the data would be silently mislocated, so refuse it."""
    unresolved = [
        line.strip()
        for line in (stderr or "").splitlines()
        if "proj_create" in line and "not found" in line
    ]
    if unresolved:
        raise VectorLoadError(
            f"{info.source.name}: the file declares a CRS that cannot be resolved "
            f"({unresolved[0]}); GDAL would silently assume another one. Fix the CRS in the "
            "file (an EPSG code PROJ knows) and upload it again"
        )
