"""The manifest protocol (see ``docs/architecture.md``).

A manifest describes one batch of raw files in the landing bucket. ``parse_manifest`` is the
single entry point: it returns a validated :class:`Manifest` or raises
:class:`ManifestValidationError` whose ``errors`` name each offending field, what was wrong
and how to fix it. Validation is strict: unknown fields and wrong JSON types are rejected,
never coerced, so what a user uploads is exactly what runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from etl_models.dataset_metadata import DescriptiveFields
from etl_models.identity import (
    BATCH_ID_PATTERN,
    DATASET_ID_PATTERN,
    derive_dataset_id,
    validate_dataset_id,
)
from etl_models.join_config import COLUMN_NAME_MAX, JoinConfig, JoinHow
from etl_models.landing import object_key_problem, raw_file_key_problem, split_s3_uri
from etl_models.manifest_bytes import ManifestBytesError, decode_manifest_bytes
from etl_models.manifest_errors import FieldError, ManifestValidationError, flatten_errors
from etl_models.settings import LANDING_BUCKET

INTENT_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
FILE_TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
FILE_TYPE_EXAMPLES = ["vector", "raster", "tabular"]
"""Illustrations for the JSON Schema only: which file types exist, and their formats, is
declared by the lanes that read them (``etl_pipeline.lanes.registry.file_types``)."""
JOIN_INTENT = "join_datasets"
TAG_KEY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$"
MAX_FILES = 1000

_CRS_PATTERN = re.compile(r"^(EPSG|ESRI):\d{4,6}$|^OGC:CRS84$", re.IGNORECASE)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _err(error_type: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(error_type, message, ctx or None)


def canonical_encoding(value: str) -> str:
    """Python's name of the text encoding ``value`` (``latin1`` -> ``iso8859-1``); ValueError
    saying what to use when there is no such codec."""
    import codecs

    try:
        return codecs.lookup(value).name
    except LookupError:
        raise ValueError(
            f"unknown text encoding {value!r}; use a Python codec name such as 'utf-8', "
            "'latin-1' or 'cp1252'"
        ) from None


class _Strict(BaseModel):
    """Unknown fields are errors: a typo must not silently drop a user's setting."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class FileOptions(_Strict):
    """Reader options for text: the file's encoding (CSV, GeoJSON and a Shapefile's .dbf; it
    overrides a missing or wrong .cpg), a CSV's delimiter and a vector CSV's geometry columns."""

    delimiter: StrictStr = Field(",", min_length=1, max_length=1)
    encoding: StrictStr = Field("utf-8", pattern=r"^[A-Za-z0-9_.:-]{1,32}$")
    x_column: StrictStr | None = Field(None, min_length=1, max_length=COLUMN_NAME_MAX)
    y_column: StrictStr | None = Field(None, min_length=1, max_length=COLUMN_NAME_MAX)
    wkt_column: StrictStr | None = Field(None, min_length=1, max_length=COLUMN_NAME_MAX)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return canonical_encoding(value)
        except ValueError as exc:
            raise _err("unknown_encoding", str(exc)) from None

    @model_validator(mode="after")
    def _coordinates_pairwise(self) -> FileOptions:
        if (self.x_column is None) != (self.y_column is None):
            raise _err(
                "coordinate_columns",
                "x_column and y_column go together; set both (e.g. 'lon' and 'lat') or neither",
            )
        if self.wkt_column and self.x_column:
            raise _err(
                "coordinate_columns",
                "set either wkt_column or x_column/y_column, not both",
            )
        return self


