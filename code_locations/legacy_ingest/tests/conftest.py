"""Fixtures for the ``legacy_ingest`` wiring tests: the harness's real services as resources.

``store``, ``ledger`` and ``postgis`` come from the shared harness (``etl_devstack``): real
servers, a fresh landing/lake bucket pair and a fresh ledger database per test. One test
Dagster instance (SQLite storage in a temporary directory) is shared per module: tests look
runs up by their own run ids.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg
import pytest

if TYPE_CHECKING:
    from etl_spatial.postgis import Postgis
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@dataclass
class Legacy:
    """The platform as the location's definitions see it, plus the user's side of it."""

    instance: dg.DagsterInstance
    store: ObjectStore
    ledger: Ledger
    postgis: Postgis

    @property
    def resources(self) -> dict[str, Any]:
        """The location's resource keys bound to the real test services."""
        from etl_pipeline.orchestration.resources import resources_for

        return resources_for(self.store, self.ledger, self.postgis)

    def put(self, key: str, body: bytes | str | dict[str, Any]) -> str:
        """Upload an object to the landing bucket; returns its key."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        data = data.encode() if isinstance(data, str) else data
        self.store.client.put_object(self.store.landing_bucket, key, io.BytesIO(data), len(data))
        return key

    def submit(
        self, batch_id: str, intent: str, files: dict[str, bytes | str], *, dataset_id: str
    ) -> str:
        """Upload vector files (``name -> body``) then their manifest; the manifest key."""
        entries = [
            {
                "path": f"s3://{self.store.landing_bucket}/{self.put(f'{batch_id}/{n}', b)}",
                "type": "vector",
            }
            for n, b in files.items()
        ]
        manifest = {
            "batch_id": batch_id,
            "uploader": "jane",
            "intent": intent,
            "files": entries,
            "metadata": {"project": "ALPHA", "tags": {"dataset_id": dataset_id}},
        }
        return self.put(f"manifests/{batch_id}.json", manifest)

    def tick(self, sensor: dg.SensorDefinition, cursor: str | None = None) -> dg.SensorResult:
        """One sensor evaluation, as the daemon runs it."""
        with dg.build_sensor_context(
            instance=self.instance, cursor=cursor, resources=self.resources
        ) as context:
            result = sensor(context)
        assert isinstance(result, dg.SensorResult), result
        return result

    def run_schema_exists(self, run_id: str) -> bool:
        from etl_spatial.postgis import schema_name_for_run

        schemas = {info.schema for info in self.postgis.list_run_schemas()}
        return schema_name_for_run(run_id) in schemas

    def lake_keys(self) -> list[str]:
        objects = self.store.client.list_objects(self.store.lake_bucket, recursive=True)
        return sorted(o.object_name for o in objects)


@pytest.fixture
def legacy(instance, store, ledger, postgis) -> Legacy:
    return Legacy(instance=instance, store=store, ledger=ledger, postgis=postgis)
