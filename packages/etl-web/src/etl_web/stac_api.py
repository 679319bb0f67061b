"""STAC API over the ledger: landing page, conformance, collections (one per dataset), items
(one per version) and item search (GET and POST).

Items are built with the platform's own ``etl_pipeline.stac.build_item`` from the ledger
record (the source of truth), then given their collection and HTTP hrefs: the data asset
points at the app's download route, links at this API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from etl_web.catalog import Dataset, Version, load_datasets, parse_bbox

if TYPE_CHECKING:
    from etl_storage import Ledger

STAC_VERSION = "1.1.0"
CATALOG_ID = "etl-catalog"
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
GEOJSON = "application/geo+json"
JSON = "application/json"
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000

router = APIRouter(prefix="/stac", tags=["stac"])


def base_url(request: Request) -> str:
    configured = request.app.state.settings.public_url
    return configured or str(request.base_url).rstrip("/")


def _geojson(data: dict) -> JSONResponse:
    return JSONResponse(data, media_type=GEOJSON)


def _link(rel: str, href: str, media_type: str = JSON, **extra: Any) -> dict[str, Any]:
    return {"rel": rel, "href": href, "type": media_type, **extra}


def download_href(base: str, version: Version) -> str:
    return f"{base}/download/{version.dataset_id}/v{version.number}/data"


def stac_item(base: str, ds: Dataset, version: Version) -> dict[str, Any]:
    """The STAC item of one version, with its collection and working HTTP hrefs."""
    from etl_pipeline.stac import StacInput, build_item

    record = version.record
    data_asset_type = (
        "image/tiff; application=geotiff; profile=cloud-optimized"
        if version.kind == "raster"
        else "application/vnd.apache.parquet"
    )
    extra: dict[str, Any] = {}
    for name in ("license", "attribution", "keywords"):
        value = ds.meta(name)
        if value:
            extra[name if name != "attribution" else "etl:attribution"] = value
    bbox = record.bounds if record.bounds else None
    item = build_item(
        StacInput(
            dataset_id=record.dataset_id,
            version=record.version,
            data_uri=record.uri,
            media_type=data_asset_type,
            bbox=bbox,
            crs=record.crs,
            created=record.created_at,
            title=str(ds.meta("title") or "") or None,
            description=str(ds.meta("description") or "") or None,
            row_count=record.row_count,
            geometry_types=record.geometry_types,
            source_crs=record.source_crs,
            batch_id=record.batch_id,
            recipe=record.recipe.model_dump(mode="json"),
            parents=[(p.dataset_id, p.version) for p in record.parents],
            extra_properties=extra,
        )
    )
    coll = f"{base}/stac/collections/{record.dataset_id}"
    item["collection"] = record.dataset_id
    item["assets"]["data"]["href"] = download_href(base, version)
    item["assets"]["data"]["title"] = f"{record.dataset_id} v{record.version}"
    if record.size_bytes is not None:
        item["assets"]["data"]["file:size"] = record.size_bytes
    if version.kind == "raster":
        item["assets"]["thumbnail"] = {
            "href": f"{base}/datasets/{record.dataset_id}/v{record.version}/thumbnail.png",
            "type": "image/png",
            "roles": ["thumbnail"],
        }
    links = [
        _link("self", f"{coll}/items/{item['id']}", GEOJSON),
        _link("parent", coll),
        _link("collection", coll),
        _link("root", f"{base}/stac"),
        _link("alternate", f"{base}/datasets/{record.dataset_id}", "text/html"),
    ]
    if record.version > 1:
        previous = f"{record.dataset_id}-v{record.version - 1}"
        links.append(_link("predecessor-version", f"{coll}/items/{previous}", GEOJSON))
    for parent in record.parents:
        href = f"{base}/stac/collections/{parent.dataset_id}/items/"
        href += f"{parent.dataset_id}-v{parent.version}"
        links.append(
            _link("derived_from", href, GEOJSON, title=f"{parent.dataset_id} v{parent.version}")
        )
    item["links"] = links
    return item


def stac_collection(base: str, ds: Dataset) -> dict[str, Any]:
    """The STAC collection of one dataset (its versions are the items)."""
    boxes = [v.record.bounds for v in ds.versions if v.record.bounds]
    if boxes:
        bbox = [
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        ]
    else:
        bbox = [-180.0, -90.0, 180.0, 90.0]
    first = ds.versions[0].record.created_at.astimezone(UTC)
    last = ds.latest.record.created_at.astimezone(UTC)
    coll = f"{base}/stac/collections/{ds.dataset_id}"
    license_value = ds.license or "other"
    collection: dict[str, Any] = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": ds.dataset_id,
        "title": ds.title,
        "description": str(ds.meta("description") or f"Versions of dataset {ds.dataset_id}."),
        "license": license_value if " " not in license_value else "other",
        "extent": {
            "spatial": {"bbox": [bbox]},
            "temporal": {"interval": [[_iso(first), _iso(last)]]},
        },
        "links": [
            _link("self", coll),
            _link("root", f"{base}/stac"),
            _link("parent", f"{base}/stac"),
            _link("items", f"{coll}/items", GEOJSON),
            _link("alternate", f"{base}/datasets/{ds.dataset_id}", "text/html"),
        ],
        "summaries": {"etl:format": [ds.format], "etl:versions": [v.number for v in ds.versions]},
    }
    if ds.keywords:
        collection["keywords"] = ds.keywords
    providers = [p for p in ds.providers if p.get("name")]
    if providers:
        collection["providers"] = providers
    if ds.attribution:
        collection["etl:attribution"] = ds.attribution
    return collection


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ledger(request: Request) -> Ledger:
    return request.app.state.ledger


def parse_datetime(text: str | None) -> tuple[datetime | None, datetime | None] | None:
    """An RFC 3339 instant or interval (open ends ``..`` or empty); 400 when malformed."""
    if not text:
        return None

    def one(part: str) -> datetime | None:
        if part in {"", ".."}:
            return None
        value = datetime.fromisoformat(part.replace("Z", "+00:00").replace("z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    try:
        if "/" in text:
            start, end = text.split("/", 1)
            return one(start), one(end)
        instant = one(text)
        return instant, instant
    except ValueError:
        raise HTTPException(400, f"datetime {text!r} is not RFC 3339 (or an interval)") from None


def _in_interval(value: datetime, interval: tuple[datetime | None, datetime | None]) -> bool:
    start, end = interval
    return (start is None or value >= start) and (end is None or value <= end)


def _intersects(a: Any, b: tuple[float, float, float, float]) -> bool:
    return bool(a) and a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return [str(v) for v in value]


def _search(request: Request, params: dict[str, Any], method: str) -> JSONResponse:
    base = base_url(request)
    try:
        bbox_value = params.get("bbox")
        if isinstance(bbox_value, list):
            bbox_value = ",".join(str(v) for v in bbox_value)
        bbox = parse_bbox(bbox_value)
        limit = int(params.get("limit") or DEFAULT_LIMIT)
        offset = int(params.get("token") or 0)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    limit = max(1, min(limit, MAX_LIMIT))
    interval = parse_datetime(params.get("datetime"))
    collections = set(_as_list(params.get("collections")))
    ids = set(_as_list(params.get("ids")))
    datasets = load_datasets(_ledger(request))
    matched: list[tuple[Dataset, Version]] = []
    for ds in sorted(datasets.values(), key=lambda d: d.dataset_id):
        if collections and ds.dataset_id not in collections:
            continue
        for version in reversed(ds.versions):
            record = version.record
            if ids and f"{record.dataset_id}-v{record.version}" not in ids:
                continue
            if bbox and not _intersects(record.bounds, bbox):
                continue
            if interval and not _in_interval(record.created_at, interval):
                continue
            matched.append((ds, version))
    page = matched[offset : offset + limit]
    links = [_link("root", f"{base}/stac")]
    if offset + limit < len(matched):
        token = str(offset + limit)
        if method == "GET":
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            href = f"{request.url.path}?{urlencode([*query, ('token', token)])}"
            href = base + href if href.startswith("/stac") else href
            links.append(_link("next", href, GEOJSON, method="GET"))
        else:
            links.append(
                _link(
                    "next",
                    f"{base}/stac/search",
                    GEOJSON,
                    method="POST",
                    body={**params, "token": token},
                    merge=False,
                )
            )
    return _geojson(
        {
            "type": "FeatureCollection",
            "features": [stac_item(base, ds, v) for ds, v in page],
            "links": links,
            "numberMatched": len(matched),
            "numberReturned": len(page),
        }
    )


@router.get("")
@router.get("/")
def landing(request: Request) -> JSONResponse:
    base = base_url(request)
    datasets = load_datasets(_ledger(request))
    links = [
        _link("self", f"{base}/stac"),
        _link("root", f"{base}/stac"),
        _link("conformance", f"{base}/stac/conformance"),
        _link("data", f"{base}/stac/collections"),
        _link("search", f"{base}/stac/search", GEOJSON, method="GET"),
        _link("search", f"{base}/stac/search", GEOJSON, method="POST"),
        _link("alternate", f"{base}/", "text/html"),
    ]
    links += [
        _link("child", f"{base}/stac/collections/{name}", title=ds.title)
        for name, ds in sorted(datasets.items())
    ]
    return JSONResponse(
        {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": CATALOG_ID,
            "title": "Spatial ETL dataset catalog",
            "description": "Every dataset in the lake is a collection, every version an item.",
            "conformsTo": CONFORMANCE,
            "links": links,
        }
    )


@router.get("/conformance")
def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


@router.get("/collections")
def collections(request: Request) -> dict[str, Any]:
    base = base_url(request)
    datasets = load_datasets(_ledger(request))
    return {
        "collections": [stac_collection(base, ds) for _, ds in sorted(datasets.items())],
        "links": [
            _link("self", f"{base}/stac/collections"),
            _link("root", f"{base}/stac"),
            _link("parent", f"{base}/stac"),
        ],
    }


def _dataset(request: Request, collection_id: str) -> Dataset:
    ds = load_datasets(_ledger(request), collection_id).get(collection_id)
    if ds is None:
        raise HTTPException(404, f"no collection {collection_id!r}")
    return ds


@router.get("/collections/{collection_id}")
def collection(request: Request, collection_id: str) -> dict[str, Any]:
    return stac_collection(base_url(request), _dataset(request, collection_id))


@router.get("/collections/{collection_id}/items")
def items(
    request: Request,
    collection_id: str,
    bbox: str | None = None,
    datetime: str | None = None,
    limit: int = DEFAULT_LIMIT,
    token: str | None = None,
) -> JSONResponse:
    _dataset(request, collection_id)
    params = {
        "collections": [collection_id],
        "bbox": bbox,
        "datetime": datetime,
        "limit": limit,
        "token": token,
    }
    return _search(request, params, "GET")


@router.get("/collections/{collection_id}/items/{item_id}")
def item(request: Request, collection_id: str, item_id: str) -> JSONResponse:
    ds = _dataset(request, collection_id)
    prefix = f"{collection_id}-v"
    number = item_id[len(prefix) :] if item_id.startswith(prefix) else ""
    version = ds.version(int(number)) if number.isdigit() else None
    if version is None:
        raise HTTPException(404, f"no item {item_id!r} in collection {collection_id!r}")
    return _geojson(stac_item(base_url(request), ds, version))


@router.get("/search")
def search_get(request: Request) -> JSONResponse:
    params: dict[str, Any] = dict(request.query_params)
    return _search(request, params, "GET")


@router.post("/search")
async def search_post(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the search body must be JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the search body must be a JSON object")
    return _search(request, body, "POST")
