"""Unreachable or misconfigured services: exit 4 (or 2), a readable message, no secrets."""

from __future__ import annotations

import pytest

from etl_devstack.services import free_port

pytestmark = pytest.mark.integration

MONGO_PASSWORD = "mongo-pa55word-xyz"
MINIO_PASSWORD = "minio-s3cret-xyz"


def assert_clean(result) -> None:
    assert "Traceback" not in result.output
    assert MONGO_PASSWORD not in result.output
    assert MINIO_PASSWORD not in result.output


def test_ledger_unreachable_exits_4_without_password(run_cli, cli_env, monkeypatch):
    port = free_port()
    monkeypatch.setenv(
        "MONGO_CONNECTION_STRING",
        f"mongodb://etl:{MONGO_PASSWORD}@127.0.0.1:{port}/?authSource=admin",
    )
    monkeypatch.setenv("ETL_CLI_TIMEOUT_S", "0.5")
    for args in (("status", "b1"), ("datasets",), ("versions", "roads"), ("lineage", "roads")):
        result = run_cli(*args)
        assert result.exit_code == 4, (args, result.output)
        assert f"cannot reach the ledger at 127.0.0.1:{port} (MONGO_CONNECTION_STRING)" in (
            result.stderr
        )
        assert_clean(result)


def test_object_store_unreachable_exits_4(run_cli, cli_env, ledger, geojson_file, monkeypatch):
    port = free_port()
    monkeypatch.setenv("MINIO_ENDPOINT", f"127.0.0.1:{port}")
    monkeypatch.setenv("MINIO_ROOT_PASSWORD", MINIO_PASSWORD)
    monkeypatch.setenv("ETL_CLI_TIMEOUT_S", "0.5")
    result = run_cli("submit", str(geojson_file), "-i", "ingest_vector", "--batch-id", "u1")
    assert result.exit_code == 4, result.output
    assert f"cannot reach the object store at 127.0.0.1:{port} (MINIO_ENDPOINT)" in result.stderr
    assert "connection refused" in result.stderr
    assert_clean(result)


def test_invalid_endpoint_setting_is_a_usage_error(run_cli, cli_env, monkeypatch):
    monkeypatch.setenv("MINIO_ENDPOINT", "http://127.0.0.1:9000")
    monkeypatch.setenv("MINIO_ROOT_PASSWORD", MINIO_PASSWORD)
    result = run_cli("status", "b1")
    assert result.exit_code == 2
    assert "MINIO_ENDPOINT must be host:port without a scheme" in result.stderr
    assert_clean(result)
