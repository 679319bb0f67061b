"""Submitting and resubmitting batches, through the landing zone exactly as ``etl submit``.

The form becomes a ``SubmissionPlan`` with ``etl_cli.submission.plan_submission`` (the same
validation as the CLI), and ``etl_cli.transfers.upload_batch`` uploads the raw files first and
the manifest last. Uploaded files are written under a temporary directory the app creates,
with names reduced to safe characters: no path from the request reaches the filesystem.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from etl_web.app import render
from etl_web.manifest_form import (
    clean,
    extra_metadata,
    file_entry_edits,
    form_spec,
    intents,
    parse_tags,
    tags_text,
)
from etl_web.security import CSRF_FIELD, require_writer

router = APIRouter()
MAX_FILES = 50
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(raw: str | None) -> str:
    """A plain file name from an uploaded file's name (no directories, no leading dots)."""
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", base).lstrip("._")[:120]
    return name or "upload"


def _problems(exc: Exception) -> list[str]:
    from etl_cli.errors import CliError, ManifestInvalid

    if isinstance(exc, ManifestInvalid):
        return [f"{p.field}: {p.message}" for p in exc.problems]
    if isinstance(exc, CliError):
        return [exc.message + (f" ({exc.hint})" if exc.hint else "")]
    return [str(exc)]


def _gate(request: Request) -> Response | None:
    """Send people who are not signed in to the sign-in page (403 when read-only)."""
    signer = request.app.state.signer
    if not signer.settings.writable:
        raise HTTPException(403, "this catalog is read-only: ETL_WEB_TOKEN is not set")
    if not signer.can_write(request):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return None


@router.get("/submit")
def submit_form(request: Request) -> Response:
    return _gate(request) or render(
        request, "submit.html", spec=form_spec(), intents=intents(), values={}, problems=[]
    )


async def _form(request: Request) -> Any:
    form = await request.form(max_files=MAX_FILES, max_fields=200)
    request.app.state.signer.check_csrf(request, form.get(CSRF_FIELD))
    return form


def _plan_upload(request: Request, form: Any, workdir: Path) -> Any:
    """Plan (validate) then upload the batch; runs in a worker thread."""
    from etl_cli.submission import (
        DescriptiveMetadata,
        FileOptionsInput,
        plan_submission,
        validate_manifest,
    )
    from etl_cli.transfers import upload_batch

    store, ledger = request.app.state.store, request.app.state.ledger
    paths = sorted(workdir.iterdir())
    plan = plan_submission(
        paths,
        intent=clean(form, "intent") or "",
        uploader=clean(form, "uploader") or "",
        landing_bucket=store.landing_bucket,
        file_type=clean(form, "file.type"),
        dataset_id=clean(form, "dataset_id"),
        batch_id=clean(form, "batch_id"),
        crs=clean(form, "file.crs"),
        file_format=clean(form, "file.format"),
        layer=clean(form, "file.layer"),
        options=FileOptionsInput(
            **{
                key: clean(form, f"options.{key}")
                for key in ("delimiter", "encoding", "x_column", "y_column", "wkt_column")
            }
        ),
        metadata=DescriptiveMetadata(
            title=clean(form, "metadata.title"),
            description=clean(form, "metadata.description"),
            project=clean(form, "metadata.project"),
            tags=parse_tags(form.get("metadata.tags") or ""),
        ),
    )
    extra = extra_metadata(form)
    if extra:  # fields the CLI has no option for yet (e.g. licence): same validation
        manifest = {**plan.manifest, "metadata": {**plan.manifest.get("metadata", {}), **extra}}
        parsed = validate_manifest(manifest, store.landing_bucket)
        plan = replace(plan, manifest=manifest, parsed=parsed)
    upload_batch(store, ledger, plan)
    return plan


@router.post("/submit")
async def submit(request: Request) -> Response:
    require_writer(request)
    form = await _form(request)
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}
    problems: list[str] = []
    if not uploads:
        problems.append("choose at least one file to upload")
    with tempfile.TemporaryDirectory(prefix="etl-web-submit-") as tmp:
        workdir = Path(tmp)
        for upload in uploads:
            dest = workdir / safe_name(upload.filename)
            if dest.exists():
                problems.append(f"two files are named {dest.name!r}; rename one")
                break
            with dest.open("wb") as out:
                await run_in_threadpool(shutil.copyfileobj, upload.file, out, 1024 * 1024)
        if not problems:
            try:
                plan = await run_in_threadpool(_plan_upload, request, form, workdir)
            except Exception as exc:  # validation or transfer problem: show it on the form
                problems = _problems(exc)
    if problems:
        return render(
            request,
            "submit.html",
            400,
            spec=form_spec(),
            intents=intents(),
            values=values,
            problems=problems,
        )
    return RedirectResponse(f"/batches/{plan.batch_id}?submitted=1", status_code=303)


