"""SQL identifier validation shared by the PostGIS steps.

Names are always quoted with :class:`psycopg.sql.Identifier`; validation on top of quoting keeps
the names the platform *creates* (schemas, work tables) boring and rejects names PostgreSQL
would silently truncate or cannot store.
"""

from __future__ import annotations

from etl_spatial.identifiers import InvalidIdentifier, validate_identifier
from etl_transforms.errors import IdentifierError

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated, so we refuse them."""


def validate_platform_name(value: str, *, field: str) -> str:
    """Validate a name the platform chooses (schema or work table): etl_spatial's identifier
    rule, raised as this package's :class:`IdentifierError`."""
    try:
        return validate_identifier(value, what=field)
    except InvalidIdentifier as exc:
        raise IdentifierError(str(exc)) from None


def validate_column_name(value: str, *, field: str = "column") -> str:
    """Validate a data column name (any text PostgreSQL can store without truncation)."""
    if not isinstance(value, str) or not value:
        raise IdentifierError(f"{field} must be a non-empty string (got {value!r})")
    if "\x00" in value:
        raise IdentifierError(f"{field} {value!r} contains a NUL character; rename the column")
    if len(value.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise IdentifierError(
            f"{field} {value!r} is longer than {MAX_IDENTIFIER_BYTES} bytes, which PostgreSQL "
            "would truncate; shorten the column name"
        )
    return value


def schema_name(schema: object) -> str:
    """The schema name of ``schema``: a string, or an object with a ``name`` (e.g.
    ``etl_spatial.postgis.RunSchema``), validated as a platform name."""
    name = schema if isinstance(schema, str) else getattr(schema, "name", None)
    if not isinstance(name, str):
        raise IdentifierError(
            f"schema must be a schema name or a RunSchema (got {type(schema).__name__})"
        )
    return validate_platform_name(name, field="schema")
