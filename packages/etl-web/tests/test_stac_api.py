"""The STAC API through a real client (pystac-client), every item validated offline."""

from __future__ import annotations

import hashlib

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(catalog):
    from pystac_client import Client

    return Client.open(f"{catalog.url}/stac")


def test_landing_page_conformance_and_collections(client):
    assert client.conforms_to("ITEM_SEARCH") and client.conforms_to("COLLECTIONS")
    ids = sorted(c.id for c in client.get_collections())
    assert ids == ["countries", "countries-stats", "country-stats", "elevation", "many-points"]
    countries = client.get_collection("countries")
    assert countries.title == "World countries" and countries.license == "ODbL-1.0"
    assert countries.extent.spatial.bboxes[0] == [0.0, 0.0, 38.0, 8.0]


def test_search_by_bbox_and_datetime_finds_a_version(client):
    found = client.search(bbox=[5, 1, 6, 2], datetime="2026-01-06T00:00:00Z/2026-01-06T23:59:59Z")
    items = list(found.items())
    assert [i.id for i in items] == ["countries-v2"]
    assert items[0].collection_id == "countries"
    by_id = client.search(ids=["elevation-v1"], collections=["elevation"], method="GET")
    assert [i.id for i in by_id.items()] == ["elevation-v1"]
    joined = client.search(collections=["countries-stats"], method="POST")
    assert [i.id for i in joined.items()] == ["countries-stats-v1"]


def test_search_pages_with_next_links(client):
    pages = list(client.search(limit=2, method="GET").pages())
    assert len(pages) == 3  # 6 versions, two per page
    assert sum(len(p.items) for p in pages) == 6
    post_pages = list(client.search(limit=4, method="POST").pages())
    assert [len(p.items) for p in post_pages] == [4, 2]


def test_every_item_validates_and_its_data_href_downloads(client, catalog):
    from pystac import STACObjectType
    from pystac.validation.stac_validator import JsonSchemaSTACValidator

    from etl_pipeline.stac import validate_item

    validator = JsonSchemaSTACValidator()
    count = 0
    for collection in client.get_collections():
        validator.validate_core(collection.to_dict(), STACObjectType.COLLECTION, "1.1.0", href=None)
        for item in collection.get_items():
            data = item.to_dict(transform_hrefs=False)
            validate_item(data)  # the STAC core schema pystac ships (offline)
            assert data["collection"] == collection.id
            assert data["assets"]["data"]["href"].startswith(catalog.url + "/download/")
            count += 1
    assert count == 6
    item = client.get_collection("countries").get_item("countries-v1")
    body = httpx.get(item.assets["data"].href, timeout=30).content
    record = catalog.ledger.get_asset("countries", 1)
    lake = catalog.store.client.get_object(catalog.store.lake_bucket, record.s3_key)
    try:
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(lake.read()).hexdigest()
    finally:
        lake.close()
        lake.release_conn()


def test_lineage_and_versions_are_links(client, catalog):
    joined = client.get_collection("countries-stats").get_item("countries-stats-v1")
    derived = sorted(link.href for link in joined.links if link.rel == "derived_from")
    assert derived == [
        f"{catalog.url}/stac/collections/countries/items/countries-v2",
        f"{catalog.url}/stac/collections/country-stats/items/country-stats-v1",
    ]
    v2 = client.get_collection("countries").get_item("countries-v2")
    previous = next(link for link in v2.links if link.rel == "predecessor-version")
    assert previous.href.endswith("/items/countries-v1")


def test_bad_requests_say_why(catalog):
    base = f"{catalog.url}/stac"
    assert httpx.get(f"{base}/search", params={"bbox": "1,2"}).status_code == 400
    assert httpx.get(f"{base}/search", params={"datetime": "yesterday"}).status_code == 400
    assert httpx.get(f"{base}/collections/nope").status_code == 404
    assert httpx.get(f"{base}/collections/countries/items/countries-v9").status_code == 404
    assert httpx.post(f"{base}/search", content=b"[1]").status_code == 400
