"""Header normalisation: unique, SQL-safe column names with the original names kept.

Rules, applied in order to each header (position ``i``, 1-based):

1. Unicode is decomposed (NFKD) and reduced to ASCII, so ``Café`` becomes ``cafe``; characters
   without an ASCII form disappear.
2. camelCase boundaries become ``_`` and everything is lower-cased (``PopTotal`` -> ``pop_total``).
3. Every run of characters other than ``[a-z0-9]`` becomes one ``_``; leading and trailing ``_``
   are removed.
4. An empty result becomes ``column_<i>``.
5. A leading digit gets the prefix ``col_`` (``2021 pop`` -> ``col_2021_pop``).
6. A PostgreSQL reserved key word gets a trailing ``_`` (``order`` -> ``order_``).
7. Names are cut to 63 bytes (PostgreSQL's identifier limit).
8. Uniqueness: the first header to claim a name keeps it; later duplicates get ``_2``, ``_3``, ...
   (the base is cut so the result still fits 63 bytes), skipping every name another header
   produces on its own, so a header that is unique keeps its natural name.

The mapping is kept per position (:class:`HeaderMapping`), because original headers may repeat
while normalised names never do.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

MAX_NAME_BYTES = 63

# PostgreSQL key words in the "reserved" and "reserved (can be function or type)" categories
# (Appendix C of the PostgreSQL 15 manual): they cannot be unquoted column names.
POSTGRES_RESERVED_WORDS: frozenset[str] = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "binary",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "placing",
        "primary",
        "references",
        "returning",
        "right",
        "select",
        "session_user",
        "similar",
        "some",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
    ]
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


class HeaderColumn(BaseModel):
    """One column: its 0-based position, the header as written and the normalised name."""

    model_config = ConfigDict(frozen=True)

    position: int
    original: str
    normalised: str


class HeaderMapping(BaseModel):
    """Original -> normalised header names, by position."""

    model_config = ConfigDict(frozen=True)

    columns: tuple[HeaderColumn, ...]

    @property
    def original(self) -> tuple[str, ...]:
        return tuple(c.original for c in self.columns)

    @property
    def normalised(self) -> tuple[str, ...]:
        return tuple(c.normalised for c in self.columns)

    def normalised_to_original(self) -> dict[str, str]:
        """Lossless lookup (normalised names are unique)."""
        return {c.normalised: c.original for c in self.columns}

    def renamed(self) -> dict[str, str]:
        """Normalised -> original for the columns whose name changed."""
        return {c.normalised: c.original for c in self.columns if c.normalised != c.original}

    def as_records(self) -> list[dict[str, object]]:
        """JSON-able records for metadata and the ledger."""
        return [c.model_dump() for c in self.columns]


def _truncate(name: str, limit: int = MAX_NAME_BYTES) -> str:
    # ASCII only at this point, so characters are bytes.
    return name[:limit]


def normalize_header(header: str, position: int) -> str:
    """Normalise one header (``position`` is 0-based) without the uniqueness step."""
    text = str(header).replace("\ufeff", "").strip()
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _CAMEL_BOUNDARY.sub("_", text).lower()
    text = _NOT_ALNUM.sub("_", text).strip("_")
    if not text:
        text = f"column_{position + 1}"
    if text[0].isdigit():
        text = f"col_{text}"
    if text in POSTGRES_RESERVED_WORDS:
        text = f"{text}_"
    return _truncate(text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def keepable_header(header: str) -> bool:
    """Whether ``header`` can name a lake column unchanged (``keep_source_names``): not
    blank, no surrounding whitespace or control characters, at most 63 bytes (PostgreSQL,
    where joins run, would cut a longer name)."""
    text = str(header)
    return (
        bool(text.strip())
        and text == text.strip()
        and not _CONTROL.search(text)
        and "\ufeff" not in text
        and len(text.encode("utf-8")) <= MAX_NAME_BYTES
    )


def normalize_headers(headers: Sequence[str], *, keep_source_names: bool = False) -> HeaderMapping:
    """Normalise a header row into unique SQL-safe names (see the module docstring).

    With ``keep_source_names`` a header that :func:`keepable_header` accepts keeps its text
    (``STATE_FIPS`` stays ``STATE_FIPS``); the others are normalised."""
    bases = [
        str(h) if keep_source_names and keepable_header(h) else normalize_header(h, i)
        for i, h in enumerate(headers)
    ]
    natural = set(bases)
    taken: set[str] = set()
    names: list[str] = []
    for base in bases:
        name = base
        if name in taken:
            n = 2
            while True:
                suffix = f"_{n}"
                candidate = _truncate(base, MAX_NAME_BYTES - len(suffix)) + suffix
                if candidate not in taken and candidate not in natural:
                    name = candidate
                    break
                n += 1
        taken.add(name)
        names.append(name)
    return HeaderMapping(
        columns=tuple(
            HeaderColumn(position=i, original=str(h), normalised=n)
            for i, (h, n) in enumerate(zip(headers, names, strict=True))
        )
    )
