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

import codecs
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from etl_transforms.errors import TabularEncodingError, TabularParseError
from etl_transforms.headers import HeaderMapping, normalize_headers

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

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(
                f"unknown text encoding {value!r}; use a Python codec name such as 'utf-8', "
                "'latin-1' or 'cp1252'"
            ) from None

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


# --- reading -----------------------------------------------------------------------------------


def _encoding_error(src: Path, options: TabularOptions, detail: str) -> TabularEncodingError:
    return TabularEncodingError(
        f"{src.name} is not valid {options.encoding} text ({detail}); set the file's "
        "options.encoding to the encoding it was saved in (e.g. 'latin-1' or 'cp1252')"
    )


def _translate_error(exc: Exception, src: Path, options: TabularOptions) -> Exception:
    """Turn pyarrow / codec errors into errors that name the option to change."""
    if isinstance(exc, UnicodeDecodeError):
        return _encoding_error(src, options, f"{exc.reason} at byte {exc.start}")
    message = str(exc)
    if "UTF8" in message and "invalid" in message:
        return _encoding_error(src, options, message)
    if "Expected" in message and "columns" in message:
        return TabularParseError(
            f"{src.name}: {message}; a row has a different number of fields than the header. "
            f"Check options.delimiter (currently {options.delimiter!r}) and quoting "
            f"(options.quote_char {options.quote_char!r})"
        )
    if "straddl" in message or ("block" in message.lower() and "size" in message.lower()):
        return TabularParseError(
            f"{src.name}: {message}; a single row is larger than options.block_size "
            f"({options.block_size} bytes); increase it"
        )
    if "Empty CSV file" in message:
        return TabularParseError(f"{src.name} is empty; a header row is required")
    return TabularParseError(f"{src.name}: cannot read as delimited text: {message}")


def _arrow_encoding(options: TabularOptions) -> str:
    # Arrow decodes UTF-8 natively; other encodings are transcoded by Python codecs while
    # streaming.
    return "utf8" if options.is_utf8 else options.encoding


def _read_raw_headers(src: Path, options: TabularOptions) -> list[str]:
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(
            src,
            read_options=pacsv.ReadOptions(
                block_size=options.block_size, encoding=_arrow_encoding(options)
            ),
            parse_options=_parse_options(options),
            convert_options=pacsv.ConvertOptions(check_utf8=False),
        )
    except Exception as exc:  # pyarrow raises ArrowInvalid / codec errors
        raise _translate_error(exc, src, options) from exc
    try:
        headers = list(reader.schema.names)
    except UnicodeDecodeError as exc:  # a header that is not UTF-8 fails when decoded here
        raise _translate_error(exc, src, options) from exc
    finally:
        reader.close()
    if options.is_utf8 and any("\ufffd" in h for h in headers):
        raise _encoding_error(src, options, "the header row has bytes that are not UTF-8")
    return headers


def _parse_options(options: TabularOptions) -> Any:
    import pyarrow.csv as pacsv

    return pacsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote_char if options.quote_char is not None else False,
        newlines_in_values=options.newlines_in_values,
    )


def _text_batches(
    src: Path, options: TabularOptions, raw_headers: list[str]
) -> Iterator[pa.RecordBatch]:
    """Stream the file as record batches with every column as text."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(
            src,
            read_options=pacsv.ReadOptions(
                block_size=options.block_size, encoding=_arrow_encoding(options)
            ),
            parse_options=_parse_options(options),
            convert_options=pacsv.ConvertOptions(
                # Duplicate headers share a key, which is fine: all columns are text here.
                column_types={name: pa.string() for name in raw_headers},
                null_values=list(options.null_values),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except Exception as exc:
        raise _translate_error(exc, src, options) from exc
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except Exception as exc:
                raise _translate_error(exc, src, options) from exc
            yield batch
    finally:
        reader.close()


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
    src: str | Path, options: TabularOptions | None = None
) -> tuple[HeaderMapping, list[ColumnType], tuple[str, ...]]:
    """Pass 1: header mapping, per-column types and the leading-zero identifier columns."""
    src = Path(src)
    options = options or TabularOptions()
    raw_headers = _read_raw_headers(src, options)
    mapping = normalize_headers(raw_headers)
    forced = _forced_types(mapping, options.column_types)
    states = [_ColumnState() for _ in raw_headers]
    inferred_positions = [i for i in range(len(raw_headers)) if i not in forced]
    if inferred_positions:
        for batch in _text_batches(src, options, raw_headers):
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
    src_path: str | Path, dst_path: str | Path, options: TabularOptions | None = None
) -> TabularReport:
    """Convert a delimited text file to a zstd Parquet file, streaming (see module docstring).

    Column names are normalised (:func:`normalize_headers`); the mapping and the leading-zero
    identifier columns are stored in the Parquet schema metadata
    (``etl_transforms.header_mapping``, ``etl_transforms.string_id_columns``) and returned.
    Raises :class:`TabularEncodingError` when the file is not in ``options.encoding`` and
    :class:`TabularParseError` when it cannot be parsed with the options given.
    """
    import pyarrow as pa

    src, dst = Path(src_path), Path(dst_path)
    options = options or TabularOptions()
    mapping, types, string_ids = infer_column_types(src, options)
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
        rows, blocks, row_groups = _write_parquet(src, dst, schema, types, mapping, options)
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

        for batch in _text_batches(src, options, list(mapping.original)):
            blocks += 1
            arrays = []
            for i, column_type in enumerate(types):
                try:
                    arrays.append(_cast_column(batch.column(i), column_type))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    # Only reachable for forced types: inferred ones saw every value.
                    raise TabularParseError(
                        f"{src.name}: column {mapping.columns[i].normalised!r} "
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


def count_csv_records(path: Path, options: TabularOptions) -> int:
    """Records in the CSV counted by Python's ``csv`` module: a row count independent of the
    Arrow reader, so a row the converter lost cannot go unnoticed.

    Fields of any size are allowed: the default 128 KiB field limit of ``csv`` would fail a
    valid file (long WKT or text cells) that the converter reads fine.
    """
    import csv
    import sys

    previous = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(newline="", encoding=options.encoding, errors="strict") as handle:
            reader = csv.reader(handle, delimiter=options.delimiter, quotechar=options.quote_char)
            return max(0, sum(1 for row in reader if row) - 1)  # minus the header
    finally:
        csv.field_size_limit(previous)
