"""Where the CLI's settings come from: the process environment, then ``.local/platform.env``.

``make up`` writes the effective settings of the local platform to ``.local/platform.env`` at
the repository root. The CLI finds it by searching upward from the working directory (or takes
the file named by ``ETL_PLATFORM_ENV``) and uses its values only for variables the environment
does not set, so an exported variable always wins. Nothing here contacts a service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from etl_cli.errors import ServiceNames, UsageProblem, mongo_hosts

if TYPE_CHECKING:
    from etl_models.settings import LedgerSettings, ObjectStoreSettings

PLATFORM_ENV_VAR = "ETL_PLATFORM_ENV"
TIMEOUT_VAR = "ETL_CLI_TIMEOUT_S"
UPLOADER_VAR = "ETL_UPLOADER"
PLATFORM_ENV_RELATIVE = Path(".local") / "platform.env"
DEFAULT_TIMEOUT_S = 10.0


def find_platform_env(
    start: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The settings file to read: ``$ETL_PLATFORM_ENV``, else the nearest
    ``.local/platform.env`` in the working directory or one of its parents, else ``None``."""
    env = os.environ if environ is None else environ
    explicit = env.get(PLATFORM_ENV_VAR)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UsageProblem(
                f"{PLATFORM_ENV_VAR}={explicit} is not a file",
                f"point {PLATFORM_ENV_VAR} at a KEY=VALUE file such as .local/platform.env, "
                "or unset it",
            )
        return path
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / PLATFORM_ENV_RELATIVE
        if candidate.is_file():
            return candidate
    return None


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` pairs of a dotenv file (comments, quotes and ``export`` handled)."""
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path, encoding="utf-8").items() if v is not None}


@dataclass(frozen=True)
class CliEnvironment:
    """The variables the CLI sees: the file's values overlaid by the process environment."""

    values: Mapping[str, str]
    env_file: Path | None = None
    file_values: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        """One variable (environment first, then the file)."""
        return self.values.get(name, default)

    @property
    def timeout_s(self) -> float:
        """Connect / server-selection timeout of service calls (``ETL_CLI_TIMEOUT_S``)."""
        raw = self.get(TIMEOUT_VAR)
        if raw is None or not raw.strip():
            return DEFAULT_TIMEOUT_S
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not value > 0:
            raise UsageProblem(
                f"{TIMEOUT_VAR}={raw!r} is not a positive number of seconds",
                f"set e.g. {TIMEOUT_VAR}=10",
            )
        return value

    def object_store_settings(self) -> ObjectStoreSettings:
        """``ObjectStoreSettings`` from these variables (``UsageProblem`` if invalid)."""
        from etl_models.settings import ObjectStoreSettings

        return _settings(ObjectStoreSettings, self.values)

    def ledger_settings(self) -> LedgerSettings:
        """``LedgerSettings`` from these variables (``UsageProblem`` if invalid)."""
        from etl_models.settings import LedgerSettings

        return _settings(LedgerSettings, self.values)

    def dagster_ui_url(self) -> str:
        """The Dagster webserver: ``DAGSTER_UI_URL``, else ``http://DAGSTER_UI_HOST:PORT``."""
        explicit = (self.get("DAGSTER_UI_URL") or "").strip()
        if explicit:
            return explicit.rstrip("/")
        host = (self.get("DAGSTER_UI_HOST") or "127.0.0.1").strip()
        port = (self.get("DAGSTER_UI_PORT") or "3000").strip()
        if host in {"0.0.0.0", "::"}:  # noqa: S104 - a bind-all address; connect to loopback
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def secrets(self) -> list[str]:
        """Values that must never be printed (passwords, connection strings)."""
        names = ("MINIO_ROOT_PASSWORD", "MONGO_CONNECTION_STRING", "POSTGRES_PASSWORD")
        found = [self.values.get(n, "") for n in names]
        found += [self.values.get(n, "") for n in self.values if n.endswith("_PASSWORD")]
        return [s for s in found if s]

    def service_names(self) -> ServiceNames:
        """Endpoints and bucket names for messages (no credentials)."""
        return ServiceNames(
            object_store=self.get("MINIO_ENDPOINT", "127.0.0.1:9000") or "?",
            ledger=mongo_hosts(self.get("MONGO_CONNECTION_STRING", "mongodb://127.0.0.1:27017")),
            landing_bucket=self.get("LANDING_BUCKET", "landing-zone") or "?",
            lake_bucket=self.get("LAKE_BUCKET", "data-lake") or "?",
        )


def _settings(cls, values: Mapping[str, str]):
    from pydantic import ValidationError

    from etl_cli.errors import _settings_errors

    # The merged variables go in as init values (by their env names), so the file fills only
    # what the environment leaves unset and os.environ is never modified.
    wanted = {
        f.validation_alias: values[f.validation_alias]
        for f in cls.model_fields.values()
        if isinstance(f.validation_alias, str) and f.validation_alias in values
    }
    try:
        return cls(**wanted)
    except ValidationError as exc:
        raise UsageProblem(
            f"invalid settings: {_settings_errors(exc)}",
            "fix the environment variable (or .local/platform.env)",
        ) from None


def load_environment(
    start: Path | None = None, environ: Mapping[str, str] | None = None
) -> CliEnvironment:
    """The CLI environment: ``environ`` (default ``os.environ``) over the platform env file."""
    env = dict(os.environ if environ is None else environ)
    path = find_platform_env(start, env)
    file_values = read_env_file(path) if path else {}
    return CliEnvironment(values={**file_values, **env}, env_file=path, file_values=file_values)
