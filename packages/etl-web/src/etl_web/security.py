"""Security by default: write access by token, signed sessions, CSRF, body limits, headers.

- Without ``ETL_WEB_TOKEN`` the app is read-only: every write route answers 403.
- With it, a person signs in once with the token (a signed, HttpOnly, SameSite=Strict session
  cookie); a tool sends ``Authorization: Bearer <token>``.
- Every form carries a CSRF token: an itsdangerous-signed copy of a random cookie value
  (double submit), checked on every POST, the sign-in form included.
- Request bodies above the upload limit are refused with 413 before or while they arrive.
"""

from __future__ import annotations

import hmac
import secrets
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

if TYPE_CHECKING:
    from etl_web.settings import WebSettings

SESSION_COOKIE = "etl_session"
CSRF_COOKIE = "etl_csrf"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 12 * 3600
CSRF_MAX_AGE = 24 * 3600

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "worker-src 'self' blob:; child-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)


class Signer:
    """Signs session and CSRF values with the app's secret."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self._session = URLSafeTimedSerializer(settings.secret, salt="etl-web-session")
        self._csrf = URLSafeTimedSerializer(settings.secret, salt="etl-web-csrf")

    def session_cookie(self) -> str:
        return self._session.dumps({"writer": True})

    def csrf_token(self, cookie_value: str) -> str:
        return self._csrf.dumps(cookie_value)

    def has_session(self, request: Request) -> bool:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return False
        try:
            data = self._session.loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return False
        return isinstance(data, dict) and data.get("writer") is True

    def token_matches(self, presented: str | None) -> bool:
        token = self.settings.token
        return bool(token and presented) and hmac.compare_digest(
            presented.encode(),
            token.encode(),  # type: ignore[union-attr]
        )

    def can_write(self, request: Request) -> bool:
        if not self.settings.writable:
            return False
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer ") and self.token_matches(header[7:].strip()):
            return True
        return self.has_session(request)

    def check_csrf(self, request: Request, submitted: str | None) -> None:
        cookie = request.cookies.get(CSRF_COOKIE)
        try:
            signed = self._csrf.loads(submitted or "", max_age=CSRF_MAX_AGE)
        except BadSignature:
            signed = None
        if not cookie or not isinstance(signed, str) or not hmac.compare_digest(signed, cookie):
            raise HTTPException(
                403, "the form expired or did not come from this site; reload it and try again"
            )


def require_writer(request: Request) -> None:
    """403 unless writing is configured and this request is signed in (or has the token)."""
    signer: Signer = request.app.state.signer
    if not signer.settings.writable:
        raise HTTPException(
            403, "this catalog is read-only: ETL_WEB_TOKEN is not set on the server"
        )
    if not signer.can_write(request):
        raise HTTPException(403, "sign in with the catalog token first")


class BodyTooLarge(Exception):
    pass


class SecurityMiddleware:
    """Pure ASGI: CSRF cookie, security headers, request body limit (413)."""

    def __init__(self, app: Any, settings: WebSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.settings.max_upload_bytes
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _plain(send, 413, f"the upload is larger than {limit // (1024 * 1024)} MB")
            return
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header: treat as no cookies
            cookies = SimpleCookie()
        csrf = cookies[CSRF_COOKIE].value if CSRF_COOKIE in cookies else None
        new_csrf = None
        if not csrf:
            new_csrf = csrf = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_value"] = csrf
        is_stac = scope["path"].startswith("/stac")
        started = False
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def send_with_headers(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", CSP.encode()),
                ]
                if is_stac:  # public, read-only metadata: let browser STAC tools read it
                    extra.append((b"access-control-allow-origin", b"*"))
                if new_csrf:
                    attrs = "Path=/; HttpOnly; SameSite=Strict"
                    if self.settings.secure_cookies:
                        attrs += "; Secure"
                    extra.append((b"set-cookie", f"{CSRF_COOKIE}={new_csrf}; {attrs}".encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            if not started:
                await _plain(send, 413, f"the upload is larger than {limit // (1024 * 1024)} MB")


async def _plain(send: Any, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
