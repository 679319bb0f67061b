"""Status decisions of the ledger as pure functions (no server)."""

from __future__ import annotations

import pytest

from etl_models.status import (
    Decision,
    ManifestStatus,
    RunStatus,
    decide_manifest_status,
    decide_run_end,
    manifest_keeps_error,
    manifest_statuses_for_run_end,
)

pytestmark = pytest.mark.unit

M, R = ManifestStatus, RunStatus


@pytest.mark.parametrize(
    ("current", "current_run", "new", "run", "decision"),
    [
        (M.QUEUED, None, M.RUNNING, "r1", Decision.APPLY),
        (M.RUNNING, "r1", M.SUCCESS, "r1", Decision.APPLY),
        (M.RUNNING, "r1", M.RUNNING, "r1", Decision.KEEP),  # replayed start
        (M.SUCCESS, "r1", M.SUCCESS, "r1", Decision.KEEP),  # replayed end
        (M.SUCCESS, "r1", M.RUNNING, "r1", Decision.KEEP),  # late start of an ended run
        (M.RUNNING, "r2", M.FAILURE, "r1", Decision.HISTORY_ONLY),  # older run's end
        (M.RUNNING, "r1", M.RUNNING, "r2", Decision.APPLY),  # re-execution takes over
        (M.FAILURE, "r1", M.RUNNING, "r2", Decision.APPLY),  # re-run after failure
        (M.REJECTED, None, M.RUNNING, "r1", Decision.REFUSE),  # rejected is final
        (M.QUEUED, None, M.SUCCESS, "r1", Decision.REFUSE),  # must start first
        (M.SUCCESS, None, M.QUEUED, None, Decision.REFUSE),
    ],
)
def test_manifest_decisions(
    current: M, current_run: str | None, new: M, run: str | None, decision: Decision
) -> None:
    assert decide_manifest_status(current, current_run, new, run) == decision


@pytest.mark.parametrize(
    ("current", "new", "decision"),
    [
        (None, R.FAILURE, Decision.CREATE),  # failed at launch: never started
        (R.RUNNING, R.SUCCESS, Decision.APPLY),
        (R.SUCCESS, R.SUCCESS, Decision.KEEP),
        (R.SUCCESS, R.FAILURE, Decision.REFUSE),
        (R.RUNNING, R.RUNNING, Decision.REFUSE),  # not an end
        (None, R.RUNNING, Decision.REFUSE),
    ],
)
def test_run_end_decisions(current: R | None, new: R, decision: Decision) -> None:
    assert decide_run_end(current, new) == decision


def test_what_a_run_end_does_to_the_manifest() -> None:
    assert manifest_statuses_for_run_end(M.QUEUED, R.SUCCESS) == (M.RUNNING, M.SUCCESS)
    assert manifest_statuses_for_run_end(M.QUEUED, R.CANCELED) == (M.CANCELED,)
    assert manifest_statuses_for_run_end(M.RUNNING, R.FAILURE) == (M.FAILURE,)
    assert manifest_keeps_error(M.FAILURE) and not manifest_keeps_error(M.SUCCESS)
