"""Row 5: tabular rows joined onto polygons, against hand-written SQL in PostGIS (the floor).

Set-up (untimed): 100k polygons (GPKG) and a 1M-row CSV with the polygons' key are ingested
through the real spatial and tabular lanes, so both parents are lake versions in the ledger.

- baseline: the two lake versions pre-loaded into a PostGIS schema (UNLOGGED, ADBC), then one
  hand-written ``CREATE UNLOGGED TABLE ... AS SELECT ... LEFT JOIN ... USING (key)``: what the
  database needs at the least, so the floor for our engine.
- ours: the join lane (``etl_pipeline.lanes.run_batch(run, "join")``) for a join manifest taken
  in by a real intake tick, phases timed: lake downloads, streamed ADBC loads, ``run_join``
  (key normalisation, match rate, unmatched key samples, column plan), the streamed export
  (sort in PostGIS, ADBC batches -> GeoParquet), lake upload + ledger.

Two rows: the engine step (``run_join`` against the hand SQL over the same pre-loaded
tables) and the whole lane (informational; it includes moving the data in and out).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from benchlib import (
    BenchServices,
    PhaseTimer,
    Row,
    batch_run,
    patched,
    say,
    submit_and_take_in,
    timed_function,
)
from vector_ingest import polygon_frame

FULL_POLYGONS = 100_000
FULL_ROWS = 1_000_000


def _tabular_csv(path: Path, rows: int, polygons: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(11)
    # About 2% of the rows name a key with no polygon (unmatched keys are reported).
    keys = rng.integers(0, int(polygons * 1.02), rows)
    table = pa.table(
        {
            "zone_id": np.char.add("Z", keys.astype(str)),
            "reading": rng.normal(10, 3, rows).round(3),
            "station": np.char.add("S", rng.integers(0, 5000, rows).astype(str)),
        }
    )
    pacsv.write_csv(table, str(path))


def _ingest_parents(services: Any, work: Path, polygons: int, rows: int) -> tuple[Any, Any]:
    import pyogrio

    from etl_devstack.drops import Landing, file_entry, manifest_document
    from etl_pipeline.lanes import run_batch

    landing = Landing(services.store)
    gpkg = work / "zones.gpkg"
    pyogrio.write_dataframe(polygon_frame(polygons), gpkg, layer="zones", driver="GPKG")
    zones_uri = landing.upload("bench-join/zones.gpkg", gpkg)
    csv = work / "readings.csv"
    _tabular_csv(csv, rows, polygons)
    readings_uri = landing.upload("bench-join/readings.csv", csv)
    gpkg.unlink()
    csv.unlink()
    plan = submit_and_take_in(
        services,
        "bench-zones.json",
        manifest_document(
            "bench-zones",
            "ingest_vector",
            [file_entry(zones_uri, "vector", format="GPKG")],
            dataset_id="bench-zones",
            uploader="bench",
        ),
    )
    spatial = run_batch(batch_run(services, plan), "spatial").asset
    plan = submit_and_take_in(
        services,
        "bench-readings.json",
        manifest_document(
            "bench-readings",
            "ingest_tabular",
            [file_entry(readings_uri, "tabular", format="CSV")],
            dataset_id="bench-readings",
            uploader="bench",
        ),
    )
    tabular = run_batch(batch_run(services, plan), "tabular").asset
    return spatial, tabular


def _hand_sql(services: Any, work: Path, spatial: Any, tabular: Any) -> tuple[float, float, Any]:
    """Pre-load both parents, then time the hand-written join and ``run_join`` on them."""
    import pyarrow.parquet as pq
    from psycopg import sql

    from etl_spatial.arrow_io import load_arrow_table
    from etl_spatial.geoparquet import primary_geometry_column
    from etl_transforms.join import JoinSpec, run_join

    store, postgis = services.store, services.postgis
    store.download_from_lake(spatial.s3_key, work / "spatial.parquet")
    store.download_from_lake(tabular.s3_key, work / "tabular.parquet")
    spatial_table = pq.read_table(work / "spatial.parquet")
    geom = primary_geometry_column(spatial_table.schema, where=spatial.s3_key)
    with postgis.ephemeral_schema(str(uuid.uuid4())) as schema:
        load_arrow_table(postgis, schema, "spatial", spatial_table, geometry_column=geom)
        load_arrow_table(postgis, schema, "tabular", pq.read_table(work / "tabular.parquet"))
        del spatial_table
        timer = PhaseTimer()
        with schema.connect() as conn:
            conn.execute(sql.SQL("ANALYZE {}").format(schema.table("spatial")))
            conn.execute(sql.SQL("ANALYZE {}").format(schema.table("tabular")))
            conn.commit()
            with timer("hand SQL"):
                conn.execute(
                    sql.SQL(
                        "CREATE UNLOGGED TABLE {out} AS SELECT t.*, s.name AS name_spatial, "
                        "s.area_class, s.{geom} FROM {t} AS t LEFT JOIN {s} AS s "
                        "ON t.zone_id = s.zone_id"
                    ).format(
                        out=schema.table("hand_joined"),
                        geom=sql.Identifier(geom),
                        t=schema.table("tabular"),
                        s=schema.table("spatial"),
                    )
                )
                conn.commit()
            with timer("run_join"):
                report = run_join(
                    conn,
                    schema,
                    tabular_table="tabular",
                    spatial_table="spatial",
                    spec=JoinSpec(left_key="zone_id"),
                    geom=geom,
                )
                conn.commit()
    return timer.phases["hand SQL"], timer.phases["run_join"], report


def _ours(services: Any, plan: Any) -> tuple[PhaseTimer, Any]:
    import etl_spatial.arrow_io as arrow_io
    import etl_spatial.geoparquet_stream as stream
    import etl_transforms.join as join
    from etl_pipeline import lanes
    from etl_pipeline.lanes import publish

    timer = PhaseTimer()
    store_type = type(services.store)
    with (
        patched(store_type, "download_from_lake", timed_function(timer, "lake downloads")),
        patched(arrow_io, "load_parquet", timed_function(timer, "ADBC load (streamed)")),
        patched(join, "run_join", timed_function(timer, "run_join")),
        patched(stream, "export_geoparquet", timed_function(timer, "sort+ADBC stream+GeoParquet")),
        patched(publish, "publish", timed_function(timer, "lake upload+STAC+ledger")),
        timer("total"),
    ):
        result = lanes.run_batch(batch_run(services, plan), "join")
    total = timer.phases.pop("total")
    timer.phases["other (ledger, hash, checks)"] = total - timer.total
    return timer, result


def run(bench: BenchServices, work: Path, *, scale: float) -> list[Row]:
    from etl_devstack.drops import manifest_document

    polygons, rows = int(FULL_POLYGONS * scale), int(FULL_ROWS * scale)
    services = bench.platform()
    spatial, tabular = _ingest_parents(services, work, polygons, rows)
    say(f"row 5: parents ingested ({polygons:,} polygons, {rows:,} rows)")
    hand, engine, report = _hand_sql(services, work, spatial, tabular)
    say(f"row 5: hand SQL {hand:.2f}s, run_join {engine:.2f}s ({report.rows_out} rows)")
    plan = submit_and_take_in(
        services,
        "bench-join.json",
        manifest_document(
            "bench-join",
            "join_datasets",
            [],
            dataset_id="bench-joined",
            uploader="bench",
            join_config={
                "spatial_dataset_id": "bench-zones",
                "tabular_dataset_id": "bench-readings",
                "left_key": "zone_id",
            },
        ),
    )
    timer, result = _ours(services, plan)
    say(f"row 5: ours {timer.total:.2f}s {timer.rounded()}")
    work_label = f"join: {rows:,} rows onto {polygons:,} polygons"
    return [
        Row(
            key="5-join-engine",
            work=f"{work_label} (engine step, pre-loaded tables)",
            baseline_label="hand-written SQL LEFT JOIN (floor)",
            baseline=hand,
            ours=engine,
            unit="s",
            target=None,
            checks={"same row count": report.rows_out == rows},
            notes=[f"match rate {report.match_rate:.1%}"],
        ),
        Row(
            key="5-join-lane",
            work=f"{work_label} (whole lane: lake -> PostGIS -> lake)",
            baseline_label="hand-written SQL LEFT JOIN (floor)",
            baseline=hand,
            ours=timer.total,
            unit="s",
            target=None,
            phases={"ours": timer.rounded()},
            checks={"joined rows = tabular rows": result.asset.row_count == rows},
        ),
    ]
