"""Settings of the catalog, from the environment (``ETL_WEB_*``, ``DAGSTER_UI_URL``)."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number (got {raw!r})")
    return int(raw)


@dataclass(frozen=True)
class WebSettings:
    """What the app needs besides the ledger and the object store."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Writing (submit, resubmit) is off unless a token is configured.
    token: str | None = None
    # Signs session and CSRF cookies; derived from the token when not given, so sessions
    # survive a restart without another secret to manage.
    secret: str = ""
    # Absolute base URL for STAC hrefs behind a proxy; default: the request's own base URL.
    public_url: str | None = None
    dagster_ui_url: str | None = None
    max_upload_bytes: int = 512 * 1024 * 1024
    preview_features: int = 2000
    # Lake objects bigger than this get no map preview (reading them would stall the app).
    preview_max_bytes: int = 256 * 1024 * 1024
    # Cookies only over HTTPS when served behind TLS.
    secure_cookies: bool = False

    @property
    def writable(self) -> bool:
        return bool(self.token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebSettings:
        env = os.environ if environ is None else environ
        token = env.get("ETL_WEB_TOKEN") or None
        secret = env.get("ETL_WEB_SECRET") or ""
        if not secret:
            secret = (
                hashlib.sha256(b"etl-web-session:" + token.encode()).hexdigest()
                if token
                else secrets.token_hex(32)
            )
        return cls(
            host=env.get("ETL_WEB_HOST", DEFAULT_HOST),
            port=_int(env, "ETL_WEB_PORT", DEFAULT_PORT),
            token=token,
            secret=secret,
            public_url=(env.get("ETL_WEB_PUBLIC_URL") or "").rstrip("/") or None,
            dagster_ui_url=(env.get("DAGSTER_UI_URL") or "").rstrip("/") or None,
            max_upload_bytes=_int(env, "ETL_WEB_MAX_UPLOAD_MB", 512) * 1024 * 1024,
            preview_features=_int(env, "ETL_WEB_PREVIEW_FEATURES", 2000),
            preview_max_bytes=_int(env, "ETL_WEB_PREVIEW_MAX_MB", 256) * 1024 * 1024,
            secure_cookies=env.get("ETL_WEB_SECURE_COOKIES", "").lower() in {"1", "true", "yes"},
        )
