"""The text side of vector files: a declared encoding (``files[].options.encoding``) and, for
CSV, a declared delimiter (``files[].options.delimiter``).

GDAL reads a Shapefile's attributes in any encoding it is told (the ``ENCODING`` open option,
which overrides a missing or wrong ``.cpg``), but its CSV and GeoJSON readers take UTF-8 only
and its CSV reader guesses the delimiter among a few. So a CSV or GeoJSON with another
encoding or delimiter is rewritten once, streaming, as a UTF-8 comma-separated copy next to
the run's other temporary files, and GDAL reads that. GeoPackage and FlatGeobuf store UTF-8 by
definition; an encoding declared for them is refused rather than ignored.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from etl_spatial.vector_source import VectorLoadError, VectorSource

UTF8 = "utf-8"
ENCODED_DRIVERS = frozenset({"CSV", "GeoJSON", "ESRI Shapefile"})
"""Formats whose text may be in another encoding (the rest store UTF-8 by definition)."""
DELIMITED_DRIVERS = frozenset({"CSV"})
"""Formats that have a delimiter."""
_CHUNK_CHARS = 1 << 20
# GDAL's text, after its "Non UTF-8 content found when writing feature N of layer X: ...".
_NON_UTF8 = re.compile(r"Non UTF-8 content found[^:]*:\s*(?P<row>[^\n]*)")
# Runs of hex (geometry bytes) in GDAL's rendering of the feature: noise for a user.
_HEX_RUN = re.compile(r"\b[0-9A-Fa-f]{16,}\b")


def gdal_encoding(name: str) -> str:
    """The name GDAL (and iconv) know for Python's codec ``name``: ``iso8859-1`` ->
    ``ISO-8859-1``, ``cp1252`` -> ``CP1252``."""
    python_name = codecs.lookup(name).name
    upper = python_name.upper().replace("_", "-")
    return re.sub(r"^ISO8859-", "ISO-8859-", upper)


def is_utf8(encoding: str | None) -> bool:
    return encoding is None or codecs.lookup(encoding).name in {UTF8, "utf-8-sig"}


def needs_rewrite(source: VectorSource) -> bool:
    """Whether GDAL must read a UTF-8, comma-separated copy of ``source`` instead."""
    driver = source.driver_or_guess
    if driver == "CSV":
        return not is_utf8(source.encoding) or source.delimiter not in (None, ",")
    return driver == "GeoJSON" and not is_utf8(source.encoding)


def check_text_options(source: VectorSource) -> None:
    """Refuse reader options that cannot apply to ``source``'s format."""
    driver = source.driver_or_guess
    if source.delimiter not in (None, ",") and driver not in DELIMITED_DRIVERS:
        raise VectorLoadError(
            f"{source.name}: options.delimiter applies to CSV files only, and this file is "
            f"{driver or 'not CSV'}; remove it from the manifest"
        )
    if not is_utf8(source.encoding) and driver is not None and driver not in ENCODED_DRIVERS:
        raise VectorLoadError(
            f"{source.name}: options.encoding does not apply to {driver}, whose text is always "
            "UTF-8; remove it from the manifest"
        )


@contextlib.contextmanager
def readable_sources(
    sources: Sequence[VectorSource], workdir: Path | None = None
) -> Iterator[list[VectorSource]]:
    """``sources`` as GDAL can read them (:func:`prepare_text_source` each); the copies go to
    ``workdir``, else to a temporary directory removed on exit."""
    with contextlib.ExitStack() as cleanup:
        if workdir is None and any(needs_rewrite(s) for s in sources):
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="etl-text-")))
        yield [prepare_text_source(s, workdir, i) for i, s in enumerate(sources)]


def prepare_text_source(source: VectorSource, workdir: Path | None, index: int) -> VectorSource:
    """``source``, or a UTF-8 comma-separated copy of it in ``workdir`` when its declared
    encoding or delimiter is one GDAL cannot read (see the module's docstring)."""
    check_text_options(source)
    if not needs_rewrite(source):
        return source
    if workdir is None:
        raise ValueError(f"{source.name} needs a UTF-8 copy, and no working directory was given")
    path = Path(source.path)
    if not path.is_file():  # read in place: a zip member or an S3 object
        raise VectorLoadError(
            f"{source.name}: a declared encoding or delimiter needs the file itself, not one "
            "inside a zip archive; upload it unzipped"
        )
    encoding = source.encoding or UTF8
    target = workdir / f"utf8-{index}{path.suffix or '.txt'}"
    try:
        if source.driver_or_guess == "CSV" and source.delimiter not in (None, ","):
            _rewrite_csv(path, target, encoding=encoding, delimiter=source.delimiter or ",")
        else:
            _transcode(path, target, encoding)
    except UnicodeDecodeError as exc:
        target.unlink(missing_ok=True)
        raise VectorLoadError(
            f"{source.name} is not valid {encoding} text (byte {exc.start} of a block: "
            f"{exc.reason}); set files[].options.encoding to the encoding it was saved in"
        ) from None
    except csv.Error as exc:
        target.unlink(missing_ok=True)
        raise VectorLoadError(
            f"{source.name}: cannot be read as CSV with delimiter {source.delimiter!r} ({exc}); "
            "check files[].options.delimiter"
        ) from None
    # Messages keep naming the user's file, not the copy.
    return dataclasses.replace(
        source, path=str(target), label=source.name, encoding=None, delimiter=None
    )


def _transcode(path: Path, target: Path, encoding: str) -> None:
    with (
        path.open(encoding=encoding, errors="strict", newline="") as src,
        target.open("w", encoding=UTF8, newline="") as dst,
    ):
        while chunk := src.read(_CHUNK_CHARS):
            dst.write(chunk)


def _rewrite_csv(path: Path, target: Path, *, encoding: str, delimiter: str) -> None:
    with (
        path.open(encoding=encoding, errors="strict", newline="") as src,
        target.open("w", encoding=UTF8, newline="") as dst,
    ):
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerows(csv.reader(src, delimiter=delimiter, strict=True))


def non_utf8_error(source: VectorSource, stderr: str | None) -> VectorLoadError | None:
    """GDAL's refusal of text that is not UTF-8, as the sentence that says what to declare;
    ``None`` when ``stderr`` holds no such refusal."""
    found = _NON_UTF8.search(stderr or "")
    if found is None:
        return None
    row = _HEX_RUN.sub("", found.group("row")).strip()
    declared = "" if is_utf8(source.encoding) else f" (declared: {source.encoding})"
    fix = (
        "set files[].options.encoding to the encoding it was saved in, e.g. 'cp1252' or 'latin-1'"
        if source.driver_or_guess in ENCODED_DRIVERS | {None}
        else "save it with UTF-8 text"
    )
    return VectorLoadError(
        f"{source.name} has text that is not UTF-8{declared}, in the feature {row[:120]!r}; {fix}"
    )
