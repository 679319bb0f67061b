"""The catalog over HTTP: search, dataset pages, downloads, previews, and its security rules."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def http(catalog):
    with httpx.Client(base_url=catalog.url, timeout=30) as client:
        yield client


def _names(html: str) -> list[str]:
    return re.findall(r'class="dataset-link" href="/datasets/([^"]+)"', html)


def test_search_filters_and_sorts_by_last_update(http):
    everything = _names(http.get("/").text)
    assert everything == [
        "many-points", "elevation", "countries-stats", "country-stats", "countries",
    ]  # fmt: skip
    assert _names(http.get("/", params={"q": "world"}).text) == ["countries"]  # by title
    assert _names(http.get("/", params={"keyword": "boundaries"}).text) == ["countries"]
    assert _names(http.get("/", params={"tag": "dataset_id=elevation"}).text) == ["elevation"]
    assert _names(http.get("/", params={"uploader": "grace"}).text) == ["country-stats"]
    assert _names(http.get("/", params={"format": "cog"}).text) == ["elevation"]
    assert _names(http.get("/", params={"bbox": "99,-20,120,0"}).text) == ["elevation"]
    bad = http.get("/", params={"bbox": "1,2,3"})
    assert bad.status_code == 200 and "bbox must be four numbers" in bad.text


def test_dataset_page_shows_versions_schema_quality_lineage_and_licence(http):
    html = http.get("/datasets/countries").text
    assert "World countries" in html and "ODbL-1.0" in html and "Natural Earth" in html
    assert "rows 3 → 4 (+1)" in html and "columns added: pop_est" in html
    assert "ISO_A3" in html  # the source column name
    assert 'href="/datasets/countries-stats?v=1"' in html  # a child through lineage edges
    joined = http.get("/datasets/countries-stats").text
    assert "match rate" in joined and 'data-dataset="country-stats"' in joined
    assert http.get("/datasets/nope").status_code == 404


def test_download_streams_the_ledger_version_with_its_checksum(http, catalog):
    record = catalog.ledger.get_asset("countries", 2)
    response = http.get("/download/countries/v2/data")
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{record.lake_etag}"'
    assert int(response.headers["content-length"]) == record.size_bytes
    assert "countries-v2.parquet" in response.headers["content-disposition"]
    lake = catalog.store.client.get_object(catalog.store.lake_bucket, record.s3_key)
    try:
        expected = hashlib.sha256(lake.read()).hexdigest()
    finally:
        lake.close()
        lake.release_conn()
    assert hashlib.sha256(response.content).hexdigest() == expected
    cached = http.get(
        "/download/countries/v2/data", headers={"If-None-Match": f'"{record.lake_etag}"'}
    )
    assert cached.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/download/countries/v9/data",
        "/download/..%2F..%2Fetc/v1/data",
        "/download/countries/v1/../../etc/passwd",
        "/static/../settings.py",
        "/static/%2e%2e/settings.py",
    ],
)
def test_only_lake_objects_the_ledger_knows_can_be_read(http, path):
    response = http.get(path)
    assert response.status_code in {400, 404}
    assert b"ETL_WEB" not in response.content


def test_previews_sample_features_and_draw_rasters(http):
    points = http.get("/datasets/many-points/v1/preview.geojson").json()
    assert len(points["features"]) == 500 and points["etl:total_features"] == 5000
    assert points["etl:sampled"] is True
    countries = http.get("/datasets/countries/v2/preview.geojson").json()
    assert len(countries["features"]) == 4
    assert countries["features"][0]["geometry"]["type"] == "Polygon"
    png = http.get("/datasets/elevation/v1/thumbnail.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert http.get("/datasets/country-stats/v1/preview.geojson").status_code == 404
    basemap = http.get("/basemap.geojson").json()
    assert len(basemap["features"]) > 100  # Natural Earth countries, offline


def test_batches_explain_status_and_link_runs(http, catalog):
    catalog.ledger.start_run(dagster_run_id="run-0001-abcdef", batch_id="countries-b1")
    listing = http.get("/batches", params={"status": "rejected"}).text
    assert "broken-b1" in listing and "countries-b1" not in listing
    rejected = http.get("/batches/broken-b1").text
    assert "is not a known CRS" in rejected and "refused before any run" in rejected
    done = http.get("/batches/countries-b1").text
    assert 'href="http://127.0.0.1:3000/runs/run-0001-abcdef"' in done
    assert http.get("/batches/never-submitted").status_code == 404


def test_pages_carry_security_headers(http, catalog):
    with httpx.Client(base_url=catalog.url, timeout=30) as fresh:
        response = fresh.get("/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "http://" not in re.sub(r'href="http://127\.0\.0\.1:3000[^"]*"', "", response.text)


def test_writes_need_the_token_and_a_csrf_token(http, catalog):
    anonymous = http.post("/submit", data={"intent": "ingest_vector"})
    assert anonymous.status_code == 403
    assert http.get("/submit", follow_redirects=False).status_code == 303  # to sign in
    # Signed in, but the form's CSRF token is missing or forged.
    with httpx.Client(base_url=catalog.url, timeout=30) as client:
        page = client.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        wrong = client.post("/login", data={"token": "nope", "csrf_token": csrf})
        assert wrong.status_code == 403
        assert client.post("/login", data={"token": catalog.token}).status_code == 403
        ok = client.post("/login", data={"token": catalog.token, "csrf_token": csrf})
        assert ok.status_code == 303
        forged = client.post("/submit", data={"csrf_token": "forged", "intent": "x"})
        assert forged.status_code == 403
    # A tool with the bearer token still needs the CSRF pair of a form.
    tool = http.post(
        "/submit", data={"intent": "x"}, headers={"Authorization": f"Bearer {catalog.token}"}
    )
    assert tool.status_code == 403


def test_uploads_above_the_limit_are_refused(http):
    big = b"x" * (3 * 1024 * 1024)
    response = http.post("/submit", files={"files": ("big.geojson", big)})
    assert response.status_code == 413
