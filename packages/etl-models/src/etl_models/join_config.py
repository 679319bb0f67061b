"""``metadata.join_config``: how ``join_datasets`` joins a tabular dataset onto a spatial one.

Which rows survive is said with ``keep`` (``spatial``: every spatial feature, ``tabular``:
every tabular row, ``both``, ``matched``). The older ``how`` names the SQL join with the
tabular side on the LEFT (``how: left`` keeps every tabular row); it keeps working exactly so,
and ``keep`` with ``how`` is accepted only when both say the same thing.

``key_match`` says when two key values are equal (``etl_transforms.join_keys``), and a match
rate under ``min_match_rate`` on the kept side(s) is a warning.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from etl_models.identity import validate_dataset_id

COLUMN_NAME_MAX = 128

JoinHow = Literal["left", "inner", "right", "outer"]
JoinKeep = Literal["spatial", "tabular", "both", "matched"]
KeyMatch = Literal["exact", "trimmed", "casefold", "numeric"]

KEEP_TO_HOW: dict[str, str] = {
    "spatial": "right",
    "tabular": "left",
    "both": "outer",
    "matched": "inner",
}
HOW_TO_KEEP: dict[str, str] = {how: keep for keep, how in KEEP_TO_HOW.items()}
DEFAULT_MIN_MATCH_RATE = 0.9


class JoinConfig(BaseModel):
    """How ``join_datasets`` joins a tabular dataset onto a spatial one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spatial_dataset_id: StrictStr
    tabular_dataset_id: StrictStr
    left_key: StrictStr = Field(
        min_length=1,
        max_length=COLUMN_NAME_MAX,
        description="key column of the tabular dataset, as named in the source file or the lake",
    )
    right_key: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=COLUMN_NAME_MAX,
        description="key column of the spatial dataset; defaults to left_key",
    )
    spatial_version: StrictInt | None = Field(None, ge=1, description="pinned version, else latest")
    tabular_version: StrictInt | None = Field(None, ge=1, description="pinned version, else latest")
    keep: JoinKeep | None = Field(
        None,
        description="rows kept: spatial (every feature), tabular (every row), both, matched",
    )
    how: JoinHow | None = Field(
        None,
        description="older form of keep, the tabular side being LEFT: left keeps every tabular "
        "row, right every spatial feature; default left when keep is not set",
    )
    key_match: KeyMatch = Field(
        "trimmed",
        description="exact; trimmed (whitespace ignored); casefold (and case ignored); "
        "numeric (numbers by value: '01', '1' and 1.0 match)",
    )
    min_match_rate: StrictFloat = Field(
        DEFAULT_MIN_MATCH_RATE,
        ge=0,
        le=1,
        description="share of the kept side's rows that must match; below it the join warns",
    )

    @field_validator("spatial_dataset_id", "tabular_dataset_id")
    @classmethod
    def _dataset_ids(cls, value: str) -> str:
        return validate_dataset_id(value)

    @model_validator(mode="after")
    def _keep_agrees_with_how(self) -> JoinConfig:
        if self.keep is not None and self.how is not None and KEEP_TO_HOW[self.keep] != self.how:
            raise PydanticCustomError(
                "keep_how",
                "keep '{keep}' and how '{how}' disagree (keep '{keep}' is how '{same}', the "
                "tabular side being left); remove how",
                {"keep": self.keep, "how": self.how, "same": KEEP_TO_HOW[self.keep]},
            )
        return self

    @property
    def effective_right_key(self) -> str:
        return self.right_key or self.left_key

    @property
    def effective_how(self) -> str:
        """The SQL join with the tabular side on the left."""
        if self.keep is not None:
            return KEEP_TO_HOW[self.keep]
        return self.how or "left"

    @property
    def effective_keep(self) -> str:
        return self.keep or HOW_TO_KEEP[self.effective_how]
