"""GDAL configuration and command-line runner: timeouts, credentials only in the environment.

Every GDAL command-line call in the platform goes through :func:`run_gdal`. It never uses a
shell, runs only the tools on an allow-list, starts from a minimal environment (so unrelated
secrets of the parent process do not leak into GDAL) and scrubs secrets out of any message it
raises. GDAL calls made in-process (pyogrio) get the same settings through
:func:`gdal_config_in_process`. :func:`gdal_s3_env` is the one builder of the S3 settings.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    pass

ALLOWED_TOOLS: frozenset[str] = frozenset(
    {"ogr2ogr", "ogrinfo", "gdalinfo", "gdal_translate", "gdalwarp"}
)
DEFAULT_TIMEOUT = 900.0
"""Seconds; a full warp of a large raster takes minutes, but a hang must not be forever."""
TIMEOUT_BASE_ENV = "ETL_GDAL_TIMEOUT_BASE_SECONDS"
TIMEOUT_PER_MB_ENV = "ETL_GDAL_TIMEOUT_SECONDS_PER_MB"
DEFAULT_TIMEOUT_PER_MB = 2.0
"""Seconds per MB of input on top of the base: ~40x the measured ogr2ogr load rate
(1M points, 100 MB GPKG, in ~6 s), so only a hang or a starved machine reaches it."""

# Variables a GDAL process legitimately needs from the parent; everything else must be passed
# explicitly through ``env`` (e.g. AWS_* for /vsis3/, PG* for the PostgreSQL driver).
_INHERITED_VARIABLES = (
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "GDAL_DATA",
    "PROJ_DATA",
    "PROJ_LIB",
    "GDAL_DRIVER_PATH",
    "LD_LIBRARY_PATH",
)
_SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|SESSION|CREDENTIAL|PRIVATE|_KEY$|^KEY$)", re.I)
# Secrets that can appear in GDAL messages even when not in our env: presigned-URL signatures,
# libpq "password=" fragments, AWS access key ids in Credential scopes.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s'\"]+"),
    re.compile(r"(?i)(\bpassword\s*=\s*)('[^']*'|\S+)"),
    re.compile(r"(?i)(\bAWSAccessKeyId=|\bSignature=)[^&\s'\"]+"),
)
_REDACTED = "***"
_MAX_MESSAGE_CHARS = 4000


class GdalError(RuntimeError):
    """A GDAL tool failed; the message carries GDAL's own error text with secrets removed."""

    def __init__(
        self,
        message: str,
        *,
        tool: str | None = None,
        returncode: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.tool = tool
        self.returncode = returncode
        self.stderr = stderr


class GdalToolMissing(GdalError):
    """The GDAL command-line tool is not installed (or not on PATH)."""


class GdalTimeout(GdalError):
    """A GDAL tool ran longer than its timeout and was killed."""


def _secret_values(env: Mapping[str, str] | None) -> list[str]:
    values = []
    for name, value in (env or {}).items():
        if value and len(value) >= 3 and _SECRET_NAME.search(name):
            values.append(value)
    # Longest first so a secret containing another secret is replaced whole.
    return sorted(set(values), key=len, reverse=True)


def scrub_secrets(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with secret env values, URL signatures and ``password=`` fragments redacted."""
    for value in _secret_values(env):
        text = text.replace(value, _REDACTED)
        encoded = quote(value, safe="")
        if encoded != value:
            text = text.replace(encoded, _REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _REDACTED, text)
    return text


# How GDAL given S3 access (by ``gdal_s3_env``) reads from it; the caller's ``env`` may override
# any of them. Not applied to local-only work: local formats find sidecars by
# listing their directory.
S3_READ_OPTIONS: Mapping[str, str] = {
    # Listing a "directory" on S3 to find sidecars is slow and often denied; GDAL opens the
    # sidecars it needs (.shx, .dbf, .prj) by name instead.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_USE_HEAD": "NO",
    # GDAL's default 16 KB ranged GETs make a full scan of a 100 MB GeoPackage thousands of
    # round trips; 2 MB chunks and a 256 MB block cache cut a 1M-row read from S3 ~10x.
    "CPL_VSIL_CURL_CHUNK_SIZE": str(2 * 1024 * 1024),
    "CPL_VSIL_CURL_CACHE_SIZE": str(256 * 1024 * 1024),
}
# What changes for GDAL inside the run worker (pyogrio: layer inspection). Its block cache and
# download buffers are the worker's own memory, and a whole file is read in place there (a
# GeoJSON's first pass, a CSV's type detection). With the tools' settings (2 MB chunks, 256 MB
# cache) inspecting a GeoJSON from S3 raised the worker's peak by 100 MB for 53 MB and by
# 360 MB for 213 MB: it grows with the file up to the cache size. With 512 KB chunks and a
# 4 MB cache it rose by 22 MB for 13, 53 and 213 MB alike (each pass ~15% slower than with
# 2 MB chunks and a 16 MB cache, which rose by 75 MB). ogr2ogr keeps the large cache in its
# own process.
IN_PROCESS_S3_READ_OPTIONS: Mapping[str, str] = {
    "CPL_VSIL_CURL_CHUNK_SIZE": str(512 * 1024),
    "CPL_VSIL_CURL_CACHE_SIZE": str(4 * 1024 * 1024),
}


def gdal_config(
    env: Mapping[str, str] | None = None, *, in_process: bool = False
) -> dict[str, str]:
    """GDAL configuration for ``env``: the S3 read options when it gives S3 access (their
    in-process variant with ``in_process``), then ``env`` itself on top."""
    # Keep GDAL from probing the EC2 metadata service for credentials we did not give.
    config = {"AWS_EC2_METADATA_DISABLED": "TRUE"}
    if env and "AWS_S3_ENDPOINT" in env:
        config.update(S3_READ_OPTIONS)
        if in_process:
            config.update(IN_PROCESS_S3_READ_OPTIONS)
    config.update({str(k): str(v) for k, v in (env or {}).items()})
    return config


def safe_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a GDAL process gets: a few inherited basics, then :func:`gdal_config`."""
    base = {name: os.environ[name] for name in _INHERITED_VARIABLES if name in os.environ}
    base.setdefault("PATH", os.defpath)
    base.setdefault("LC_ALL", "C.UTF-8")
    base.update(gdal_config(env))
    return base


# GDAL configuration options are process-global; one holder at a time sets and restores them.
_IN_PROCESS_CONFIG_LOCK = threading.Lock()


@contextlib.contextmanager
def gdal_config_in_process(env: Mapping[str, str] | None = None) -> Iterator[None]:
    """Apply :func:`gdal_config` (its in-process variant: a block cache of bounded size) to
    pyogrio's in-process GDAL for the duration of the block.

    The options are global to the process, so the block holds a lock and restores the previous
    values (and drops GDAL's cache of remote files, which may hold credentials-bound reads)
    on exit. Keep the block short: it serialises every in-process GDAL call that uses it.
    """
    import pyogrio

    config = gdal_config(env, in_process=True)
    with _IN_PROCESS_CONFIG_LOCK:
        previous = {name: pyogrio.get_gdal_config_option(name) for name in config}
        pyogrio.set_gdal_config_options(config)
        try:
            yield
        finally:
            # None unsets an option; values come back as strings or typed (True, 1): restore
            # them as strings so GDAL reads them as it did before.
            restored = {
                name: None if value is None else _config_text(value)
                for name, value in previous.items()
            }
            pyogrio.set_gdal_config_options(restored)
            if "AWS_S3_ENDPOINT" in config:
                pyogrio.vsi_curl_clear_cache()


def _config_text(value: object) -> str:
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    return str(value)


def _error_lines(text: str) -> str:
    """GDAL's ERROR/FAILURE lines (its driver lists and usage text are noise), else the tail."""
    lines = text.strip().splitlines()
    picked: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith(("ERROR", "FAILURE")):
            picked.append(line)
            # "FAILURE:" puts its reason on the next line.
            if line.rstrip().endswith(":") and i + 1 < len(lines):
                picked.append(lines[i + 1])
    return _tail("\n".join(picked) if picked else "\n".join(lines))


def _tail(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def timeout_for_size(size_bytes: int | None) -> float:
    """Timeout of a GDAL call reading ``size_bytes`` of input: ``ETL_GDAL_TIMEOUT_BASE_SECONDS``
    (900) plus ``ETL_GDAL_TIMEOUT_SECONDS_PER_MB`` (2) per MB, so a 50 GB source is not
    stopped at a limit meant for a small one."""
    base = float(os.environ.get(TIMEOUT_BASE_ENV, DEFAULT_TIMEOUT))
    per_mb = float(os.environ.get(TIMEOUT_PER_MB_ENV, DEFAULT_TIMEOUT_PER_MB))
    return base + per_mb * max(0, size_bytes or 0) / 1e6


def run_gdal(
    tool: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run GDAL tool ``tool`` with argument list ``args``; raise :class:`GdalError` on failure.

    ``env`` is merged over a minimal environment (see :func:`safe_environment`); pass
    credentials here (``PGPASSWORD``, ``AWS_SECRET_ACCESS_KEY``), never in ``args``. Error messages
    contain GDAL's stderr with every secret-looking ``env`` value redacted.
    """
    if tool not in ALLOWED_TOOLS:
        raise ValueError(
            f"GDAL tool {tool!r} is not allowed; use one of {', '.join(sorted(ALLOWED_TOOLS))}"
        )
    argv = [tool, *(str(a) for a in args)]
    if any("\x00" in a for a in argv):
        raise ValueError(f"{tool}: an argument contains a NUL byte")
    executable = shutil.which(tool, path=safe_environment(env).get("PATH"))
    if executable is None:
        raise GdalToolMissing(_missing_message(tool), tool=tool)
    argv[0] = executable
    try:
        completed = subprocess.run(
            argv,
            env=safe_environment(env),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GdalToolMissing(_missing_message(tool), tool=tool) from exc
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        stderr = scrub_secrets(stderr or "", env)
        raise GdalTimeout(
            f"{tool} did not finish within {timeout:g}s and was stopped (an operational limit, "
            f"not a fault of the input): raise {TIMEOUT_PER_MB_ENV} or {TIMEOUT_BASE_ENV} "
            f"if the input is this large, then run it again. "
            f"Command: {describe_command(argv, env)}"
            + (f"\nGDAL said: {_tail(stderr)}" if stderr.strip() else ""),
            tool=tool,
            stderr=stderr,
        ) from None
    if completed.returncode != 0:
        stderr = scrub_secrets(completed.stderr or "", env)
        detail = (
            _error_lines(stderr)
            or _error_lines(scrub_secrets(completed.stdout or "", env))
            or "(no output)"
        )
        raise GdalError(
            f"{tool} failed with exit code {completed.returncode}: {detail}\n"
            f"Command: {describe_command(argv, env)}",
            tool=tool,
            returncode=completed.returncode,
            stderr=stderr,
        )
    return completed


def describe_command(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """A printable, secret-free rendering of ``argv`` (tool name without its directory)."""
    parts = [Path(argv[0]).name, *argv[1:]] if argv else []
    rendered = " ".join(_quote_for_display(p) for p in parts)
    return _tail(scrub_secrets(rendered, env), 1500)


def _quote_for_display(arg: str) -> str:
    return arg if arg and re.fullmatch(r"[\w@%+=:,./\-]+", arg) else repr(arg)


def _missing_message(tool: str) -> str:
    return (
        f"GDAL command-line tool {tool!r} was not found on PATH. Install GDAL's tools "
        "(Debian/Ubuntu: `apt-get install gdal-bin`) or run in the code-location image, "
        "which ships them."
    )


def gdal_tool_versions(tools: Iterable[str] = ("gdalinfo", "ogr2ogr")) -> dict[str, str]:
    """``{tool: "GDAL 3.6.2, released 2023/01/02"}`` from ``<tool> --version`` for each tool.

    Raises :class:`GdalToolMissing` when a tool is absent; a health check can catch that.
    """
    versions: dict[str, str] = {}
    for tool in tools:
        completed = run_gdal(tool, ["--version"], timeout=30.0)
        versions[tool] = completed.stdout.strip()
    return versions


def gdal_s3_env(
    *,
    endpoint: str,
    access_key: str,
    secret_key: str,
    secure: bool = False,
    region: str = "us-east-1",
) -> dict[str, str]:
    """GDAL configuration (as environment variables) to read and write ``/vsis3/`` on an
    S3-compatible server with path-style addressing (MinIO, moto).

    ``endpoint`` is ``host:port`` without a scheme (``MINIO_ENDPOINT``); ``secure`` chooses
    HTTPS. The secret key only ever travels in this mapping: give it to :func:`run_gdal` as
    ``env`` or to :func:`gdal_config_in_process`, never as arguments, and never log it.
    """
    if "://" in endpoint:
        raise ValueError(
            f"S3 endpoint must be host:port without a scheme (got {endpoint!r}), "
            "e.g. 127.0.0.1:9000"
        )
    return {
        "AWS_S3_ENDPOINT": endpoint,
        "AWS_HTTPS": "YES" if secure else "NO",
        # Buckets are addressed as a path (host:port/bucket/key), not as a host name.
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_NO_SIGN_REQUEST": "NO",
    }


def vsis3_path(bucket: str, key: str) -> str:
    """GDAL virtual path of object ``key`` in ``bucket``: ``/vsis3/bucket/key``."""
    key = key.lstrip("/")
    if not bucket or ".." in key.split("/"):
        raise ValueError(f"invalid S3 location bucket={bucket!r} key={key!r}")
    return f"/vsis3/{bucket}/{key}"


def s3_uri_to_vsis3(uri: str) -> str:
    """``s3://bucket/key`` -> ``/vsis3/bucket/key``."""
    if not uri.startswith("s3://"):
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return vsis3_path(bucket, key)


def vsicurl_path(url: str) -> str:
    """GDAL virtual path for an HTTP(S) URL, e.g. a presigned GET URL: ``/vsicurl/<url>``.

    A presigned URL carries a short-lived signature in argv; error messages redact it.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL, got {url!r}")
    return f"/vsicurl/{url}"
