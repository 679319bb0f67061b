"""Typed errors of the transformation layer.

Every message names the field or option involved, the offending value and the fix, because the
text ends up in the ledger and in front of the person who uploaded the batch.
"""

from __future__ import annotations


class TransformError(ValueError):
    """Base class: a transformation could not be applied to this input."""


class RecipeError(TransformError):
    """No usable recipe for an intent / file type, or a recipe was misconfigured."""


class RecipeOverrideError(RecipeError):
    """A recipe parameter overridden from manifest metadata has an invalid value."""


class IdentifierError(TransformError):
    """A schema, table or column name cannot be used as an SQL identifier."""


class SourceCrsError(TransformError):
    """The source CRS of a vector table is unknown, unsupported, mixed or contradicts the
    declared one."""


class VectorSchemaError(TransformError):
    """The source table of a vector transform is missing or has an unusable layout."""


class TabularEncodingError(TransformError):
    """A delimited text file is not in the declared text encoding."""


class TabularParseError(TransformError):
    """A delimited text file cannot be parsed with the given options."""


class JoinKeyError(TransformError):
    """A join key column does not exist or cannot be used as a key."""


class JoinDuplicateKeyError(TransformError):
    """Duplicate join keys were found and the join options ask to fail on them."""
