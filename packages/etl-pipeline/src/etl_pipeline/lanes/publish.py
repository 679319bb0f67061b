"""Dedupe and publish: the two steps of the template every lane shares.

Publishing follows one order: version, write-once upload, STAC item beside the data, then the
ledger record and lineage. No ledger record means the data does not exist, so a run that dies
half-way leaves nothing a reader can see. The ledger enforces one asset per (dataset,
content hash): when a concurrent identical batch registered first, this run removes what it
uploaded and links to the winner, exactly as if it had matched before starting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from etl_models.identity import lake_prefix
from etl_models.ledger_records import AssetRecord, ColumnInfo, asset_content_hash
from etl_models.ledger_records import Recipe as RecipeRecord
from etl_pipeline.lanes.contract import TARGET_CRS, LaneError, LaneResult, QualityFacts, SchemaDrift
from etl_pipeline.stac import STAC_FILE_NAME, StacInput, build_item, item_json

if TYPE_CHECKING:
    from etl_models.manifest import Manifest
    from etl_pipeline.lanes.batch import BatchRun
    from etl_pipeline.lanes.contract import LaneOutput, OutputFormat
    from etl_pipeline.lanes.declaration import Provenance
    from etl_storage.ledger import Ledger
    from etl_transforms.registry import Recipe


def recipe_record(recipe: Recipe, extra_params: dict | None = None) -> RecipeRecord:
    """The ledger's record of a recipe (its fingerprint plus any lane-specific params)."""
    fingerprint = recipe.fingerprint()
    params = {"kind": fingerprint["kind"], **fingerprint["params"], **(extra_params or {})}
    return RecipeRecord(
        name=fingerprint["name"], version=str(fingerprint["version"]), params=params
    )


def content_hash(manifest: Manifest, record: RecipeRecord, provenance: Provenance) -> str:
    return asset_content_hash(
        dataset_id=manifest.dataset_id,
        recipe=record,
        inputs=provenance.inputs,
        parents=provenance.parents,
    )


def deduplicated(run: BatchRun, existing: AssetRecord) -> LaneResult:
    """Record that this run produced nothing new: it matched ``existing``."""
    ledger = run.services.ledger
    run.log(
        f"identical inputs and recipe as {existing.dataset_id} v{existing.version}: "
        "no new version (deduplicated)"
    )
    ledger.link_run_asset(run.dagster_run_id, existing.id, deduplicated=True)
    ledger.log_activity(
        actor=run.tags.get("uploader", "platform"),
        action="asset_deduplicated",
        subject=run.batch_id,
        details={"dataset_id": existing.dataset_id, "version": existing.version},
        key=f"dedup:{run.dagster_run_id}",
    )
    stats = existing.stats
    quality = (
        QualityFacts(**stats["quality"])
        if "quality" in stats
        else QualityFacts(crs=existing.crs, output_rows=existing.row_count or 0, source_rows=None)
    )
    return LaneResult(existing, True, quality, SchemaDrift(None), stats.get("report", {}))


def matching_version(run: BatchRun, hash_: str, dataset_id: str) -> LaneResult | None:
    existing = run.services.ledger.asset_exists(hash_, dataset_id=dataset_id)
    return None if existing is None else deduplicated(run, existing)


def schema_drift(ledger: Ledger, dataset_id: str, columns: Sequence[ColumnInfo]) -> SchemaDrift:
    """Columns added, removed or retyped against the latest registered version."""
    previous = ledger.latest_asset(dataset_id)
    if previous is None:
        return SchemaDrift(None)
    before = {c.name: c.type for c in previous.column_schema}
    after = {c.name: c.type for c in columns}
    return SchemaDrift(
        previous.version,
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        retyped=sorted(n for n in set(before) & set(after) if before[n] != after[n]),
    )


def drift_warnings(drift: SchemaDrift) -> list[str]:
    """Schema drift against the previous version, as sentences for the user."""
    if not drift.drifted:
        return []
    parts = [
        f"{label} {', '.join(columns)}"
        for label, columns in (
            ("added", drift.added),
            ("removed", drift.removed),
            ("changed type of", drift.retyped),
        )
        if columns
    ]
    return [f"columns changed since v{drift.previous_version}: " + "; ".join(parts)]


