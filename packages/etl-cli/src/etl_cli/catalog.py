"""The lake's catalog as the ledger records it: datasets, versions, lineage, downloads.

``DATASET[@vN]`` names a dataset version (latest when no version is given). Unknown datasets
and versions raise ``NotFound`` with the close matches, so a typo is quick to fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from etl_cli.errors import IntegrityProblem, NotFound, UsageProblem

if TYPE_CHECKING:
    from etl_models.ledger_records import AssetRecord
    from etl_storage import Ledger, ObjectStore

STAC_FILE_NAME = "item.json"
_REF = re.compile(r"^(?P<dataset>[^@\s]+)(?:@v?(?P<version>\d+))?$")


@dataclass(frozen=True)
class DatasetRef:
    """``dataset`` or ``dataset@vN``."""

    dataset_id: str
    version: int | None = None

    def __str__(self) -> str:
        return self.dataset_id if self.version is None else f"{self.dataset_id}@v{self.version}"


def parse_dataset_ref(text: str) -> DatasetRef:
    """Parse ``roads``, ``roads@v3`` or ``roads@3``; ``UsageProblem`` for anything else."""
    from etl_models.identity import validate_dataset_id

    match = _REF.match(text.strip())
    if not match:
        raise UsageProblem(
            f"{text!r} is not a dataset reference", "write DATASET or DATASET@vN, e.g. roads@v2"
        )
    try:
        dataset_id = validate_dataset_id(match.group("dataset"))
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    version = match.group("version")
    if version is not None and int(version) < 1:
        raise UsageProblem(f"{text!r}: versions start at v1")
    return DatasetRef(dataset_id, int(version) if version is not None else None)


def _unknown_dataset(ledger: Ledger, dataset_id: str) -> NotFound:
    known = ledger.list_datasets()
    close = difflib.get_close_matches(dataset_id, known, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "`etl datasets` lists the datasets"
    return NotFound(f"unknown dataset {dataset_id!r}: the ledger has no version of it", hint)


def resolve_asset(ledger: Ledger, ref: DatasetRef) -> AssetRecord:
    """The asset record ``ref`` names (latest version when unpinned); ``NotFound`` otherwise."""
    if ref.version is None:
        asset = ledger.latest_asset(ref.dataset_id)
        if asset is None:
            raise _unknown_dataset(ledger, ref.dataset_id)
        return asset
    asset = ledger.get_asset(ref.dataset_id, ref.version)
    if asset is None:
        versions = ledger.versions(ref.dataset_id)
        if not versions:
            raise _unknown_dataset(ledger, ref.dataset_id)
        listed = ", ".join(f"v{v}" for v in versions)
        raise NotFound(
            f"dataset {ref.dataset_id!r} has no version v{ref.version}",
            f"known versions: {listed}",
        )
    return asset


def asset_summary(asset: AssetRecord) -> dict[str, Any]:
    """The fields of a version people look at first (JSON-able)."""
    return {
        "dataset_id": asset.dataset_id,
        "version": asset.version,
        "uri": asset.uri,
        "s3_key": asset.s3_key,
        "format": asset.format,
        "row_count": asset.row_count,
        "size_bytes": asset.size_bytes,
        "crs": asset.crs,
        "source_crs": asset.source_crs,
        "bounds": list(asset.bounds) if asset.bounds else None,
        "geometry_types": list(asset.geometry_types),
        "batch_id": asset.batch_id,
        "lane": asset.lane,
        "created_at": asset.created_at.isoformat(),
        "title": asset.metadata.get("title"),
        "license": asset.metadata.get("license"),
        "metadata": dict(asset.metadata),
        "columns": [
            {"name": c.name, "type": c.type, "source_name": c.source_name}
            for c in asset.column_schema
        ],
    }


def list_datasets(ledger: Ledger) -> list[dict[str, Any]]:
    """One summary per dataset: its latest version and how many versions exist."""
    rows = []
    for dataset_id in ledger.list_datasets():
        latest = ledger.latest_asset(dataset_id)
        if latest is None:  # removed between the two reads
            continue
        rows.append(
            {
                **asset_summary(latest),
                "latest_version": latest.version,
                "version_count": len(ledger.versions(dataset_id)),
            }
        )
    return rows


def list_versions(ledger: Ledger, dataset_id: str) -> list[AssetRecord]:
    """Every registered version of ``dataset_id``, ascending; ``NotFound`` if none."""
    ref = parse_dataset_ref(dataset_id)
    if ref.version is not None:
        raise UsageProblem(f"`etl versions` takes a dataset, not a version ({dataset_id!r})")
    assets = []
    for version in ledger.versions(ref.dataset_id):
        asset = ledger.get_asset(ref.dataset_id, version)
        if asset is not None:
            assets.append(asset)
    if not assets:
        raise _unknown_dataset(ledger, ref.dataset_id)
    return assets


def _linked_asset(asset: AssetRecord | None, asset_id: str, role: str | None) -> dict[str, Any]:
    """A lineage neighbour as listed (``asset`` is None when the ledger no longer has it)."""
    return {
        "asset_id": asset_id,
        "ref": f"{asset.dataset_id}@v{asset.version}" if asset is not None else asset_id,
        "role": role,
        "uri": asset.uri if asset is not None else None,
    }


def lineage_report(ledger: Ledger, asset: AssetRecord) -> dict[str, Any]:
    """Upstream (raw inputs, parent versions) and downstream (derived versions) of ``asset``.

    Lineage edges are the record; the asset's own ``inputs``/``parents`` fields fill in what
    the edges lack (each source listed once).
    """
    assert asset.id is not None
    inputs: dict[tuple[str, str], dict[str, Any]] = {}
    parents: dict[str, dict[str, Any]] = {}
    for edge in ledger.lineage_for(asset.id):
        if edge.kind == "input" and edge.input is not None:
            i = edge.input
            inputs.setdefault((i.path, i.etag), {"path": i.path, "etag": i.etag, "size": i.size})
        elif edge.kind == "parent" and edge.parent_asset_id is not None:
            parent_id = str(edge.parent_asset_id)
            parents.setdefault(
                parent_id,
                _linked_asset(ledger.get_asset_by_id(edge.parent_asset_id), parent_id, edge.role),
            )
    for i in asset.inputs:
        inputs.setdefault((i.path, i.etag), {"path": i.path, "etag": i.etag, "size": i.size})
    for p in asset.parents:
        parents.setdefault(
            str(p.asset_id),
            {
                "asset_id": str(p.asset_id),
                "ref": f"{p.dataset_id}@v{p.version}",
                "role": p.role,
                "uri": None,
            },
        )
    children: dict[str, dict[str, Any]] = {}
    for edge in ledger.downstream_of(asset.id):
        child_id = str(edge.asset_id)
        children.setdefault(
            child_id, _linked_asset(ledger.get_asset_by_id(edge.asset_id), child_id, edge.role)
        )
    return {
        "asset": {**asset_summary(asset), "asset_id": str(asset.id)},
        "recipe": asset.recipe.model_dump(mode="json"),
        "inputs": list(inputs.values()),
        "parents": list(parents.values()),
        "children": list(children.values()),
    }


@dataclass(frozen=True)
class DownloadTarget:
    """Where the data file (and the STAC item) of a version go."""

    data: Path
    stac: Path | None


def download_target(asset: AssetRecord, dest: Path, with_stac: bool) -> DownloadTarget:
    """``DEST`` as a directory (existing, or ending in ``/``) or as the data file's path."""
    suffix = PurePosixPath(asset.s3_key).suffix
    if dest.is_dir() or str(dest).endswith(("/", "\\")):
        data = dest / f"{asset.dataset_id}_v{asset.version}{suffix}"
    else:
        data = dest
    stac = data.with_name(f"{data.stem}.item.json") if with_stac else None
    return DownloadTarget(data, stac)


