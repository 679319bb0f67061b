"""Checks of a manifest's raw files against the landing bucket, made at intake: each file
exists, and a zip of vector data holds the member the manifest names (or exactly one dataset
when it names none). What fails here is rejected with the field to fix, before any run. The
same requests give the batch's total input size, which sets the run's weight class."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from etl_models.manifest import FieldError

if TYPE_CHECKING:
    from etl_models.manifest import Manifest, ManifestFile
    from etl_storage.object_store import ObjectStore


@dataclass(frozen=True)
class RawFilesChecked:
    problems: list[FieldError] = field(default_factory=list)
    input_bytes: int = 0
    """Total size of the raw files that exist."""


def check_raw_files(store: ObjectStore, manifest: Manifest) -> RawFilesChecked:
    from etl_storage.errors import ObjectNotFound

    problems: list[FieldError] = []
    input_bytes = 0
    for index, item in enumerate(manifest.files):
        try:
            input_bytes += store.landing_object_metadata(item.key).size
        except ObjectNotFound:
            problems.append(FieldError(f"files[{index}].path", _missing_message(item)))
            continue
        if item.type == "vector" and item.key.lower().endswith(".zip"):
            problem = _zip_problem(store, item, index)
            if problem is not None:
                problems.append(problem)
    return RawFilesChecked(problems, input_bytes)


def _missing_message(item: ManifestFile) -> str:
    message = f"{item.path} does not exist; upload the file before the manifest"
    archive, sep, inside = item.path.partition(".zip/")
    if sep:  # a member written into the path: say where it goes
        message += (
            f'. To read a file inside a zip, set "path": "{archive}.zip" and "member": "{inside}"'
        )
    return message


def _zip_problem(store: ObjectStore, item: ManifestFile, index: int) -> FieldError | None:
    import zipfile

    from etl_spatial.archives import ArchiveError, choose_member, stored_zip_members
    from etl_spatial.vector_source import FORMAT_DRIVERS

    name = f"files[{index}] ({item.path})"
    try:
        members = stored_zip_members(store.client, store.landing_bucket, item.key)
    except (zipfile.BadZipFile, EOFError) as exc:
        return FieldError(
            f"files[{index}].path",
            f"{name} is not a readable zip archive ({exc}); upload a zip made by a standard tool",
        )
    driver = FORMAT_DRIVERS.get((item.format or "").strip().lower())
    try:
        choose_member(members, driver, item.member, name)
    except ArchiveError as exc:
        return FieldError(f"files[{index}].member", str(exc))
    return None