def publish(
    run: BatchRun,
    manifest: Manifest,
    out: LaneOutput,
    fmt: OutputFormat,
    *,
    lane: str,
    recipe: RecipeRecord,
    hash_: str,
    provenance: Provenance,
    stac_properties: dict | None = None,
) -> LaneResult:
    """Version, upload (write-once), STAC item, ledger record, lineage: in that order."""
    from etl_models.dataset_metadata import dataset_metadata
    from etl_storage.errors import AssetConflict

    store, ledger = run.services.store, run.services.ledger
    dataset_id = manifest.dataset_id
    meta = manifest.metadata
    human = dataset_metadata(meta.title, meta.description, meta)
    drift = schema_drift(ledger, dataset_id, out.columns)
    version = ledger.allocate_version(dataset_id)
    prefix = lake_prefix(dataset_id, version)
    data_key = prefix + fmt.filename
    uploaded = store.upload_to_lake(out.path, data_key, content_type=fmt.media_type)
    stac_key = prefix + STAC_FILE_NAME
    stac = build_item(
        StacInput(
            dataset_id=dataset_id,
            version=version,
            data_uri=store.lake_uri(data_key),
            media_type=fmt.media_type,
            bbox=out.bounds if out.crs == TARGET_CRS else None,
            crs=out.crs,
            created=uploaded.last_modified or datetime.now(UTC),
            title=manifest.metadata.title,
            description=manifest.metadata.description,
            row_count=out.row_count,
            geometry_types=out.geometry_types,
            source_crs=out.source_crs,
            batch_id=manifest.batch_id,
            recipe=recipe.model_dump(mode="json"),
            parents=[(p.dataset_id, p.version) for p in provenance.parents],
            extra_properties=stac_properties or {},
            columns=out.columns if fmt.format != "cog" else (),
            metadata=human,
        )
    )
    store.put_lake_bytes(stac_key, item_json(stac), content_type="application/geo+json")
    run_id = ledger.run_object_id(run.dagster_run_id)
    asset = AssetRecord(
        dataset_id=dataset_id,
        version=version,
        s3_key=data_key,
        uri=store.lake_uri(data_key),
        format=fmt.format,
        content_hash=hash_,
        recipe=recipe,
        inputs=provenance.inputs,
        parents=provenance.parents,
        row_count=out.row_count,
        bounds=tuple(out.bounds) if out.bounds else None,
        crs=out.crs,
        source_crs=out.source_crs,
        geometry_types=list(out.geometry_types),
        column_schema=out.columns,
        size_bytes=uploaded.size,
        lake_etag=uploaded.etag,
        stats={
            "quality": out.quality.as_dict(),
            "report": out.report,
            "stac_item": store.lake_uri(stac_key),
            "schema_drift": drift.as_dict(),
        },
        metadata=human,
        lane=lane,
        batch_id=manifest.batch_id,
        run_id=run_id,
    )
    try:
        asset.id = ledger.register_asset(asset)
    except AssetConflict as conflict:
        if conflict.existing is None:
            raise
        # A concurrent identical batch won: what we uploaded was never registered, so it
        # does not exist for any reader; remove it and link to the winner.
        for key in (data_key, stac_key):
            store.delete_lake_object(key)
        return deduplicated(run, conflict.existing)
    ledger.add_input_lineage(asset.id, provenance.inputs, run_id=run_id)
    for parent in provenance.parents:
        ledger.add_parent_lineage(asset.id, parent.asset_id, role=parent.role, run_id=run_id)
    ledger.link_run_asset(run.dagster_run_id, asset.id)
    ledger.log_activity(
        actor=manifest.uploader,
        action="asset_published",
        subject=manifest.batch_id,
        details={"dataset_id": dataset_id, "version": version, "uri": asset.uri},
        key=f"published:{dataset_id}:{version}",
    )
    run.log(f"published {asset.uri} ({out.row_count} rows) as {dataset_id} v{version}")
    return LaneResult(asset, False, out.quality, drift, out.report)


def contract_failure(manifest: Manifest, problems: list[str]) -> LaneError:
    return LaneError(
        f"batch {manifest.batch_id}: output breaks the lake contract ("
        + "; ".join(problems)
        + "); nothing was published"
    )
