"""GDAL runner: allow-list, environment, secret scrubbing, timeouts, versions."""

from __future__ import annotations

import pytest

from etl_spatial.gdal import (
    GdalError,
    GdalTimeout,
    GdalToolMissing,
    gdal_s3_env,
    gdal_tool_versions,
    run_gdal,
    s3_uri_to_vsis3,
    safe_environment,
    scrub_secrets,
    vsicurl_path,
)

pytestmark = pytest.mark.unit


def test_tool_versions_reports_the_installed_gdal():
    versions = gdal_tool_versions(("gdalinfo", "ogr2ogr", "ogrinfo", "gdal_translate", "gdalwarp"))
    assert set(versions) == {"gdalinfo", "ogr2ogr", "ogrinfo", "gdal_translate", "gdalwarp"}
    assert all(v.startswith("GDAL ") for v in versions.values())


def test_tools_outside_the_allow_list_are_refused():
    with pytest.raises(ValueError, match="not allowed"):
        run_gdal("bash", ["-c", "echo hi"])


def test_missing_tool_says_how_to_install(monkeypatch):
    with pytest.raises(GdalToolMissing) as info:
        run_gdal("gdalinfo", ["--version"], env={"PATH": "/nonexistent"})
    assert "gdal-bin" in str(info.value) and "image" in str(info.value)
    assert isinstance(info.value, GdalError)


