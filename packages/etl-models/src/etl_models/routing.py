"""The routing table (DESIGN.md section 4): intent -> lane, one owner per manifest.

Every sensor consults this one table, so exactly one lane owns each manifest. Intents not
listed fall to the legacy ``ingest`` lane, whose recipe registry has a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Lane(StrEnum):
    SPATIAL = "spatial"
    TABULAR = "tabular"
    JOIN = "join"
    INGEST = "ingest"


@dataclass(frozen=True)
class LaneSpec:
    """The Dagster objects that serve one lane."""

    lane: Lane
    code_location: str
    sensor: str
    job: str
    asset: str | None


LANES: Mapping[Lane, LaneSpec] = {
    Lane.SPATIAL: LaneSpec(
        Lane.SPATIAL, "asset_lanes", "spatial_sensor", "spatial_asset_job", "raw_spatial_asset"
    ),
    Lane.TABULAR: LaneSpec(
        Lane.TABULAR, "asset_lanes", "tabular_sensor", "tabular_asset_job", "raw_tabular_asset"
    ),
    Lane.JOIN: LaneSpec(
        Lane.JOIN, "asset_lanes", "join_sensor", "join_asset_job", "joined_spatial_asset"
    ),
    Lane.INGEST: LaneSpec(Lane.INGEST, "legacy_ingest", "manifest_sensor", "ingest_job", None),
}

ROUTING_TABLE: Mapping[str, Lane] = {
    "ingest_vector": Lane.SPATIAL,
    "ingest_raster": Lane.SPATIAL,
    "ingest_tabular": Lane.TABULAR,
    "join_datasets": Lane.JOIN,
}

DEFAULT_LANE = Lane.INGEST


def lane_for_intent(intent: str) -> Lane:
    """The lane that owns manifests with ``intent`` (unknown intents: the legacy lane)."""
    return ROUTING_TABLE.get(intent, DEFAULT_LANE)


def intents_for_lane(lane: Lane) -> frozenset[str]:
    """The intents a lane owns explicitly (the legacy lane also owns every unlisted intent)."""
    return frozenset(intent for intent, owner in ROUTING_TABLE.items() if owner == lane)


def parse_enabled_lanes(raw: str | None) -> frozenset[Lane]:
    """Parse ``MANIFEST_ROUTER_ENABLED_LANES`` (comma list; unset or blank = ``ingest``)."""
    if raw is None or not raw.strip():
        return frozenset({Lane.INGEST})
    lanes: set[Lane] = set()
    for part in raw.split(","):
        name = part.strip().lower()
        if not name:
            continue
        try:
            lanes.add(Lane(name))
        except ValueError:
            allowed = ", ".join(lane.value for lane in Lane)
            raise ValueError(
                f"MANIFEST_ROUTER_ENABLED_LANES names unknown lane {name!r}; use a comma list "
                f"of {allowed}"
            ) from None
    return frozenset(lanes)