class ManifestFile(_Strict):
    """One raw file of the batch, in the landing bucket."""

    path: StrictStr = Field(description="s3://<landing bucket>/<key> of the raw file")
    type: StrictStr = Field(
        pattern=FILE_TYPE_PATTERN,
        description="Kind of file, read by the lane that declares it, e.g. 'vector'",
        examples=FILE_TYPE_EXAMPLES,
    )
    format: StrictStr | None = Field(
        None, description="GDAL driver or common name; inferred from the extension when absent"
    )
    crs: StrictStr | None = Field(
        None,
        description=(
            "CRS of a file that has none, e.g. EPSG:28355 (assigned, not reprojected); a file "
            "whose own CRS differs is rejected rather than silently moved"
        ),
    )
    layer: StrictStr | None = Field(
        None, min_length=1, max_length=255, description="Layer to read (GeoPackage etc.)"
    )
    member: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description=(
            "For a .zip of vector data: the dataset inside the archive to read, as the zip "
            "lists it, e.g. 'roads/roads.shp'; needed when the zip holds several datasets. "
            "The format is inferred from the member's extension when not given"
        ),
    )
    options: FileOptions | None = None

    @field_validator("path")
    @classmethod
    def _path_in_landing_bucket(cls, value: str, info: ValidationInfo) -> str:
        bucket = (info.context or {}).get("landing_bucket", LANDING_BUCKET)
        landing_key(value, bucket)  # raises with the reason and the fix
        return value

    @field_validator("format")
    @classmethod
    def _stripped_format(cls, value: str | None) -> str | None:
        # Kept as the user spelled it; its lane's registry names the canonical driver.
        return None if value is None else value.strip()

    @field_validator("crs")
    @classmethod
    def _crs_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _CRS_PATTERN.match(value):
            raise _err(
                "crs_format",
                "CRS must be an authority code like 'EPSG:28355' (got '{value}')",
                value=value,
            )
        return value.upper()

    @field_validator("member")
    @classmethod
    def _plain_member(cls, value: str | None) -> str | None:
        problem = None if value is None else object_key_problem(value)
        if problem:
            raise _err(
                "member",
                "member '{value}' is not a path inside a zip: {problem}; write it as the zip "
                "lists it, e.g. 'roads/roads.shp'",
                value=value,
                problem=problem,
            )
        return value

    @model_validator(mode="after")
    def _member_and_options(self) -> ManifestFile:
        if self.member is not None and (
            self.type != "vector" or not self.path.lower().endswith(".zip")
        ):
            raise _err(
                "member_without_zip",
                "member names a dataset inside a .zip of vector data; remove it, or point "
                "path at the zip archive",
                field="member",
            )
        if self.type == "raster" and self.options is not None:
            raise _err(
                "options_type",
                "options apply to vector and tabular files, not rasters; remove them",
                field="options",
            )
        return self

    @property
    def key(self) -> str:
        """The object key inside the landing bucket."""
        return self.path.split("/", 3)[3]

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name


def landing_key(path: str, landing_bucket: str = LANDING_BUCKET) -> str:
    """Return the object key of ``path`` if it is a raw file in the landing bucket.

    Only ``s3://<landing_bucket>/<key>`` is accepted, with a key that passes
    ``etl_models.landing.raw_file_key_problem`` (no traversal, no reserved prefixes).
    """
    parts = split_s3_uri(path)
    if parts is None or parts[0] != landing_bucket:
        raise _err(
            "path_outside_landing",
            "path '{value}' is outside the landing bucket; upload the file to "
            "s3://{bucket}/<batch_id>/ and reference it as s3://{bucket}/<batch_id>/<file>",
            value=path,
            bucket=landing_bucket,
        )
    key = parts[1]
    problem = raw_file_key_problem(key)
    if problem:
        raise _err(
            "path_unsafe",
            "path '{value}' is not allowed: {problem}; use a plain key such as "
            "s3://{bucket}/<batch_id>/<file>",
            value=path,
            problem=problem,
            bucket=landing_bucket,
        )
    return key


TagValue = StrictStr | StrictInt | StrictFloat | StrictBool | None


class ManifestMetadata(DescriptiveFields):
    """Descriptive fields (title, description, source, license, attribution, keywords,
    providers: see ``etl_models.dataset_metadata``), tags and the join configuration."""

    project: StrictStr | None = Field(None, max_length=128)
    title: StrictStr | None = Field(None, max_length=256)
    description: StrictStr | None = Field(None, max_length=4096)
    tags: dict[Annotated[str, Field(pattern=TAG_KEY_PATTERN)], TagValue] = Field(
        default_factory=dict, max_length=100
    )
    join_config: JoinConfig | None = None

    @field_validator("tags")
    @classmethod
    def _dataset_id_tag(cls, tags: dict[str, Any]) -> dict[str, Any]:
        if "dataset_id" in tags:
            value = tags["dataset_id"]
            if not isinstance(value, str):
                raise _err(
                    "dataset_id_type",
                    "tags.dataset_id must be a string like 'roads' (got '{value}')",
                    value=value,
                    field="dataset_id",
                )
            try:
                validate_dataset_id(value)
            except ValueError as exc:
                raise _err("dataset_id", str(exc), field="dataset_id") from None
        for key, value in tags.items():
            if isinstance(value, str) and len(value) > 1024:
                raise _err(
                    "tag_too_long",
                    "tag '{key}' is longer than 1024 characters; shorten it",
                    key=key,
                    field=key,
                )
        return tags


