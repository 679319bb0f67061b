"""What a failed batch tells its user, and whether trying again can help (no Dagster import).

Two audiences read a failure. The uploader gets one sentence naming the file, the field or row
and the fix (:func:`user_message`), in the ledger's ``error`` fields, the CLI and rejection
reports. The operator gets the whole technical chain (:func:`technical_detail`): exception
classes, every cause, GDAL's command line; it goes to the run log and the run record's
``error_detail``, never shown by default.

:func:`is_permanent` decides retries: only errors known to be operational (timeouts, lost
connections, a busy or failing server) are worth another attempt. Everything else, above all
bad input, fails at once: re-reading the same bytes gives the same error.
"""

from __future__ import annotations

import re
import traceback

MAX_USER_MESSAGE_CHARS = 1500

# Internal names a user cannot act on: the run's PostGIS schema, GDAL's command line and
# geometry bytes printed as hex.
_RUN_SCHEMA = re.compile(r"\bproc_[0-9a-z_]+\.(\w+)")
_COMMAND_LINE = re.compile(r"\n?\s*Command: .*", re.DOTALL)
_WKB_HEX = re.compile(r"\b(?:[0-9A-Fa-f]{2}){24,}\b")
_CLASS_PREFIX = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?(?:[A-Z]\w*)?(?:Error|Exception|Failure):\s*")
_GDAL_PREFIX = re.compile(r"^(?:ERROR|FAILURE)\s*\d*:\s*", re.MULTILINE)
_CAUSED_BY = re.compile(r"\n\s*caused by:.*", re.DOTALL | re.IGNORECASE)
_BLANK_RUNS = re.compile(r"\s*\n\s*")

# Text of failures that another attempt may well not see: a server busy, restarting or slow.
_TRANSIENT_TEXT = re.compile(
    r"timed? ?out|connection (?:refused|reset|closed|aborted)|could not connect|"
    r"temporarily unavailable|too many connections|server closed the connection|"
    r"HTTP (?:response )?code:? ?(?:429|5\d\d)|SlowDown|ServiceUnavailable|InternalError|"
    r"Could not resolve host|network is unreachable",
    re.IGNORECASE,
)


# Exceptions that only a defect or a broken installation of the platform raises (its own
# errors for bad input have their own classes): the uploader is told the batch is not at fault.
_INTERNAL_TYPES: tuple[type[BaseException], ...] = (
    AttributeError,
    NameError,
    ImportError,
    AssertionError,
)

# The innermost frames of a traceback kept in ``technical_detail``: where a defect is.
MAX_TRACEBACK_CHARS = 8_000


_INTERNAL_NAMES = frozenset(
    {t.__name__ for t in _INTERNAL_TYPES} | {"ModuleNotFoundError", "UnboundLocalError"}
)


def is_internal(exc: BaseException) -> bool:
    """Whether ``exc`` is a defect of the platform rather than a problem of the batch."""
    return isinstance(exc, _INTERNAL_TYPES)


def is_internal_class(name: str) -> bool:
    """:func:`is_internal` for an error known by its class name only (Dagster's run log)."""
    return name in _INTERNAL_NAMES


def internal_error_message(class_name: str, text: str) -> str:
    """The uploader's sentence for a defect of the platform: not the batch's fault."""
    return (
        f"the platform failed on an internal error ({class_name}: {text}), not on the batch: "
        "re-execute the run, and tell the platform team (the run's error detail has the "
        "traceback)"
    )


def _transient_types() -> tuple[type[BaseException], ...]:
    """Exception classes that mean "the platform was not reachable or not ready"."""
    types: list[type[BaseException]] = [TimeoutError, ConnectionError]
    try:
        from pymongo.errors import ConnectionFailure, ExecutionTimeout

        types += [ConnectionFailure, ExecutionTimeout]
    except ImportError:  # pragma: no cover - pymongo is a dependency of the ledger
        pass
    try:
        from psycopg import OperationalError

        types.append(OperationalError)
    except ImportError:  # pragma: no cover
        pass
    try:
        from urllib3.exceptions import HTTPError as Urllib3Error

        types.append(Urllib3Error)
    except ImportError:  # pragma: no cover
        pass
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError

        types.append(BotoConnectionError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def is_permanent(exc: BaseException) -> bool:
    """Whether re-running cannot fix ``exc``: anything but a known operational failure.

    A landing object that is missing (``ObjectNotFound``, S3 ``NoSuchKey``) is permanent; a
    GDAL tool that timed out or hit a network error, a lost database or S3 connection, an
    S3 server error or throttling are transient. Errors of the orchestrator itself (its
    ``Failure``, ``RetryRequested``) are left to it: neither.
    """
    if type(exc).__module__.split(".")[0] == "dagster":
        return False
    from etl_spatial.gdal import GdalError, GdalTimeout
    from etl_storage.errors import ObjectNotFound

    if isinstance(exc, ObjectNotFound):
        return True
    if isinstance(exc, GdalTimeout):
        return False
    if isinstance(exc, GdalError):
        return not _TRANSIENT_TEXT.search(exc.stderr or str(exc))
    if _is_s3_error(exc):
        code = getattr(exc, "code", "") or ""
        return code not in {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}
    return not isinstance(exc, _transient_types())


def _is_s3_error(exc: BaseException) -> bool:
    try:
        from minio.error import S3Error
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, S3Error)


def clean_text(text: str) -> str:
    """``text`` without what only the platform understands: class-name prefixes, repeated
    "caused by" lines, GDAL's command line, run-schema names and geometry hex."""
    text = _COMMAND_LINE.sub("", text)
    text = _CAUSED_BY.sub("", text)
    text = _GDAL_PREFIX.sub("", text)
    previous = None
    while previous != text:  # "Failure: LaneError: ..." loses both prefixes
        previous, text = text, _CLASS_PREFIX.sub("", text.strip())
    text = _RUN_SCHEMA.sub(
        lambda m: "the loaded data" if m.group(1) == "raw_data" else m.group(1), text
    )
    text = _WKB_HEX.sub("<geometry>", text)
    text = _BLANK_RUNS.sub(" ", text).strip()
    if len(text) > MAX_USER_MESSAGE_CHARS:
        text = text[: MAX_USER_MESSAGE_CHARS - 3].rstrip() + "..."
    return text


def user_message(exc: BaseException) -> str:
    """One readable sentence for the uploader (see :func:`clean_text`).

    An operational failure says so, since the fix is not in the batch.
    """
    text = clean_text(str(exc)) or type(exc).__name__
    if is_internal(exc):
        return internal_error_message(type(exc).__name__, text)
    if not is_permanent(exc) and type(exc).__module__.split(".")[0] != "dagster":
        return (
            f"the platform hit a temporary problem ({text}); nothing is wrong with the batch "
            "as far as is known: re-execute the run, and tell the platform team if it persists"
        )
    return text


def technical_detail(exc: BaseException) -> str:
    """The whole chain, for the run log and ``error_detail``: each exception's class and
    message, outermost first; then the end of the traceback (where a defect is), which
    Dagster's run log keeps but the ledger would otherwise lose."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__module__}.{type(current).__qualname__}: {current}")
        current = current.__cause__ or current.__context__
    detail = "\ncaused by: ".join(parts)
    if exc.__traceback__ is not None:
        detail += "\n\n" + "".join(traceback.format_exception(exc))[-MAX_TRACEBACK_CHARS:]
    return detail
