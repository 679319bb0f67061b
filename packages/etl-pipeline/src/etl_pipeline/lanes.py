"""Lane runners: one batch from landing-zone raw files (or lake parents) to a lake version.

Both code locations call these: the asset lanes from their partitioned assets, the legacy
lane from ``ingest_job``'s ops. Every runner follows the same contract:

1. The run's ledger record exists before any work (idempotent ``start_run``), and the
   manifest is archived: the run durably exists, so intake is complete.
2. The content hash (inputs by ETag and size, or parent versions, plus the recipe) is computed
   first. Identical inputs with the same recipe match an existing version: no new version,
   the run records which asset it matched.
3. Work happens in the run's own PostGIS schema (dropped on every exit path) and a temporary
   directory; the lake sees only finished files. A version number is allocated atomically just
   before the write-once upload, the STAC item goes beside the data, and only then is the asset
   registered: no ledger record means the data does not exist.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_models.identity import lake_prefix
from etl_models.intake import plan_run
from etl_models.ledger_records import (
    AssetRecord,
    ColumnInfo,
    InputFile,
    ParentAsset,
    asset_content_hash,
)
from etl_models.ledger_records import Recipe as RecipeRecord
from etl_models.manifest import Manifest, parse_manifest
from etl_pipeline.lifecycle import RunContext, record_run_started
from etl_pipeline.stac import (
    COG_MEDIA_TYPE,
    GEOPARQUET_MEDIA_TYPE,
    STAC_FILE_NAME,
    StacInput,
    build_item,
    item_json,
)

if TYPE_CHECKING:
    from etl_spatial.postgis import PostgisResource
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore
    from etl_transforms.registry import Recipe

log = logging.getLogger(__name__)

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
TARGET_CRS = "EPSG:4326"


class LaneError(RuntimeError):
    """A batch that cannot be processed; the message says why and what to do."""


@dataclass(frozen=True)
class Services:
    """The resources a lane runner works with."""

    store: ObjectStore
    ledger: Ledger
    postgis: PostgisResource


@dataclass(frozen=True)
class SchemaDrift:
    """Column differences against the previous version of the dataset."""

    previous_version: int | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retyped: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.added or self.removed or self.retyped)


@dataclass(frozen=True)
class QualityFacts:
    """What the asset checks judge: measured on the output, compared with the source."""

    crs: str | None
    output_rows: int
    source_rows: int | None  # features / CSV rows / joined rows expected
    dropped_rows: int = 0  # rows the recipe removed on purpose (empty/null geometries)
    invalid_geometries: int | None = None
    empty_geometries: int | None = None
    kind: str = "vector"  # vector | raster | tabular

    @property
    def rows_accounted(self) -> bool:
        return self.source_rows is None or self.output_rows + self.dropped_rows == self.source_rows

    def violations(self) -> list[str]:
        """Broken output contracts; a batch with any is failed before it reaches the lake."""
        problems: list[str] = []
        if self.kind == "vector" and self.crs != TARGET_CRS:
            problems.append(f"output CRS is {self.crs}, the lake contract is {TARGET_CRS}")
        if self.kind == "raster" and not self.crs:
            problems.append("the raster has no CRS; declare files[0].crs or fix the source")
        if self.invalid_geometries:
            problems.append(f"{self.invalid_geometries} invalid geometries left after repair")
        if self.empty_geometries:
            problems.append(f"{self.empty_geometries} empty geometries in the output")
        if not self.rows_accounted:
            problems.append(
                f"row count mismatch: source {self.source_rows}, output {self.output_rows} + "
                f"{self.dropped_rows} dropped on purpose"
            )
        return problems


@dataclass(frozen=True)
class LaneResult:
    """A processed batch: the asset version (new or matched) and what the checks need."""

    asset: AssetRecord
    deduplicated: bool
    quality: QualityFacts
    drift: SchemaDrift
    report: dict[str, Any]

    def materialization_metadata(self) -> dict[str, Any]:
        """Plain values for ``MaterializeResult`` metadata (code locations wrap them)."""
        asset = self.asset
        return {
            "uri": asset.uri,
            "dataset_id": asset.dataset_id,
            "version": asset.version,
            "row_count": asset.row_count,
            "column_schema": [(c.name, c.type) for c in asset.column_schema],
            "crs": asset.crs,
            "source_crs": asset.source_crs,
            "bbox": list(asset.bounds) if asset.bounds else None,
            "geometry_types": list(asset.geometry_types),
            "content_hash": asset.content_hash,
            "deduplicated": self.deduplicated,
            "stac_item": asset.stats.get("stac_item"),
        }


@dataclass(frozen=True)
class BatchRun:
    """One run of one batch: who, which manifest, and the services."""

    services: Services
    dagster_run_id: str
    job_name: str
    tags: dict[str, str]
    log: Callable[[str], None] = log.info

    @property
    def batch_id(self) -> str:
        batch_id = self.tags.get("batch_id")
        if not batch_id:
            raise LaneError(
                "this run has no batch_id tag: lane runs are launched by the manifest sensors. "
                "Upload a manifest to landing-zone/manifests/ instead of materializing by hand"
            )
        return batch_id

    def manifest(self) -> Manifest:
        """The batch's manifest, from the ledger (the landing copy may already be archived)."""
        record = self.services.ledger.get_manifest(self.batch_id)
        if record is None or record.manifest is None:
            raise LaneError(
                f"batch {self.batch_id!r} has no manifest in the ledger; it was never taken in "
                "by a sensor. Upload its manifest to landing-zone/manifests/"
            )
        return parse_manifest(record.manifest, landing_bucket=self.services.store.landing_bucket)


