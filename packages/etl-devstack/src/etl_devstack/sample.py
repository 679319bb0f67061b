"""The bundled sample batch: what ``make up`` runs once the platform is healthy.

Four batches go through the landing bucket with the ``etl`` command (``etl submit`` /
``etl join``, run as ``<this python> -m etl_cli``), exactly as a user submits them:

1. ``countries``: the Natural Earth countries shapefile that pyogrio ships (vector lane),
2. ``country_stats``: a CSV keyed on the countries' ``iso_a3`` column (tabular lane),
3. ``elevation``: a generated GeoTIFF (spatial lane, raster),
4. ``countries_stats``: the CSV joined onto the countries (join lane), once 1 and 2 succeeded.

Nothing is downloaded: the data is made at run time (see :mod:`etl_devstack.sample_data`).
A summary of the resulting datasets is then read from the ledger.

Idempotent: batch ids are fixed per run of the stack (its start time, because the embedded S3
server starts empty, so a restarted stack gets fresh datasets rather than ledger entries whose
lake objects are gone). A batch the ledger already has is not submitted again: a successful
one is reused, a queued or running one is waited for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from etl_devstack import sample_data

if TYPE_CHECKING:
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore

UPLOADER = "make-up-sample"
JOIN_KEY = sample_data.COUNTRY_KEY
CLI_GRACE_SECONDS = 60.0
_WAITING = {"queued", "running"}


class SampleError(RuntimeError):
    """The sample batch could not be submitted or did not succeed; the message says why."""


@dataclass(frozen=True)
class SampleBatch:
    """One batch of the sample: its ids and the ``etl`` arguments that submit it."""

    name: str
    batch_id: str
    dataset_id: str
    cli_args: tuple[str, ...]


@dataclass
class BatchResult:
    batch: SampleBatch
    status: str
    submitted: bool  # False: the ledger already had it (idempotent re-run)
    error: str | None = None


@dataclass(frozen=True)
class DatasetRow:
    """One line of the summary, from the ledger."""

    dataset_id: str
    version: int
    format: str
    rows: str
    uri: str
    in_lake: bool


@dataclass
class SampleReport:
    results: list[BatchResult] = field(default_factory=list)
    datasets: list[DatasetRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.status == "success" for r in self.results)


def sample_ids(generation: str) -> dict[str, tuple[str, str]]:
    """``name -> (batch_id, dataset_id)`` of the sample for one generation (stack start)."""
    gen = generation.lower()
    return {
        name: (f"sample-{gen}-{name.replace('_', '-')}", f"sample_{gen}_{name}")
        for name in ("countries", "country_stats", "elevation", "countries_stats")
    }


def prepare_sample(workdir: Path, generation: str) -> list[SampleBatch]:
    """Make the sample files in ``workdir``; the batches in submission order (join last)."""
    ids = sample_ids(generation)
    shp = sample_data.countries_shapefile(workdir / "countries", stem="countries")
    csv_path = sample_data.country_stats_csv(workdir / "country_stats" / "country_stats.csv")
    tif = sample_data.elevation_geotiff(workdir / "elevation" / "elevation.tif")

    def submit(name: str, path: Path, intent: str, title: str) -> SampleBatch:
        batch_id, dataset_id = ids[name]
        args = ("submit", str(path), "--intent", intent, "--dataset-id", dataset_id,
                "--batch-id", batch_id, "--title", title, "--project", "sample")  # fmt: skip
        return SampleBatch(name, batch_id, dataset_id, args)

    join_batch, join_dataset = ids["countries_stats"]
    return [
        submit("countries", shp, "ingest_vector", "Natural Earth countries (1:110m)"),
        submit("country_stats", csv_path, "ingest_tabular", "Population and GDP per country"),
        submit("elevation", tif, "ingest_raster", "Generated elevation-like grid"),
        SampleBatch(
            "countries_stats",
            join_batch,
            join_dataset,
            (
                "join",
                ids["countries"][1],
                ids["country_stats"][1],
                "--left-key",
                JOIN_KEY,
                "--how",
                "left",
                "--dataset-id",
                join_dataset,
                "--batch-id",
                join_batch,
                "--title",
                "Country statistics with country shapes",
                "--project",
                "sample",
            ),
        ),
    ]


def _services(env: Mapping[str, str]) -> tuple[ObjectStore, Ledger]:
    from etl_models.settings import LAKE_BUCKET, LANDING_BUCKET, LEDGER_DATABASE
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore

    store = ObjectStore(
        endpoint=env["MINIO_ENDPOINT"],
        access_key=env["MINIO_ROOT_USER"],
        secret_key=env["MINIO_ROOT_PASSWORD"],
        landing_bucket=env.get("LANDING_BUCKET", LANDING_BUCKET),
        lake_bucket=env.get("LAKE_BUCKET", LAKE_BUCKET),
    )
    ledger = Ledger(
        connection_string=env["MONGO_CONNECTION_STRING"],
        database=env.get("MONGO_DATABASE", LEDGER_DATABASE),
    )
    return store, ledger


class _CliRun:
    """One ``etl`` invocation in flight (argv list, settings and secrets in the environment)."""

    def __init__(self, batch: SampleBatch, env: Mapping[str, str], timeout: float, cwd: Path):
        self.batch = batch
        self.timeout = timeout
        argv = [sys.executable, "-m", "etl_cli", *batch.cli_args, "--uploader", UPLOADER,
                "--wait", "--json", "--timeout", str(int(timeout))]  # fmt: skip
        self.process = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self) -> BatchResult:
        try:
            out, err = self.process.communicate(timeout=self.timeout + CLI_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return BatchResult(self.batch, "timeout", True, "etl did not return in time")
        # `etl` exit codes: 0 success, 5 still not finished when --timeout ran out.
        code = self.process.returncode
        status = {0: "success", 5: "timeout"}.get(code, "failure")
        try:
            document = json.loads(out) if out.strip() else {}
        except ValueError:
            document = {}
        if isinstance(document, dict) and isinstance(document.get("status"), str):
            status = document["status"] if code == 0 else status
        error = None
        if code != 0:
            error = (err.strip() or out.strip() or f"exit code {code}")[-3000:]
        return BatchResult(self.batch, status, True, error)


def _existing(ledger: Ledger, batch: SampleBatch, timeout: float) -> BatchResult | None:
    """The outcome of a batch the ledger already has (waiting while it runs), else None."""
    record = ledger.get_manifest(batch.batch_id)
    if record is None:
        return None
    deadline = time.monotonic() + timeout
    while record.status.value in _WAITING and time.monotonic() < deadline:
        time.sleep(2)
        record = ledger.get_manifest(batch.batch_id) or record
    return BatchResult(batch, record.status.value, False, record.error)


def run_sample(
    env: Mapping[str, str],
    workdir: Path,
    generation: str,
    *,
    timeout: float = 900.0,
    cwd: Path | None = None,
    log: Callable[[str], None] = print,
) -> SampleReport:
    """Submit the sample (skipping batches the ledger has), wait, and summarise the ledger.

    ``env`` holds the platform's settings (``platform.env``); the ``etl`` processes get it as
    their environment, so no secret is on a command line.
    """
    full_env = {**os.environ, **env}
    try:
        batches = prepare_sample(workdir, generation)
    except sample_data.SampleDataError as exc:
        raise SampleError(f"cannot make the sample data: {exc}") from exc
    from etl_storage.errors import StorageError

    store, ledger = _services(full_env)
    report = SampleReport()
    try:
        first, join = batches[:-1], batches[-1]
        results = _submit_all(first, ledger, full_env, timeout, cwd or workdir, log)
        report.results.extend(results)
        if all(r.status == "success" for r in results):
            report.results.extend(_submit_all([join], ledger, full_env, timeout,
                                              cwd or workdir, log))  # fmt: skip
        else:
            log("  not submitting the join: its inputs did not succeed")
        report.datasets = summarise(ledger, store, [b.dataset_id for b in batches])
    except StorageError as exc:
        raise SampleError(f"the platform's ledger or object store failed: {exc}") from exc
    finally:
        ledger.close()
    return report


def _submit_all(
    batches: list[SampleBatch],
    ledger: Ledger,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path,
    log: Callable[[str], None],
) -> list[BatchResult]:
    """Submit the batches the ledger does not have yet, concurrently; wait for all."""
    results: dict[str, BatchResult] = {}
    running: list[_CliRun] = []
    for batch in batches:
        known = _existing(ledger, batch, timeout)
        if known is not None:
            log(f"  {batch.batch_id}: already in the ledger ({known.status}), not resubmitted")
            results[batch.name] = known
            continue
        log(f"  etl {batch.cli_args[0]} {batch.name} -> batch {batch.batch_id}")
        running.append(_CliRun(batch, env, timeout, cwd))
    for run in running:
        result = run.result()
        log(f"  {run.batch.batch_id}: {result.status}")
        results[run.batch.name] = result
    return [results[b.name] for b in batches]


def summarise(ledger: Ledger, store: ObjectStore, dataset_ids: list[str]) -> list[DatasetRow]:
    """The latest version of each dataset, from the ledger (and whether the lake has it)."""
    rows = []
    for dataset_id in dataset_ids:
        asset = ledger.latest_asset(dataset_id)
        if asset is None:
            continue
        if asset.row_count is not None:
            size = f"{asset.row_count} rows"
        else:
            raster = asset.stats.get("report", {}).get("raster", {})
            size = f"{raster.get('width', '?')}x{raster.get('height', '?')} px"
        rows.append(
            DatasetRow(
                dataset_id=asset.dataset_id,
                version=asset.version,
                format=asset.format,
                rows=size,
                uri=asset.uri,
                in_lake=store.lake_object_exists(asset.s3_key),
            )
        )
    return rows


def format_report(report: SampleReport) -> str:
    """The summary ``make up`` prints: batches, then datasets with versions, rows, lake URIs."""
    lines = ["sample batch:"]
    for r in report.results:
        note = "" if r.submitted else " (already submitted)"
        lines.append(f"  {r.batch.batch_id:<44} {r.status}{note}")
        if r.error and r.status != "success":
            lines += [f"      {line}" for line in r.error.splitlines()[-12:]]
    if report.datasets:
        width = max(len(d.dataset_id) for d in report.datasets)
        lines.append("datasets (from the ledger):")
        lines.append(f"  {'dataset':<{width}}  version  format      size           lake URI")
        for d in report.datasets:
            missing = "" if d.in_lake else "  (object missing from the lake)"
            lines.append(
                f"  {d.dataset_id:<{width}}  v{d.version:<7} {d.format:<10}  {d.rows:<13}  "
                f"{d.uri}{missing}"
            )
    return "\n".join(lines)
