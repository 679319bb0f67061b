"""Sample raw files, made at run time from data installed packages ship; nothing is downloaded.

- Countries: the Natural Earth "lowres" countries shapefile that pyogrio ships as a test
  fixture (177 polygons, EPSG:4326, attributes ``pop_est``, ``continent``, ``name``, ``iso_a3``,
  ``gdp_md_est``), copied as is, zipped, or converted with ``ogr2ogr`` to GeoJSON / GeoPackage.
- Country statistics: a CSV keyed on ``iso_a3`` derived from the same attributes (population in
  millions, GDP per person), optionally with keys that match no country.
- Elevation-like raster: a generated ASCII grid turned into a GeoTIFF with ``gdal_translate``.

The GDAL tools run as argument lists with timeouts; no credentials are involved.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

COUNTRIES_LAYER = "naturalearth_lowres"
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
COUNTRY_KEY = "iso_a3"
UNKNOWN_CODE = "-99"  # Natural Earth's "no code"; four countries share it
GDAL_TIMEOUT = 120.0


class SampleDataError(RuntimeError):
    """Sample data cannot be made; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class CountryRow:
    iso_a3: str
    name: str
    pop_est: int
    gdp_md_est: float


def countries_fixture_dir() -> Path:
    """Folder of pyogrio's Natural Earth countries test fixture (installed with pyogrio)."""
    spec = importlib.util.find_spec("pyogrio")
    if spec is None or not spec.submodule_search_locations:
        raise SampleDataError(
            "pyogrio is not installed, so the bundled countries shapefile is missing; run "
            "`uv sync` at the repository root"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "tests" / "fixtures"
    folder = folder / COUNTRIES_LAYER
    if not (folder / f"{COUNTRIES_LAYER}.shp").is_file():
        raise SampleDataError(
            f"{folder / (COUNTRIES_LAYER + '.shp')} is missing; reinstall pyogrio (`uv sync "
            "--reinstall-package pyogrio`)"
        )
    return folder


def _run_tool(argv: list[str]) -> str:
    tool = argv[0]
    if shutil.which(tool) is None:
        raise SampleDataError(f"GDAL tool {tool} is not on PATH; install it with gdal-bin")
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=GDAL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SampleDataError(f"{tool} did not finish within {GDAL_TIMEOUT:.0f}s") from exc
    if done.returncode != 0:
        raise SampleDataError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def countries_shapefile(dest: Path, stem: str = "countries") -> Path:
    """Copy the countries shapefile (all sidecars) into ``dest`` as ``<stem>.shp``; its path."""
    source = countries_fixture_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for suffix in SHAPEFILE_PARTS:
        shutil.copyfile(source / f"{COUNTRIES_LAYER}{suffix}", dest / f"{stem}{suffix}")
    return dest / f"{stem}.shp"


def countries_zip(dest: Path, stem: str = "countries") -> Path:
    """The countries shapefile zipped (members at the archive root) as ``<stem>.zip``."""
    source = countries_fixture_dir()
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{stem}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for suffix in SHAPEFILE_PARTS:
            archive.write(source / f"{COUNTRIES_LAYER}{suffix}", f"{stem}{suffix}")
    return path


def countries_geojson(dest: Path, stem: str = "countries") -> Path:
    """The countries as GeoJSON (``ogr2ogr``)."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{stem}.geojson"
    path.unlink(missing_ok=True)
    source = countries_fixture_dir() / f"{COUNTRIES_LAYER}.shp"
    _run_tool(["ogr2ogr", "-f", "GeoJSON", str(path), str(source)])
    return path


def countries_geopackage(dest: Path, stem: str = "countries", layer: str = "countries") -> Path:
    """The countries as a GeoPackage with one layer named ``layer`` (``ogr2ogr``)."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{stem}.gpkg"
    path.unlink(missing_ok=True)
    source = countries_fixture_dir() / f"{COUNTRIES_LAYER}.shp"
    _run_tool(["ogr2ogr", "-f", "GPKG", "-nln", layer, str(path), str(source)])
    return path


def country_rows() -> list[CountryRow]:
    """The attributes of every country of the fixture, in file order (``ogr2ogr`` to CSV)."""
    source = countries_fixture_dir() / f"{COUNTRIES_LAYER}.shp"
    text = _run_tool(
        ["ogr2ogr", "-f", "CSV", "/vsistdout/", str(source), "-select", "iso_a3,name,pop_est,"
         "gdp_md_est"]
    )  # fmt: skip
    return [
        CountryRow(
            iso_a3=row["iso_a3"],
            name=row["name"],
            pop_est=int(float(row["pop_est"] or 0)),
            gdp_md_est=float(row["gdp_md_est"] or 0),
        )
        for row in csv.DictReader(io.StringIO(text))
    ]


def unique_country_codes() -> list[str]:
    """ISO codes that name exactly one country (Natural Earth's ``-99`` left out)."""
    codes = [row.iso_a3 for row in country_rows()]
    return [code for code in codes if code != UNKNOWN_CODE and codes.count(code) == 1]


def country_stats_csv(
    path: Path,
    *,
    codes: list[str] | None = None,
    unmatched_codes: tuple[str, ...] = (),
) -> Path:
    """A CSV ``iso_a3,country,population_millions,gdp_per_person_usd`` for ``codes`` (default:
    every uniquely coded country), plus one row per code in ``unmatched_codes``."""
    rows = {row.iso_a3: row for row in country_rows() if row.iso_a3 != UNKNOWN_CODE}
    wanted = codes if codes is not None else unique_country_codes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([COUNTRY_KEY, "country", "population_millions", "gdp_per_person_usd"])
        for code in wanted:
            row = rows[code]
            per_person = row.gdp_md_est * 1e6 / row.pop_est if row.pop_est else 0.0
            writer.writerow([code, row.name, f"{row.pop_est / 1e6:.3f}", f"{per_person:.1f}"])
        for code in unmatched_codes:
            writer.writerow([code, f"Unknown {code}", "0.000", "0.0"])
    return path


def elevation_geotiff(path: Path, *, cell_degrees: float = 2.0) -> Path:
    """A global elevation-like Int16 GeoTIFF in EPSG:4326, from a generated ASCII grid."""
    cols, rows = round(360 / cell_degrees), round(180 / cell_degrees)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = path.with_suffix(".asc")
    lines = [
        f"ncols {cols}", f"nrows {rows}", "xllcorner -180", "yllcorner -90",
        f"cellsize {cell_degrees}", "NODATA_value -9999",
    ]  # fmt: skip
    for r in range(rows):
        lat = math.radians(90 - (r + 0.5) * cell_degrees)
        values = []
        for c in range(cols):
            lon = math.radians(-180 + (c + 0.5) * cell_degrees)
            values.append(str(round(2500 * math.cos(lat) * (1 + math.sin(3 * lon)) - 400)))
        lines.append(" ".join(values))
    grid.write_text("\n".join(lines) + "\n")
    path.unlink(missing_ok=True)
    _run_tool(
        ["gdal_translate", "-q", "-of", "GTiff", "-ot", "Int16", "-a_srs", "EPSG:4326",
         "-co", "COMPRESS=DEFLATE", str(grid), str(path)]
    )  # fmt: skip
    grid.unlink()
    return path


def corrupt_geojson(path: Path) -> Path:
    """A file named ``.geojson`` that is not GeoJSON (a failing input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"type": "FeatureCollection", "features": [ this is not json\n')
    return path