def begin(run: BatchRun) -> Manifest:
    """Record the run start (idempotent, archives the manifest) and return the manifest."""
    manifest = run.manifest()
    record_run_started(
        run.services.store,
        run.services.ledger,
        RunContext(run.dagster_run_id, run.job_name, run.tags),
    )
    return manifest


# --- shared steps ---------------------------------------------------------------------------


def _recipe_record(recipe: Recipe) -> RecipeRecord:
    fingerprint = recipe.fingerprint()
    return RecipeRecord(
        name=fingerprint["name"],
        version=str(fingerprint["version"]),
        params={"kind": fingerprint["kind"], **fingerprint["params"]},
    )


def _inputs(store: ObjectStore, manifest: Manifest) -> list[InputFile]:
    return [store.landing_object_metadata(f.key).to_input_file() for f in manifest.files]


def _matched(run: BatchRun, content_hash: str, dataset_id: str) -> LaneResult | None:
    existing = run.services.ledger.asset_exists(content_hash, dataset_id=dataset_id)
    if existing is None:
        return None
    run.log(
        f"identical inputs and recipe as {existing.dataset_id} v{existing.version}: "
        "no new version (deduplicated)"
    )
    run.services.ledger.link_run_asset(run.dagster_run_id, existing.id, deduplicated=True)
    run.services.ledger.log_activity(
        actor=run.tags.get("uploader", "platform"),
        action="asset_deduplicated",
        subject=run.batch_id,
        details={"dataset_id": dataset_id, "version": existing.version},
        key=f"dedup:{run.dagster_run_id}",
    )
    stats = existing.stats
    quality = QualityFacts(**stats["quality"]) if "quality" in stats else _quality_of(existing)
    return LaneResult(existing, True, quality, SchemaDrift(None), stats.get("report", {}))


def _quality_of(asset: AssetRecord) -> QualityFacts:
    return QualityFacts(crs=asset.crs, output_rows=asset.row_count or 0, source_rows=None)


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


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="etl-run-") as tmp:
        yield Path(tmp)


@dataclass(frozen=True)
class _Output:
    """A finished local file and what the ledger records about it."""

    path: Path
    filename: str
    media_type: str
    format: str
    row_count: int | None
    bounds: Sequence[float] | None
    crs: str | None
    source_crs: str | None
    geometry_types: Sequence[str]
    columns: list[ColumnInfo]
    quality: QualityFacts
    report: dict[str, Any]


