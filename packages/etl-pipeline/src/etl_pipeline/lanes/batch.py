"""One run of one batch: the services it works with, who launched it and for which manifest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from etl_models.manifest import Manifest, parse_manifest
from etl_pipeline.lanes.contract import LaneError
from etl_pipeline.lifecycle import RunContext, record_run_started

if TYPE_CHECKING:
    from etl_spatial.postgis import Postgis
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """The clients a lane works with."""

    store: ObjectStore
    ledger: Ledger
    postgis: Postgis

    def gdal_env(self) -> dict[str, str]:
        """Environment for GDAL subprocesses reading ``/vsis3/`` paths of this object store."""
        from etl_spatial.gdal import gdal_s3_env

        store = self.store
        return gdal_s3_env(
            endpoint=store.endpoint,
            access_key=store.access_key,
            secret_key=store.secret_key,
            secure=store.secure,
            region=store.region,
        )


@dataclass(frozen=True)
class BatchRun:
    """One run of one batch: who, which manifest, and the services."""

    services: Services
    dagster_run_id: str
    job_name: str
    tags: dict[str, str]
    log: Callable[[str], None] = log.info

    @property
    def batch_id(self) -> str:
        batch_id = self.tags.get("batch_id")
        if not batch_id:
            raise LaneError(
                "this run has no batch_id tag: lane runs are launched by the manifest sensors. "
                "Upload a manifest to landing-zone/manifests/ instead of materializing by hand"
            )
        return batch_id

    def manifest(self) -> Manifest:
        """The batch's manifest, from the ledger (the landing copy may already be archived)."""
        record = self.services.ledger.get_manifest(self.batch_id)
        if record is None or record.manifest is None:
            raise LaneError(
                f"batch {self.batch_id!r} has no manifest in the ledger; it was never taken in "
                "by a sensor. Upload its manifest to landing-zone/manifests/"
            )
        from etl_pipeline.lanes.registry import canonical_manifest

        parsed = parse_manifest(record.manifest, landing_bucket=self.services.store.landing_bucket)
        return canonical_manifest(parsed)  # formats as the lanes read them (e.g. "GPKG")

    def phase(self, name: str, **counts: Any) -> None:
        """Record that the run entered phase ``name`` (with counts where known): in the run
        log and in the ledger's run record, where the CLI and the catalog show it."""
        detail = ", ".join(f"{k}={v}" for k, v in counts.items())
        self.log(f"phase {name}" + (f" ({detail})" if detail else ""))
        self.services.ledger.record_run_phase(self.dagster_run_id, name, counts)


def begin(run: BatchRun, manifest: Manifest | None = None) -> Manifest:
    """Record the run start (idempotent, archives the manifest) and return the manifest."""
    manifest = manifest or run.manifest()
    record_run_started(
        run.services.store,
        run.services.ledger,
        RunContext(run.dagster_run_id, run.job_name, run.tags),
    )
    return manifest
