"""The object store and ledger the commands use, built from the CLI environment.

Imported lazily by the commands (it pulls in ``etl_storage`` and so Dagster), so ``etl --help``
stays fast. A command line should fail fast when a service is down: the object store client
gets short connect timeouts and no connect retries (``ObjectStore.connect_timeout_s``), the
ledger a bound on every whole operation (pymongo ``timeoutMS``; both ``ETL_CLI_TIMEOUT_S``), and
the Dagster webserver the same bound per request. The CLI never migrates the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etl_cli.environment import CliEnvironment
from etl_storage import Ledger, ObjectStore

if TYPE_CHECKING:
    from etl_cli.dagster_api import DagsterApi


@dataclass
class Services:
    """Lazily opened connections of one command invocation."""

    environment: CliEnvironment
    _store: ObjectStore | None = field(default=None, init=False)
    _ledger: Ledger | None = field(default=None, init=False)

    @property
    def store(self) -> ObjectStore:
        """The object store (nothing is contacted until the first call)."""
        if self._store is None:
            self._store = ObjectStore.from_settings(
                self.environment.object_store_settings(),
                connect_timeout_s=self.environment.timeout_s,
            )
        return self._store

    @property
    def ledger(self) -> Ledger:
        """The ledger, read-only use: no migrations are applied from the command line."""
        if self._ledger is None:
            self._ledger = Ledger.from_settings(
                self.environment.ledger_settings(),
                server_selection_timeout_ms=int(self.environment.timeout_s * 1000),
                operation_timeout_ms=int(self.environment.timeout_s * 1000),
                auto_migrate=False,
            )
        return self._ledger

    @property
    def dagster(self) -> DagsterApi:
        """The Dagster webserver's GraphQL API (nothing is contacted until a call)."""
        from etl_cli.dagster_api import DagsterApi

        return DagsterApi(self.environment.dagster_ui_url(), self.environment.timeout_s)

    def close(self) -> None:
        """Close the ledger client (the object store holds no open resources)."""
        if self._ledger is not None:
            self._ledger.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
