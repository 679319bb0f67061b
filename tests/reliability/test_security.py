"""Security: reads confined to the landing bucket, identifiers from manifests and file headers
cannot inject SQL, no secret in any process argv / log line / ledger document, and only the UI
port published (compose) with every local port on loopback."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import uuid
from pathlib import Path

import pytest

from etl_spatial.postgis import Postgis
from etl_storage.errors import PathOutsideLanding
from etl_storage.object_store import ObjectStore

from .conftest import Lab, ci, full_only

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
POINTS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"road_id": f"R{i}", "name": f"n{i}"},
            "geometry": {"type": "Point", "coordinates": [144.9 + i / 100, -37.8]},
        }
        for i in range(5)
    ],
}

HOSTILE_URIS = [
    "s3://data-lake/roads/v1/data.parquet",
    "s3://landing-zone-evil/x.csv",
    "s3://{landing}/../data-lake/x.csv",
    "s3://{landing}/a/%2e%2e/b.csv",
    "s3://{landing}/a/%2F../b.csv",
    "s3://{landing}//etc/passwd",
    "s3://{landing}/a\\..\\b.csv",
    "/etc/passwd",
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data",
    "/vsicurl/http://example.com/x",
    "s3://{landing}/a/\x00b.csv",
    "s3://{landing}",
]


@pytest.mark.parametrize("uri", HOSTILE_URIS)
def test_reads_are_confined_to_the_landing_bucket(store: ObjectStore, uri: str) -> None:
    from etl_models.manifest import ManifestValidationError, parse_manifest

    uri = uri.format(landing=store.landing_bucket)
    with pytest.raises(PathOutsideLanding):
        store.landing_key_from_uri(uri)
    doc = {
        "batch_id": "b1",
        "uploader": "u",
        "intent": "ingest_tabular",
        "files": [{"path": uri, "type": "tabular", "format": "CSV"}],
    }
    with pytest.raises(ManifestValidationError, match=r"files\[0\]\.path"):
        parse_manifest(doc, landing_bucket=store.landing_bucket)


def test_a_tampered_ledger_manifest_cannot_make_a_run_read_the_lake(lab: Lab) -> None:
    """The run re-validates the manifest it reads from the ledger: a path rewritten to the
    lake (or anywhere else) after intake is refused before any read."""
    from etl_models.manifest import ManifestValidationError

    lab.submit("tamper_1", "ingest_tabular", {"c.csv": ("tabular", "a\n1\n")}, dataset_id="t")
    [queued] = lab.tick().queued
    lab.ledger.db["manifests"].update_one(
        {"batch_id": "tamper_1"},
        {"$set": {"manifest.files.0.path": f"s3://{lab.store.lake_bucket}/secret.csv"}},
    )
    with pytest.raises(ManifestValidationError, match=r"files\[0\]\.path"):
        lab.process(lab.run_for(queued))
    assert lab.lake_keys() == []


def _canary(postgis: Postgis) -> tuple[int, int]:
    with postgis.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.reliability_canary (id int)")
        conn.commit()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()[0]
        srs = conn.execute("SELECT count(*) FROM spatial_ref_sys").fetchone()[0]
    return tables, srs


INJECTIONS = [
    'x"; DROP TABLE public.reliability_canary; --',
    "y'); DROP TABLE public.reliability_canary; --",
    'z" text); DELETE FROM spatial_ref_sys; --',
]


@pytest.mark.parametrize(
    "lane",
    [
        ci("tabular", id="csv-header"),
        ci("vector", id="geojson-property"),
        full_only("vector-csv", id="vector-csv-header"),
    ],
)
def test_identifiers_from_file_headers_cannot_inject(lab: Lab, lane: str) -> None:
    before = _canary(lab.postgis)
    if lane == "tabular":
        body = ",".join(f'"{h.replace(chr(34), chr(34) * 2)}"' for h in INJECTIONS) + "\n1,2,3\n"
        lab.submit("inj_1", "ingest_tabular", {"c.csv": ("tabular", body)}, dataset_id="inj")
    elif lane == "vector":
        doc = json.loads(json.dumps(POINTS))
        for f in doc["features"]:
            f["properties"].update({h: "v" for h in INJECTIONS})
        lab.submit(
            "inj_1", "ingest_vector", {"p.geojson": ("vector", json.dumps(doc))}, dataset_id="inj"
        )
    else:
        header = ",".join(f'"{h.replace(chr(34), chr(34) * 2)}"' for h in INJECTIONS)
        body = f"lon,lat,{header}\n144.9,-37.8,1,2,3\n"
        lab.submit(
            "inj_1",
            "ingest_vector",
            {"p.csv": ("vector", body)},
            dataset_id="inj",
            file_fields={"crs": "EPSG:4326"},
        )
    [queued] = lab.tick().queued
    run = lab.run_for(queued)
    try:
        result = lab.process(run)
    except Exception as exc:  # a clear refusal is acceptable; the database must be intact
        assert len(str(exc)) > 20
        assert lab.lake_keys() == []
    else:
        assert result.asset.row_count in (1, 5)
    assert _canary(lab.postgis) == before
    assert not lab.run_schemas() & {f"proc_{run.dagster_run_id.replace('-', '_')}"}


def test_join_keys_from_manifests_cannot_inject(lab: Lab) -> None:
    """A join key with quotes is either refused at intake (not a column) or used quoted."""
    before = _canary(lab.postgis)
    lab.submit(
        "roads_1",
        "ingest_vector",
        {"r.geojson": ("vector", json.dumps(POINTS))},
        dataset_id="roads",
    )
    lab.submit(
        "counts_1", "ingest_tabular", {"c.csv": ("tabular", "road,n\nR1,1\n")}, dataset_id="counts"
    )
    for queued in lab.tick().queued:
        lab.process(lab.run_for(queued))
    evil = 'road" = "road" OR 1=1; DROP TABLE public.reliability_canary; --'
    lab.submit(
        "join_1",
        "join_datasets",
        dataset_id="j",
        join_config={
            "spatial_dataset_id": "roads",
            "tabular_dataset_id": "counts",
            "left_key": evil,
            "right_key": "road_id",
        },
    )
    result = lab.tick()
    assert [r.key for r in result.rejected] == ["manifests/join_1.json"]
    assert "left_key" in result.rejected[0].reason
    # The join SQL itself, handed the hostile key directly, quotes it (fails clearly).
    from etl_models.manifest import JoinConfig
    from etl_transforms.join import JoinSpec

    spec = JoinSpec.from_join_config(
        JoinConfig(
            spatial_dataset_id="roads",
            tabular_dataset_id="counts",
            left_key=evil,
            right_key="road_id",
        )
    )
    from etl_transforms.join import run_join

    with lab.postgis.ephemeral_schema(str(uuid.uuid4())) as schema, schema.connect() as conn:
        conn.execute(f"CREATE TABLE {schema.qualified('tabular')} (road text, n int)")
        conn.execute(f"CREATE TABLE {schema.qualified('spatial')} (road_id text, geom geometry)")
        with pytest.raises(Exception, match=r"(?i)column|key|not"):
            run_join(
                conn,
                schema,
                tabular_table="tabular",
                spatial_table="spatial",
                spec=spec,
                options=None,
                geom="geom",
            )
    assert _canary(lab.postgis) == before


def _cmdlines() -> list[tuple[int, str]]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                raw = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            out.append((int(proc.name), raw.replace(b"\x00", b" ").decode(errors="replace")))
    return out


@pytest.mark.parametrize("loader", ["ogr2ogr", "auto"])
def test_no_secret_in_argv_logs_or_ledger(
    services, postgis_service, caplog: pytest.LogCaptureFixture, monkeypatch, loader: str
) -> None:
    """Sentinel secrets as the S3 secret key and the PostgreSQL password (moto accepts any
    credentials; local PostgreSQL trusts loopback, so the password is carried but unused):
    while real runs execute, a poller reads every ``/proc/*/cmdline``. With ``ogr2ogr`` the
    load is a GDAL subprocess (the poller must see it); with ``auto`` these GeoJSON points
    load in-process (Arrow stream and ADBC, whose URI holds the password)."""
    from etl_pipeline.lanes import Services

    monkeypatch.setenv("ETL_VECTOR_LOADER", loader)
    s3_secret = f"S3SENTINEL{uuid.uuid4().hex}"
    pg_secret = f"PGSENTINEL{uuid.uuid4().hex}"
    store = services.store.model_copy(update={"secret_key": s3_secret})
    postgis = dataclasses.replace(services.postgis, password=pg_secret)
    lab = Lab(Services(store=store, ledger=services.ledger, postgis=postgis))
    seen: list[str] = []
    leaks: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for pid, cmd in _cmdlines():
                if "ogr2ogr" in cmd or "ogrinfo" in cmd or "gdal" in cmd:
                    seen.append(cmd)
                if s3_secret in cmd or pg_secret in cmd:
                    leaks.append(f"{pid}: {cmd}")
            stop.wait(0.01)

    caplog.set_level(logging.DEBUG)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        lab.submit(
            "sec_1",
            "ingest_vector",
            {"r.geojson": ("vector", json.dumps(POINTS))},
            dataset_id="sec",
        )
        lab.submit(
            "sec_2", "ingest_vector", {"bad.geojson": ("vector", "{broken")}, dataset_id="sec_bad"
        )
        runs = [lab.run_for(q) for q in lab.tick().queued]
        lab.process(runs[0])
        with pytest.raises(Exception) as failure:
            lab.process(runs[1])
    finally:
        stop.set()
        poller.join()
    if loader == "ogr2ogr":
        assert seen, "the poller never saw a GDAL subprocess"
    assert not leaks, leaks
    assert s3_secret not in str(failure.value) and pg_secret not in str(failure.value)
    for record in caplog.records:
        text = record.getMessage()
        assert s3_secret not in text and pg_secret not in text, text
    for collection, doc in lab.ledger_documents():
        dumped = json.dumps(doc, default=str)
        assert s3_secret not in dumped and pg_secret not in dumped, collection
    assert s3_secret not in repr(store) and pg_secret not in repr(postgis)


def test_compose_publishes_only_the_uis_on_loopback() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "infra" / "compose.yaml").read_text())
    published = {
        name: svc["ports"] for name, svc in compose["services"].items() if svc.get("ports")
    }
    # The Dagster UI and the dataset catalog; no database or object store is published.
    assert sorted(published) == ["dagster-webserver", "etl-web"], published
    for ports in published.values():
        for port in ports:
            spec = (
                port if isinstance(port, str) else f"{port.get('host_ip')}:{port.get('published')}"
            )
            assert spec.startswith("127.0.0.1:"), spec
    for name, svc in compose["services"].items():
        assert svc.get("network_mode") != "host", name


def test_local_stack_binds_every_port_to_loopback(tmp_path: Path) -> None:
    from etl_devstack.stack import Stack, StackConfig

    config = StackConfig.from_env(tmp_path, ROOT / "infra", environ={})
    assert {config.host, config.ui_host, config.s3_host, config.mongo_host} == {"127.0.0.1"}
    stack = Stack(config, log=lambda _: None)
    for loc in config.locations:
        argv = stack._code_server_argv(loc)
        assert argv[argv.index("-h") + 1] == "127.0.0.1"
        assert "-p" in argv and str(loc.port) in argv
    env_text = " ".join(f"{k}={v}" for k, v in config.environment().items())
    assert "0.0.0.0" not in env_text  # noqa: S104 - asserting its absence


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.reliability
def test_deployed_platform_listens_on_loopback_only(deployed_platform) -> None:
    """Every listening socket of the running deployment's ports is bound to 127.0.0.1."""
    import subprocess

    config = deployed_platform.stack.config
    ports = {
        config.ui_port,
        config.s3_port,
        config.mongo_port,
        *(loc.port for loc in config.locations),
    }
    listing = subprocess.run(
        ["ss", "-ltnH"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    bound = {}
    for line in listing.splitlines():
        local = line.split()[3]
        host, _, port = local.rpartition(":")
        if port.isdigit() and int(port) in ports:
            # An IPv4-mapped IPv6 socket ([::ffff:127.0.0.1]) is bound to 127.0.0.1 too.
            host = host.strip("[]").removeprefix("::ffff:")
            bound.setdefault(int(port), set()).add(host)
    assert set(bound) == ports, (bound, ports)
    assert all(hosts == {"127.0.0.1"} for hosts in bound.values()), bound
