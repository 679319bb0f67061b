"""Tabular CSV -> Parquet, streamed in blocks with bounded memory.

Two streaming passes over the file, both reading every column as text:

1. **Infer.** Each block narrows, per column, the set of types all values seen so far fit
   (``bool``, ``int64``, ``float64``, ``date32``, ``timestamp[us]``). A column with any value
   that has a leading zero before another digit (``007``, ``01001``, ``-01``) is an identifier
   and stays text, as does anything with mixed values. Because the whole file is seen before a
   type is fixed, a leading-zero code or a stray word in the last block still makes the column
   text: no value is ever silently turned into a different one.
2. **Convert.** Each block is cast to the inferred schema and written with
   :class:`pyarrow.parquet.ParquetWriter` (zstd). Blocks are buffered only up to one row group
   (``row_group_rows``), so memory is bounded by the block size plus one row group, whatever
   the file size.

Only the empty field is NULL by default (``null_values=("",)``): strings such as ``NA`` are
real values (Namibia's country code) unless the caller lists them.

Integers of 16 or more digits that do not fit ``int64`` stay text too (``float64`` would round
them). Values are trimmed of surrounding whitespace before they are tested or cast to a
non-text type; text columns keep their values exactly as written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from etl_models.manifest import canonical_encoding
from etl_transforms.errors import TabularParseError
from etl_transforms.headers import HeaderMapping, normalize_headers
from etl_transforms.tabular_reader import (
    MAX_BLOCK_SIZE,
    RowLargerThanBlock,
    read_raw_headers,
    refuse_wide_unicode,
    text_batches,
)

if TYPE_CHECKING:
    import pyarrow as pa

ColumnType = Literal["string", "bool", "int64", "float64", "date32", "timestamp"]

# Most specific first: the first candidate still standing after the whole file wins.
_INFERENCE_ORDER: tuple[ColumnType, ...] = ("bool", "int64", "float64", "date32", "timestamp")
_PATTERNS: dict[str, str] = {
    "bool": r"^(?i:true|false)$",
    "int64": r"^[+-]?[0-9]+$",
    "float64": r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$",
    "date32": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "timestamp": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?$",
}
_LEADING_ZERO = r"^[+-]?0[0-9]"
# Integers with 16+ digits are not exact in float64 (2**53 ~ 9.0e15): never store them as floats.
_LONG_INTEGER = r"^[+-]?[0-9]{16,}$"
_NUMERIC_LOOKING = r"^[+-]?[0-9]+(\.[0-9]+)?$"

METADATA_HEADER_MAPPING = b"etl_transforms.header_mapping"
METADATA_STRING_ID_COLUMNS = b"etl_transforms.string_id_columns"


class TabularOptions(BaseModel):
    """How to read a delimited text file. Part of the recipe (and so of the content hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = Field("utf-8", description="Python codec name, e.g. 'utf-8', 'latin-1'")
    quote_char: str | None = Field('"', min_length=1, max_length=1)
    newlines_in_values: bool = Field(True, description="quoted values may contain newlines")
    null_values: tuple[str, ...] = Field(("",), description="values read as NULL")
    block_size: int = Field(
        4 * 1024 * 1024, ge=256, description="bytes per streamed block (bounds memory)"
    )
    row_group_rows: int = Field(131_072, ge=1, description="rows per Parquet row group")
    column_types: dict[str, ColumnType] = Field(
        default_factory=dict,
        description="forced types by normalised (or original) column name; skips inference",
    )
    keep_source_names: bool = Field(
        False, description="keep headers unchanged where they are valid column names"
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return canonical_encoding(value)

    @field_validator("delimiter", "quote_char")
    @classmethod
    def _not_newline(cls, value: str | None) -> str | None:
        if value is not None and value in "\r\n":
            raise ValueError("delimiter and quote_char cannot be a newline character")
        return value

    @property
    def is_utf8(self) -> bool:
        return self.encoding == "utf-8"


class ColumnInfo(BaseModel):
    """One output column."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    original: str


class TabularReport(BaseModel):
    """Outcome of :func:`csv_to_parquet`."""

    model_config = ConfigDict(frozen=True)

    row_count: int
    column_schema: tuple[ColumnInfo, ...]
    header_mapping: HeaderMapping
    string_id_columns: tuple[str, ...] = Field(
        description="numeric-looking columns kept as text because values have leading zeros"
    )
    blocks_read: int = Field(description="blocks streamed in the conversion pass")
    row_groups: int
    options: TabularOptions


# --- inference ---------------------------------------------------------------------------------


class _ColumnState:
    __slots__ = ("candidates", "leading_zero", "numeric_looking", "seen")

    def __init__(self) -> None:
        self.candidates: list[ColumnType] = list(_INFERENCE_ORDER)
        self.leading_zero = False
        self.numeric_looking = True
        self.seen = 0

    def observe(self, values: pa.Array) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        values = pc.drop_null(values)
        if len(values) == 0:
            return
        self.seen += len(values)
        trimmed = pc.utf8_trim_whitespace(values)
        if self.numeric_looking and not _all_match(trimmed, _NUMERIC_LOOKING):
            self.numeric_looking = False
        if (
            not self.leading_zero
            and pc.any(pc.match_substring_regex(trimmed, _LEADING_ZERO)).as_py()
        ):
            self.leading_zero = True
        if self.leading_zero:
            self.candidates = [c for c in self.candidates if c not in ("int64", "float64")]
        if (
            "float64" in self.candidates
            and pc.any(pc.match_substring_regex(trimmed, _LONG_INTEGER)).as_py()
        ):
            self.candidates.remove("float64")
        kept: list[ColumnType] = []
        for candidate in self.candidates:
            if not _all_match(trimmed, _PATTERNS[candidate]):
                continue
            if candidate != "bool":
                try:  # the pattern admits out-of-range values (int64 overflow, Feb 30)
                    pc.cast(trimmed, _arrow_type(candidate))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    continue
            kept.append(candidate)
        self.candidates = kept

    def decide(self) -> ColumnType:
        if self.seen == 0 or not self.candidates:
            return "string"
        return self.candidates[0]


def _all_match(values: pa.Array, pattern: str) -> bool:
    import pyarrow.compute as pc

    return bool(pc.all(pc.match_substring_regex(values, pattern)).as_py())


def _arrow_type(column_type: str) -> pa.DataType:
    import pyarrow as pa

    return {
        "string": pa.string(),
        "bool": pa.bool_(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "date32": pa.date32(),
        "timestamp": pa.timestamp("us"),
    }[column_type]


def _cast_column(values: pa.Array, column_type: str) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if column_type == "string":
        return values
    trimmed = pc.utf8_trim_whitespace(values)
    if column_type == "bool":
        return pc.equal(pc.utf8_lower(trimmed), pa.scalar("true"))
    return pc.cast(trimmed, _arrow_type(column_type))


def _forced_types(
    mapping: HeaderMapping, overrides: Mapping[str, ColumnType]
) -> dict[int, ColumnType]:
    """Column position -> forced type, from overrides keyed by normalised or original name."""
    forced: dict[int, ColumnType] = {}
    unknown = []
    for key, column_type in overrides.items():
        positions = [c.position for c in mapping.columns if key in (c.normalised, c.original)]
        if not positions:
            unknown.append(key)
        for position in positions:
            forced[position] = column_type
    if unknown:
        raise TabularParseError(
            f"options.column_types names columns {sorted(unknown)} that are not in the file; "
            f"use one of {list(mapping.normalised)}"
        )
    return forced


# --- conversion --------------------------------------------------------------------------------


def infer_column_types(
    src: str | Path, options: TabularOptions | None = None, *, name: str | None = None
) -> tuple[HeaderMapping, list[ColumnType], tuple[str, ...]]:
    """Pass 1: header mapping, per-column types and the leading-zero identifier columns.

    ``name`` is what error messages call the file (default: its file name)."""
    src = Path(src)
    name = name or src.name
    options = options or TabularOptions()
    refuse_wide_unicode(src, options, name)
    raw_headers = read_raw_headers(src, options, name)
    mapping = normalize_headers(raw_headers, keep_source_names=options.keep_source_names)
    forced = _forced_types(mapping, options.column_types)
    states = [_ColumnState() for _ in raw_headers]
    inferred_positions = [i for i in range(len(raw_headers)) if i not in forced]
    if inferred_positions:
        for batch in text_batches(src, options, raw_headers, name):
            for i in inferred_positions:
                states[i].observe(batch.column(i))
    types: list[ColumnType] = [forced.get(i) or states[i].decide() for i in range(len(states))]
    string_ids = tuple(
        mapping.columns[i].normalised
        for i in inferred_positions
        if states[i].leading_zero and states[i].numeric_looking and types[i] == "string"
    )
    return mapping, types, string_ids


def csv_to_parquet(
    src_path: str | Path,
    dst_path: str | Path,
    options: TabularOptions | None = None,
    *,
    name: str | None = None,
) -> TabularReport:
    """Convert a delimited text file to a zstd Parquet file, streaming (see module docstring).

    Column names are normalised (:func:`normalize_headers`); the mapping and the leading-zero
    identifier columns are stored in the Parquet schema metadata
    (``etl_transforms.header_mapping``, ``etl_transforms.string_id_columns``) and returned.
    Raises :class:`TabularEncodingError` when the file is not in ``options.encoding`` and
    :class:`TabularParseError` when it cannot be parsed with the options given. ``name`` is
    what error messages call the file (the manifest's path; default: the file name).

    A row larger than ``options.block_size`` (a long text or WKT field) is not an error: the
    conversion starts again with blocks four times larger, up to :data:`MAX_BLOCK_SIZE`.
    """
    options = options or TabularOptions()
    while True:
        try:
            return _convert(Path(src_path), Path(dst_path), options, name or Path(src_path).name)
        except RowLargerThanBlock:
            if options.block_size >= MAX_BLOCK_SIZE:
                raise
            larger = min(options.block_size * 4, MAX_BLOCK_SIZE)
            options = options.model_copy(update={"block_size": larger})


def _convert(src: Path, dst: Path, options: TabularOptions, name: str) -> TabularReport:
    import pyarrow as pa

    mapping, types, string_ids = infer_column_types(src, options, name=name)
    schema = pa.schema(
        [
            pa.field(name, _arrow_type(column_type))
            for name, column_type in zip(mapping.normalised, types, strict=True)
        ],
        metadata={
            METADATA_HEADER_MAPPING: json.dumps(mapping.as_records()).encode(),
            METADATA_STRING_ID_COLUMNS: json.dumps(list(string_ids)).encode(),
        },
    )

    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        rows, blocks, row_groups = _write_parquet(src, dst, schema, types, mapping, options, name)
    except BaseException:
        dst.unlink(missing_ok=True)  # never leave a partial file that looks complete
        raise

    return TabularReport(
        row_count=rows,
        column_schema=tuple(
            ColumnInfo(name=c.normalised, type=str(_arrow_type(t)), original=c.original)
            for c, t in zip(mapping.columns, types, strict=True)
        ),
        header_mapping=mapping,
        string_id_columns=string_ids,
        blocks_read=blocks,
        row_groups=row_groups,
        options=options,
    )


def _write_parquet(
    src: Path,
    dst: Path,
    schema: pa.Schema,
    types: list[ColumnType],
    mapping: HeaderMapping,
    options: TabularOptions,
    name: str,
) -> tuple[int, int, int]:
    """Pass 2: cast each block and write whole row groups; returns (rows, blocks, groups)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = blocks = row_groups = 0
    buffered: list[pa.RecordBatch] = []
    buffered_rows = 0
    with pq.ParquetWriter(dst, schema, compression="zstd") as writer:

        def flush() -> None:
            nonlocal buffered, buffered_rows, row_groups
            if buffered:
                writer.write_table(
                    pa.Table.from_batches(buffered, schema=schema),
                    row_group_size=options.row_group_rows,
                )
                row_groups += -(-buffered_rows // options.row_group_rows)
                buffered, buffered_rows = [], 0

        for batch in text_batches(src, options, list(mapping.original), name):
            blocks += 1
            arrays = []
            for i, column_type in enumerate(types):
                try:
                    arrays.append(_cast_column(batch.column(i), column_type))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    # Only reachable for forced types: inferred ones saw every value.
                    raise TabularParseError(
                        f"{name}: column {mapping.columns[i].normalised!r} "
                        f"(header {mapping.columns[i].original!r}) cannot be read as "
                        f"{column_type}: {exc}; change options.column_types for it"
                    ) from exc
            converted = pa.RecordBatch.from_arrays(arrays, schema=schema)
            rows += converted.num_rows
            # Buffer to whole row groups: one tiny row group per block would bloat the file.
            while converted.num_rows:
                take = min(converted.num_rows, options.row_group_rows - buffered_rows)
                buffered.append(converted.slice(0, take))
                buffered_rows += take
                converted = converted.slice(take)
                if buffered_rows >= options.row_group_rows:
                    flush()
        flush()
    return rows, blocks, row_groups


def read_header_mapping(parquet_path: str | Path) -> HeaderMapping | None:
    """The header mapping stored by :func:`csv_to_parquet` in a Parquet file, if any."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(parquet_path).metadata or {}
    raw = metadata.get(METADATA_HEADER_MAPPING)
    if raw is None:
        return None
    return HeaderMapping.model_validate({"columns": json.loads(raw)})
