"""The ``activity_logs`` collection: the audit log (who did what to which batch)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from etl_models.ledger_records import ActivityLog
from etl_storage.ledger.connection import DUPLICATE_KEY_CODE, LedgerConnection, ledger_op
from etl_storage.migrations import ACTIVITY_LOGS


class ActivityLedger(LedgerConnection):
    """Audit log entries, idempotent when keyed."""

    @ledger_op
    def log_activity(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> bool:
        """Audit log entry: ``actor`` did ``action`` to ``subject``.

        ``key`` makes it idempotent (a sensor replaying a tick logs once): returns ``False``
        when an entry with that key exists. Without a key every call logs.
        """
        from pymongo.errors import DuplicateKeyError

        entry = ActivityLog(
            key=key or f"uuid:{uuid.uuid4()}",
            actor=actor,
            action=action,
            subject=subject,
            details=dict(details or {}),
        )
        try:
            self._col(ACTIVITY_LOGS).insert_one(entry.to_mongo())
        except DuplicateKeyError:
            return False
        return True

    @ledger_op
    def log_activities(self, entries: Iterable[ActivityLog]) -> int:
        """Write many keyed activity entries in one round trip; the number written.

        Entries whose ``key`` already exists are skipped (as ``log_activity`` does), so a
        replayed batch logs each entry once. Any other write error is raised.
        """
        from pymongo.errors import BulkWriteError

        docs = [entry.to_mongo() for entry in entries]
        if not docs:
            return 0
        try:
            return len(self._col(ACTIVITY_LOGS).insert_many(docs, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            others = [e for e in errors if e.get("code") != DUPLICATE_KEY_CODE]
            if others:
                raise
            return int(exc.details.get("nInserted", len(docs) - len(errors)))

    @ledger_op
    def activity_for(self, subject: str) -> list[ActivityLog]:
        """Activity about ``subject``, oldest first."""
        cursor = self._col(ACTIVITY_LOGS).find({"subject": subject}).sort([("at", 1), ("_id", 1)])
        return [ActivityLog.from_mongo(doc) for doc in cursor]
