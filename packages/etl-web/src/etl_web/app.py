"""The ASGI app: pages, submission, downloads and previews, the STAC API, static files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from etl_web.preview import LruCache
from etl_web.security import CSRF_FIELD, SecurityMiddleware, Signer
from etl_web.settings import WebSettings

if TYPE_CHECKING:
    from etl_storage import Ledger, ObjectStore

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page, with what every page needs (CSRF token, whether writing is possible)."""
    signer: Signer = request.app.state.signer
    csrf_value = request.scope.get("state", {}).get("csrf_value", "")
    base = {
        "csrf_field": CSRF_FIELD,
        "csrf_token": signer.csrf_token(csrf_value),
        "writable": signer.settings.writable,
        "signed_in": signer.can_write(request),
        "dagster_ui_url": signer.settings.dagster_ui_url,
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def create_app(
    ledger: Ledger | None = None,
    store: ObjectStore | None = None,
    settings: WebSettings | None = None,
) -> FastAPI:
    """The catalog app on ``ledger`` and ``store`` (from the environment when not given)."""
    from etl_storage import Ledger, ObjectStore
    from etl_web import data_routes, pages, stac_api, submit

    settings = settings or WebSettings.from_env()
    app = FastAPI(
        title="Spatial ETL dataset catalog",
        docs_url=None,  # the docs UI loads scripts from a CDN; the API is described by STAC
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.ledger = ledger or Ledger.from_settings()
    app.state.store = store or ObjectStore.from_settings()
    app.state.signer = Signer(settings)
    app.state.previews = LruCache()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(stac_api.router)
    app.include_router(data_routes.router)
    app.include_router(submit.router)
    app.include_router(pages.router)
    app.add_middleware(SecurityMiddleware, settings=settings)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        wants_html = "text/html" in request.headers.get("accept", "")
        if wants_html and not request.url.path.startswith("/stac"):
            return render(
                request, "error.html", exc.status_code, status=exc.status_code, detail=exc.detail
            )
        body = {"code": str(exc.status_code), "description": str(exc.detail)}
        return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
