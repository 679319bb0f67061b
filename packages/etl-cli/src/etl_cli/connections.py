"""The object store and ledger the commands use, built from the CLI environment.

Imported lazily by the commands (it pulls in ``etl_storage`` and so Dagster), so ``etl --help``
stays fast. A command line should fail fast when a service is down: the object store client
gets short connect timeouts and few retries, the ledger a short server-selection timeout
(both ``ETL_CLI_TIMEOUT_S``). The CLI only reads the ledger, so it never migrates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from etl_cli.environment import CliEnvironment
from etl_storage import Ledger, ObjectStore

if TYPE_CHECKING:
    from minio import Minio

# Reading a large object can legitimately stall longer than connecting may take.
READ_TIMEOUT_S = 300.0


class CliObjectStore(ObjectStore):
    """``ObjectStore`` whose client connects with the CLI's timeout and retries little."""

    connect_timeout_s: float = Field(default=10.0, gt=0)

    @property
    def client(self) -> Minio:
        """The ``minio.Minio`` client, with a timeout-bounded HTTP pool."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    import os

                    import certifi
                    import urllib3
                    from minio import Minio

                    http = urllib3.PoolManager(
                        timeout=urllib3.Timeout(
                            connect=self.connect_timeout_s,
                            read=max(READ_TIMEOUT_S, self.connect_timeout_s),
                        ),
                        maxsize=10,
                        cert_reqs="CERT_REQUIRED",
                        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
                        retries=urllib3.Retry(
                            total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
                        ),
                    )
                    self._client = Minio(
                        self.endpoint,
                        access_key=self.access_key,
                        secret_key=self.secret_key,
                        secure=self.secure,
                        region=self.region,
                        http_client=http,
                    )
        return self._client


@dataclass
class Services:
    """Lazily opened connections of one command invocation."""

    environment: CliEnvironment
    _store: CliObjectStore | None = field(default=None, init=False)
    _ledger: Ledger | None = field(default=None, init=False)

    @property
    def store(self) -> CliObjectStore:
        """The object store (nothing is contacted until the first call)."""
        if self._store is None:
            s = self.environment.object_store_settings()
            self._store = CliObjectStore(
                endpoint=s.endpoint,
                access_key=s.access_key,
                secret_key=s.secret_key.get_secret_value(),
                secure=s.secure,
                region=s.region,
                landing_bucket=s.landing_bucket,
                lake_bucket=s.lake_bucket,
                connect_timeout_s=self.environment.timeout_s,
            )
        return self._store

    @property
    def ledger(self) -> Ledger:
        """The ledger, read-only use: no migrations are applied from the command line."""
        if self._ledger is None:
            s = self.environment.ledger_settings()
            self._ledger = Ledger(
                connection_string=s.connection_string.get_secret_value(),
                database=s.database,
                server_selection_timeout_ms=int(self.environment.timeout_s * 1000),
                auto_migrate=False,
            )
        return self._ledger

    def close(self) -> None:
        """Close the ledger client (the object store holds no open resources)."""
        if self._ledger is not None:
            self._ledger.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
