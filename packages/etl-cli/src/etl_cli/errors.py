"""Errors the ``etl`` command reports, and the translation of library errors into them.

Every error a user sees names what went wrong and what to do, carries its exit code, and is
printed without a traceback. Messages pass through :func:`redact` so secrets from the
environment (passwords, connection strings with credentials) never reach the terminal.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from etl_cli.exit_codes import ExitCode

_MONGO_AUTHORITY = re.compile(r"^(?P<scheme>mongodb(?:\+srv)?)://(?:[^@/?#]*@)?(?P<hosts>[^/?#]*)")
_URI_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^@/\s]+@")


class CliError(Exception):
    """An error for the user: a message, an optional hint and the exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n{hint}")


class UsageProblem(CliError):
    """Bad arguments or invalid input."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class FieldProblem:
    """One field-level problem of a manifest (mirrors ``etl_models.manifest.FieldError``)."""

    field: str
    message: str


class ManifestInvalid(UsageProblem):
    """The manifest built or read does not validate; ``problems`` name each field."""

    def __init__(self, problems: list[FieldProblem], source: str = "the manifest") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p.field}: {p.message}" for p in problems)
        super().__init__(f"{source} is invalid ({len(problems)} problem(s)):\n{lines}")


class NotFound(CliError):
    """An unknown batch, dataset or version."""

    exit_code = ExitCode.NOT_FOUND


class ServiceUnavailable(CliError):
    """The object store or the ledger cannot be reached or refuses the request."""

    exit_code = ExitCode.UNAVAILABLE


class WaitTimeout(CliError):
    """Waiting for a batch gave up; ``last_status`` is what was seen last (if anything)."""

    exit_code = ExitCode.TIMEOUT
    last_status: Any = None


class IntegrityProblem(CliError):
    """A download does not match the ledger (size or ETag)."""

    exit_code = ExitCode.INTEGRITY


def mongo_hosts(connection_string: str) -> str:
    """The ``host:port`` list of a MongoDB URI, without credentials (``?`` if unparsable)."""
    match = _MONGO_AUTHORITY.match(connection_string.strip())
    if not match or not match.group("hosts"):
        return "?"
    return match.group("hosts")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret value and every ``scheme://user:pass@`` credential masked."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _URI_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)


def _instance_of(exc: BaseException, module: str, name: str) -> bool:
    # Only modules already imported can have raised the exception: checking sys.modules keeps
    # the error path from importing dagster (via etl_storage) just to compare types.
    mod = sys.modules.get(module)
    cls: Any = getattr(mod, name, None) if mod is not None else None
    return isinstance(cls, type) and isinstance(exc, cls)


@dataclass(frozen=True)
class ServiceNames:
    """Where the services are, for messages (never secrets)."""

    object_store: str = "?"
    ledger: str = "?"
    landing_bucket: str = "?"
    lake_bucket: str = "?"


def _ledger_unreachable(names: ServiceNames) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"cannot reach the ledger at {names.ledger} (MONGO_CONNECTION_STRING)",
        "check that MongoDB runs (`make status`, `make up`) and that MONGO_CONNECTION_STRING "
        "(or .local/platform.env) points at it",
    )


def _object_store_unreachable(names: ServiceNames, detail: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"cannot reach the object store at {names.object_store} (MINIO_ENDPOINT): {detail}",
        "check that MinIO runs (`make status`, `make up`) and that MINIO_ENDPOINT "
        "(or .local/platform.env) points at it",
    )


def _urllib3_detail(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "connection timed out"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return type(reason).__name__


def _s3_error(exc: Any, names: ServiceNames) -> CliError:
    code = getattr(exc, "code", "") or ""
    bucket = getattr(exc, "bucket_name", None) or "?"
    if code == "NoSuchBucket":
        return ServiceUnavailable(
            f"bucket {bucket!r} does not exist on the object store at {names.object_store}",
            "create the platform buckets (`make up`) or set LANDING_BUCKET / LAKE_BUCKET",
        )
    if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
        return ServiceUnavailable(
            f"the object store at {names.object_store} refused the credentials ({code})",
            "check MINIO_ROOT_USER and MINIO_ROOT_PASSWORD (or .local/platform.env)",
        )
    if code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
        key = getattr(exc, "object_name", None) or "?"
        return NotFound(f"object s3://{bucket}/{key} does not exist")
    message = getattr(exc, "message", None) or str(exc)
    return ServiceUnavailable(
        f"the object store at {names.object_store} answered {code or 'an error'}: {message}"
    )


def translate_exception(exc: BaseException, names: ServiceNames) -> CliError | None:
    """The user-facing error for ``exc``, or ``None`` if it is an unexpected (internal) error."""
    if isinstance(exc, CliError):
        return exc
    if _instance_of(exc, "etl_models.manifest", "ManifestValidationError"):
        problems = [FieldProblem(e.field, e.message) for e in exc.errors]  # type: ignore[attr-defined]
        return ManifestInvalid(problems)
    # Ledger: the storage layer's typed error, or pymongo's own when raised outside it.
    if _instance_of(exc, "etl_storage.errors", "LedgerUnavailable") or _instance_of(
        exc, "pymongo.errors", "ConnectionFailure"
    ):
        return _ledger_unreachable(names)
    if _instance_of(exc, "pymongo.errors", "PyMongoError") and getattr(exc, "timeout", False):
        # ETL_CLI_TIMEOUT_S bounds every ledger operation (pymongo timeoutMS).
        return ServiceUnavailable(
            f"the ledger at {names.ledger} did not answer in time (ETL_CLI_TIMEOUT_S)",
            "check that MongoDB runs (`make status`) or raise ETL_CLI_TIMEOUT_S",
        )
    if _instance_of(exc, "pymongo.errors", "ConfigurationError"):
        return UsageProblem(
            f"MONGO_CONNECTION_STRING is not usable: {exc}",
            "write it as mongodb://host:port (credentials as mongodb://user:password@host:port)",
        )
    if _instance_of(exc, "pymongo.errors", "OperationFailure"):
        return ServiceUnavailable(
            f"the ledger at {names.ledger} refused the request: {exc}",
            "check the credentials in MONGO_CONNECTION_STRING",
        )
    if _instance_of(exc, "etl_storage.errors", "RecordNotFound"):
        return NotFound(str(exc))
    if _instance_of(exc, "etl_storage.errors", "ObjectNotFound"):
        return NotFound(str(exc))
    if _instance_of(exc, "urllib3.exceptions", "HTTPError"):
        return _object_store_unreachable(names, _urllib3_detail(exc))
    if _instance_of(exc, "minio.error", "S3Error"):
        return _s3_error(exc, names)
    if _instance_of(exc, "minio.error", "ServerError") or _instance_of(
        exc, "minio.error", "InvalidResponseError"
    ):
        return ServiceUnavailable(
            f"the object store at {names.object_store} answered with an error: {exc}"
        )
    if _instance_of(exc, "pydantic", "ValidationError"):
        return UsageProblem(f"invalid settings: {_settings_errors(exc)}")
    if isinstance(exc, ConnectionError):
        return ServiceUnavailable(f"a service could not be reached: {exc}")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return UsageProblem(f"{exc.strerror or exc}{where}")
    return None


def _settings_errors(exc: Any) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in error.get("loc", ())) or "settings"
        parts.append(f"{loc}: {str(error.get('msg', '')).removeprefix('Value error, ')}")
    return "; ".join(parts)
