"""Bytes out of the lake: downloads, map previews, raster thumbnails, the basemap.

Only objects the ledger knows can be read: a request names a dataset and a version, the
ledger record gives the lake key, and nothing else from the request is used to address the
lake or the filesystem. Downloads stream through the app with the ledger's ETag and size, and
are refused when the lake object no longer matches what the ledger recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from etl_web.preview import (
    PreviewUnavailable,
    basemap_geojson,
    raster_thumbnail,
    vector_geojson,
)

if TYPE_CHECKING:
    from etl_models.ledger_records import AssetRecord

router = APIRouter()
CHUNK = 1024 * 1024
IMMUTABLE = "public, max-age=31536000, immutable"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _record(request: Request, dataset_id: str, version: int) -> AssetRecord:
    record = request.app.state.ledger.get_asset(dataset_id, version)
    if record is None:
        raise HTTPException(404, f"the ledger has no version {version} of dataset {dataset_id!r}")
    return record


def _filename(record: AssetRecord) -> str:
    suffix = record.s3_key.rsplit(".", 1)[-1] if "." in record.s3_key else "bin"
    return _SAFE_NAME.sub("_", f"{record.dataset_id}-v{record.version}.{suffix}")


def _media_type(record: AssetRecord) -> str:
    if record.s3_key.endswith(".tif"):
        return "image/tiff"
    return "application/vnd.apache.parquet"


@router.get("/download/{dataset_id}/v{version}/data")
def download(request: Request, dataset_id: str, version: int) -> Response:
    """The version's data file, streamed, with the ledger's checksum (ETag) and size."""
    store = request.app.state.store
    record = _record(request, dataset_id, version)
    etag = f'"{record.lake_etag}"' if record.lake_etag else None
    if etag and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    response: Any = store.client.get_object(store.lake_bucket, record.s3_key)
    found_etag = (response.headers.get("ETag") or "").strip('"')
    found_size = response.headers.get("Content-Length")
    mismatch = (record.lake_etag and found_etag != record.lake_etag) or (
        record.size_bytes is not None and found_size and int(found_size) != record.size_bytes
    )
    if mismatch:
        response.close()
        response.release_conn()
        raise HTTPException(
            409,
            "the lake object does not match what the ledger recorded for this version; "
            "report it to the platform team",
        )

    def chunks() -> Iterator[bytes]:
        try:
            yield from response.stream(CHUNK)
        finally:
            response.close()
            response.release_conn()

    headers = {
        "Content-Disposition": f'attachment; filename="{_filename(record)}"',
        "Cache-Control": IMMUTABLE,
    }
    if etag:
        headers["ETag"] = etag
    if found_size:
        headers["Content-Length"] = found_size
    return StreamingResponse(chunks(), media_type=_media_type(record), headers=headers)


@router.get("/datasets/{dataset_id}/v{version}/preview.geojson")
async def preview(request: Request, dataset_id: str, version: int) -> Response:
    """Up to ``ETL_WEB_PREVIEW_FEATURES`` features of a vector version, evenly sampled."""
    state = request.app.state
    record = _record(request, dataset_id, version)
    if not record.geometry_types:
        raise HTTPException(404, "this version has no geometries to preview")
    settings = state.settings
    try:
        data = await run_in_threadpool(
            state.previews.get_or_compute,
            ("geojson", dataset_id, version),
            lambda: vector_geojson(
                state.store, record, settings.preview_features, settings.preview_max_bytes
            ),
        )
    except PreviewUnavailable as exc:
        raise HTTPException(422, str(exc)) from None
    return JSONResponse(
        data, media_type="application/geo+json", headers={"Cache-Control": IMMUTABLE}
    )


@router.get("/datasets/{dataset_id}/v{version}/thumbnail.png")
async def thumbnail(request: Request, dataset_id: str, version: int) -> Response:
    """A PNG thumbnail of a raster version in EPSG:4326."""
    state = request.app.state
    record = _record(request, dataset_id, version)
    if not record.s3_key.endswith(".tif"):
        raise HTTPException(404, "this version is not a raster")
    try:
        png = await run_in_threadpool(
            state.previews.get_or_compute,
            ("png", dataset_id, version),
            lambda: raster_thumbnail(state.store, record, state.settings.preview_max_bytes),
        )
    except PreviewUnavailable as exc:
        raise HTTPException(422, str(exc)) from None
    return Response(png, media_type="image/png", headers={"Cache-Control": IMMUTABLE})


@router.get("/basemap.geojson")
async def basemap(request: Request) -> Response:
    """Country outlines (Natural Earth, as pyogrio ships them) for the map's background."""
    data = await run_in_threadpool(
        request.app.state.previews.get_or_compute, ("basemap",), basemap_geojson
    )
    return JSONResponse(
        data, media_type="application/geo+json", headers={"Cache-Control": IMMUTABLE}
    )
