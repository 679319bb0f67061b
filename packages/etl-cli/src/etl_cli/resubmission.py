"""``etl resubmit``: a new batch from an old batch's manifest, edited.

The manifest comes from the ledger's copy (taken at intake), else the archived object. Edits
are ``--set key.path=value`` (JSON values, else strings) and ``--file LOCAL`` replacing the
raw file of the same name. The old batch's raw files are copied server-side to the new batch's
folder, so the new batch stands on its own. The new manifest carries
``metadata.tags.resubmit_of``, which the intake stores as ``ManifestRecord.resubmit_of``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from etl_cli.errors import NotFound, UsageProblem
from etl_cli.submission import SubmissionPlan, UploadItem, default_batch_id, validate_manifest

if TYPE_CHECKING:
    from etl_cli.batch_status import BatchStatus
    from etl_storage import ObjectStore

RESUBMIT_OF_TAG = "resubmit_of"


def old_manifest(store: ObjectStore, status: BatchStatus) -> dict[str, Any]:
    """The manifest the batch was taken in with (ledger copy, else the archived object)."""
    record = status.current
    if record is None:
        raise NotFound(
            f"batch {status.batch_id} has no ledger record yet, so there is no manifest to "
            "resubmit",
            "wait until `etl status` shows it taken in",
        )
    if record.manifest is not None:
        return copy.deepcopy(record.manifest)
    for key in (record.archive_key, record.manifest_key):
        if key and store.landing_object_exists(key):
            return store.read_manifest(key)
    raise NotFound(
        f"the manifest of batch {status.batch_id} is neither in the ledger nor in the landing zone",
        "submit the files again with `etl submit`",
    )


def apply_set(manifest: dict[str, Any], assignment: str) -> None:
    """Apply one ``key.path=value`` edit (list items by index: ``files.0.crs``)."""
    path, sep, raw = assignment.partition("=")
    if not sep or not path.strip():
        raise UsageProblem(
            f"--set {assignment!r} is not KEY=VALUE", "write e.g. --set files.0.crs=EPSG:28355"
        )
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    parts = path.strip().split(".")
    if parts[0] == "batch_id":
        raise UsageProblem("--set cannot change batch_id", "give the new id with --batch-id")
    node: Any = manifest
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise UsageProblem(
                    f"--set {path}: {'.'.join(parts[:index]) or 'the manifest'} has no item "
                    f"{part!r}",
                    f"use an index below {len(node)}",
                )
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
        else:
            raise UsageProblem(f"--set {path}: {'.'.join(parts[:index])} is not an object")
        if last:
            if value is None and isinstance(node, dict):
                node.pop(key, None)  # null removes the field
            else:
                node[key] = value
            return
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        node = node[key]


def _landing_key(path: str, landing_bucket: str) -> str | None:
    prefix = f"s3://{landing_bucket}/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def plan_resubmission(
    store: ObjectStore,
    status: BatchStatus,
    *,
    uploader: str,
    sets: Sequence[str] = (),
    files: Sequence[Path] = (),
    batch_id: str | None = None,
) -> tuple[SubmissionPlan, list[tuple[str, str]]]:
    """The new batch's plan, and the raw objects to copy (old key, new key) before upload."""
    from etl_cli.submission import check_batch_id

    old = status.batch_id
    landing = store.landing_bucket
    manifest = old_manifest(store, status)
    new_id = check_batch_id(batch_id) if batch_id else default_batch_id(old.split("_")[0])
    if new_id == old:
        raise UsageProblem(f"--batch-id {new_id} is the old batch's id; choose another")
    for assignment in sets:
        apply_set(manifest, assignment)
    manifest["batch_id"] = new_id
    manifest["uploader"] = uploader
    metadata = manifest.setdefault("metadata", {})
    metadata.setdefault("tags", {})[RESUBMIT_OF_TAG] = old

    replacements = {Path(f).name: Path(f) for f in files}
    uploads: list[UploadItem] = []
    copies: list[tuple[str, str]] = []
    old_prefix = f"{old}/"
    for entry in manifest.get("files", []):
        key = _landing_key(str(entry.get("path", "")), landing)
        name = PurePosixPath(key).name if key else None
        if name in replacements:
            local = replacements.pop(name)
            new_key = f"{new_id}/{name}"
            uploads.append(UploadItem(local, new_key, local.stat().st_size, listed=True))
            entry["path"] = f"s3://{landing}/{new_key}"
        elif key and key.startswith(old_prefix):
            entry["path"] = f"s3://{landing}/{new_id}/{key[len(old_prefix) :]}"
    if replacements:
        names = ", ".join(sorted(replacements))
        raise UsageProblem(
            f"--file {names}: batch {old} has no file of that name to replace",
            "name the local file like the file it replaces (see `etl status --json`)",
        )
    replaced = {item.key for item in uploads}
    for obj in store.client.list_objects(landing, prefix=old_prefix, recursive=True):
        new_key = f"{new_id}/{obj.object_name[len(old_prefix) :]}"
        if new_key not in replaced:
            copies.append((obj.object_name, new_key))
    needed = {
        _landing_key(str(e.get("path", "")), landing) for e in manifest.get("files", [])
    } - replaced
    missing = needed - {new for _, new in copies} - {None}
    if missing:
        raise NotFound(
            f"the raw files of batch {old} are no longer in the landing zone "
            f"({', '.join(sorted(k for k in missing if k))})",
            "give each file again with --file, or submit anew with `etl submit`",
        )
    parsed = validate_manifest(manifest, landing, f"the resubmitted manifest of {old}")
    return SubmissionPlan(new_id, manifest, parsed, tuple(uploads)), copies


def copy_raw_files(store: ObjectStore, copies: Sequence[tuple[str, str]]) -> None:
    """Copy the old batch's raw objects to the new batch's folder (server-side)."""
    from minio.commonconfig import CopySource

    for old_key, new_key in copies:
        store.client.copy_object(
            store.landing_bucket, new_key, CopySource(store.landing_bucket, old_key)
        )
