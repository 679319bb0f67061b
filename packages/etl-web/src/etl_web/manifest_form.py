"""The submit form, derived from the manifest model's JSON schema, and back to a manifest.

Labels, help texts, choices and length limits come from ``etl_models.manifest.Manifest``'s
JSON schema (the file type's choices: the file types the lanes declare), so a field added to
the model (e.g. a licence in the metadata) appears in the form without a change here.
Validation is the platform's own (``etl_cli.submission``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# Fields the form handles specially (files, tags, the join) or that the app fills in.
_SPECIAL_METADATA = {"tags", "join_config"}
_LONG_TEXT = {"description"}


@dataclass(frozen=True)
class FieldSpec:
    """One form input."""

    name: str  # form field name, e.g. "metadata.title"
    label: str
    help: str = ""
    kind: str = "text"  # text | textarea | select | number
    choices: tuple[str, ...] = ()
    required: bool = False
    maxlength: int | None = None
    default: Any = None


@dataclass(frozen=True)
class FormSpec:
    top: list[FieldSpec] = field(default_factory=list)
    file: list[FieldSpec] = field(default_factory=list)
    options: list[FieldSpec] = field(default_factory=list)
    metadata: list[FieldSpec] = field(default_factory=list)


def _resolve(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return schema["$defs"][ref.rsplit("/", 1)[1]]
    return node


def _scalar(prop: Mapping[str, Any]) -> Mapping[str, Any]:
    """The non-null branch of ``anyOf: [X, null]``."""
    for branch in prop.get("anyOf", []):
        if branch.get("type") != "null":
            return {**prop, **branch}
    return prop


def _spec(prefix: str, name: str, prop: Mapping[str, Any], required: bool) -> FieldSpec | None:
    p = _scalar(prop)
    kind = p.get("type")
    if "enum" in p:
        return FieldSpec(
            f"{prefix}{name}",
            p.get("title", name),
            p.get("description", ""),
            "select",
            tuple(str(v) for v in p["enum"]),
            required,
            default=p.get("default"),
        )
    if kind == "integer":
        return FieldSpec(
            f"{prefix}{name}",
            p.get("title", name),
            p.get("description", ""),
            "number",
            (),
            required,
        )
    if kind == "array" and p.get("items", {}).get("type") == "string":
        help_text = (p.get("description", "") + " (comma-separated)").strip()
        return FieldSpec(f"{prefix}{name}", p.get("title", name), help_text, "text", (), required)
    if kind != "string":
        return None
    return FieldSpec(
        f"{prefix}{name}",
        p.get("title", name),
        p.get("description", ""),
        "textarea" if name in _LONG_TEXT else "text",
        (),
        required,
        p.get("maxLength"),
        p.get("default"),
    )


def _specs(schema: Mapping[str, Any], node: Mapping[str, Any], prefix: str, skip: set[str]):
    node = _resolve(schema, node)
    required = set(node.get("required", []))
    out = []
    for name, prop in node.get("properties", {}).items():
        if name in skip:
            continue
        spec = _spec(prefix, name, prop, name in required)
        if spec is not None:
            out.append(spec)
    return out


@lru_cache(maxsize=1)
def form_spec() -> FormSpec:
    """The form's fields, from the manifest JSON schema."""
    from etl_pipeline.lanes.registry import manifest_schema

    schema = manifest_schema()  # files[].type: a choice of the lanes' file types
    props = schema["properties"]
    top = _specs(schema, schema, "", {"files", "metadata", "intent"})
    file_node = _resolve(schema, props["files"]["items"])
    file_specs = _specs(schema, file_node, "file.", {"path", "options"})
    options_ref = _scalar(file_node["properties"]["options"])
    options = _specs(schema, options_ref, "options.", set())
    metadata = _specs(schema, _scalar(props["metadata"]), "metadata.", _SPECIAL_METADATA)
    return FormSpec(top, file_specs, options, metadata)


def intents() -> list[str]:
    """Intents that take files (a join is made from datasets already in the lake)."""
    from etl_models.manifest import JOIN_INTENT
    from etl_pipeline.lanes.registry import known_intents

    return [i for i in known_intents() if i != JOIN_INTENT]


def parse_tags(text: str) -> dict[str, str]:
    """``key=value`` lines (or comma-separated); ``ValueError`` names a malformed one."""
    tags: dict[str, str] = {}
    for raw in text.replace(",", "\n").splitlines():
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"tag {line!r} is not key=value")
        tags[key.strip()] = value.strip()
    return tags


def tags_text(tags: Mapping[str, Any] | None) -> str:
    return "\n".join(f"{k}={v}" for k, v in (tags or {}).items() if k != "dataset_id")


def clean(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def extra_metadata(form: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata fields beyond title/description/project (whatever the schema offers)."""
    out: dict[str, Any] = {}
    for spec in form_spec().metadata:
        key = spec.name.split(".", 1)[1]
        if key in {"title", "description", "project"}:
            continue
        value = clean(form, spec.name)
        if value is None:
            continue
        if spec.help.endswith("(comma-separated)"):
            out[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif spec.kind == "number":
            out[key] = int(value) if value.lstrip("-").isdigit() else value
        else:
            out[key] = value
    return out


def file_entry_edits(form: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest file entry with the form's per-file fields applied (resubmission)."""
    out = {k: v for k, v in entry.items() if k in {"path", "type", "format", "crs", "layer"}}
    for spec in form_spec().file:
        key = spec.name.split(".", 1)[1]
        value = clean(form, spec.name)
        if value is not None:
            out[key] = value
        elif key != "type":  # an emptied field is removed; the type is required
            out.pop(key, None)
    options = {
        spec.name.split(".", 1)[1]: clean(form, spec.name)
        for spec in form_spec().options
        if clean(form, spec.name) is not None
    }
    if options:
        out["options"] = options
    return out
