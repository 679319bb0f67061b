"""Status values of the ledger's ``runs`` and ``manifests`` and the decisions about them.

Pure functions: the ledger asks them what an event does and only carries it out.
"""

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


MANIFEST_TERMINAL_STATUSES = frozenset(
    {ManifestStatus.SUCCESS, ManifestStatus.FAILURE, ManifestStatus.CANCELED}
)


class Decision(StrEnum):
    """What the ledger does with a status event."""

    APPLY = "apply"  # change the status and append the event to the history
    KEEP = "keep"  # already recorded (a replayed event): change nothing
    HISTORY_ONLY = "history_only"  # an older run's event: history only, status unchanged
    CREATE = "create"  # no record yet: create it in the new status
    REFUSE = "refuse"  # not allowed by the lifecycle


def decide_manifest_status(
    current: ManifestStatus,
    current_run_id: object | None,
    new: ManifestStatus,
    run_id: object | None,
) -> Decision:
    """What an event "manifest is now ``new``, reported for run ``run_id``" does.

    Events are attributed to runs, and sensors replay and reorder them:

    - the current status again for the same run is a replay (``KEEP``), and so is ``running``
      for the current run once that run has ended (a late start event);
    - ``running`` for a new run while another is recorded running: the re-execution takes over;
    - a terminal status of a run that is no longer the current one goes to the history only,
      so an older run cannot overwrite a newer run's state;
    - otherwise ``MANIFEST_TRANSITIONS`` decides (``REFUSE`` when not listed).
    """
    current, new = ManifestStatus(current), ManifestStatus(new)
    other_run = run_id is not None and current_run_id is not None and run_id != current_run_id
    if current == new and (run_id is None or run_id == current_run_id):
        return Decision.KEEP
    if (
        new == ManifestStatus.RUNNING
        and run_id is not None
        and run_id == current_run_id
        and current in MANIFEST_TERMINAL_STATUSES
    ):
        return Decision.KEEP
    if new in MANIFEST_TERMINAL_STATUSES and other_run:
        return Decision.HISTORY_ONLY
    superseding = (
        new == ManifestStatus.RUNNING
        and current == ManifestStatus.RUNNING
        and run_id is not None
        and run_id != current_run_id
    )
    if superseding or manifest_transition_allowed(current, new):
        return Decision.APPLY
    return Decision.REFUSE


def manifest_keeps_error(status: ManifestStatus) -> bool:
    """Whether a manifest in ``status`` shows the error text of the event (else it is cleared)."""
    return ManifestStatus(status) in {ManifestStatus.FAILURE, ManifestStatus.CANCELED}


def decide_run_end(current: RunStatus | None, new: RunStatus) -> Decision:
    """What recording the end ``new`` of a run whose recorded status is ``current`` does.

    ``None``: the start was never recorded (failed at launch, events out of order), so the run
    is created ended. Repeating the same end is a replay; changing an ended run is refused.
    """
    new = RunStatus(new)
    if new not in TERMINAL_RUN_STATUSES:
        return Decision.REFUSE
    if current is None:
        return Decision.CREATE
    if RunStatus(current) == new:
        return Decision.KEEP
    return Decision.APPLY if run_transition_allowed(current, new) else Decision.REFUSE


def manifest_statuses_for_run_end(
    current: ManifestStatus, run_end: RunStatus
) -> tuple[ManifestStatus, ...]:
    """The manifest statuses to record, in order, when a run of its batch ends.

    The manifest follows the run's end; a success seen while the manifest is still ``queued``
    (the end event handled before the start event) passes through ``running`` first.
    """
    end = ManifestStatus(RunStatus(run_end).value)
    if ManifestStatus(current) == ManifestStatus.QUEUED and end == ManifestStatus.SUCCESS:
        return (ManifestStatus.RUNNING, end)
    return (end,)
