"""The ``lineage`` collection: edges raw input -> asset and parent asset -> derived asset."""

from __future__ import annotations

from collections.abc import Iterable

from bson import ObjectId

from etl_models.ledger_records import InputFile, LineageEdge
from etl_storage.ledger.connection import LedgerConnection, ledger_op
from etl_storage.migrations import LINEAGE


class LineageLedger(LedgerConnection):
    """Lineage edges (idempotent by edge key)."""

    @ledger_op
    def add_lineage(self, edge: LineageEdge) -> bool:
        """Record a lineage edge; ``False`` if it was already recorded (idempotent)."""
        from pymongo.errors import DuplicateKeyError

        try:
            self._col(LINEAGE).insert_one(edge.to_mongo())
        except DuplicateKeyError:
            return False
        return True

    def add_input_lineage(
        self, asset_id: ObjectId, inputs: Iterable[InputFile], *, run_id: ObjectId | None = None
    ) -> int:
        """Edges raw input -> asset; returns how many were new."""
        return sum(
            self.add_lineage(LineageEdge(kind="input", asset_id=asset_id, input=i, run_id=run_id))
            for i in inputs
        )

    def add_parent_lineage(
        self,
        asset_id: ObjectId,
        parent_asset_id: ObjectId,
        *,
        role: str | None = None,
        run_id: ObjectId | None = None,
    ) -> bool:
        """Edge parent asset -> derived (e.g. joined) asset; ``False`` if already recorded."""
        return self.add_lineage(
            LineageEdge(
                kind="parent",
                asset_id=asset_id,
                parent_asset_id=parent_asset_id,
                role=role,
                run_id=run_id,
            )
        )

    @ledger_op
    def lineage_for(self, asset_id: ObjectId) -> list[LineageEdge]:
        """Upstream edges of ``asset_id`` (its inputs and parent assets)."""
        cursor = self._col(LINEAGE).find({"asset_id": asset_id}).sort("created_at", 1)
        return [LineageEdge.from_mongo(doc) for doc in cursor]

    @ledger_op
    def downstream_of(self, asset_id: ObjectId) -> list[LineageEdge]:
        """Edges from ``asset_id`` to assets derived from it."""
        cursor = self._col(LINEAGE).find({"parent_asset_id": asset_id}).sort("created_at", 1)
        return [LineageEdge.from_mongo(doc) for doc in cursor]
