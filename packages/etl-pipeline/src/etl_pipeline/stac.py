"""STAC Items beside each lake version (CONVENTIONS.md: describe every lake version).

The item carries the dataset's bbox and footprint in EPSG:4326, its CRS through the
projection extension, its columns (with their names in the source files) through the table
extension, the human metadata of the manifest (license, keywords, providers, title,
description), the data asset with its media type, and links back to the previous
version and the parent datasets of a join. Validation runs offline against the STAC core
schemas that pystac ships; extension fields are checked here directly, because fetching
extension schemas at run time would break the platform's offline promise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PROJECTION_EXTENSION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
TABLE_EXTENSION = "https://stac-extensions.github.io/table/v1.2.0/schema.json"
GEOPARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
STAC_MEDIA_TYPE = "application/geo+json"
STAC_FILE_NAME = "item.json"


class StacValidationError(ValueError):
    """A STAC item that does not validate; the message names the failing part."""


@dataclass(frozen=True)
class StacInput:
    """What the item describes: one dataset version in the lake."""

    dataset_id: str
    version: int
    data_uri: str  # s3://data-lake/{dataset_id}/v{version}/data.parquet|tif
    media_type: str
    bbox: Sequence[float] | None  # [minx, miny, maxx, maxy] in EPSG:4326
    crs: str | None  # the CRS of the data, e.g. "EPSG:4326"
    created: datetime
    title: str | None = None
    description: str | None = None
    row_count: int | None = None
    geometry_types: Sequence[str] = ()
    source_crs: str | None = None
    batch_id: str | None = None
    recipe: Mapping[str, Any] = field(default_factory=dict)
    parents: Sequence[tuple[str, int]] = ()  # (dataset_id, version) of join parents
    extra_properties: Mapping[str, Any] = field(default_factory=dict)
    columns: Sequence[Any] = ()  # ColumnInfo of a table (GeoParquet/Parquet), not raster bands
    metadata: Mapping[str, Any] = field(default_factory=dict)  # etl_models.dataset_metadata


def _metadata_properties(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """STAC common metadata from the manifest's human metadata."""
    from etl_models.dataset_metadata import is_spdx_expression

    out: dict[str, Any] = {}
    license_text = metadata.get("license")
    if license_text:
        # STAC takes an SPDX expression or "other"; free text is kept beside it.
        out["license"] = license_text if is_spdx_expression(license_text) else "other"
        if out["license"] == "other":
            out["etl:license"] = license_text
    if metadata.get("keywords"):
        out["keywords"] = list(metadata["keywords"])
    if metadata.get("providers"):
        out["providers"] = [dict(p) for p in metadata["providers"]]
    for name in ("source", "attribution"):
        if metadata.get(name):
            out[f"etl:{name}"] = metadata[name]
    return out


