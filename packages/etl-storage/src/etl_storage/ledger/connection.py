"""Connection to the ledger database: one lazy ``MongoClient`` per instance, migrations on first
use, and the helpers every collection module shares.

The client retries reads and writes, so the ledger keeps working after the server restarts;
migrations run before the first write, so unique indexes are in place.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar

from pydantic import BaseModel, Field, PrivateAttr

from etl_models.ledger_records import MigrationRecord
from etl_storage.errors import LedgerUnavailable
from etl_storage.migrations import MIGRATIONS, apply_migrations

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.collection import Collection
    from pymongo.database import Database

    from etl_models.settings import LedgerSettings

P = ParamSpec("P")
T = TypeVar("T")

# Error texts are stored in full up to this size (head and tail beyond), far below BSON's 16 MB.
MAX_ERROR_CHARS = 32_000
# Compare-and-set loops give up after this many lost races.
CAS_ATTEMPTS = 20
DUPLICATE_KEY_CODE = 11000


def truncate_error(error: str | None) -> str | None:
    """``error`` if short enough, else its head and tail around an omission note."""
    if error is None or len(error) <= MAX_ERROR_CHARS:
        return error
    half = MAX_ERROR_CHARS // 2
    omitted = len(error) - 2 * half
    return f"{error[:half]}\n... [{omitted} characters omitted] ...\n{error[-half:]}"


def ledger_op(func: Callable[P, T]) -> Callable[P, T]:
    """Turn connection failures into ``LedgerUnavailable`` (a typed, readable error)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        from pymongo.errors import ConnectionFailure

        try:
            return func(*args, **kwargs)
        except ConnectionFailure as exc:
            raise LedgerUnavailable(
                f"the ledger database is unreachable during {func.__name__} ({exc}); "
                "check that MongoDB runs and MONGO_CONNECTION_STRING points at it"
            ) from exc

    return wrapper


class LedgerConnection(BaseModel):
    """Settings and client of the ledger; ``connection_string`` (may carry credentials)
    never appears in reprs or logs."""

    connection_string: str = Field(repr=False, description="MongoDB URI (secret).")
    database: str = Field(default="spatial_etl", description="Ledger database name.")
    server_selection_timeout_ms: int = Field(
        default=10_000, description="How long an operation waits for a reachable server."
    )
    operation_timeout_ms: int | None = Field(
        default=None,
        gt=0,
        description="Bound of one whole operation, retries and connecting included (pymongo "
        "timeoutMS); None: only server selection is bounded. Command lines set it.",
    )
    auto_migrate: bool = Field(
        default=True, description="Apply pending migrations on first use of this instance."
    )

    _client: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.RLock)
    _migrated: bool = PrivateAttr(default=False)

    @classmethod
    def from_settings(cls, settings: LedgerSettings | None = None, **overrides: Any) -> Self:
        """Build from ``LedgerSettings`` (read from the environment when not given)."""
        from etl_models.settings import LedgerSettings

        s = settings or LedgerSettings()
        return cls(
            connection_string=s.connection_string.get_secret_value(),
            database=s.database,
            **overrides,
        )

    @property
    def client(self) -> MongoClient:
        """The one ``MongoClient`` of this instance (thread-safe, lazy, reconnecting)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from pymongo import MongoClient

                    bounds: dict[str, int] = {}
                    if self.operation_timeout_ms is not None:
                        bounds = {
                            "timeoutMS": self.operation_timeout_ms,
                            "connectTimeoutMS": self.operation_timeout_ms,
                        }
                    self._client = MongoClient(
                        self.connection_string,
                        serverSelectionTimeoutMS=self.server_selection_timeout_ms,
                        **bounds,
                        retryWrites=True,
                        retryReads=True,
                        tz_aware=True,
                        appname="etl-ledger",
                    )
        return self._client

    @property
    def db(self) -> Database:
        """The ledger database (migrated on first use when ``auto_migrate``)."""
        database = self.client[self.database]
        if self.auto_migrate and not self._migrated:
            with self._lock:
                if not self._migrated:
                    apply_migrations(database, MIGRATIONS)
                    self._migrated = True
        return database

    def _col(self, name: str) -> Collection:
        return self.db[name]

    def close(self) -> None:
        """Close the client (a later call opens a new one)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    @ledger_op
    def ping(self) -> bool:
        """Whether the server answers."""
        self.client.admin.command("ping")
        return True

    @ledger_op
    def migrate(self) -> list[MigrationRecord]:
        """Apply pending migrations; returns those applied now (``MigrationError`` on drift)."""
        with self._lock:
            applied = apply_migrations(self.client[self.database], MIGRATIONS)
            self._migrated = True
        return applied