def test_error_carries_gdal_message_without_secrets():
    env = {"AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "PGPASSWORD": "pg-pass-123"}
    with pytest.raises(GdalError) as info:
        run_gdal("ogrinfo", ["-ro", "/nonexistent/pg-pass-123/s3cr3t-value.gpkg"], env=env)
    message = str(info.value)
    assert "ogrinfo failed" in message and "nonexistent" in message
    assert "s3cr3t-value" not in message and "pg-pass-123" not in message
    assert "s3cr3t-value" not in info.value.stderr


def test_scrub_secrets_redacts_signatures_and_password_fragments():
    text = (
        "GET /b/k?X-Amz-Credential=AKIA123%2F20260101&X-Amz-Signature=abcdef0123 failed; "
        "PG:dbname=x password=hunter2 host=h"
    )
    scrubbed = scrub_secrets(text, {"AWS_SECRET_ACCESS_KEY": "zzz-secret"})
    assert "abcdef0123" not in scrubbed and "AKIA123" not in scrubbed and "hunter2" not in scrubbed
    assert "dbname=x" in scrubbed


def test_environment_is_minimal_and_env_wins(monkeypatch):
    monkeypatch.setenv("MINIO_ROOT_PASSWORD", "not-for-gdal")
    env = safe_environment({"AWS_S3_ENDPOINT": "127.0.0.1:9"})
    assert "MINIO_ROOT_PASSWORD" not in env
    assert env["AWS_S3_ENDPOINT"] == "127.0.0.1:9"
    assert "PATH" in env


def test_timeout_kills_the_tool():
    # ogr2ogr reading from a TCP port that accepts connections but never answers.
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with pytest.raises(GdalTimeout, match="did not finish within") as caught:
            run_gdal(
                "ogrinfo",
                ["-ro", f"/vsicurl/http://127.0.0.1:{port}/x.geojson"],
                env={"GDAL_HTTP_TIMEOUT": "60"},
                timeout=1.5,
            )
    # The message names the limits to raise.
    assert "ETL_GDAL_TIMEOUT_SECONDS_PER_MB" in str(caught.value)


def test_timeout_grows_with_the_input_and_is_configurable(monkeypatch):
    from etl_spatial.gdal import DEFAULT_TIMEOUT, timeout_for_size

    monkeypatch.delenv("ETL_GDAL_TIMEOUT_BASE_SECONDS", raising=False)
    monkeypatch.delenv("ETL_GDAL_TIMEOUT_SECONDS_PER_MB", raising=False)
    assert timeout_for_size(None) == DEFAULT_TIMEOUT
    assert timeout_for_size(50 * 10**9) == DEFAULT_TIMEOUT + 2.0 * 50_000
    monkeypatch.setenv("ETL_GDAL_TIMEOUT_BASE_SECONDS", "60")
    monkeypatch.setenv("ETL_GDAL_TIMEOUT_SECONDS_PER_MB", "0.5")
    assert timeout_for_size(10**9) == 60 + 500


def test_s3_paths_and_environment():
    assert s3_uri_to_vsis3("s3://landing-zone/b/roads.gpkg") == "/vsis3/landing-zone/b/roads.gpkg"
    with pytest.raises(ValueError):
        s3_uri_to_vsis3("s3://landing-zone/../x")
    assert vsicurl_path("http://h/x?sig=1") == "/vsicurl/http://h/x?sig=1"
    env = gdal_s3_env(endpoint="127.0.0.1:9000", access_key="key", secret_key="secret")
    assert env["AWS_HTTPS"] == "NO" and env["AWS_VIRTUAL_HOSTING"] == "FALSE"
    secure = gdal_s3_env(endpoint="s3.example:443", access_key="k", secret_key="s", secure=True)
    assert secure["AWS_HTTPS"] == "YES"
    with pytest.raises(ValueError, match="without a scheme"):
        gdal_s3_env(endpoint="http://127.0.0.1:9000", access_key="k", secret_key="s")


def test_s3_access_gets_the_remote_read_options_and_local_work_does_not():
    from etl_spatial.gdal import S3_READ_OPTIONS, safe_environment

    s3 = safe_environment(gdal_s3_env(endpoint="127.0.0.1:9000", access_key="k", secret_key="s"))
    assert s3["CPL_VSIL_CURL_CHUNK_SIZE"] == S3_READ_OPTIONS["CPL_VSIL_CURL_CHUNK_SIZE"]
    assert s3["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    local = safe_environment({"PGPASSWORD": "x"})
    assert "GDAL_DISABLE_READDIR_ON_OPEN" not in local
    overridden = safe_environment({"AWS_S3_ENDPOINT": "h:1", "CPL_VSIL_CURL_CHUNK_SIZE": "1"})
    assert overridden["CPL_VSIL_CURL_CHUNK_SIZE"] == "1"


def test_in_process_config_is_applied_then_restored():
    import pyogrio

    from etl_spatial.gdal import IN_PROCESS_S3_READ_OPTIONS, gdal_config_in_process

    pyogrio.set_gdal_config_options({"CPL_VSIL_CURL_CHUNK_SIZE": "4096"})
    try:
        env = gdal_s3_env(endpoint="127.0.0.1:9", access_key="k", secret_key="s3cr3t")
        with gdal_config_in_process(env):
            assert pyogrio.get_gdal_config_option("AWS_SECRET_ACCESS_KEY") == "s3cr3t"
            assert pyogrio.get_gdal_config_option("AWS_HTTPS") == "NO"
            chunk = pyogrio.get_gdal_config_option("CPL_VSIL_CURL_CHUNK_SIZE")
            assert chunk == int(IN_PROCESS_S3_READ_OPTIONS["CPL_VSIL_CURL_CHUNK_SIZE"])
        assert pyogrio.get_gdal_config_option("AWS_SECRET_ACCESS_KEY") is None
        assert pyogrio.get_gdal_config_option("CPL_VSIL_CURL_CHUNK_SIZE") == 4096
    finally:
        pyogrio.set_gdal_config_options({"CPL_VSIL_CURL_CHUNK_SIZE": None})


def test_in_process_gdal_reads_s3_with_a_bounded_block_cache():
    """The run worker's own GDAL (layer inspection) reads a whole GeoJSON in place: its block
    cache is the worker's memory, so it stays small whatever the file's size, while the tools'
    processes keep the large cache; an explicit setting in ``env`` still wins."""
    import pyogrio

    from etl_spatial.gdal import (
        IN_PROCESS_S3_READ_OPTIONS,
        S3_READ_OPTIONS,
        gdal_config,
        gdal_config_in_process,
    )

    env = gdal_s3_env(endpoint="127.0.0.1:9", access_key="k", secret_key="s")
    cache = "CPL_VSIL_CURL_CACHE_SIZE"
    assert int(IN_PROCESS_S3_READ_OPTIONS[cache]) <= 16 * 1024 * 1024
    assert int(IN_PROCESS_S3_READ_OPTIONS["CPL_VSIL_CURL_CHUNK_SIZE"]) <= 1024 * 1024
    assert safe_environment(env)[cache] == S3_READ_OPTIONS[cache] == str(256 * 1024 * 1024)
    assert gdal_config(env, in_process=True)[cache] == IN_PROCESS_S3_READ_OPTIONS[cache]
    assert gdal_config({**env, cache: "1"}, in_process=True)[cache] == "1"
    assert cache not in gdal_config({"PGPASSWORD": "x"}, in_process=True)
    with gdal_config_in_process(env):
        assert pyogrio.get_gdal_config_option(cache) == int(IN_PROCESS_S3_READ_OPTIONS[cache])
        assert pyogrio.get_gdal_config_option("GDAL_DISABLE_READDIR_ON_OPEN") == "EMPTY_DIR"
    assert pyogrio.get_gdal_config_option(cache) is None
