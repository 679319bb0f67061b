"""Planning a batch submission: which files go where, and the manifest that describes them.

A plan is built and validated completely before anything is uploaded: file types are inferred
(from ``--type``, the intent, or an unambiguous extension), shapefile sidecars are collected,
the batch id is chosen, and the manifest is validated with the platform's own
``parse_manifest`` against the configured landing bucket. Only a valid plan is uploaded
(``etl_cli.transfers``), raw files first and the manifest last.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_cli.errors import FieldProblem, ManifestInvalid, UsageProblem
from etl_models.landing import manifest_key_for
from etl_models.manifest import JOIN_INTENT

if TYPE_CHECKING:
    from etl_models.manifest import Manifest

# Files that belong to a shapefile; only the .shp is listed in the manifest.
SHAPEFILE_SIDECARS = (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml")
REQUIRED_SHAPEFILE_SIDECARS = (".shx", ".dbf")

_BATCH_STEM_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UploadItem:
    """One local file and the landing key it is uploaded to."""

    local_path: Path
    key: str
    size: int
    listed: bool  # named in the manifest (sidecars are not)


@dataclass(frozen=True)
class SubmissionPlan:
    """A validated batch, ready to upload: files (in order) and the manifest written last."""

    batch_id: str
    manifest: dict[str, Any]
    parsed: Manifest
    uploads: tuple[UploadItem, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def manifest_key(self) -> str:
        """``manifests/<batch_id>.json`` in the landing bucket."""
        return manifest_key_for(f"{self.batch_id}.json")

    @property
    def dataset_id(self) -> str:
        """The dataset the batch produces (tag, or derived from the batch id)."""
        return self.parsed.dataset_id

    @property
    def lane(self) -> str:
        """The lane that will process the batch."""
        from etl_pipeline.lanes.registry import lane_for_intent

        return lane_for_intent(self.parsed.intent).name

    @property
    def total_bytes(self) -> int:
        """Bytes of every raw file to upload."""
        return sum(item.size for item in self.uploads)

    def manifest_bytes(self) -> bytes:
        """The manifest document as uploaded (UTF-8 JSON)."""
        return (json.dumps(self.manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    def summary(self) -> dict[str, Any]:
        """What ``--json`` reports about a submission."""
        return {
            "batch_id": self.batch_id,
            "manifest_key": self.manifest_key,
            "dataset_id": self.dataset_id,
            "intent": self.parsed.intent,
            "lane": self.lane,
            "files": [
                {"key": item.key, "size": item.size, "listed": item.listed} for item in self.uploads
            ],
        }


@dataclass(frozen=True)
class FileOptionsInput:
    """Reader options for text: encoding, CSV delimiter and geometry columns (all optional)."""

    delimiter: str | None = None
    encoding: str | None = None
    x_column: str | None = None
    y_column: str | None = None
    wkt_column: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class DescriptiveMetadata:
    """Title, description, project and tags of a batch."""

    title: str | None = None
    description: str | None = None
    project: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def parse_tags(values: Iterable[str] | None) -> dict[str, str]:
    """``--tag key=value`` options as a dict; ``UsageProblem`` for a malformed one."""
    tags: dict[str, str] = {}
    for raw in values or ():
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageProblem(
                f"--tag {raw!r} is not key=value", "write tags as --tag project=alpha"
            )
        if key in tags and tags[key] != value:
            raise UsageProblem(f"--tag {key} is given twice with different values")
        tags[key] = value
    return tags


def default_batch_id(stem: str, now: datetime | None = None, token: str | None = None) -> str:
    """``<stem>_<UTC yyyymmddTHHMMSS>_<4 hex>``, the stem reduced to batch-id characters."""
    clean = _BATCH_STEM_CHARS.sub("_", stem).strip("._-")[:100] or "batch"
    if not clean[0].isalnum():
        clean = f"b{clean}"
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{clean}_{stamp}_{token or secrets.token_hex(2)}"


def check_batch_id(batch_id: str, label: str = "--batch-id") -> str:
    """``batch_id`` if valid, else a ``UsageProblem`` naming ``label`` and the rule."""
    from etl_models.identity import validate_batch_id

    try:
        return validate_batch_id(batch_id)
    except ValueError as exc:
        raise UsageProblem(f"{label}: {exc}") from None


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".shp.xml" if name.endswith(".shp.xml") else path.suffix.lower()


def infer_file_type(path: Path, intent: str, declared: str | None) -> str:
    """The manifest file type of ``path``: ``--type``, else the intent's, else the extension's."""
    if declared:
        return declared
    from etl_pipeline.lanes.registry import file_types, file_types_for_extension, intent_file_type

    by_intent = intent_file_type(intent)
    if by_intent:
        return by_intent
    suffix = _suffix(path)
    types = file_types_for_extension(suffix)
    if len(types) == 1:
        return next(iter(types))
    if types:  # CSV may be a table or points with coordinate columns: only the user knows
        raise UsageProblem(
            f"{path.name}: a {suffix} file may be a table or points; intent {intent!r} does not "
            "say which",
            "add --type tabular or --type vector (with --x-column/--y-column or --wkt-column)",
        )
    raise UsageProblem(
        f"{path.name}: cannot tell the file type from extension {suffix or '(none)'!r}",
        f"add --type {'|'.join(file_types())} (and --format if the extension is unusual)",
    )


def shapefile_sidecars(shp: Path) -> list[Path]:
    """The sidecar files beside ``shp`` (same stem, any letter case), in a stable order."""
    stem = shp.name[: -len(".shp")]
    by_suffix: dict[str, Path] = {}
    for candidate in sorted(shp.parent.iterdir()):
        name = candidate.name
        if candidate == shp or not candidate.is_file() or name[: len(stem)] != stem:
            continue
        rest = name[len(stem) :].lower()
        if rest in SHAPEFILE_SIDECARS and rest not in by_suffix:
            by_suffix[rest] = candidate
    missing = [s for s in REQUIRED_SHAPEFILE_SIDECARS if s not in by_suffix]
    if missing:
        raise UsageProblem(
            f"shapefile {shp} is incomplete: {', '.join(stem + s for s in missing)} "
            "not found beside it",
            "a shapefile needs its .shx and .dbf; keep them next to the .shp, or zip the "
            "files and submit the .zip",
        )
    return [by_suffix[s] for s in SHAPEFILE_SIDECARS if s in by_suffix]


def validate_manifest(data: Any, landing_bucket: str, source: str = "the manifest") -> Manifest:
    """The platform's validation of a manifest document; ``ManifestInvalid`` lists the fields."""
    from etl_models.manifest import ManifestValidationError, parse_manifest
    from etl_pipeline.lanes.preflight import preflight

    try:
        manifest = parse_manifest(data, landing_bucket=landing_bucket)
    except ManifestValidationError as exc:
        problems = [FieldProblem(e.field, e.message) for e in exc.errors]
        raise ManifestInvalid(problems, source) from None
    from etl_pipeline.lanes.registry import canonical_manifest

    problems = [FieldProblem(e.field, e.message) for e in preflight(manifest).problems]
    if problems:
        raise ManifestInvalid(problems, source)
    return canonical_manifest(manifest)  # formats in the spelling the lanes read