def stac_key_for(asset: AssetRecord) -> str:
    """The lake key of the STAC item beside the version's data file."""
    return str(PurePosixPath(asset.s3_key).parent / STAC_FILE_NAME)


@dataclass(frozen=True)
class DownloadedFile:
    key: str
    path: Path
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "path": str(self.path), "size": self.size}


def plan_download(
    store: ObjectStore,
    asset: AssetRecord,
    dest: Path,
    *,
    with_stac: bool,
    overwrite: bool,
) -> list[tuple[str, Path, int]]:
    """(lake key, local path, expected size) of each file, checked against the ledger.

    The data object must exist with the size (and ETag) the ledger recorded; existing local
    files are refused unless ``overwrite``.
    """
    from etl_storage.errors import ObjectNotFound

    target = download_target(asset, dest, with_stac)
    try:
        meta = store.lake_object_metadata(asset.s3_key)
    except ObjectNotFound:
        raise NotFound(
            f"the ledger lists {asset.dataset_id}@v{asset.version} at "
            f"s3://{store.lake_bucket}/{asset.s3_key}, but the object is missing",
            "report it to the platform team: lake objects are never deleted",
        ) from None
    if asset.size_bytes is not None and meta.size != asset.size_bytes:
        raise IntegrityProblem(
            f"s3://{store.lake_bucket}/{asset.s3_key} is {meta.size} bytes, the ledger "
            f"records {asset.size_bytes}",
            "nothing was downloaded; report it to the platform team",
        )
    if asset.lake_etag and meta.etag and meta.etag != asset.lake_etag.strip('"'):
        raise IntegrityProblem(
            f"s3://{store.lake_bucket}/{asset.s3_key} has ETag {meta.etag}, the ledger "
            f"records {asset.lake_etag}",
            "nothing was downloaded; report it to the platform team",
        )
    files = [(asset.s3_key, target.data, meta.size)]
    if target.stac is not None:
        key = stac_key_for(asset)
        try:
            stac_meta = store.lake_object_metadata(key)
        except ObjectNotFound:
            raise NotFound(
                f"{asset.dataset_id}@v{asset.version} has no STAC item at "
                f"s3://{store.lake_bucket}/{key}",
                "download without --with-stac",
            ) from None
        files.append((key, target.stac, stac_meta.size))
    if not overwrite:
        for _, path, _ in files:
            if path.exists():
                raise UsageProblem(f"{path} already exists", "add --overwrite to replace it")
    for _, path, _ in files:
        if path.exists() and path.is_dir():
            raise UsageProblem(f"{path} is a directory")
    return files


