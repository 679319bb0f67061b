"""What ``etl`` does without services: settings, planning, help, manifest validation."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl_cli.app import app
from etl_cli.environment import find_platform_env, load_environment
from etl_cli.errors import UsageProblem, mongo_hosts, redact
from etl_cli.submission import (
    default_batch_id,
    infer_file_type,
    parse_tags,
    plan_submission,
    shapefile_sidecars,
)
from etl_models.json_schema import manifest_json_schema

pytestmark = pytest.mark.unit


@pytest.fixture
def isolated(monkeypatch, tmp_path) -> Path:
    """A working directory without platform settings or service variables."""
    monkeypatch.chdir(tmp_path)
    for name in ("ETL_PLATFORM_ENV", "LANDING_BUCKET", "MINIO_ENDPOINT", "MONGO_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def invoke(*args: str, input: str | None = None):
    from typer.testing import CliRunner

    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def test_platform_env_found_upward_and_never_overrides(isolated, monkeypatch):
    (isolated / ".local").mkdir()
    env_file = isolated / ".local" / "platform.env"
    env_file.write_text(
        "# written by make up\nMINIO_ENDPOINT=10.0.0.1:9000\nLAKE_BUCKET=lake-from-file\n"
        "export MONGO_DATABASE='ledger_from_file'\n"
    )
    nested = isolated / "a" / "b"
    nested.mkdir(parents=True)
    assert find_platform_env(nested, {}) == env_file
    env = load_environment(nested, {"MINIO_ENDPOINT": "127.0.0.1:9999"})
    assert env.env_file == env_file
    settings = env.object_store_settings()
    assert settings.endpoint == "127.0.0.1:9999"  # the environment wins
    assert settings.lake_bucket == "lake-from-file"  # the file fills the gap
    assert env.ledger_settings().database == "ledger_from_file"


def test_platform_env_variable_names_the_file(isolated, monkeypatch):
    other = isolated / "custom.env"
    other.write_text("LANDING_BUCKET=custom-landing\n")
    env = load_environment(isolated, {"ETL_PLATFORM_ENV": str(other)})
    assert env.object_store_settings().landing_bucket == "custom-landing"
    with pytest.raises(UsageProblem, match="ETL_PLATFORM_ENV"):
        load_environment(isolated, {"ETL_PLATFORM_ENV": str(isolated / "missing.env")})


def test_timeout_setting_is_validated(isolated):
    assert load_environment(isolated, {"ETL_CLI_TIMEOUT_S": "2.5"}).timeout_s == 2.5
    with pytest.raises(UsageProblem, match="ETL_CLI_TIMEOUT_S"):
        _ = load_environment(isolated, {"ETL_CLI_TIMEOUT_S": "soon"}).timeout_s


def test_secrets_are_redacted_and_hosts_shown_without_credentials():
    uri = "mongodb://etl:pw-123@db1:27017,db2:27018/spatial_etl?authSource=admin"
    assert mongo_hosts(uri) == "db1:27017,db2:27018"
    assert mongo_hosts("mongodb+srv://u:p@cluster.example/") == "cluster.example"
    text = f"failed with {uri} and key minio-secret"
    cleaned = redact(text, ["minio-secret"])
    assert "pw-123" not in cleaned and "minio-secret" not in cleaned
    assert "mongodb://***@db1:27017" in cleaned


def test_default_batch_id_is_valid_and_readable():
    now = datetime(2026, 11, 22, 9, 30, 5, tzinfo=UTC)
    assert default_batch_id("roads", now, "ab12") == "roads_20261122T093005_ab12"
    assert default_batch_id("my roads (v2)", now, "ab12") == "my_roads_v2_20261122T093005_ab12"
    assert default_batch_id("___", now, "ab12") == "batch_20261122T093005_ab12"


def test_tags_and_file_types():
    assert parse_tags(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(UsageProblem):
        parse_tags(["=v"])
    assert infer_file_type(Path("a.csv"), "ingest_tabular", None) == "tabular"
    assert infer_file_type(Path("a.tif"), "ingest_legacy", None) == "raster"
    assert infer_file_type(Path("a.gpkg"), "ingest_legacy", None) == "vector"
    assert infer_file_type(Path("a.csv"), "ingest_legacy", "vector") == "vector"
    with pytest.raises(UsageProblem, match="--type"):
        infer_file_type(Path("a.csv"), "ingest_legacy", None)


def test_sidecars_any_case_and_plan_lists_only_shp(isolated):
    for name in ("roads.shp", "roads.SHX", "roads.dbf", "roads.prj", "roads.shp.xml", "roadsx.dbf"):
        (isolated / name).write_bytes(b"x" * 3)
    sidecars = shapefile_sidecars(isolated / "roads.shp")
    assert [p.name for p in sidecars] == ["roads.SHX", "roads.dbf", "roads.prj", "roads.shp.xml"]
    plan = plan_submission(
        [isolated / "roads.shp"], intent="ingest_vector", uploader="u", landing_bucket="landing",
        batch_id="b1",
    )  # fmt: skip
    assert [u.key for u in plan.uploads if u.listed] == ["b1/roads.shp"]
    assert plan.total_bytes == 15
    assert plan.manifest["files"] == [
        {"path": "s3://landing/b1/roads.shp", "type": "vector", "format": "ESRI Shapefile"}
    ]


def test_help_documents_exit_codes_and_imports_stay_light():
    result = invoke("--help")
    assert result.exit_code == 0
    for line in ("0  success", "2  bad arguments", "3  unknown", "4  object store or ledger"):
        assert line in result.stdout
    probe = (
        "import sys, etl_cli.app; "
        "print(sorted(m for m in ('dagster', 'etl_storage', 'pymongo', 'minio', 'pydantic') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_manifest_schema_is_the_published_one(isolated):
    result = invoke("manifest", "schema")
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    # The published schema, with the file types this platform's lanes read as the choices.
    file_type = printed["$defs"]["ManifestFile"]["properties"]["type"]
    assert file_type.pop("enum") == ["vector", "raster", "tabular"]
    file_type["examples"] = manifest_json_schema()["$defs"]["ManifestFile"]["properties"]["type"][
        "examples"
    ]
    assert printed == json.loads(json.dumps(manifest_json_schema()))


def _manifest(bucket: str) -> dict:
    return {
        "batch_id": "roads_1",
        "uploader": "jane",
        "intent": "ingest_vector",
        "files": [{"path": f"s3://{bucket}/roads_1/roads.gpkg", "type": "vector"}],
        "metadata": {"tags": {"dataset_id": "roads"}},
    }


def test_manifest_validate_ok_and_field_errors(isolated):
    good = isolated / "good.json"
    good.write_text(json.dumps(_manifest("landing-zone")))
    ok = invoke("manifest", "validate", str(good))
    assert ok.exit_code == 0
    assert "OK" in ok.stdout and "dataset roads" in ok.stdout and "lane spatial" in ok.stdout

    bad_doc = _manifest("other-bucket")
    bad_doc["files"][0]["crs"] = "WGS84"
    bad = isolated / "bad.json"
    bad.write_text(json.dumps(bad_doc))
    result = invoke("manifest", "validate", str(bad), "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert {e["field"] for e in report["errors"]} == {"files[0].path", "files[0].crs"}
    text = invoke("manifest", "validate", str(bad))
    assert text.exit_code == 2 and "files[0].crs" in text.stdout

    dup = invoke("manifest", "validate", "-", input='{"batch_id": "a", "batch_id": "b"}')
    assert dup.exit_code == 2 and "duplicate key" in dup.stdout


def test_manifest_validate_uses_landing_bucket_from_platform_env(isolated, monkeypatch):
    (isolated / ".local").mkdir()
    (isolated / ".local" / "platform.env").write_text("LANDING_BUCKET=file-landing\n")
    doc = isolated / "m.json"
    doc.write_text(json.dumps(_manifest("file-landing")))
    assert invoke("manifest", "validate", str(doc)).exit_code == 0
    monkeypatch.setenv("LANDING_BUCKET", "env-landing")  # an exported variable wins
    result = invoke("manifest", "validate", str(doc))
    assert result.exit_code == 2 and "env-landing" in result.stdout


def test_missing_platform_env_file_is_a_usage_error(isolated, monkeypatch):
    monkeypatch.setenv("ETL_PLATFORM_ENV", str(isolated / "nope.env"))
    result = invoke("manifest", "validate", "-", input="{}")
    assert result.exit_code == 2
    assert "ETL_PLATFORM_ENV" in result.stderr and "Traceback" not in result.output


def test_usage_errors_exit_2():
    assert invoke("submit", "missing.geojson", "--intent", "ingest_vector").exit_code == 2
    assert invoke("join", "roads", "counts").exit_code == 2  # --left-key is required
    assert invoke("status").exit_code == 2
