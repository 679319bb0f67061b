"""Field-level manifest errors: where, what, and how to fix it, from pydantic's errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldError:
    """One problem with a manifest: where, what, and how to fix it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ManifestValidationError(ValueError):
    """A manifest that cannot be accepted. ``errors`` lists every field-level problem."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"invalid manifest ({len(errors)} problem(s)):\n{lines}")

    def as_report(self) -> dict[str, Any]:
        """A JSON-able report for the rejection record and the archived error file."""
        return {"errors": [{"field": e.field, "message": e.message} for e in self.errors]}


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(manifest)"


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = error["loc"]
    name = str(loc[-1]) if loc else "manifest"
    if kind == "missing":
        return f"required field {name!r} is missing; add it"
    if kind == "extra_forbidden":
        return f"unknown field {name!r}; remove it or check its spelling"
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]} (got {type(error.get('input')).__name__})"
    if kind == "string_pattern_mismatch":
        if name == "batch_id":
            return (
                f"batch_id {error.get('input')!r} is invalid; use 1-128 letters, digits, '.', "
                "'_' or '-', starting with a letter or digit, e.g. 'roads_2026_11_22'"
            )
        if name == "intent":
            return (
                f"intent {error.get('input')!r} is invalid; use lowercase letters, digits and "
                "'_' such as 'ingest_vector'"
            )
        if name == "type" and len(loc) >= 2 and loc[-3:-2] == ("files",):
            return (
                f"file type {error.get('input')!r} is invalid; use a lowercase name such as "
                "'vector', 'raster' or 'tabular'"
            )
        if len(loc) >= 3 and loc[-1] == "[key]" and loc[-3] == "tags":
            name = str(loc[-2])
            return (
                f"tag key {name!r} is invalid; use letters, digits, '_', '.', ':' or '-' "
                "(at most 64 characters)"
            )
        return f"value {error.get('input')!r} does not match {error['ctx'].get('pattern')}"
    if kind == "literal_error":
        return f"{error.get('input')!r} is not allowed; use one of {error['ctx'].get('expected')}"
    if kind in ("string_too_short", "too_short"):
        return "must not be empty"
    if kind in ("string_too_long", "too_long"):
        return f"is too long ({error['msg'].lower()}); shorten it"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{error.get('input')!r} is too small ({error['msg'].lower()})"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def flatten_errors(exc: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        # Tagged unions add the member type to the path; it means nothing to a user.
        loc = tuple(p for p in loc if p not in ("str", "int", "float", "bool"))
        hint = (error.get("ctx") or {}).get("field")
        if hint:
            loc = (*loc, *str(hint).split("."))
        # An invalid dict key is reported at the key itself.
        field = _field_path(tuple(p for p in loc if p != "[key]"))
        message = _describe(error)
        if (field, message) not in seen:
            seen.add((field, message))
            errors.append(FieldError(field, message))
    return errors