def _publish(
    run: BatchRun,
    manifest: Manifest,
    dataset_id: str,
    out: _Output,
    *,
    recipe: RecipeRecord,
    content_hash: str,
    inputs: list[InputFile],
    parents: list[ParentAsset],
) -> LaneResult:
    """Version, upload (write-once), STAC item, ledger record, lineage: in that order."""
    store, ledger = run.services.store, run.services.ledger
    problems = out.quality.violations()
    if problems:
        raise LaneError(
            f"batch {manifest.batch_id}: output breaks the lake contract ("
            + "; ".join(problems)
            + "); nothing was published"
        )
    drift = schema_drift(ledger, dataset_id, out.columns)
    version = ledger.allocate_version(dataset_id)
    prefix = lake_prefix(dataset_id, version)
    data_key = prefix + out.filename
    uploaded = store.upload_to_lake(out.path, data_key, content_type=out.media_type)
    stac = build_item(
        StacInput(
            dataset_id=dataset_id,
            version=version,
            data_uri=store.lake_uri(data_key),
            media_type=out.media_type,
            bbox=out.bounds if out.crs == TARGET_CRS else None,
            crs=out.crs,
            created=uploaded.last_modified or _now(),
            title=manifest.metadata.title,
            description=manifest.metadata.description,
            row_count=out.row_count,
            geometry_types=out.geometry_types,
            source_crs=out.source_crs,
            batch_id=manifest.batch_id,
            recipe=recipe.model_dump(mode="json"),
            parents=[(p.dataset_id, p.version) for p in parents],
        )
    )
    stac_key = prefix + STAC_FILE_NAME
    store.put_lake_bytes(stac_key, item_json(stac), content_type="application/geo+json")
    run_id = ledger.run_object_id(run.dagster_run_id)
    asset = AssetRecord(
        dataset_id=dataset_id,
        version=version,
        s3_key=data_key,
        uri=store.lake_uri(data_key),
        format=out.format,
        content_hash=content_hash,
        recipe=recipe,
        inputs=inputs,
        parents=parents,
        row_count=out.row_count,
        bounds=tuple(out.bounds) if out.bounds else None,
        crs=out.crs,
        source_crs=out.source_crs,
        geometry_types=list(out.geometry_types),
        column_schema=out.columns,
        size_bytes=uploaded.size,
        lake_etag=uploaded.etag,
        stats={
            "quality": out.quality.__dict__,
            "report": out.report,
            "stac_item": store.lake_uri(stac_key),
            "schema_drift": drift.__dict__,
        },
        lane=plan_run(manifest, run.tags.get("manifest_key", ""), operator="lane").lane.value,
        batch_id=manifest.batch_id,
        run_id=run_id,
    )
    asset.id = ledger.register_asset(asset)
    ledger.add_input_lineage(asset.id, inputs, run_id=run_id)
    for parent in parents:
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


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _columns(specs: Sequence[Any]) -> list[ColumnInfo]:
    return [ColumnInfo(name=s.name, type=str(s.type)) for s in specs]


@dataclass(frozen=True)
class _PreparedBatch:
    """A batch with its recipe and content hash, ready to process (unless ``matched``)."""

    run: BatchRun
    manifest: Manifest
    recipe: Recipe
    recipe_record: RecipeRecord
    content_hash: str
    inputs: list[InputFile]
    parents: list[ParentAsset]
    matched: LaneResult | None

    def publish(self, out: _Output) -> LaneResult:
        return _publish(
            self.run,
            self.manifest,
            self.manifest.dataset_id,
            out,
            recipe=self.recipe_record,
            content_hash=self.content_hash,
            inputs=self.inputs,
            parents=self.parents,
        )


def _prepare(
    run: BatchRun,
    manifest: Manifest,
    *,
    parents: list[ParentAsset] | None = None,
    extra_params: dict[str, Any] | None = None,
) -> _PreparedBatch:
    """Recipe, provenance and content hash of a batch; the matching version if one exists.

    Raw-file batches are identified by their inputs (ETag, size), derived ones (joins) by
    their parent versions.
    """
    from etl_transforms.registry import recipe_for_manifest

    recipe = recipe_for_manifest(manifest)
    record = _recipe_record(recipe)
    if extra_params:
        record = record.model_copy(update={"params": {**record.params, **extra_params}})
    inputs = [] if parents is not None else _inputs(run.services.store, manifest)
    content_hash = asset_content_hash(
        dataset_id=manifest.dataset_id, recipe=record, inputs=inputs, parents=parents or []
    )
    matched = _matched(run, content_hash, manifest.dataset_id)
    return _PreparedBatch(
        run, manifest, recipe, record, content_hash, inputs, parents or [], matched
    )


