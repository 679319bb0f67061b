"""Hostile data: each batch is taken in like any other and run by its lane runner. The run
either succeeds with a correct lake version, or fails with a clear error that names the file
or the problem; a failed run leaves no lake object, no ``proc_*`` schema and no ledger asset.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from etl_spatial.postgis import schema_name_for_run

from .conftest import Lab, ci, full_only

pytestmark = pytest.mark.integration

OK = "ok"
EITHER = "either"  # success with a correct output, or a clear error


def feature(props: dict[str, Any], geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


def collection(features: list[dict[str, Any]], crs: str | None = None) -> bytes:
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(doc).encode()


ROADS = collection(
    [
        feature(
            {"road_id": f"R{i}", "lanes": i % 3},
            {
                "type": "LineString",
                "coordinates": [
                    [16_000_000 + i * 100, -4_500_000],
                    [16_000_050 + i * 100, -4_500_080],
                ],
            },
        )
        for i in range(20)
    ],
    crs="urn:ogc:def:crs:EPSG::3857",
)


@dataclass(frozen=True)
class DataCase:
    name: str
    file_type: str
    body: bytes
    expect: str  # OK, EITHER or a regex the error must match
    intent: str = ""
    rows: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Any, Path], None] | None = None  # (LaneResult, local lake file)

    @property
    def lane_intent(self) -> str:
        return self.intent or f"ingest_{self.file_type}"


class Samples:
    """Valid binary sources built once with the GDAL tools, to be corrupted by the cases."""

    def __init__(self, root: Path) -> None:
        from etl_spatial.gdal import run_gdal

        self.root = root
        src = root / "roads.geojson"
        src.write_bytes(ROADS)
        run_gdal("ogr2ogr", ["-f", "GPKG", str(root / "roads.gpkg"), str(src)])
        shp = root / "shp"
        shp.mkdir()
        run_gdal("ogr2ogr", ["-f", "ESRI Shapefile", str(shp / "roads.shp"), str(src)])
        self.shapefile = {p.suffix: p.read_bytes() for p in shp.iterdir()}
        asc = root / "dem.asc"
        rows = "\n".join(" ".join(str((r + c) % 9) for c in range(32)) for r in range(32))
        asc.write_text(
            "ncols 32\nnrows 32\nxllcorner 144.0\nyllcorner -38.0\ncellsize 0.01\n"
            f"NODATA_value -9999\n{rows}\n"
        )
        run_gdal(
            "gdal_translate",
            ["-of", "GTiff", "-a_srs", "EPSG:4326", str(asc), str(root / "dem.tif")],
        )
        run_gdal("gdal_translate", ["-of", "GTiff", str(asc), str(root / "nocrs.tif")])

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def shp_zip(self, *suffixes: str, extra: int = 0) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for suffix in suffixes:
                zf.writestr(f"roads{suffix}", self.shapefile[suffix])
            for i in range(extra):
                zf.writestr(f"junk/{i:05d}.txt", b"x")
        return buffer.getvalue()


def thousands_of_entries() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for i in range(5000):
            zf.writestr(f"junk/{i:05d}.txt", b"")
    return buffer.getvalue()


def wide_geojson(columns: int) -> bytes:
    props = {f"attr_{i:04d}": i for i in range(columns)}
    return collection([feature(props, point(144.9, -37.8)), feature(props, point(145, -37.9))])


def check_columns(*names: str) -> Callable[[Any, Path], None]:
    def check(result: Any, local: Path) -> None:
        import pyarrow.parquet as pq

        columns = pq.read_schema(local).names
        assert set(names) <= set(columns), columns

    return check


def check_width(minimum: int) -> Callable[[Any, Path], None]:
    def check(result: Any, local: Path) -> None:
        import pyarrow.parquet as pq

        assert len(pq.read_schema(local).names) >= minimum

    return check


def check_distinct_long_columns(result: Any, local: Path) -> None:
    """Two properties sharing their first 63 characters must stay two columns with their
    values (PostgreSQL truncates identifiers to 63 bytes: a silent collision would lose one)."""
    import pyarrow.parquet as pq

    table = pq.read_table(local)
    values = {
        v for c in table.column_names if c.startswith("p" * 10) for v in table.column(c).to_pylist()
    }
    assert {"first", "second"} <= values, table.column_names


def check_declared_crs_kept(result: Any, local: Path) -> None:
    """A file declaring a CRS the platform cannot resolve must not be silently taken as
    WGS 84: the recorded source CRS keeps what the file said."""
    assert "999999" in str(result.asset.source_crs), result.asset.source_crs


LONG = "p" * 70
CSV_WIDE = (
    ",".join(f"c{i}" for i in range(1000)) + "\n" + ",".join(str(i) for i in range(1000)) + "\n"
)

CASES: list[Any] = [
    ci(
        lambda s: DataCase(
            "t.geojson", "vector", ROADS[: len(ROADS) // 2], r"t\.geojson|files\[0\]"
        ),
        id="geojson-truncated",
    ),
    full_only(
        lambda s: DataCase("g.geojson", "vector", os.urandom(4096), r"g\.geojson|files\[0\]"),
        id="geojson-garbage",
    ),
    ci(
        lambda s: DataCase("e.geojson", "vector", b"", r"e\.geojson|files\[0\]"),
        id="geojson-empty-file",
    ),
    full_only(
        lambda s: DataCase("n.geojson", "vector", collection([]), EITHER, rows=0),
        id="geojson-no-features",
    ),
    ci(
        lambda s: DataCase("c.gpkg", "vector", os.urandom(8192), r"c\.gpkg|files\[0\]"),
        id="gpkg-corrupt",
    ),
    full_only(
        lambda s: DataCase("h.gpkg", "vector", s.read("roads.gpkg")[:6000], r"h\.gpkg|files\[0\]"),
        id="gpkg-truncated",
    ),
    full_only(
        lambda s: DataCase("r.zip", "vector", s.shp_zip(".shp"), EITHER, rows=20),
        id="shp-zip-without-dbf-shx",
    ),
    ci(
        lambda s: DataCase("z.zip", "vector", b"PK\x03\x04 not really a zip", r"z\.zip|files\[0\]"),
        id="zip-corrupt",
    ),
    ci(
        lambda s: DataCase("many.zip", "vector", thousands_of_entries(), r"many\.zip|files\[0\]"),
        id="zip-thousands-of-entries",
    ),
    full_only(
        lambda s: DataCase(
            "m.zip", "vector", s.shp_zip(".shp", ".shx", ".dbf", ".prj", extra=3000), OK, rows=20
        ),
        id="zip-thousands-plus-shapefile",
    ),
    ci(
        lambda s: DataCase("noprj.zip", "vector", s.shp_zip(".shp", ".shx", ".dbf"), r"CRS|crs"),
        id="shapefile-no-crs",
    ),
    full_only(
        lambda s: DataCase(
            "d.zip",
            "vector",
            s.shp_zip(".shp", ".shx", ".dbf"),
            OK,
            rows=20,
            fields={"crs": "EPSG:3857"},
        ),
        id="shapefile-no-crs-declared",
    ),
    full_only(
        lambda s: DataCase(
            "u.geojson", "vector", ROADS, r"999999|CRS|crs", fields={"crs": "EPSG:999999"}
        ),
        id="unknown-crs",
    ),
    full_only(
        lambda s: DataCase(
            "u2.geojson",
            "vector",
            collection([feature({"a": 1}, point(1, 2))], crs="urn:ogc:def:crs:EPSG::999999"),
            r"999999|CRS|crs|u2\.geojson",
            check=check_declared_crs_kept,
        ),
        id="unknown-crs-in-file",
    ),
    ci(
        lambda s: DataCase(
            "mix.geojson",
            "vector",
            collection(
                [
                    feature({"k": 1}, point(144.9, -37.8)),
                    feature(
                        {"k": 2}, {"type": "LineString", "coordinates": [[144, -37], [145, -38]]}
                    ),
                    feature(
                        {"k": 3},
                        {
                            "type": "Polygon",
                            "coordinates": [[[144, -37], [145, -37], [145, -38], [144, -37]]],
                        },
                    ),
                ]
            ),
            EITHER,
            rows=3,
        ),
        id="mixed-geometry-types",
    ),
    full_only(
        lambda s: DataCase(
            "bow.geojson",
            "vector",
            collection(
                [
                    feature(
                        {"k": 1},
                        {
                            "type": "Polygon",
                            "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]],
                        },
                    ),
                    feature(
                        {"k": 2}, {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}
                    ),
                ]
            ),
            EITHER,
        ),
        id="invalid-geometries",
    ),
    ci(
        lambda s: DataCase(
            "empty_geoms.geojson",
            "vector",
            collection(
                [
                    feature({"k": 1}, point(144.9, -37.8)),
                    feature({"k": 2}, None),
                    feature({"k": 3}, {"type": "LineString", "coordinates": []}),
                ]
            ),
            EITHER,
        ),
        id="empty-and-null-geometries",
    ),
    ci(
        lambda s: DataCase(
            "wide.geojson", "vector", wide_geojson(1000), OK, rows=2, check=check_width(1000)
        ),
        id="geojson-1000-columns",
    ),
    full_only(
        lambda s: DataCase(
            "wide.csv", "tabular", CSV_WIDE.encode(), OK, rows=1, check=check_width(1000)
        ),
        id="csv-1000-columns",
    ),
    ci(
        lambda s: DataCase("dup.csv", "tabular", b"a,a,A,b\n1,2,3,4\n", EITHER, rows=1),
        id="csv-duplicate-headers",
    ),
    full_only(
        lambda s: DataCase(
            "long.csv", "tabular", f"{'h' * 300},{'h' * 299}x\n1,2\n".encode(), EITHER, rows=1
        ),
        id="csv-overlong-headers",
    ),
    full_only(
        lambda s: DataCase(
            "long.geojson",
            "vector",
            collection(
                [feature({LONG + "_a": "first", LONG + "_b": "second"}, point(144.9, -37.8))]
            ),
            EITHER,
            rows=1,
            check=check_distinct_long_columns,
        ),
        id="geojson-overlong-properties",
    ),
    ci(
        lambda s: DataCase(
            "latin.csv",
            "tabular",
            "name,n\ncafé,1\n".encode("latin-1"),
            r"latin\.csv|files\[0\]|UTF-8|utf-8|encoding",
        ),
        id="csv-not-utf8",
    ),
    full_only(
        lambda s: DataCase("e.csv", "tabular", b"", r"e\.csv|files\[0\]|empty|header"),
        id="csv-empty-file",
    ),
    full_only(
        lambda s: DataCase("h.csv", "tabular", b"a,b\n", EITHER, rows=0), id="csv-header-only"
    ),
    full_only(
        lambda s: DataCase("rag.csv", "tabular", b"a,b\n1,2,3\n4\n", EITHER), id="csv-ragged-rows"
    ),
    full_only(
        lambda s: DataCase("nul.csv", "tabular", b"a,b\n1,\x00\n", EITHER), id="csv-nul-byte"
    ),
    ci(
        lambda s: DataCase("c.tif", "raster", b"II*\x00" + os.urandom(4096), r"c\.tif|files\[0\]"),
        id="geotiff-corrupt",
    ),
    full_only(
        lambda s: DataCase("t.tif", "raster", s.read("dem.tif")[:300], r"t\.tif|files\[0\]"),
        id="geotiff-truncated",
    ),
    full_only(
        lambda s: DataCase("nocrs.tif", "raster", s.read("nocrs.tif"), r"CRS|crs"),
        id="geotiff-no-crs",
    ),
    full_only(
        lambda s: DataCase("c.fgb", "vector", b"fgb\x03" + os.urandom(2048), r"c\.fgb|files\[0\]"),
        id="flatgeobuf-corrupt",
    ),
]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    return Samples(tmp_path_factory.mktemp("hostile_samples"))


BUG_TYPES = (KeyError, IndexError, AttributeError, TypeError, NameError, UnboundLocalError)


@pytest.mark.parametrize("case", CASES)
def test_hostile_data_succeeds_correctly_or_fails_clearly(
    lab: Lab, samples: Samples, case: Callable[[Samples], DataCase], tmp_path: Path
) -> None:
    spec = case(samples)
    batch = f"hd_{uuid.uuid4().hex[:8]}"
    lab.submit(
        batch,
        spec.lane_intent,
        {spec.name: (spec.file_type, spec.body)},
        dataset_id="hostile",
        file_fields=spec.fields or None,
    )
    intake = lab.tick()
    if intake.rejected and spec.expect not in (OK, EITHER):
        # Rejected before any run (e.g. a zip that is not one): a clear rejection is fine.
        assert re.search(spec.expect, intake.rejected[0].reason), intake.rejected[0].reason
        assert lab.lake_keys() == [] and lab.ledger.versions("hostile") == []
        return
    assert not intake.rejected, intake.rejected[0].reason
    run = lab.run_for(intake.queued[0])

    error: Exception | None = None
    result = None
    try:
        result = lab.process(run)
    except Exception as exc:
        error = exc

    # Whatever happened: the run's compute schema is gone.
    assert schema_name_for_run(run.dagster_run_id) not in lab.run_schemas()
    if error is None:
        if spec.check is None:
            assert spec.expect in (OK, EITHER), f"expected a clear error, the run succeeded: {spec}"
        asset = result.asset
        assert (asset.dataset_id, asset.version) == ("hostile", 1)
        assert lab.lake_keys() == sorted([asset.s3_key, "hostile/v1/item.json"])
        meta = lab.store.lake_object_metadata(asset.s3_key)
        assert (meta.etag, meta.size) == (asset.lake_etag, asset.size_bytes)
        if spec.rows is not None:
            assert asset.row_count == spec.rows
        if spec.file_type == "vector":
            assert asset.crs == "EPSG:4326" and result.quality.violations() == []
        local = tmp_path / Path(asset.s3_key).name
        lab.store.download_from_lake(asset.s3_key, local)
        if spec.check is not None:
            spec.check(result, local)
        return
    message = f"{type(error).__name__}: {error}"
    assert spec.expect != OK, f"expected success, got {message}"
    assert not isinstance(error, BUG_TYPES), f"an internal error, not a clear one: {message}"
    assert len(str(error)) >= 20, message
    if spec.expect != EITHER:
        assert re.search(spec.expect, message), message
    assert lab.lake_keys() == [], "a failed run left lake objects"
    assert lab.ledger.versions("hostile") == []
    record = lab.ledger.get_run(run.dagster_run_id)
    assert record is None or not record.produced_assets
