"""The ledger: MongoDB records of manifests, runs, assets, lineage and activity.

The ledger is the source of truth: no ledger record, no data. ``Ledger`` is a plain class (no
Dagster) composed of one part per collection over a shared connection; callers see one object
(``ledger.get_manifest(...)``, ``ledger.register_asset(...)``).

Ids: documents reference each other by ``ObjectId``; the Dagster run id string lives only in
``runs.dagster_run_id`` (``run_object_id()`` maps one to the other).
"""

from __future__ import annotations

from etl_storage.ledger.activity import ActivityLedger
from etl_storage.ledger.assets import AssetLedger
from etl_storage.ledger.connection import MAX_ERROR_CHARS
from etl_storage.ledger.intake import IntakeFields, ManifestIntake
from etl_storage.ledger.lineage import LineageLedger
from etl_storage.ledger.manifests import ManifestLedger
from etl_storage.ledger.runs import RunLedger


class Ledger(ManifestLedger, RunLedger, AssetLedger, LineageLedger, ActivityLedger):
    """MongoDB ledger (database ``spatial_etl``).

    ``connection_string`` may carry credentials: it never appears in reprs or logs.
    """


__all__ = ["MAX_ERROR_CHARS", "IntakeFields", "Ledger", "ManifestIntake"]