class Manifest(_Strict):
    """A validated batch manifest."""

    batch_id: StrictStr = Field(pattern=BATCH_ID_PATTERN)
    uploader: StrictStr = Field(min_length=1, max_length=128)
    intent: StrictStr = Field(pattern=INTENT_PATTERN)
    files: list[ManifestFile] = Field(default_factory=list, max_length=MAX_FILES)
    metadata: ManifestMetadata = Field(default_factory=ManifestMetadata)

    @field_validator("uploader")
    @classmethod
    def _printable_uploader(cls, value: str) -> str:
        if not value.strip() or _CONTROL_CHARS.search(value):
            raise _err(
                "uploader",
                "uploader must be a readable name without control characters (got '{value}')",
                value=value,
            )
        return value

    @model_validator(mode="after")
    def _intent_rules(self) -> Manifest:
        join = self.metadata.join_config
        if self.intent == JOIN_INTENT:
            if join is None:
                raise _err(
                    "join_config_missing",
                    "intent 'join_datasets' needs metadata.join_config with spatial_dataset_id, "
                    "tabular_dataset_id and left_key",
                    field="metadata.join_config",
                )
            if self.files:
                raise _err(
                    "join_files",
                    "a join reads datasets already in the lake; remove 'files' from the manifest",
                    field="files",
                )
            return self
        if join is not None:
            raise _err(
                "join_config_unexpected",
                "metadata.join_config is only for intent 'join_datasets' (intent is '{intent}'); "
                "remove it or change the intent",
                intent=self.intent,
                field="metadata.join_config",
            )
        if not self.files:
            raise _err(
                "files_empty",
                "files is empty; list at least one raw file as "
                "{{'path': 's3://landing-zone/<batch_id>/<file>', 'type': 'vector'}}",
                field="files",
            )
        # Which file types and formats exist, and which an intent takes, is for the lanes to
        # say (etl_pipeline.lanes.registry, checked by etl_pipeline.lanes.preflight).
        types = {f.type for f in self.files}
        if len(types) > 1:
            raise _err(
                "mixed_types",
                "one batch is one dataset: files mix types {types}; submit one batch per type",
                types=", ".join(sorted(types)),
                field="files",
            )
        # How many files a type takes is its lane's rule too (checked by preflight).
        paths = [f.path for f in self.files]
        duplicates = sorted({p for p in paths if paths.count(p) > 1})
        if duplicates:
            raise _err(
                "duplicate_paths",
                "files lists the same path more than once: {paths}; list each file once",
                paths=", ".join(duplicates),
                field="files",
            )
        return self

    @property
    def dataset_id(self) -> str:
        """The dataset this batch produces (tag, or derived deterministically from batch_id)."""
        tagged = self.metadata.tags.get("dataset_id")
        return tagged if isinstance(tagged, str) else derive_dataset_id(self.batch_id)

    @property
    def file_type(self) -> str | None:
        """The single file type of the batch, ``None`` for joins."""
        return self.files[0].type if self.files else None


def parse_manifest(data: Any, *, landing_bucket: str = LANDING_BUCKET) -> Manifest:
    """Validate a decoded manifest document (a JSON object) into a :class:`Manifest`."""
    if not isinstance(data, Mapping):
        raise ManifestValidationError(
            [
                FieldError(
                    "(manifest)",
                    f"a manifest must be a JSON object, got {type(data).__name__}; "
                    "wrap the fields in {...}",
                )
            ]
        )
    try:
        return Manifest.model_validate(data, context={"landing_bucket": landing_bucket})
    except ValidationError as exc:
        raise ManifestValidationError(flatten_errors(exc)) from None


def parse_manifest_bytes(raw: bytes, *, landing_bucket: str = LANDING_BUCKET) -> Manifest:
    """Decode manifest bytes (``etl_models.manifest_bytes``) and validate the document."""
    try:
        data = decode_manifest_bytes(raw)
    except ManifestBytesError as exc:
        raise ManifestValidationError([FieldError("(manifest)", str(exc))]) from None
    return parse_manifest(data, landing_bucket=landing_bucket)


__all__ = [
    "DATASET_ID_PATTERN",
    "JOIN_INTENT",
    "FieldError",
    "FileOptions",
    "JoinConfig",
    "JoinHow",
    "Manifest",
    "ManifestFile",
    "ManifestMetadata",
    "ManifestValidationError",
    "landing_key",
    "parse_manifest",
    "parse_manifest_bytes",
]
