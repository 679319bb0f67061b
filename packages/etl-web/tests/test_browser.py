"""The catalog in a real browser (Debian's chromium, headless, driven by Playwright).

Every wait is on a condition (an element, the map's drawn state, a download), bounded by the
context's 30 s default timeout.
"""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.integration

MAP_DRAWN = 60_000  # software WebGL on a loaded 2-core machine can be slow to first draw


def _sha256_of_lake(catalog, key: str) -> str:
    obj = catalog.store.client.get_object(catalog.store.lake_bucket, key)
    try:
        return hashlib.sha256(obj.read()).hexdigest()
    finally:
        obj.close()
        obj.release_conn()


def _sign_in(page, catalog, next_path: str) -> None:
    page.goto(f"{catalog.url}/login?next={next_path}")
    page.fill("input[name=token]", catalog.token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(re.escape(next_path) + "$"))


def test_search_open_map_lineage_and_download(page, catalog):
    page.goto(catalog.url + "/")
    page.fill("input[name=q]", "countries")
    page.click("button:has-text('Search')")
    expect(page.locator("#datasets a.dataset-link")).to_have_count(2)
    page.click("#datasets a.dataset-link[href='/datasets/countries-stats']")
    expect(page.locator("#dataset-title")).to_have_text("countries-stats")

    # The map draws the sampled features of the latest version.
    expect(page.locator("#map")).to_have_attribute("data-state", "drawn", timeout=MAP_DRAWN)
    rendered = page.evaluate(
        "() => window.etlMap.queryRenderedFeatures({layers: ['data-fill']}).length"
    )
    assert rendered > 0
    expect(page.locator("#map-status")).to_contain_text("all 4 features")

    # Follow the lineage graph to a parent.
    page.click("#lineage a[data-dataset='countries']")
    expect(page.locator("#dataset-title")).to_have_text("World countries")
    expect(page.locator("#license")).to_have_text("ODbL-1.0")
    expect(page.locator("#children")).to_contain_text("countries-stats v1")

    # Download a version and compare checksums with the lake object.
    with page.expect_download() as info:
        page.click("#versions a.download[href='/download/countries/v1/data']")
    download = info.value
    assert download.suggested_filename == "countries-v1.parquet"
    body = open(download.path(), "rb").read()  # noqa: SIM115 - the browser owns the file
    record = catalog.ledger.get_asset("countries", 1)
    assert hashlib.sha256(body).hexdigest() == _sha256_of_lake(catalog, record.s3_key)
    assert len(body) == record.size_bytes


def test_raster_preview_and_sampled_points(page, catalog):
    page.goto(f"{catalog.url}/datasets/elevation")
    expect(page.locator("#map")).to_have_attribute("data-state", "drawn", timeout=MAP_DRAWN)
    expect(page.locator("#map-status")).to_contain_text("thumbnail")
    page.goto(f"{catalog.url}/datasets/many-points")
    expect(page.locator("#map")).to_have_attribute("data-state", "drawn", timeout=MAP_DRAWN)
    expect(page.locator("#map-status")).to_contain_text("500 of 5,000 features")


def test_submit_a_geojson_through_the_form(page, catalog, tmp_path):
    from etl_models.manifest import parse_manifest_bytes

    geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "a"},
                "geometry": {"type": "Point", "coordinates": [10.0, 20.0]},
            }
        ],
    }
    path = tmp_path / "wells.geojson"
    path.write_text(json.dumps(geojson))
    _sign_in(page, catalog, "/submit")
    page.set_input_files("input[name=files]", str(path))
    page.select_option("select[name=intent]", "ingest_vector")
    page.fill("input[name=uploader]", "web tester")
    page.fill("input[name=batch_id]", "wells-web-1")
    page.fill("input[name='metadata.title']", "Wells")
    page.fill("textarea[name='metadata.tags']", "project=alpha")
    page.click("button:has-text('Submit')")
    expect(page.locator("#submitted")).to_be_visible()
    expect(page.locator("#batch-status")).to_contain_text("landing zone")

    store = catalog.store
    raw = store.client.get_object(store.landing_bucket, "wells-web-1/wells.geojson")
    try:
        assert json.loads(raw.read()) == geojson
    finally:
        raw.close()
        raw.release_conn()
    manifest_obj = store.client.get_object(store.landing_bucket, "manifests/wells-web-1.json")
    try:
        manifest = parse_manifest_bytes(manifest_obj.read(), landing_bucket=store.landing_bucket)
    finally:
        manifest_obj.close()
        manifest_obj.release_conn()
    assert manifest.uploader == "web tester" and manifest.metadata.title == "Wells"
    assert manifest.files[0].path == f"s3://{store.landing_bucket}/wells-web-1/wells.geojson"
    assert manifest.metadata.tags == {"project": "alpha"}

    # The same batch id again is refused on the form, with the reason; nothing is uploaded.
    page.goto(f"{catalog.url}/submit")
    page.set_input_files("input[name=files]", str(path))
    page.fill("input[name=uploader]", "web tester")
    page.fill("input[name=batch_id]", "wells-web-1")
    page.click("button:has-text('Submit')")
    expect(page.locator("#problems")).to_contain_text("already taken")


def test_resubmit_a_rejected_batch_with_an_edit(page, catalog):
    store = catalog.store
    body = b'{"type": "FeatureCollection", "features": []}'
    store.client.put_object(
        store.landing_bucket, "broken-b1/in.geojson", io.BytesIO(body), len(body)
    )
    _sign_in(page, catalog, "/batches/broken-b1")
    expect(page.locator("[role=alert]")).to_contain_text("is not a known CRS")
    page.click("a:has-text('Fix and resubmit')")
    expect(page.locator("input[name='file.crs']")).to_have_value("EPSG:99999")
    page.fill("input[name='file.crs']", "EPSG:4326")
    page.click("button:has-text('Resubmit')")
    expect(page.locator("#submitted")).to_be_visible()
    obj = store.client.get_object(store.landing_bucket, "manifests/broken-b1.json")
    try:
        manifest = json.loads(obj.read())
    finally:
        obj.close()
        obj.release_conn()
    assert manifest["files"][0]["crs"] == "EPSG:4326"
    assert manifest["files"][0]["path"] == f"s3://{store.landing_bucket}/broken-b1/in.geojson"