# --- vector ---------------------------------------------------------------------------------


def process_vector(run: BatchRun, manifest: Manifest | None = None) -> LaneResult:
    """Vector files -> PostGIS (load, recipe) -> GeoParquet 1.1 in EPSG:4326."""
    manifest = manifest or begin(run)
    batch = _prepare(run, manifest)
    if batch.matched is not None:
        return batch.matched
    with _workdir() as tmp:
        return batch.publish(_vector_output(run, manifest, batch.recipe, tmp))


def _vector_gdal_path(store: ObjectStore, key: str) -> str:
    """GDAL path of a raw vector file; a zip (zipped shapefile) is read through ``/vsizip/``."""
    path = store.vsis3_path(key)
    return f"/vsizip/{path}" if key.lower().endswith(".zip") else path


def _vector_output(run: BatchRun, manifest: Manifest, recipe: Recipe, tmp: Path) -> _Output:
    from etl_spatial.arrow_io import export_geodataframe
    from etl_spatial.loader import VectorSource, load_vector
    from etl_spatial.writers import write_geoparquet
    from etl_transforms.vector import apply_vector_steps

    store, postgis = run.services.store, run.services.postgis
    gdal_env = store.gdal_s3_env()
    sources = [
        VectorSource(
            path=_vector_gdal_path(store, f.key),
            format=f.format,
            layer=f.layer,
            label=f"files[{i}] ({f.path})",
            x_column=f.options.x_column if f.options else None,
            y_column=f.options.y_column if f.options else None,
            wkt_column=f.options.wkt_column if f.options else None,
        )
        for i, f in enumerate(manifest.files)
    ]
    with postgis.ephemeral_schema(run.dagster_run_id) as schema:
        loaded = load_vector(
            postgis,
            schema,
            sources,
            gdal_env=gdal_env,
            declared_crs=[f.crs for f in manifest.files],
        )
        run.log(f"loaded {loaded.row_count} features ({loaded.source_crs}) into {schema.name}")
        with schema.connect() as conn:
            transform = apply_vector_steps(conn, schema, recipe.params)
            conn.commit()
        run.log(
            f"recipe {recipe.name} v{recipe.version}: {transform.rows_out} rows, "
            f"{transform.repaired_count} repaired, {transform.dropped_empty_count} empty dropped"
        )
        frame = export_geodataframe(postgis, schema, "transformed")
    meta = write_geoparquet(frame, tmp / "data.parquet")
    geoms = frame.geometry
    quality = QualityFacts(
        crs=meta.crs,
        output_rows=meta.row_count,
        source_rows=sum(int(f["feature_count"]) for f in loaded.files),
        dropped_rows=transform.dropped_empty_count + transform.dropped_null_count,
        invalid_geometries=int((~geoms.is_valid).sum()),
        empty_geometries=int(geoms.is_empty.sum() + geoms.isna().sum()),
    )
    report = {
        "load": {"files": loaded.files, "source_crs": loaded.source_crs,
                 "crs_declared": loaded.crs_declared,
                 "promoted_to_multi": loaded.promoted_to_multi},
        "transform": transform.model_dump(mode="json"),
    }  # fmt: skip
    return _Output(
        path=tmp / "data.parquet",
        filename="data.parquet",
        media_type=GEOPARQUET_MEDIA_TYPE,
        format="geoparquet",
        row_count=meta.row_count,
        bounds=meta.bounds,
        crs=meta.crs,
        source_crs=transform.source_crs or loaded.source_crs,
        geometry_types=meta.geometry_types,
        columns=_columns(meta.column_schema),
        quality=quality,
        report=report,
    )


# --- raster ---------------------------------------------------------------------------------


