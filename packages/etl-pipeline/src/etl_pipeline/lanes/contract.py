"""What every lane promises: the quality facts its checks judge and the result it returns.

A lane's output breaks the lake contract when :meth:`QualityFacts.violations` is not empty;
the template then fails the batch before anything reaches the lake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from etl_models.ledger_records import AssetRecord, ColumnInfo

TARGET_CRS = "EPSG:4326"
"""The CRS of every vector version in the lake."""


class LaneError(RuntimeError):
    """A batch that cannot be processed; the message says why and what to do."""


@dataclass(frozen=True)
class SchemaDrift:
    """Column differences against the previous version of the dataset."""

    previous_version: int | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retyped: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QualityFacts:
    """What the asset checks judge: measured on the output, compared with the source."""

    crs: str | None
    output_rows: int
    source_rows: int | None  # features / CSV rows / joined rows expected
    dropped_rows: int = 0  # rows the recipe removed on purpose (empty/collapsed geometries)
    corrupt_rows: int = 0  # rows lost to corruption, accepted up to ETL_MAX_CORRUPT_ROWS
    invalid_geometries: int | None = None
    empty_geometries: int | None = None
    kind: str = "vector"  # vector | raster | tabular

    @property
    def rows_accounted(self) -> bool:
        kept_or_counted = self.output_rows + self.dropped_rows + self.corrupt_rows
        return self.source_rows is None or kept_or_counted == self.source_rows

    def violations(self) -> list[str]:
        """Broken output contracts; a batch with any is failed before it reaches the lake."""
        problems: list[str] = []
        if self.kind == "vector" and self.crs != TARGET_CRS:
            problems.append(f"output CRS is {self.crs}, the lake contract is {TARGET_CRS}")
        if self.kind == "raster" and not self.crs:
            problems.append("the raster has no CRS; declare files[0].crs or fix the source")
        if self.invalid_geometries:
            problems.append(f"{self.invalid_geometries} invalid geometries left after repair")
        if self.empty_geometries:
            problems.append(f"{self.empty_geometries} empty geometries in the output")
        if not self.rows_accounted:
            problems.append(
                f"row count mismatch: source {self.source_rows}, output {self.output_rows} + "
                f"{self.dropped_rows} dropped on purpose + {self.corrupt_rows} corrupt"
            )
        return problems

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OutputFormat:
    """How a lane writes its lake object."""

    filename: str  # name of the data object under the version prefix
    media_type: str
    format: str  # the ledger's format label: geoparquet | cog | parquet


@dataclass(frozen=True)
class LaneOutput:
    """A finished local file and what the ledger records about it."""

    path: Path
    row_count: int | None
    bounds: Sequence[float] | None
    crs: str | None
    source_crs: str | None
    geometry_types: Sequence[str]
    columns: list[ColumnInfo]
    quality: QualityFacts
    report: dict[str, Any]


@dataclass(frozen=True)
class LaneResult:
    """A processed batch: the asset version (new or matched) and what the checks need."""

    asset: AssetRecord
    deduplicated: bool
    quality: QualityFacts
    drift: SchemaDrift
    report: dict[str, Any]

    def materialization_metadata(self) -> dict[str, Any]:
        """Plain values for ``MaterializeResult`` metadata (code locations wrap them)."""
        asset = self.asset
        return {
            "uri": asset.uri,
            "dataset_id": asset.dataset_id,
            "version": asset.version,
            "row_count": asset.row_count,
            "column_schema": [(c.name, c.type) for c in asset.column_schema],
            "crs": asset.crs,
            "source_crs": asset.source_crs,
            "bbox": list(asset.bounds) if asset.bounds else None,
            "geometry_types": list(asset.geometry_types),
            "content_hash": asset.content_hash,
            "deduplicated": self.deduplicated,
            "stac_item": asset.stats.get("stac_item"),
        }


def columns_of(
    specs: Sequence[Any], source_names: Mapping[str, str] | None = None
) -> list[ColumnInfo]:
    """Ledger column records from writer column specs (anything with ``name`` and ``type``);
    the source name comes from ``source_names`` (lake name -> source name) or the spec's
    ``original`` (tabular header mapping)."""
    names = source_names or {}
    return [
        ColumnInfo(
            name=s.name,
            type=str(s.type),
            source_name=names.get(s.name) or getattr(s, "original", None),
        )
        for s in specs
    ]
