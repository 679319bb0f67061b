"""Reading delimited text for :mod:`etl_transforms.tabular`: Arrow's streaming CSV reader with
its errors turned into sentences that name the file and the option to change, and an
independent record count (Python's ``csv``) to check the converter against.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_transforms.errors import TabularEncodingError, TabularParseError

if TYPE_CHECKING:
    import pyarrow as pa

    from etl_transforms.tabular import TabularOptions


class RowLargerThanBlock(TabularParseError):
    """A row does not fit one streamed block; :func:`csv_to_parquet` retries with larger ones."""


MAX_BLOCK_SIZE = 512 * 1024 * 1024
"""The largest block (so the largest single row) the converter grows to, in bytes."""

_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _encoding_error(name: str, options: TabularOptions, detail: str) -> TabularEncodingError:
    return TabularEncodingError(
        f"{name} is not valid {options.encoding} text ({detail}); set the file's "
        "files[].options.encoding to the encoding it was saved in (e.g. 'latin-1' or 'cp1252')"
    )


def refuse_wide_unicode(src: Path, options: TabularOptions, name: str) -> None:
    """UTF-16/32 text read as a single-byte encoding parses as one garbled column, which
    would be reported as a delimiter problem: say what the file is instead."""
    if options.encoding.startswith(("utf-16", "utf-32", "utf_16", "utf_32")):
        return
    with src.open("rb") as handle:
        head = handle.read(4096)
    bom = next((b for b in _WIDE_BOMS if head.startswith(b)), None)
    if bom is not None:
        kind = "UTF-32" if len(bom) == 4 else "UTF-16"
    elif head and head.count(0) * 4 >= len(head):  # ASCII in UTF-16 is every other byte NUL
        kind = "UTF-16"
    else:
        return
    raise TabularEncodingError(
        f"{name} is {kind} text; save it as UTF-8, or declare files[].options.encoding as "
        f"'{kind.lower()}' in the manifest"
    )


def _translate_error(exc: Exception, name: str, options: TabularOptions) -> Exception:
    """Turn pyarrow / codec errors into errors that name the file and the option to change."""
    if isinstance(exc, UnicodeDecodeError):
        return _encoding_error(name, options, f"{exc.reason} at byte {exc.start}")
    message = str(exc)
    if "UTF8" in message and "invalid" in message:
        return _encoding_error(name, options, message)
    if "Expected" in message and "columns" in message:
        return TabularParseError(
            f"{name}: {message.strip()}; a row has a different number of fields than the "
            f"header. Check files[].options.delimiter (currently {options.delimiter!r}) and "
            "that quoted values are closed"
        )
    if "straddl" in message or ("block" in message.lower() and "size" in message.lower()):
        return RowLargerThanBlock(
            f"{name}: a single row is larger than {options.block_size} bytes, the most the "
            "platform reads at once; split the row's values or check for an unclosed quote"
        )
    if "Empty CSV file" in message:
        return TabularParseError(f"{name} is empty; a header row is required")
    return TabularParseError(f"{name}: cannot read as delimited text: {message}")


def _arrow_encoding(options: TabularOptions) -> str:
    # Arrow decodes UTF-8 natively; other encodings are transcoded by Python codecs while
    # streaming.
    return "utf8" if options.is_utf8 else options.encoding


def _open_csv(src: Path, options: TabularOptions, name: str, convert_options: Any) -> Any:
    """A streaming Arrow CSV reader of ``src``; open errors as ``TabularParseError``."""
    import pyarrow.csv as pacsv

    try:
        return pacsv.open_csv(
            src,
            read_options=pacsv.ReadOptions(
                block_size=options.block_size, encoding=_arrow_encoding(options)
            ),
            parse_options=_parse_options(options),
            convert_options=convert_options,
        )
    except Exception as exc:  # pyarrow raises ArrowInvalid / codec errors
        raise _translate_error(exc, name, options) from exc


def read_raw_headers(src: Path, options: TabularOptions, name: str) -> list[str]:
    import pyarrow.csv as pacsv

    reader = _open_csv(src, options, name, pacsv.ConvertOptions(check_utf8=False))
    try:
        headers = list(reader.schema.names)
    except UnicodeDecodeError as exc:  # a header that is not UTF-8 fails when decoded here
        raise _translate_error(exc, name, options) from exc
    finally:
        reader.close()
    if options.is_utf8 and any("\ufffd" in h for h in headers):
        raise _encoding_error(name, options, "the header row has bytes that are not UTF-8")
    return headers


def _parse_options(options: TabularOptions) -> Any:
    import pyarrow.csv as pacsv

    return pacsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote_char if options.quote_char is not None else False,
        newlines_in_values=options.newlines_in_values,
    )


def text_batches(
    src: Path, options: TabularOptions, raw_headers: list[str], name: str
) -> Iterator[pa.RecordBatch]:
    """Stream the file as record batches with every column as text."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    convert_options = pacsv.ConvertOptions(
        # Duplicate headers share a key, which is fine: all columns are text here.
        column_types={header: pa.string() for header in raw_headers},
        null_values=list(options.null_values),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    reader = _open_csv(src, options, name, convert_options)
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except Exception as exc:
                raise _translate_error(exc, name, options) from exc
            yield batch
    finally:
        reader.close()


def count_csv_records(path: Path, options: TabularOptions, *, name: str | None = None) -> int:
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
    except (csv.Error, UnicodeError) as exc:
        raise TabularParseError(
            f"{name or path.name}: cannot count its records ({exc}); check the file's quoting "
            "and files[].options.encoding"
        ) from exc
    finally:
        csv.field_size_limit(previous)