def process_raster(run: BatchRun, manifest: Manifest | None = None) -> LaneResult:
    """A GDAL raster -> validated Cloud-Optimized GeoTIFF."""
    from etl_transforms.raster import raster_to_lake_cog

    manifest = manifest or begin(run)
    store = run.services.store
    batch = _prepare(run, manifest)
    if batch.matched is not None:
        return batch.matched
    recipe = batch.recipe
    source = manifest.files[0]
    with _workdir() as tmp:
        meta = raster_to_lake_cog(
            store.vsis3_path(source.key), tmp / "data.tif", recipe.params, store.gdal_s3_env()
        )
        run.log(
            f"COG {meta.width}x{meta.height}x{meta.band_count}, {meta.overview_count} overviews"
        )
        bands = [ColumnInfo(name=f"band_{i + 1}", type=t) for i, t in enumerate(meta.data_types)]
        out = _Output(
            path=tmp / "data.tif",
            filename="data.tif",
            media_type=COG_MEDIA_TYPE,
            format="cog",
            row_count=None,
            bounds=meta.bounds,
            crs=meta.crs,
            source_crs=meta.source_crs,
            geometry_types=[],
            columns=bands,
            quality=QualityFacts(crs=meta.crs, output_rows=0, source_rows=None, kind="raster"),
            report={"raster": meta.model_dump(mode="json")},
        )
        return batch.publish(out)


def process_spatial(run: BatchRun) -> LaneResult:
    """The spatial lane: vector or raster by the batch's file type."""
    manifest = begin(run)
    if manifest.file_type == "raster":
        return process_raster(run, manifest)
    return process_vector(run, manifest)


# --- tabular --------------------------------------------------------------------------------


def process_tabular(run: BatchRun, manifest: Manifest | None = None) -> LaneResult:
    """CSV -> Parquet, streamed in chunks, headers normalised (mapping kept)."""
    from etl_transforms.tabular import csv_to_parquet

    manifest = manifest or begin(run)
    store = run.services.store
    batch = _prepare(run, manifest)
    if batch.matched is not None:
        return batch.matched
    recipe = batch.recipe
    with _workdir() as tmp:
        source = tmp / "source.csv"
        store.download_from_landing(manifest.files[0].key, source)
        report = csv_to_parquet(source, tmp / "data.parquet", recipe.params)
        run.log(f"converted {report.row_count} rows, {len(report.column_schema)} columns")
        out = _Output(
            path=tmp / "data.parquet",
            filename="data.parquet",
            media_type=PARQUET_MEDIA_TYPE,
            format="parquet",
            row_count=report.row_count,
            bounds=None,
            crs=None,
            source_crs=None,
            geometry_types=[],
            columns=_columns(report.column_schema),
            quality=QualityFacts(
                crs=None,
                output_rows=report.row_count,
                source_rows=_count_csv_records(source, recipe.params),
                kind="tabular",
            ),
            report={
                "header_mapping": report.header_mapping.as_records(),
                "string_id_columns": list(report.string_id_columns),
            },
        )
        return batch.publish(out)


def _count_csv_records(path: Path, options: Any) -> int:
    """Records in the CSV counted by Python's csv module: an independent row-count source."""
    import csv

    with path.open(newline="", encoding=options.encoding, errors="strict") as handle:
        reader = csv.reader(handle, delimiter=options.delimiter, quotechar=options.quote_char)
        return max(0, sum(1 for row in reader if row) - 1)  # minus the header


# --- join -----------------------------------------------------------------------------------


def process_join(run: BatchRun, manifest: Manifest | None = None) -> LaneResult:
    """Tabular dataset (left) joined onto a spatial dataset in PostGIS -> GeoParquet."""
    from etl_transforms.join import JoinSpec

    manifest = manifest or begin(run)
    config = manifest.metadata.join_config
    if config is None:  # guaranteed by the manifest rules; kept for type narrowing
        raise LaneError("a join manifest needs metadata.join_config")
    ledger = run.services.ledger
    spatial = _parent(ledger, config.spatial_dataset_id, config.spatial_version, "spatial")
    tabular = _parent(ledger, config.tabular_dataset_id, config.tabular_version, "tabular")
    spec = JoinSpec.from_join_config(config)
    parents = [
        ParentAsset(asset_id=spatial.id, dataset_id=spatial.dataset_id, version=spatial.version,
                    role="spatial"),
        ParentAsset(asset_id=tabular.id, dataset_id=tabular.dataset_id, version=tabular.version,
                    role="tabular"),
    ]  # fmt: skip
    batch = _prepare(
        run, manifest, parents=parents, extra_params={"join": spec.model_dump(mode="json")}
    )
    if batch.matched is not None:
        return batch.matched
    with _workdir() as tmp:
        return batch.publish(_join_output(run, spatial, tabular, spec, batch.recipe, tmp))