def _table_columns(columns: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for column in columns:
        entry = {"name": column.name, "type": column.type}
        if column.description:
            entry["description"] = column.description
        if column.source_name:
            entry["etl:source_name"] = column.source_name
        out.append(entry)
    return out


def _footprint(bbox: Sequence[float]) -> dict[str, Any]:
    minx, miny, maxx, maxy = bbox
    if minx == maxx and miny == maxy:
        return {"type": "Point", "coordinates": [minx, miny]}
    return {
        "type": "Polygon",
        "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]],
    }


def _version_href(dataset_id: str, version: int, lake_bucket_uri: str) -> str:
    return f"{lake_bucket_uri}/{dataset_id}/v{version}/{STAC_FILE_NAME}"


def build_item(spec: StacInput) -> dict[str, Any]:
    """A STAC 1.1 Item (as a dict) describing one lake version."""
    import pystac

    lake_bucket_uri = spec.data_uri.rsplit("/", 3)[0]  # s3://data-lake
    bbox = [float(v) for v in spec.bbox] if spec.bbox else None
    properties: dict[str, Any] = {
        "title": spec.title or f"{spec.dataset_id} v{spec.version}",
        "version": str(spec.version),
        "etl:dataset_id": spec.dataset_id,
        "etl:version": spec.version,
    }
    if spec.description:
        properties["description"] = spec.description
    if spec.row_count is not None:
        properties["etl:row_count"] = spec.row_count
    if spec.geometry_types:
        properties["etl:geometry_types"] = list(spec.geometry_types)
    if spec.source_crs:
        properties["etl:source_crs"] = spec.source_crs
    if spec.batch_id:
        properties["etl:batch_id"] = spec.batch_id
    if spec.recipe:
        properties["etl:recipe"] = dict(spec.recipe)
    properties.update(_metadata_properties(spec.metadata))
    if spec.columns:
        properties["table:columns"] = _table_columns(spec.columns)
        if spec.row_count is not None:
            properties["table:row_count"] = spec.row_count
    properties.update(spec.extra_properties)
    item = pystac.Item(
        id=f"{spec.dataset_id}-v{spec.version}",
        geometry=_footprint(bbox) if bbox else None,
        bbox=bbox,
        datetime=spec.created.astimezone(UTC),
        properties=properties,
    )
    if spec.columns:
        item.stac_extensions.append(TABLE_EXTENSION)
    if spec.crs:
        item.stac_extensions.append(PROJECTION_EXTENSION)
        item.properties["proj:code"] = spec.crs
    item.add_asset(
        "data",
        pystac.Asset(href=spec.data_uri, media_type=spec.media_type, roles=["data"]),
    )
    item.add_link(
        pystac.Link(
            rel="self",
            target=_version_href(spec.dataset_id, spec.version, lake_bucket_uri),
            media_type=STAC_MEDIA_TYPE,
        )
    )
    if spec.version > 1:
        item.add_link(
            pystac.Link(
                rel="predecessor-version",
                target=_version_href(spec.dataset_id, spec.version - 1, lake_bucket_uri),
                media_type=STAC_MEDIA_TYPE,
            )
        )
    for parent_id, parent_version in spec.parents:
        item.add_link(
            pystac.Link(
                rel="derived_from",
                target=_version_href(parent_id, parent_version, lake_bucket_uri),
                media_type=STAC_MEDIA_TYPE,
                title=f"{parent_id} v{parent_version}",
            )
        )
    data = item.to_dict(include_self_link=True, transform_hrefs=False)
    validate_item(data)
    return data


def validate_item(data: Mapping[str, Any]) -> None:
    """Validate an item against the STAC core schema (offline) and our extension fields."""
    from pystac import STACObjectType
    from pystac.errors import STACValidationError
    from pystac.validation.stac_validator import JsonSchemaSTACValidator

    validator = JsonSchemaSTACValidator()
    try:
        validator.validate_core(
            dict(data), STACObjectType.ITEM, str(data.get("stac_version", "")), href=None
        )
    except STACValidationError as exc:
        raise StacValidationError(f"STAC item {data.get('id')!r} is invalid: {exc}") from exc
    if PROJECTION_EXTENSION in data.get("stac_extensions", []):
        code = data.get("properties", {}).get("proj:code")
        if not (isinstance(code, str) and ":" in code):
            raise StacValidationError(
                f"STAC item {data.get('id')!r}: proj:code must be an authority code like "
                f"'EPSG:4326' (got {code!r})"
            )
    if TABLE_EXTENSION in data.get("stac_extensions", []):
        columns = data.get("properties", {}).get("table:columns")
        if not isinstance(columns, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) for c in columns
        ):
            raise StacValidationError(
                f"STAC item {data.get('id')!r}: table:columns must be a list of objects with a name"
            )
    bbox = data.get("bbox")
    if bbox is not None and (bbox[0] > bbox[2] or bbox[1] > bbox[3]):
        raise StacValidationError(f"STAC item {data.get('id')!r}: bbox {bbox} is inverted")


def item_json(data: Mapping[str, Any]) -> bytes:
    """The item serialised for the lake."""
    return json.dumps(data, indent=2, sort_keys=True).encode("utf-8")
