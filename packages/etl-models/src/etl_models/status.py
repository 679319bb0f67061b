"""Status values shared by the ledger's ``runs`` and ``manifests`` collections."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELED = "canceled"


class ManifestStatus(StrEnum):
    QUEUED = "queued"
    REJECTED = "rejected"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELED = "canceled"


TERMINAL_RUN_STATUSES = frozenset({RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED})

# Allowed manifest transitions. A batch may be re-executed any number of times, so a
# terminal failure/cancel may go back to running; success may also be re-run (re-execution
# of a successful run is legitimate). ``rejected`` is final: a rejected manifest never runs.
MANIFEST_TRANSITIONS: dict[ManifestStatus, frozenset[ManifestStatus]] = {
    ManifestStatus.QUEUED: frozenset(
        {ManifestStatus.RUNNING, ManifestStatus.CANCELED, ManifestStatus.FAILURE}
    ),
    ManifestStatus.RUNNING: frozenset(
        {ManifestStatus.SUCCESS, ManifestStatus.FAILURE, ManifestStatus.CANCELED}
    ),
    ManifestStatus.SUCCESS: frozenset({ManifestStatus.RUNNING}),
    ManifestStatus.FAILURE: frozenset({ManifestStatus.RUNNING}),
    ManifestStatus.CANCELED: frozenset({ManifestStatus.RUNNING}),
    ManifestStatus.REJECTED: frozenset(),
}

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.RUNNING: frozenset({RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED}),
    RunStatus.SUCCESS: frozenset(),
    RunStatus.FAILURE: frozenset(),
    RunStatus.CANCELED: frozenset(),
}


def manifest_transition_allowed(current: ManifestStatus, new: ManifestStatus) -> bool:
    """Whether a manifest may move from ``current`` to ``new``."""
    return new in MANIFEST_TRANSITIONS[ManifestStatus(current)]


def run_transition_allowed(current: RunStatus, new: RunStatus) -> bool:
    """Whether a run may move from ``current`` to ``new``."""
    return new in RUN_TRANSITIONS[RunStatus(current)]