def _parent(ledger: Ledger, dataset_id: str, version: int | None, side: str) -> AssetRecord:
    asset = ledger.get_asset(dataset_id, version) if version else ledger.latest_asset(dataset_id)
    if asset is None:
        wanted = f"v{version}" if version else "any version"
        raise LaneError(
            f"join {side} dataset {dataset_id!r} ({wanted}) is not in the lake; ingest it first"
        )
    if side == "spatial" and asset.format != "geoparquet":
        raise LaneError(
            f"join spatial dataset {dataset_id} v{asset.version} is {asset.format}, not a vector "
            "dataset; joins need a vector (GeoParquet) spatial side"
        )
    if side == "tabular" and asset.format not in {"parquet", "geoparquet"}:
        raise LaneError(
            f"join tabular dataset {dataset_id} v{asset.version} is {asset.format}; joins need "
            "a tabular (Parquet) dataset"
        )
    return asset


def _join_output(
    run: BatchRun,
    spatial: AssetRecord,
    tabular: AssetRecord,
    spec: Any,
    recipe: Recipe,
    tmp: Path,
) -> _Output:
    import pyarrow.parquet as pq

    from etl_spatial.arrow_io import export_geodataframe, load_arrow_table
    from etl_spatial.writers import write_geoparquet
    from etl_transforms.join import run_join

    store, postgis = run.services.store, run.services.postgis
    store.download_from_lake(spatial.s3_key, tmp / "spatial.parquet")
    store.download_from_lake(tabular.s3_key, tmp / "tabular.parquet")
    spatial_table = pq.read_table(tmp / "spatial.parquet")
    geometry_column = _geometry_column(spatial_table)
    tabular_table = pq.read_table(tmp / "tabular.parquet")
    with postgis.ephemeral_schema(run.dagster_run_id) as schema:
        load_arrow_table(postgis, schema, "spatial", spatial_table, geometry_column=geometry_column)
        load_arrow_table(postgis, schema, "tabular", tabular_table)
        del spatial_table, tabular_table
        with schema.connect() as conn:
            report = run_join(
                conn, schema, tabular_table="tabular", spatial_table="spatial", spec=spec,
                options=recipe.params, geom=geometry_column,
            )  # fmt: skip
            conn.commit()
        run.log(
            f"join {spec.how}: {report.rows_out} rows, match rate {report.match_rate:.1%}, "
            f"{report.unmatched_tabular_keys.count} unmatched tabular keys"
        )
        frame = export_geodataframe(postgis, schema, "joined", geometry_column=geometry_column)
    meta = write_geoparquet(frame, tmp / "data.parquet")
    geoms = frame.geometry
    missing = int(geoms.isna().sum())  # unmatched tabular rows of left/outer joins
    quality = QualityFacts(
        crs=meta.crs,
        output_rows=meta.row_count,
        source_rows=report.rows_out,
        invalid_geometries=int((~geoms.is_valid & geoms.notna()).sum()),
        empty_geometries=int(geoms.is_empty.sum()),
    )
    return _Output(
        path=tmp / "data.parquet",
        filename="data.parquet",
        media_type=GEOPARQUET_MEDIA_TYPE,
        format="geoparquet",
        row_count=meta.row_count,
        bounds=meta.bounds,
        crs=meta.crs,
        source_crs=spatial.crs,
        geometry_types=meta.geometry_types,
        columns=_columns(meta.column_schema),
        quality=quality,
        report={"join": report.model_dump(mode="json"), "rows_without_geometry": missing},
    )


def _geometry_column(table: Any) -> str:
    import json

    geo = json.loads((table.schema.metadata or {}).get(b"geo", b"{}"))
    column = geo.get("primary_column")
    if not column:
        raise LaneError("the spatial parent's GeoParquet has no 'geo' metadata primary column")
    return column


# --- dispatch for the legacy lane -----------------------------------------------------------


def process_batch(run: BatchRun) -> LaneResult:
    """Any batch by its content (the legacy lane's default recipe routing)."""
    manifest = begin(run)
    if manifest.metadata.join_config is not None:
        return process_join(run, manifest)
    if manifest.file_type == "tabular":
        return process_tabular(run, manifest)
    if manifest.file_type == "raster":
        return process_raster(run, manifest)
    return process_vector(run, manifest)
