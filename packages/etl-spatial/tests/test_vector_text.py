"""Declared encodings and CSV delimiters of vector files (``files[].options``), with both
loaders: text in the file's encoding arrives in PostGIS as the same characters, and text that
is not UTF-8 with nothing declared is refused with the sentence that says what to declare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl_spatial.loader import VectorSource, load_vector
from etl_spatial.vector_source import VectorLoadError
from etl_spatial.vector_text import gdal_encoding, needs_rewrite, prepare_text_source

pytestmark = pytest.mark.integration

NAMES = ["S\u00e3o Paulo", "K\u00f6ln", "caf\u00e9 \u20ac5"]  # the euro sign: cp1252 only
LABEL = "files[0] (s3://landing-zone/b/places)"
ENGINES = pytest.mark.parametrize("engine", ["auto", "ogr2ogr"])


def _shapefile(tmp_path: Path, encoding: str, *, cpg: bool) -> Path:
    import geopandas as gpd
    import pyogrio
    import shapely

    names = [n for n in NAMES if n.encode(encoding, errors="ignore").decode(encoding) == n]
    frame = gpd.GeoDataFrame(
        {"name": names}, geometry=[shapely.Point(i, i) for i in range(len(names))], crs=4326
    )
    path = tmp_path / "places.shp"
    pyogrio.write_dataframe(frame, path, encoding=gdal_encoding(encoding))
    if not cpg:
        path.with_suffix(".cpg").unlink()
    return path


def _csv(tmp_path: Path, encoding: str, delimiter: str = ",") -> Path:
    path = tmp_path / "places.csv"
    lines = [delimiter.join(["lon", "lat", "name"])]
    lines += [delimiter.join([str(i + 0.5), str(i), f'"{n}"']) for i, n in enumerate(NAMES)]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _geojson(tmp_path: Path, encoding: str) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"name": n},
            "geometry": {"type": "Point", "coordinates": [i, i]},
        }
        for i, n in enumerate(NAMES)
    ]
    path = tmp_path / "places.geojson"
    text = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    path.write_bytes(text.encode(encoding))
    return path


def _load_names(postgis, run_id, monkeypatch, engine: str, source: VectorSource, **kw) -> list:
    monkeypatch.setenv("ETL_VECTOR_LOADER", engine)
    with postgis.ephemeral_schema(run_id) as schema:
        report = load_vector(postgis, schema, [source], **kw)
        with schema.connect(autocommit=True) as conn:
            rows = conn.execute(
                f'SELECT name FROM "{schema.name}".raw_data ORDER BY _etl_fid'
            ).fetchall()
    assert report.row_count == len(rows)
    return [r[0] for r in rows]


@ENGINES
@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_shapefile_without_cpg_is_read_in_the_declared_encoding(
    postgis, run_id, tmp_path, monkeypatch, engine, encoding
):
    path = _shapefile(tmp_path, encoding, cpg=False)
    source = VectorSource(path=str(path), format="Shapefile", label=LABEL, encoding=encoding)
    names = _load_names(postgis, run_id, monkeypatch, engine, source)
    assert names == [n for n in NAMES if n.encode(encoding, errors="ignore").decode(encoding) == n]
    assert "caf\u00e9 \u20ac5" in names or encoding == "latin-1"


@ENGINES
def test_declared_encoding_overrides_a_wrong_cpg(postgis, run_id, tmp_path, monkeypatch, engine):
    path = _shapefile(tmp_path, "cp1252", cpg=False)
    path.with_suffix(".cpg").write_text("UTF-8")
    source = VectorSource(path=str(path), format="Shapefile", label=LABEL, encoding="cp1252")
    assert _load_names(postgis, run_id, monkeypatch, engine, source) == NAMES


@ENGINES
@pytest.mark.parametrize("fmt", ["shapefile", "geojson", "csv"])
def test_text_that_is_not_utf8_is_refused_with_what_to_declare(
    postgis, run_id, tmp_path, monkeypatch, engine, fmt
):
    if fmt == "shapefile":
        source = VectorSource(
            path=str(_shapefile(tmp_path, "cp1252", cpg=False)), format="Shapefile", label=LABEL
        )
    elif fmt == "geojson":
        source = VectorSource(path=str(_geojson(tmp_path, "cp1252")), label=LABEL)
    else:
        source = VectorSource(path=str(_csv(tmp_path, "cp1252")), format="CSV", label=LABEL)
    with pytest.raises(VectorLoadError) as raised:
        _load_names(postgis, run_id, monkeypatch, engine, source, declared_crs="EPSG:4326")
    message = str(raised.value)
    assert message.startswith(f"{LABEL} has text that is not UTF-8"), message
    assert "files[].options.encoding" in message and "proc_" not in message


@ENGINES
@pytest.mark.parametrize(
    ("fmt", "encoding", "delimiter"),
    [
        ("csv", "cp1252", ","),
        ("csv", "utf-8", ";"),
        ("csv", "latin-1", "|"),
        ("csv", "cp1252", "\t"),
        ("geojson", "cp1252", None),
    ],
)
def test_csv_and_geojson_are_read_with_the_declared_encoding_and_delimiter(
    postgis, run_id, tmp_path, monkeypatch, engine, fmt, encoding, delimiter
):
    names = [n for n in NAMES if n.encode(encoding, errors="ignore").decode(encoding) == n]
    if fmt == "csv":
        path = tmp_path / "places.csv"
        lines = [delimiter.join(["lon", "lat", "name"])]
        lines += [delimiter.join([f"{i}.5", str(i), n]) for i, n in enumerate(names)]
        path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
        source = VectorSource(
            path=str(path), format="CSV", label=LABEL, encoding=encoding, delimiter=delimiter
        )
    else:
        source = VectorSource(
            path=str(_geojson(tmp_path, encoding)), label=LABEL, encoding=encoding
        )
    loaded = _load_names(
        postgis, run_id, monkeypatch, engine, source, declared_crs="EPSG:4326", workdir=tmp_path
    )
    assert loaded == names
    # The UTF-8 copy went to the work directory given; the original is untouched.
    assert list(tmp_path.glob("utf8-0.*"))


def test_options_that_cannot_apply_are_refused(tmp_path):
    gpkg = VectorSource(
        path=str(tmp_path / "a.gpkg"), format="GPKG", label=LABEL, encoding="cp1252"
    )
    with pytest.raises(VectorLoadError, match=r"options.encoding does not apply to GPKG"):
        prepare_text_source(gpkg, tmp_path, 0)
    geojson = VectorSource(path=str(tmp_path / "a.geojson"), label=LABEL, delimiter=";")
    with pytest.raises(VectorLoadError, match=r"options.delimiter applies to CSV files only"):
        prepare_text_source(geojson, tmp_path, 0)
    zipped = VectorSource(
        path="/vsizip//vsis3/landing-zone/b/a.zip/a.csv", format="CSV", label=LABEL, delimiter=";"
    )
    with pytest.raises(VectorLoadError, match=r"not one inside a zip archive"):
        prepare_text_source(zipped, tmp_path, 0)


def test_a_wrongly_declared_encoding_names_the_file(tmp_path):
    path = _csv(tmp_path, "cp1252")
    source = VectorSource(path=str(path), format="CSV", label=LABEL, encoding="ascii")
    with pytest.raises(VectorLoadError, match=r"is not valid ascii text") as raised:
        prepare_text_source(source, tmp_path, 0)
    assert str(raised.value).startswith(LABEL)
    assert not list(tmp_path.glob("utf8-*")), "a partial copy was left behind"


def test_what_needs_a_copy_and_gdal_names():
    assert not needs_rewrite(VectorSource(path="a.csv", format="CSV"))
    assert not needs_rewrite(
        VectorSource(path="a.csv", format="CSV", encoding="utf-8", delimiter=",")
    )
    assert needs_rewrite(VectorSource(path="a.csv", format="CSV", delimiter=";"))
    assert needs_rewrite(VectorSource(path="a.geojson", format="GeoJSON", encoding="cp1252"))
    assert not needs_rewrite(VectorSource(path="a.shp", format="Shapefile", encoding="cp1252"))
    assert gdal_encoding("latin1") == "ISO-8859-1"
    assert gdal_encoding("cp1252") == "CP1252"
    assert gdal_encoding("iso8859_15") == "ISO-8859-15"
    assert gdal_encoding("utf8") == "UTF-8"
