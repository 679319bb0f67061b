"""When two join keys are equal: the ``key_match`` rules, as SQL over a key column.

Every rule casts the value to ``text`` first; an empty or NULL key never matches.

==============  =============================================================================
``exact``       the text as is (``' 7'`` and ``'7'`` differ)
``trimmed``     surrounding whitespace (space, tab, CR, LF) removed; case-sensitive; the default
``casefold``    trimmed and lower-cased (``'Ab'`` matches ``'aB'``)
``numeric``     trimmed; a value that reads as a number is compared by value (``'01'``, ``'1'``,
                ``1`` and ``1.0`` match), any other value as trimmed text
==============  =============================================================================

``trimmed`` keeps identifier codes with leading zeros intact (``'007'`` does not match
``'7'``), which is right for codes stored as text on both sides; ``numeric`` is for the same
code stored as text on one side and as a number on the other.
"""

from __future__ import annotations

from typing import Literal

from psycopg import sql

KeyMatch = Literal["exact", "trimmed", "casefold", "numeric"]
DEFAULT_KEY_MATCH: KeyMatch = "trimmed"

KEY_RULES: dict[str, str] = {
    "exact": "text as is; empty or NULL never matches; case-sensitive",
    "trimmed": "text, trimmed of whitespace; empty or NULL never matches; case-sensitive",
    "casefold": "text, trimmed of whitespace, case ignored; empty or NULL never matches",
    "numeric": (
        "numbers compared by value ('01' = '1' = 1.0), other values as trimmed text; empty or "
        "NULL never matches"
    ),
}

# A plain decimal number (optional sign, fraction and exponent); nothing else is cast, so the
# cast to numeric cannot fail on a row.
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"


def key_expression(column: sql.Composable, rule: str = DEFAULT_KEY_MATCH) -> sql.Composed:
    """SQL for ``rule`` applied to ``column``: the normalised key, NULL when it never matches."""
    trimmed = sql.SQL("NULLIF(btrim({c}::text, E' \\t\\r\\n'), '')").format(c=column)
    if rule == "exact":
        return sql.SQL("NULLIF({c}::text, '')").format(c=column)
    if rule == "trimmed":
        return trimmed
    if rule == "casefold":
        return sql.SQL("lower({t})").format(t=trimmed)
    if rule == "numeric":
        # trim_scale drops trailing fractional zeros: 1.0 and 1 give the same text.
        return sql.SQL(
            "CASE WHEN {t} ~ {pattern} THEN trim_scale(({t})::numeric)::text ELSE {t} END"
        ).format(pattern=sql.Literal(_NUMBER), t=trimmed)
    raise ValueError(f"unknown key_match {rule!r}; use one of {', '.join(KEY_RULES)}")
