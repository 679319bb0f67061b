"""A person submits a GeoJSON through the deployed platform's catalog (etl-web) in a real browser
(Debian's chromium, headless, driven by Playwright), then finds the published dataset there.

The catalog is the deployment's own ``web`` component (started by the same code as ``make up``),
writable with the token the ``deployed_platform`` fixture configures. Every wait is on a
condition (the ledger's status, an element, the map's drawn state), bounded.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

# As in conftest.py: two CPU cores run the platform, its runs and the tests themselves.
BATCH_TIMEOUT = 420.0

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE_TIMEOUT = 60_000  # ms: page loads and form posts on a loaded 2-core machine
MAP_DRAWN = 120_000  # ms: software WebGL beside a running platform can be slow to first draw


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run `bash scripts/bootstrap.sh` as root")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PAGE_TIMEOUT)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT)
    try:
        yield context.new_page()
    finally:
        context.close()


def _points_geojson(path: Path) -> dict:
    coords = [(10.0, 20.0), (10.5, 20.25), (11.0, 20.5)]
    geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": f"well {i}", "depth_m": 10 * (i + 1)},
                "geometry": {"type": "Point", "coordinates": list(xy)},
            }
            for i, xy in enumerate(coords)
        ],
    }
    path.write_text(json.dumps(geojson))
    return geojson


def test_submit_geojson_in_the_catalog_and_find_it_published(
    deployed_platform, checks, page, tmp_path
):
    from playwright.sync_api import expect

    platform = deployed_platform
    token = uuid.uuid4().hex[:8]
    batch_id, dataset_id = f"web-e2e-{token}", f"web-wells-{token}"
    upload = tmp_path / "wells.geojson"
    _points_geojson(upload)
    base = platform.web_url

    # Submitting needs a session: sign in with the catalog's token first.
    page.goto(f"{base}/login?next=/submit")
    page.fill("input[name=token]", platform.web_token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/submit$"))

    page.set_input_files("input[name=files]", str(upload))
    page.select_option("select[name=intent]", "ingest_vector")
    page.fill("input[name=uploader]", "web e2e")
    page.fill("input[name=batch_id]", batch_id)
    page.fill("input[name=dataset_id]", dataset_id)
    page.fill("input[name='metadata.title']", "Wells from the web")
    page.click("button:has-text('Submit')")
    page.wait_for_url(re.compile(rf"/batches/{re.escape(batch_id)}\?submitted=1$"))
    expect(page.locator("#submitted")).to_be_visible()

    # The platform takes the manifest in and runs the spatial lane; the ledger says when done.
    def finished():
        record = platform.ledger.get_manifest(batch_id)
        if record is not None and record.status.value == "rejected":
            pytest.fail(f"batch {batch_id} was rejected: {record.error}")
        return record is not None and record.status.value == "success"

    def state() -> str:
        record = platform.ledger.get_manifest(batch_id)
        return "no ledger record" if record is None else f"{record.status.value} {record.error}"

    platform.wait_until(
        finished, BATCH_TIMEOUT, interval=2.0, describe=lambda: f"batch {batch_id}: {state()}"
    )
    ev = checks.assert_succeeded(batch_id, lane="spatial", job="spatial_asset_job")
    assert (ev.asset.dataset_id, ev.asset.version, ev.asset.row_count) == (dataset_id, 1, 3)

    # The batch page shows the outcome in plain words and links to the dataset.
    page.goto(f"{base}/batches/{batch_id}")
    expect(page.locator("#batch-status .status")).to_have_text("success")
    page.click(f"a[href='/datasets/{dataset_id}']")
    page.wait_for_url(re.compile(rf"/datasets/{re.escape(dataset_id)}$"))

    # The dataset page lists the version and its map draws the submitted points.
    expect(page.locator("#dataset-title")).to_have_text("Wells from the web")
    version_row = page.locator("#versions tbody tr")
    expect(version_row).to_have_count(1)
    expect(version_row.locator(f"a[href='/datasets/{dataset_id}?v=1']")).to_have_text("v1")
    expect(
        version_row.locator(f"a.download[href='/download/{dataset_id}/v1/data']")
    ).to_be_visible()
    expect(page.locator("#map")).to_have_attribute("data-state", "drawn", timeout=MAP_DRAWN)
    expect(page.locator("#map-status")).to_contain_text("all 3 features")
    rendered = page.evaluate(
        "() => window.etlMap.queryRenderedFeatures({layers: ['data-point']}).length"
    )
    assert rendered > 0
