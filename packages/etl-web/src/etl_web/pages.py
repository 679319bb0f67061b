"""Read-only pages: the dataset list and search, a dataset, batches, and signing in."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from etl_web.app import render
from etl_web.catalog import SearchQuery, load_datasets, parse_bbox, search, version_changes
from etl_web.lineage import child_datasets, dataset_edges, lineage_graph
from etl_web.security import CSRF_FIELD, SESSION_COOKIE, SESSION_MAX_AGE, Signer

router = APIRouter()

STATUS_WORDS = {
    "queued": "Accepted and waiting for its run to start.",
    "running": "Being processed now.",
    "success": "Done: the data is in the lake.",
    "failure": "The run failed; the reason is below. Fix the input and resubmit.",
    "canceled": "The run was canceled before it finished.",
    "rejected": "The manifest was refused before any run; the reason is below. Fix it and "
    "resubmit (the batch id stays free).",
}


def plain_error(error: str | None) -> tuple[str, str | None]:
    """The first readable sentence of an error, and the full text when there is more."""
    if not error:
        return "", None
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    summary = next((line for line in lines if not line.startswith(("Traceback", "File "))), "")
    return summary[:400], error if len(lines) > 1 or len(summary) > 400 else None


@router.get("/")
def datasets_page(
    request: Request,
    q: str = "",
    keyword: str = "",
    tag: str = "",
    uploader: str = "",
    format: str = "",
    bbox: str = "",
) -> Response:
    error = None
    try:
        box = parse_bbox(bbox)
    except ValueError as exc:
        error, box = str(exc), None
    query = SearchQuery(q.strip(), keyword.strip(), tag.strip(), uploader.strip(), format, box)
    datasets = load_datasets(request.app.state.ledger)
    found = search(datasets, query)
    formats = sorted({ds.format for ds in datasets.values()})
    form = {
        "q": q,
        "keyword": keyword,
        "tag": tag,
        "uploader": uploader,
        "format": format,
        "bbox": bbox,
    }
    return render(
        request,
        "datasets.html",
        datasets=found,
        total=len(datasets),
        formats=formats,
        form=form,
        error=error,
    )


@router.get("/datasets/{dataset_id}")
def dataset_page(request: Request, dataset_id: str, v: int | None = None) -> Response:
    ledger = request.app.state.ledger
    datasets = load_datasets(ledger)
    ds = datasets.get(dataset_id)
    if ds is None:
        raise HTTPException(404, f"no dataset {dataset_id!r} in the ledger")
    shown = ds.version(v) if v is not None else ds.latest
    if shown is None:
        raise HTTPException(404, f"dataset {dataset_id!r} has no version {v}")
    changes = {
        newer.number: version_changes(older, newer)
        for older, newer in zip(ds.versions, ds.versions[1:], strict=False)
    }
    inputs = ledger.lineage_for(shown.record.id) if shown.record.id is not None else []
    return render(
        request,
        "dataset.html",
        ds=ds,
        shown=shown,
        changes=changes,
        graph=lineage_graph(dataset_id, dataset_edges(datasets)),
        children=child_datasets(ledger, ds),
        inputs=[e.input for e in inputs if e.kind == "input" and e.input is not None],
    )


@router.get("/batches")
def batches_page(request: Request, status: str = "") -> Response:
    from etl_models.status import ManifestStatus

    statuses = [s.value for s in ManifestStatus]
    chosen = status if status in statuses else None
    records = request.app.state.ledger.list_manifests(status=chosen, limit=200)
    return render(request, "batches.html", records=records, statuses=statuses, status=chosen or "")


@router.get("/batches/{batch_id}")
def batch_page(request: Request, batch_id: str) -> Response:
    from etl_models.landing import manifest_key_for

    ledger, store = request.app.state.ledger, request.app.state.store
    intakes = ledger.manifests_for_batch(batch_id)
    record = ledger.get_manifest(batch_id) or (intakes[-1] if intakes else None)
    waiting = False
    if record is None:
        try:
            waiting = store.landing_object_exists(manifest_key_for(f"{batch_id}.json"))
        except Exception:  # an invalid batch id is simply not found
            waiting = False
        if not waiting:
            raise HTTPException(404, f"no batch {batch_id!r} in the ledger or the landing zone")
    runs = ledger.runs_for_batch(batch_id) if record is not None else []
    summary, details = plain_error(record.error if record else None)
    dagster = request.app.state.settings.dagster_ui_url
    return render(
        request,
        "batch.html",
        batch_id=batch_id,
        record=record,
        intakes=intakes,
        waiting=waiting,
        runs=runs,
        run_url=(lambda run_id: f"{dagster}/runs/{run_id}") if dagster else None,
        status_words=STATUS_WORDS,
        error_summary=summary,
        error_details=details,
        can_resubmit=record is not None and record.status.value in {"failure", "rejected"},
    )


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=_local(next), error=None)


def _local(target: str) -> str:
    """Only same-site paths as redirect targets (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("/login")
def login(
    request: Request,
    token: str = Form(""),
    next: str = Form("/"),
    csrf_token: str = Form("", alias=CSRF_FIELD),
) -> Response:
    signer: Signer = request.app.state.signer
    signer.check_csrf(request, csrf_token)
    if not signer.settings.writable:
        raise HTTPException(403, "this catalog is read-only: ETL_WEB_TOKEN is not set")
    if not signer.token_matches(token.strip()):
        return render(request, "login.html", 403, next=_local(next), error="wrong token")
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signer.session_cookie(),
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=signer.settings.secure_cookies,
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
    request.app.state.signer.check_csrf(request, csrf_token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
