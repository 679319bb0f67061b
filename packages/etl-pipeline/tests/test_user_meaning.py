"""Names, metadata and warnings as the user knows them: column resolution, human metadata in
STAC, recipe fingerprints that do not move, and intake warnings for intent typos."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from etl_models.ledger_records import ColumnInfo
from etl_models.manifest import ManifestValidationError, parse_manifest
from etl_pipeline.lanes.columns import resolve_column
from etl_pipeline.stac import StacInput, build_item

COLUMNS = [
    ColumnInfo(name="state_fips", type="string", source_name="STATE_FIPS"),
    ColumnInfo(name="col_1929", type="int64", source_name="1929"),
    ColumnInfo(name="name", type="string", source_name="Name"),
    ColumnInfo(name="name_2", type="string", source_name="NAME"),
]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("given", "lake"),
    [("STATE_FIPS", "state_fips"), ("state_fips", "state_fips"), ("State_Fips", "state_fips"),
     ("1929", "col_1929"), ("NAME", "name_2"), ("Name", "name")],
)  # fmt: skip
def test_key_resolves_by_source_or_lake_name(given: str, lake: str) -> None:
    assert resolve_column(given, COLUMNS).column == lake


@pytest.mark.unit
def test_unknown_and_ambiguous_keys_say_so() -> None:
    missing = resolve_column("fips", COLUMNS)
    assert missing.column is None and "STATE_FIPS (state_fips)" in missing.problem
    ambiguous = resolve_column("nAmE", COLUMNS)
    assert ambiguous.column is None and "ambiguous" in ambiguous.problem


@pytest.mark.unit
def test_human_metadata_is_validated_and_written_to_stac() -> None:
    doc = {
        "batch_id": "b1", "uploader": "u", "intent": "ingest_vector",
        "files": [{"path": "s3://landing-zone/b1/a.geojson", "type": "vector"}],
        "metadata": {"title": "States", "license": "Public domain, see source",
                     "keywords": ["census", "states"], "source": "US Census Bureau",
                     "providers": [{"name": "US Census Bureau", "roles": ["producer"],
                                    "url": "https://www.census.gov"}]},
    }  # fmt: skip
    manifest = parse_manifest(doc)
    from etl_models.dataset_metadata import dataset_metadata

    meta = dataset_metadata(manifest.metadata.title, None, manifest.metadata)
    item = build_item(
        StacInput(
            dataset_id="states", version=1, data_uri="s3://data-lake/states/v1/data.parquet",
            media_type="application/vnd.apache.parquet", bbox=[0, 0, 1, 1], crs="EPSG:4326",
            created=datetime.now(UTC), title="States", columns=COLUMNS[:1], metadata=meta,
        )
    )  # fmt: skip
    props = item["properties"]
    assert props["license"] == "other" and props["etl:license"] == "Public domain, see source"
    assert props["keywords"] == ["census", "states"] and props["title"] == "States"
    assert props["providers"][0]["roles"] == ["producer"]
    assert props["table:columns"] == [
        {"name": "state_fips", "type": "string", "etl:source_name": "STATE_FIPS"}
    ]
    assert any("table" in e for e in item["stac_extensions"])
    json.dumps(item)

    bad = json.loads(json.dumps(doc))
    bad["metadata"]["providers"] = [{"name": "x", "roles": ["owner"], "url": "ftp://x"}]
    with pytest.raises(ManifestValidationError) as exc:
        parse_manifest(bad)
    fields = {e.field for e in exc.value.errors}
    assert any("roles" in f for f in fields) and any("url" in f for f in fields)


@pytest.mark.unit
def test_added_params_do_not_move_existing_fingerprints() -> None:
    from etl_pipeline.lanes.registry import lane_for_intent

    recipe = lane_for_intent("ingest_tabular").recipes["ingest_tabular"]
    assert "keep_source_names" not in recipe.fingerprint()["params"]
    kept = recipe.with_overrides({"keep_source_names": "true"})
    assert kept.params.keep_source_names is True
    assert kept.fingerprint()["params"]["keep_source_names"] is True


@pytest.mark.unit
def test_keep_source_names_keeps_valid_headers() -> None:
    from etl_transforms.headers import normalize_headers

    mapping = normalize_headers(["STATE_FIPS", "1929", " padded", "x" * 70], keep_source_names=True)
    assert mapping.normalised[:2] == ("STATE_FIPS", "1929")
    assert mapping.normalised[2] == "padded" and len(mapping.normalised[3]) == 63


def test_intent_typo_is_a_ledger_warning_at_intake(services) -> None:
    from etl_models.cursor import ManifestCursor
    from etl_pipeline.intake import evaluate_intake

    store = services.store
    store.client.put_object(store.landing_bucket, "typo_1/a.geojson", _body(b"{}"), 2)
    doc = {
        "batch_id": "typo_1", "uploader": "u", "intent": "ingest_vectr",
        "files": [{"path": f"s3://{store.landing_bucket}/typo_1/a.geojson", "type": "vector"}],
    }  # fmt: skip
    raw = json.dumps(doc).encode()
    store.client.put_object(store.landing_bucket, "manifests/typo_1.json", _body(raw), len(raw))
    result = evaluate_intake(
        store=store, ledger=services.ledger, cursor=ManifestCursor(),
        owned_lanes={"ingest"}, operator="manifest_sensor",
    )  # fmt: skip
    assert [q.manifest.batch_id for q in result.queued] == ["typo_1"]
    [warning] = services.ledger.get_manifest("typo_1").warnings
    assert "did you mean 'ingest_vector'" in warning and "generic_vector" in warning


def _body(data: bytes):
    import io

    return io.BytesIO(data)
