"""Row 1's baselines: what a user would run instead of the lane, measured in the same run.

- ``direct``: download the object to local disk, then pyogrio (Arrow) -> ``make_valid`` ->
  ``to_crs(4326)`` -> the project's GeoParquet writer (``etl_spatial.writers``). This is the
  honest "plain conversion" the lane must stay close to (target <= 1.3x).
- ``floor``: the same download, then DuckDB spatial ``ST_Read`` -> Parquet in one statement
  (no repair, no reprojection, no spatial sort): how fast the bytes can move at all.
- ``vsis3``: the old baseline (pyogrio reading the GeoPackage in place over ``/vsis3/``,
  i.e. SQLite pages fetched by HTTP range requests). Pathological for GPKG, so it is only
  run on request (``--vsis3``) and labelled as such.

The DuckDB spatial extension comes from the ``duckdb-ext-spatial`` wheel and is loaded from
its file path: nothing is downloaded at run time (autoinstall/autoload are off).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchlib import PhaseTimer

TARGET_EPSG = 4326


def spatial_extension_path() -> Path:
    """Path of ``spatial.duckdb_extension`` inside the installed ``duckdb-ext-spatial`` wheel."""
    import importlib.metadata as metadata

    files = metadata.files("duckdb-ext-spatial") or []
    for entry in files:
        if entry.name == "spatial.duckdb_extension":
            return Path(str(entry.locate()))
    raise RuntimeError("duckdb-ext-spatial is installed without spatial.duckdb_extension")


def download(store: Any, uri: str, local: Path, timer: PhaseTimer) -> Path:
    with timer("download"):
        store.download_from_landing(uri, local)
    return local


def direct(store: Any, uri: str, work: Path, out: Path) -> PhaseTimer:
    """Download, then pyogrio (Arrow) -> make_valid -> to_crs(4326) -> GeoParquet writer."""
    import pyogrio

    from etl_spatial.writers import write_geoparquet

    timer = PhaseTimer()
    local = download(store, uri, work / f"direct-{out.stem}.gpkg", timer)
    try:
        with timer("read (pyogrio arrow)"):
            frame = pyogrio.read_dataframe(local, use_arrow=True)
        with timer("make_valid + to_crs"):
            frame = frame.set_geometry(frame.make_valid()).to_crs(TARGET_EPSG)
        with timer("sort+write GeoParquet"):
            info = write_geoparquet(frame, out)
    finally:
        local.unlink(missing_ok=True)
    assert info.row_count == len(frame)
    return timer


def floor(store: Any, uri: str, work: Path, out: Path) -> tuple[PhaseTimer, int]:
    """Download, then DuckDB spatial: ``COPY (SELECT * FROM ST_Read(...)) TO ... PARQUET``."""
    import duckdb

    timer = PhaseTimer()
    local = download(store, uri, work / f"floor-{out.stem}.gpkg", timer)
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    try:
        with duckdb.connect(config=config) as con:
            # Loading the 90 MB extension is a per-process cost, not conversion work.
            con.execute(f"LOAD '{spatial_extension_path()}'")
            with timer("DuckDB ST_Read -> Parquet"):
                con.execute(
                    "COPY (SELECT * FROM ST_Read(?)) TO '"
                    + str(out).replace("'", "''")
                    + "' (FORMAT parquet, COMPRESSION zstd)",
                    [str(local)],
                )
            rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()
    finally:
        local.unlink(missing_ok=True)
    return timer, int(rows[0]) if rows else 0


def vsis3(vsis3_path: str, gdal_env: dict[str, str], out: Path) -> PhaseTimer:
    """The old baseline: pyogrio reading the GeoPackage in place over ``/vsis3/``."""
    import pyogrio

    from etl_spatial.writers import write_geoparquet

    timer = PhaseTimer()
    # pyogrio's GDAL is in-process: S3 settings become process-wide config options.
    pyogrio.set_gdal_config_options(gdal_env)
    with timer("read (pyogrio arrow over /vsis3/)"):
        frame = pyogrio.read_dataframe(vsis3_path, use_arrow=True)
    with timer("sort+write GeoParquet"):
        write_geoparquet(frame, out)
    return timer
