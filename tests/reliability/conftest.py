"""Reliability suite: shared fixtures and the CI-subset / full-suite switch.

Every category (hostile manifests, hostile data, faults, load, concurrency, security) has a
representative subset that runs with the default ``pytest`` (CI's ``make test``) and a full set
marked ``reliability`` that runs only with ``make test-reliability`` (``ETL_RELIABILITY_FULL=1``)
or when ``-m`` names the marker. Everything runs against the real servers of the harness.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from etl_pipeline.intake_results import IntakeResult, QueuedManifest
    from etl_pipeline.lanes import BatchRun, LaneResult, Services

FULL_ENV = "ETL_RELIABILITY_FULL"
HERE = Path(__file__).parent.resolve()


def _full_requested(config: pytest.Config) -> bool:
    return os.environ.get(FULL_ENV) == "1" or "reliability" in (config.option.markexpr or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the full-set cases (marker ``reliability``) unless the full suite is asked for."""
    if _full_requested(config):
        return
    keep, dropped = [], []
    for item in items:
        in_suite = HERE in Path(str(item.path)).resolve().parents
        (dropped if in_suite and item.get_closest_marker("reliability") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def full_only(*values: Any, id: str) -> Any:
    """A parametrized case that runs only in the full suite."""
    return pytest.param(*values, id=id, marks=pytest.mark.reliability)


def ci(*values: Any, id: str) -> Any:
    """A parametrized case of the representative CI subset."""
    return pytest.param(*values, id=id)


@dataclass
class Lab:
    """The platform's services plus the user's and the sensors' side of them, in-process."""

    services: Services

    @property
    def store(self):
        return self.services.store

    @property
    def ledger(self):
        return self.services.ledger

    @property
    def postgis(self):
        return self.services.postgis

    @property
    def landing(self) -> str:
        return self.store.landing_bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.landing}/{key}"

    def put(self, key: str, body: bytes | str | dict[str, Any] | list[Any]) -> str:
        """Upload one object to the landing bucket as is; its key."""
        if isinstance(body, dict | list):
            body = json.dumps(body)
        data = body.encode() if isinstance(body, str) else body
        self.store.client.put_object(self.landing, key, io.BytesIO(data), len(data))
        return key

    def register_fake_dataset(self, dataset_id: str, fmt: str, columns: Iterable[str]) -> None:
        """A ledger-only v1 of ``dataset_id`` (no lake object), so joins can name it."""
        from etl_models.ledger_records import AssetRecord, ColumnInfo, Recipe

        self.ledger.register_asset(
            AssetRecord(
                dataset_id=dataset_id,
                version=self.ledger.allocate_version(dataset_id),
                s3_key=f"{dataset_id}/v1/data.parquet",
                uri=f"s3://{self.store.lake_bucket}/{dataset_id}/v1/data.parquet",
                format=fmt,
                content_hash=uuid.uuid4().hex,
                recipe=Recipe(name="test", version="1"),
                column_schema=[ColumnInfo(name=c, type="string") for c in columns],
            )
        )

    def manifest(
        self,
        batch_id: str,
        intent: str,
        files: dict[str, tuple[str, bytes | str]] | None = None,
        *,
        dataset_id: str | None = None,
        join_config: dict[str, Any] | None = None,
        file_fields: dict[str, Any] | None = None,
        upload: bool = True,
    ) -> dict[str, Any]:
        """Upload raw files (``name -> (type, body)``) and return their manifest document."""
        entries = []
        for name, (file_type, body) in (files or {}).items():
            key = f"{batch_id}/{name}"
            if upload:
                self.put(key, body)
            entries.append({"path": self.uri(key), "type": file_type, **(file_fields or {})})
        metadata: dict[str, Any] = {"tags": {"dataset_id": dataset_id} if dataset_id else {}}
        if join_config is not None:
            metadata["join_config"] = join_config
        doc: dict[str, Any] = {
            "batch_id": batch_id,
            "uploader": "jane",
            "intent": intent,
            "metadata": metadata,
        }
        if entries:
            doc["files"] = entries
        return doc

    def submit(self, batch_id: str, intent: str, files=None, **kwargs: Any) -> str:
        """Upload raw files then the manifest (as a user does); the manifest key."""
        doc = self.manifest(batch_id, intent, files, **kwargs)
        return self.put(f"manifests/{batch_id}.json", doc)

    def tick(
        self,
        lanes: Collection[Any] | None = None,
        cursor: Any = None,
        operator: str = "reliability_sensor",
        **kwargs: Any,
    ) -> IntakeResult:
        """One intake tick owning ``lanes`` (default: every lane)."""
        from etl_models.cursor import ManifestCursor
        from etl_pipeline.intake import evaluate_intake
        from etl_pipeline.lanes.registry import lane_names

        return evaluate_intake(
            store=self.store,
            ledger=self.ledger,
            cursor=cursor or ManifestCursor(),
            owned_lanes=set(lanes or lane_names()),
            operator=operator,
            **kwargs,
        )

    def run_for(self, queued: QueuedManifest, run_id: str | None = None) -> BatchRun:
        """The lane runners' view of the run a sensor would request for ``queued``."""
        from etl_pipeline.lanes import BatchRun

        return BatchRun(
            services=self.services,
            dagster_run_id=run_id or str(uuid.uuid4()),
            job_name=queued.plan.job_name,
            tags=dict(queued.plan.tags),
        )

    def process(self, run: BatchRun) -> LaneResult:
        """Run the lane runner of the run's lane, as the lane's job would."""
        return runner_for(run.tags["lane"])(run)

    def rejection_report(self, manifest_key: str) -> dict[str, Any]:
        body = self.store.client.get_object(
            self.landing, f"archive/{manifest_key}.rejection.json"
        ).read()
        return json.loads(body)

    def lake_keys(self, prefix: str = "") -> list[str]:
        objects = self.store.client.list_objects(
            self.store.lake_bucket, prefix=prefix or None, recursive=True
        )
        return sorted(o.object_name for o in objects)

    def landing_keys(self, prefix: str) -> list[str]:
        objects = self.store.client.list_objects(self.landing, prefix=prefix, recursive=True)
        return sorted(o.object_name for o in objects)

    def run_schemas(self) -> set[str]:
        return {info.schema for info in self.postgis.list_run_schemas()}

    def ledger_documents(self) -> Iterable[tuple[str, dict[str, Any]]]:
        """Every document of every ledger collection."""
        db = self.ledger.db
        for name in db.list_collection_names():
            for doc in db[name].find({}):
                yield name, doc


def runner_for(lane: str) -> Callable[[BatchRun], LaneResult]:
    from etl_pipeline.lanes import run_batch
    from etl_pipeline.lanes.registry import lane_named

    lane_named(lane)  # an unknown name fails here, not in the test's run
    return lambda run: run_batch(run, lane)


@pytest.fixture
def services(store, ledger, postgis) -> Services:
    from etl_pipeline.lanes import Services

    return Services(store=store, ledger=ledger, postgis=postgis)


@pytest.fixture
def lab(services) -> Lab:
    return Lab(services)