def _metadata_dict(meta: DescriptiveMetadata, dataset_id: str | None) -> dict[str, Any]:
    tags: dict[str, Any] = dict(meta.tags)
    if dataset_id is not None:
        if "dataset_id" in tags and tags["dataset_id"] != dataset_id:
            raise UsageProblem(
                f"--dataset-id {dataset_id!r} and --tag dataset_id={tags['dataset_id']} differ",
                "give the dataset id once, with --dataset-id",
            )
        tags["dataset_id"] = dataset_id
    out: dict[str, Any] = {
        k: v
        for k, v in (
            ("project", meta.project),
            ("title", meta.title),
            ("description", meta.description),
        )
        if v is not None
    }
    if tags:
        out["tags"] = tags
    return out


def plan_submission(
    paths: Sequence[Path],
    *,
    intent: str,
    uploader: str,
    landing_bucket: str,
    file_type: str | None = None,
    dataset_id: str | None = None,
    batch_id: str | None = None,
    crs: str | None = None,
    file_format: str | None = None,
    layer: str | None = None,
    options: FileOptionsInput | None = None,
    metadata: DescriptiveMetadata | None = None,
    now: datetime | None = None,
) -> SubmissionPlan:
    """Plan the upload of ``paths`` as one batch; raises ``UsageProblem``/``ManifestInvalid``.

    Nothing is contacted: the plan is checked locally (files readable, shapefile sidecars
    present, names unique, manifest valid for ``landing_bucket``).
    """
    if intent == JOIN_INTENT:
        raise UsageProblem(
            "intent 'join_datasets' takes no files", "use `etl join SPATIAL TABULAR --left-key K`"
        )
    if not paths:
        raise UsageProblem("give at least one file to submit")
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise UsageProblem(f"{path} is not a file")
    chosen = check_batch_id(batch_id) if batch_id else default_batch_id(files[0].stem, now)

    uploads: list[UploadItem] = []
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    seen: dict[str, Path] = {}

    def add(path: Path, listed: bool) -> UploadItem:
        key = f"{chosen}/{path.name}"
        if key in seen and seen[key].resolve() != path.resolve():
            raise UsageProblem(
                f"two files are named {path.name!r} ({seen[key]} and {path}); "
                "names must be unique within a batch",
                "rename one of them or submit them as separate batches",
            )
        if key in seen:
            raise UsageProblem(f"{path} is given more than once")
        seen[key] = path
        item = UploadItem(path, key, path.stat().st_size, listed)
        uploads.append(item)
        return item

    for path in files:
        kind = infer_file_type(path, intent, file_type)
        item = add(path, listed=True)
        entry: dict[str, Any] = {"path": f"s3://{landing_bucket}/{item.key}", "type": kind}
        if file_format:
            entry["format"] = file_format
        if crs:
            entry["crs"] = crs
        if layer:
            entry["layer"] = layer
        if options is not None and options.as_dict():
            entry["options"] = options.as_dict()
        entries.append(entry)
        if _suffix(path) == ".shp":
            sidecars = shapefile_sidecars(path)
            for sidecar in sidecars:
                add(sidecar, listed=False)
            if not crs and not any(_suffix(s) == ".prj" for s in sidecars):
                notes.append(f"{path.name} has no .prj; declare its CRS with --crs EPSG:XXXX")

    manifest: dict[str, Any] = {
        "batch_id": chosen,
        "uploader": uploader,
        "intent": intent,
        "files": entries,
    }
    meta = _metadata_dict(metadata or DescriptiveMetadata(), dataset_id)
    if meta:
        manifest["metadata"] = meta
    parsed = validate_manifest(manifest, landing_bucket)
    from etl_pipeline.lanes.preflight import preflight

    notes.extend(preflight(parsed).notes)  # e.g. an intent that looks like a typo
    # Write the canonical format the platform inferred, so the manifest says what will run.
    for entry, parsed_file in zip(entries, parsed.files, strict=True):
        entry["format"] = parsed_file.format
    return SubmissionPlan(chosen, manifest, parsed, tuple(uploads), tuple(notes))


