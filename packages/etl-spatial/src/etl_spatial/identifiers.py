"""SQL identifiers: validated against a strict pattern, then quoted with ``psycopg.sql``.

Validation keeps names predictable (lowercase, no quoting surprises, within PostgreSQL's 63-byte
limit); quoting is still applied everywhere so a validated name can never become SQL syntax.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psycopg import sql

IDENTIFIER_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class InvalidIdentifier(ValueError):
    """A schema, table or column name that does not match ``^[a-z_][a-z0-9_]{0,62}$``."""


def validate_identifier(name: str, *, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe SQL identifier, else raise :class:`InvalidIdentifier`."""
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.match(name):
        raise InvalidIdentifier(
            f"{what} {name!r} is not a valid SQL identifier: use 1-63 characters of lowercase "
            "letters, digits and underscores, not starting with a digit (e.g. 'raw_data')"
        )
    return name


def quote_identifier(*names: str) -> sql.Identifier:
    """``psycopg.sql.Identifier`` for a (possibly schema-qualified) validated name."""
    from psycopg import sql

    return sql.Identifier(*(validate_identifier(n) for n in names))
