"""Human metadata of a dataset (``metadata.source``, ``license``, ``attribution``,
``keywords``, ``providers``): validated here, stored on the dataset version and written to
its STAC item (``license``, ``keywords``, ``providers``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator
from pydantic_core import PydanticCustomError

ProviderRole = Literal["licensor", "producer", "processor", "host"]
"""The STAC provider roles."""

# An SPDX identifier or expression ("CC-BY-4.0", "MIT OR Apache-2.0"); anything else is free
# text, which STAC records as license "other".
_SPDX_EXPRESSION = re.compile(
    r"^\(?[A-Za-z0-9][A-Za-z0-9.+-]*\)?( (AND|OR|WITH) \(?[A-Za-z0-9][A-Za-z0-9.+-]*\)?)*$"
)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

Keyword = Annotated[StrictStr, Field(min_length=1, max_length=64)]


def readable_text(value: str, field: str) -> str:
    """``value`` if it is not blank and holds no control characters (newlines and tabs
    allowed)."""
    if not value.strip() or _CONTROL_CHARS.search(value):
        raise PydanticCustomError(
            "readable_text",
            "{field} must be readable text without control characters (got '{value}')",
            {"field": field, "value": value[:80]},
        )
    return value


def is_spdx_expression(license_text: str) -> bool:
    return bool(_SPDX_EXPRESSION.match(license_text))


class Provider(BaseModel):
    """Who produced, licensed, processed or hosts the data (a STAC provider)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr = Field(min_length=1, max_length=256)
    roles: list[ProviderRole] = Field(default_factory=list, max_length=4)
    url: StrictStr | None = Field(None, max_length=2048, pattern=r"^https?://\S+$")
    description: StrictStr | None = Field(None, max_length=1024)

    @field_validator("name")
    @classmethod
    def _readable_name(cls, value: str) -> str:
        return readable_text(value, "providers[].name")


class DescriptiveFields(BaseModel):
    """The human metadata fields of ``ManifestMetadata`` (mixed in there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: StrictStr | None = Field(
        None, max_length=1024, description="where the data comes from (publisher, URL)"
    )
    license: StrictStr | None = Field(
        None,
        max_length=256,
        description="SPDX identifier or expression (e.g. CC-BY-4.0), or free text",
    )
    attribution: StrictStr | None = Field(
        None, max_length=1024, description="credit line to show with the data"
    )
    keywords: list[Keyword] = Field(default_factory=list, max_length=50)
    providers: list[Provider] = Field(default_factory=list, max_length=20)

    @field_validator("source", "license", "attribution")
    @classmethod
    def _readable(cls, value: str | None, info: Any) -> str | None:
        return None if value is None else readable_text(value, f"metadata.{info.field_name}")

    @field_validator("keywords")
    @classmethod
    def _unique_keywords(cls, values: list[str]) -> list[str]:
        for value in values:
            readable_text(value, "metadata.keywords[]")
        seen: set[str] = set()
        for value in values:
            if value.casefold() in seen:
                raise PydanticCustomError(
                    "duplicate_keyword",
                    "keyword '{value}' is listed twice; list each keyword once",
                    {"value": value},
                )
            seen.add(value.casefold())
        return values


def dataset_metadata(title: str | None, description: str | None, fields: Any) -> dict[str, Any]:
    """The human metadata a dataset version records (only what was given)."""
    out: dict[str, Any] = {"title": title, "description": description}
    for name in ("source", "license", "attribution"):
        out[name] = getattr(fields, name, None)
    keywords = list(getattr(fields, "keywords", []) or [])
    providers = [p.model_dump(exclude_none=True) for p in getattr(fields, "providers", []) or []]
    out["keywords"] = keywords or None
    out["providers"] = providers or None
    return {k: v for k, v in out.items() if v is not None}
