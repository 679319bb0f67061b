"""What one intake tick decided: the manifests queued, rejected, disabled or left to others."""

from __future__ import annotations

from dataclasses import dataclass, field

from etl_models.cursor import ManifestCursor
from etl_models.intake import RunPlan
from etl_models.manifest import Manifest


@dataclass(frozen=True)
class QueuedManifest:
    """A valid manifest of ours whose run is to be requested."""

    key: str
    manifest: Manifest
    plan: RunPlan
    etag: str | None = None


@dataclass(frozen=True)
class RejectedManifest:
    key: str
    reason: str
    batch_id: str | None
    archive_key: str


@dataclass
class IntakeResult:
    """The outcome of one tick; ``cursor`` is to be committed together with the run requests."""

    cursor: ManifestCursor
    queued: list[QueuedManifest] = field(default_factory=list)
    rejected: list[RejectedManifest] = field(default_factory=list)
    disabled: list[RejectedManifest] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    deferred: int = 0  # new manifests left for the next tick (per-tick cap)

    @property
    def processed(self) -> int:
        return len(self.queued) + len(self.rejected) + len(self.disabled) + len(self.foreign)

    def summary(self) -> str:
        return (
            f"queued={len(self.queued)} rejected={len(self.rejected)} "
            f"disabled={len(self.disabled)} other_lanes={len(self.foreign)} "
            f"deferred={self.deferred}"
        )
