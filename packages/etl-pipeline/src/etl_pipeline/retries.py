"""Which failed runs the platform retries, and with which tags (no Dagster import).

A run that failed because of its own step (bad input, a contract breach, a transient error
that outlived the step's retry policy) is not retried: it failed once, with its message.
A run that failed for any other reason (its worker killed, lost with a restarted code server,
failed at launch or at resource set-up, timed out starting) is requested again, at most
``max_retries`` times, by the location's retry sensor.

Why not Dagster's ``run_retries``: its daemon retries at the moment of failure and gives up
for good when the run's code location cannot be loaded then, which is exactly the case of a
run lost with its restarting code server. The retry sensor runs in the code location, so it
acts only once the location is back, and it processes every failure it has not seen yet.
"""

from __future__ import annotations

from collections.abc import Mapping

RETRY_NUMBER_TAG = "etl/retry_number"
RETRY_OF_TAG = "etl/retry_of"
FAILURE_REASON_TAG = "dagster/failure_reason"  # set by Dagster on failed runs
STEP_FAILURE = "STEP_FAILURE"
DEFAULT_MAX_RETRIES = 2

# Tags a new run must not inherit: Dagster's own (run key, partition, retry bookkeeping,
# failure reason...) and the worker's last heartbeat.
_NOT_INHERITED_PREFIXES = ("dagster/", ".dagster/")
_NOT_INHERITED = frozenset({"etl/worker_heartbeat_at"})


def retry_number(tags: Mapping[str, str]) -> int:
    try:
        return max(0, int(tags.get(RETRY_NUMBER_TAG, "0")))
    except ValueError:
        return 0


def should_retry(tags: Mapping[str, str], max_retries: int = DEFAULT_MAX_RETRIES) -> bool:
    """Whether a failed run with these tags is retried (not a step failure, attempts left)."""
    if tags.get(FAILURE_REASON_TAG) == STEP_FAILURE:
        return False
    return retry_number(tags) < max_retries


def retry_run_tags(run_id: str, tags: Mapping[str, str]) -> dict[str, str]:
    """The tags of the retry of failed run ``run_id``: its own tags (batch, lane, uploader...)
    plus the attempt number and the run it retries."""
    kept = {
        k: v
        for k, v in tags.items()
        if not k.startswith(_NOT_INHERITED_PREFIXES) and k not in _NOT_INHERITED
    }
    kept[RETRY_NUMBER_TAG] = str(retry_number(tags) + 1)
    kept[RETRY_OF_TAG] = run_id
    return kept


def retry_run_key(run_id: str) -> str:
    """One retry per failed run, however often the sensor sees the failure."""
    return f"retry:{run_id}"