def _resubmittable(request: Request, batch_id: str) -> Any:
    ledger = request.app.state.ledger
    intakes = ledger.manifests_for_batch(batch_id)
    record = ledger.get_manifest(batch_id) or (intakes[-1] if intakes else None)
    if record is None or record.status.value not in {"failure", "rejected"}:
        raise HTTPException(404, f"batch {batch_id!r} is not a failed or rejected batch")
    if not isinstance(record.manifest, dict):
        raise HTTPException(422, "the ledger kept no readable manifest for this batch")
    return record


def _resubmit_values(record: Any) -> dict[str, Any]:
    from etl_cli.submission import default_batch_id

    manifest = record.manifest
    meta = manifest.get("metadata") or {}
    first = (manifest.get("files") or [{}])[0]
    values: dict[str, Any] = {
        # A rejection leaves its batch id free; a failed batch keeps it, so propose a new one.
        "batch_id": (
            (record.batch_id or record.claimed_batch_id or "")
            if record.status.value == "rejected"
            else default_batch_id(record.batch_id or "batch")
        ),
        "uploader": manifest.get("uploader", ""),
        "intent": manifest.get("intent", ""),
        "metadata.tags": tags_text(meta.get("tags")),
        "dataset_id": (meta.get("tags") or {}).get("dataset_id", ""),
    }
    for key, value in meta.items():
        if isinstance(value, str | int):
            values[f"metadata.{key}"] = value
        elif isinstance(value, list):
            values[f"metadata.{key}"] = ", ".join(str(v) for v in value)
    for key in ("type", "format", "crs", "layer"):
        if first.get(key):
            values[f"file.{key}"] = first[key]
    for key, value in (first.get("options") or {}).items():
        values[f"options.{key}"] = value
    return values


@router.get("/batches/{batch_id}/resubmit")
def resubmit_form(request: Request, batch_id: str) -> Response:
    gate = _gate(request)
    if gate is not None:
        return gate
    record = _resubmittable(request, batch_id)
    return render(
        request,
        "resubmit.html",
        record=record,
        spec=form_spec(),
        intents=[*intents(), "join_datasets"],
        values=_resubmit_values(record),
        problems=[],
    )


def _resubmit(request: Request, record: Any, form: Any) -> str:
    from etl_cli.submission import SubmissionPlan, check_batch_id, validate_manifest
    from etl_cli.transfers import upload_batch

    store, ledger = request.app.state.store, request.app.state.ledger
    old = record.manifest
    batch_id = check_batch_id(clean(form, "batch_id") or "", "batch id")
    meta = {k: v for k, v in (old.get("metadata") or {}).items() if k not in {"tags"}}
    for key in ("title", "description", "project"):
        value = clean(form, f"metadata.{key}")
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    meta.update(extra_metadata(form))
    tags = parse_tags(form.get("metadata.tags") or "")
    if clean(form, "dataset_id"):
        tags["dataset_id"] = clean(form, "dataset_id")
    old_id = record.batch_id or record.claimed_batch_id
    if old_id and old_id != batch_id:  # the tag `etl resubmit` sets: the ledger links the two
        tags.setdefault("resubmit_of", old_id)
    if tags:
        meta["tags"] = tags
    files = [file_entry_edits(form, entry) for entry in old.get("files") or []]
    manifest: dict[str, Any] = {
        "batch_id": batch_id,
        "uploader": clean(form, "uploader") or old.get("uploader", ""),
        "intent": clean(form, "intent") or old.get("intent", ""),
        **({"files": files} if files else {}),
        "metadata": meta,
    }
    parsed = validate_manifest(manifest, store.landing_bucket)
    missing = [f["path"] for f in files if not store.landing_object_exists(f["path"])]
    if missing:
        raise ValueError(
            "raw files are no longer in the landing zone: "
            + ", ".join(missing)
            + "; submit them again with the submit form"
        )
    upload_batch(store, ledger, SubmissionPlan(batch_id, manifest, parsed))
    return batch_id


@router.post("/batches/{batch_id}/resubmit")
async def resubmit(request: Request, batch_id: str) -> Response:
    require_writer(request)
    form = await _form(request)
    record = _resubmittable(request, batch_id)
    try:
        new_id = await run_in_threadpool(_resubmit, request, record, form)
    except Exception as exc:  # validation or transfer problem: show it on the form
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}
        return render(
            request,
            "resubmit.html",
            400,
            record=record,
            spec=form_spec(),
            intents=[*intents(), "join_datasets"],
            values=values,
            problems=_problems(exc),
        )
    return RedirectResponse(f"/batches/{new_id}?submitted=1", status_code=303)