def plan_join(
    *,
    spatial_dataset_id: str,
    tabular_dataset_id: str,
    left_key: str,
    uploader: str,
    landing_bucket: str,
    right_key: str | None = None,
    keep: str | None = None,
    how: str | None = None,
    key_match: str | None = None,
    min_match_rate: float | None = None,
    spatial_version: int | None = None,
    tabular_version: int | None = None,
    dataset_id: str | None = None,
    batch_id: str | None = None,
    metadata: DescriptiveMetadata | None = None,
    now: datetime | None = None,
) -> SubmissionPlan:
    """Plan a ``join_datasets`` manifest (no files); validated locally like any manifest.

    ``keep`` says which rows survive (default, when neither is given: every spatial feature);
    ``how`` is the older form (tabular = left); both must agree. Without a dataset id the
    join is named ``<spatial>_<tabular>``."""
    chosen = (
        check_batch_id(batch_id)
        if batch_id
        else default_batch_id(f"join_{tabular_dataset_id}_{spatial_dataset_id}", now)
    )
    join: dict[str, Any] = {
        "spatial_dataset_id": spatial_dataset_id,
        "tabular_dataset_id": tabular_dataset_id,
        "left_key": left_key,
    }
    if how is not None:
        join["how"] = how
    if keep is None and how is None:
        keep = "spatial"
    if keep is not None:
        join["keep"] = keep
    if key_match is not None:
        join["key_match"] = key_match
    if min_match_rate is not None:
        join["min_match_rate"] = float(min_match_rate)
    if right_key is not None:
        join["right_key"] = right_key
    if spatial_version is not None:
        join["spatial_version"] = spatial_version
    if tabular_version is not None:
        join["tabular_version"] = tabular_version
    metadata = metadata or DescriptiveMetadata()
    if dataset_id is None and "dataset_id" not in metadata.tags:
        dataset_id = _join_dataset_id(spatial_dataset_id, tabular_dataset_id)
    meta = _metadata_dict(metadata, dataset_id)
    meta["join_config"] = join
    manifest = {
        "batch_id": chosen,
        "uploader": uploader,
        "intent": JOIN_INTENT,
        "metadata": meta,
    }
    parsed = validate_manifest(manifest, landing_bucket)
    return SubmissionPlan(chosen, manifest, parsed)


def _join_dataset_id(spatial: str, tabular: str) -> str:
    from etl_models.identity import validate_dataset_id

    name = f"{spatial}_{tabular}"
    try:
        return validate_dataset_id(name)
    except ValueError as exc:
        raise UsageProblem(
            f"the default join dataset id {name!r} is not valid: {exc}",
            "name the join with --dataset-id",
        ) from None


def manifest_description(parsed: Manifest) -> dict[str, Any]:
    """What ``etl manifest validate`` reports beyond the routing: the human metadata and,
    for a join, the rows it keeps and how keys match."""
    from etl_models.dataset_metadata import dataset_metadata

    meta = parsed.metadata
    out: dict[str, Any] = {"metadata": dataset_metadata(meta.title, meta.description, meta)}
    join = meta.join_config
    if join is not None:
        out["join"] = {
            "keep": join.effective_keep,
            "how": join.effective_how,
            "left_key": join.left_key,
            "right_key": join.effective_right_key,
            "key_match": join.key_match,
            "min_match_rate": join.min_match_rate,
        }
    return out


def description_lines(description: dict[str, Any]) -> list[str]:
    """``manifest_description`` as short lines for people."""
    lines = []
    join = description.get("join")
    if join:
        lines.append(
            f"join keeps {join['keep']} rows (how {join['how']}), keys {join['left_key']!r} = "
            f"{join['right_key']!r} matched {join['key_match']}, warns under "
            f"{join['min_match_rate']:.0%}"
        )
    for name, value in description.get("metadata", {}).items():
        if name == "providers":
            value = ", ".join(f"{p['name']} ({'/'.join(p.get('roles', []))})" for p in value)
        elif isinstance(value, list):
            value = ", ".join(value)
        lines.append(f"{name}: {value}")
    return lines
