"""Columns as the user knows them: a name from the user (a join key) found among a dataset
version's columns by its lake name or its name in the source file, case-insensitively."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from etl_models.ledger_records import ColumnInfo


@dataclass(frozen=True)
class ColumnMatch:
    """The lake column a user's name resolved to, or why it did not."""

    column: str | None  # the lake name
    problem: str | None = None  # "not found" / "ambiguous" sentence, without the fix


def column_label(column: ColumnInfo) -> str:
    """``STATE_FIPS (state_fips)`` when the source name differs, else the lake name."""
    if column.source_name and column.source_name != column.name:
        return f"{column.source_name} ({column.name})"
    return column.name


def resolve_column(name: str, columns: Sequence[ColumnInfo]) -> ColumnMatch:
    """The lake column ``name`` means: an exact lake or source name first, then the same
    name ignoring case; ambiguous when it ignores case onto several columns."""
    for exact in (
        [c for c in columns if c.name == name],
        [c for c in columns if c.source_name == name],
    ):
        if len(exact) == 1:
            return ColumnMatch(exact[0].name)
    folded = name.casefold()
    matches = [
        c
        for c in columns
        if c.name.casefold() == folded or (c.source_name or "").casefold() == folded
    ]
    if len(matches) == 1:
        return ColumnMatch(matches[0].name)
    if matches:
        labels = ", ".join(column_label(c) for c in matches)
        return ColumnMatch(None, f"column {name!r} is ambiguous: it matches {labels}")
    available = ", ".join(column_label(c) for c in columns)
    return ColumnMatch(None, f"column {name!r} is not there; available columns: {available}")