def download_asset(
    store: ObjectStore,
    files: list[tuple[str, Path, int]],
    sink: Callable[[int], None],
) -> list[DownloadedFile]:
    """Download planned files (see ``plan_download``), each verified by size."""
    from etl_cli.transfers import download_lake_object

    done = []
    for key, path, size in files:
        written = download_lake_object(store, key, path, size, sink)
        done.append(DownloadedFile(key, path, written))
    return done


def check_join_inputs(
    ledger: Ledger,
    spatial: DatasetRef,
    tabular: DatasetRef,
    left_key: str,
    right_key: str | None,
) -> tuple[AssetRecord, AssetRecord]:
    """Both sides exist (``NotFound``) and name the key columns (``UsageProblem``).

    Columns are checked only when the ledger recorded the version's schema.
    """
    spatial_asset = resolve_asset(ledger, spatial)
    tabular_asset = resolve_asset(ledger, tabular)
    checks = (
        ("--left-key", left_key, tabular_asset, "tabular"),
        ("--right-key" if right_key else "--left-key", right_key or left_key, spatial_asset,
         "spatial"),
    )  # fmt: skip
    for option, column, asset, side in checks:
        columns = [c.name for c in asset.column_schema]
        if columns and column not in columns:
            close = difflib.get_close_matches(column, columns, n=3)
            hint = (
                f"did you mean {', '.join(close)}?" if close else f"columns: {', '.join(columns)}"
            )
            if option == "--left-key" and side == "spatial":
                hint += "; give the spatial column with --right-key"
            raise UsageProblem(
                f"{option} {column!r} is not a column of the {side} dataset "
                f"{asset.dataset_id}@v{asset.version}",
                hint,
            )
    return spatial_asset, tabular_asset


def check_join(ledger: Ledger, config: Any) -> dict[str, AssetRecord]:
    """The platform's own join-input check (``resolve_join``: both datasets exist, are of
    the right kind and have the key columns, by source or lake name); ``NotFound`` for an
    unknown dataset or version, ``UsageProblem`` with every other problem. Returns the parent
    versions by role."""
    from etl_pipeline.lanes.join import resolve_join

    for dataset_id, version in (
        (config.spatial_dataset_id, config.spatial_version),
        (config.tabular_dataset_id, config.tabular_version),
    ):
        resolve_asset(ledger, DatasetRef(dataset_id, version))  # NotFound with close matches
    resolution = resolve_join(ledger, config)
    if resolution.problems:
        fields = {
            "metadata.join_config.left_key": "--left-key",
            "metadata.join_config.right_key": "--right-key",
        }
        lines = [f"{fields.get(p.field, p.field)}: {p.message}" for p in resolution.problems]
        raise UsageProblem(
            "the join cannot run: " + "; ".join(lines),
            "the spatial dataset comes first, then the tabular one: etl join SPATIAL TABULAR",
        )
    return dict(resolution.parents)
