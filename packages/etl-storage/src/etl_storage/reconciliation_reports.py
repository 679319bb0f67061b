"""``reconciliation_reports``: what the nightly reconciliation found, kept in the ledger.

Functions over a ``Ledger`` (its pymongo database), so the ledger class itself is unchanged.
Documents are append-only; the newest is the platform's current state of reconciliation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPORTS_COLLECTION = "reconciliation_reports"


def _collection(ledger: Any) -> Any:
    return ledger.db[REPORTS_COLLECTION]


def save_reconciliation_report(ledger: Any, document: Mapping[str, Any]) -> Any:
    """Insert one report document; its ``_id``."""
    return _collection(ledger).insert_one(dict(document)).inserted_id


def latest_reconciliation_report(ledger: Any) -> dict[str, Any] | None:
    """The most recent report (by ``started_at``), or ``None``."""
    return _collection(ledger).find_one(sort=[("started_at", -1)])


def reconciliation_reports(ledger: Any, limit: int = 30) -> list[dict[str, Any]]:
    """The most recent reports, newest first."""
    return list(_collection(ledger).find().sort("started_at", -1).limit(limit))
