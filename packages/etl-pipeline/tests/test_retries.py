"""Which failed runs are retried, and the tags their retries carry."""

from etl_pipeline.retries import (
    RETRY_NUMBER_TAG,
    RETRY_OF_TAG,
    retry_run_key,
    retry_run_tags,
    should_retry,
)

LANE_TAGS = {
    "batch_id": "roads_1",
    "lane": "spatial",
    "dagster/partition": "roads",
    "dagster/run_key": "spatial:roads_1",
    "dagster/failure_reason": "RUN_WORKER_RESTART",
    "etl/worker_heartbeat_interval_s": "10",
    "etl/worker_heartbeat_at": "1800000000.0",
}


def test_failures_other_than_steps_are_retried_until_attempts_run_out():
    assert should_retry(LANE_TAGS)
    assert should_retry({"batch_id": "x"})  # failed from outside: no reason recorded
    assert should_retry({**LANE_TAGS, RETRY_NUMBER_TAG: "1"})
    assert not should_retry({**LANE_TAGS, RETRY_NUMBER_TAG: "2"})
    assert not should_retry(LANE_TAGS, max_retries=0)


def test_step_failures_are_never_retried():
    assert not should_retry({**LANE_TAGS, "dagster/failure_reason": "STEP_FAILURE"})


def test_retry_tags_keep_the_batch_and_drop_dagster_bookkeeping():
    tags = retry_run_tags("run-1", {**LANE_TAGS, RETRY_NUMBER_TAG: "1"})
    assert tags == {
        "batch_id": "roads_1",
        "lane": "spatial",
        "etl/worker_heartbeat_interval_s": "10",
        RETRY_NUMBER_TAG: "2",
        RETRY_OF_TAG: "run-1",
    }
    assert retry_run_tags("run-1", {RETRY_NUMBER_TAG: "garbage"})[RETRY_NUMBER_TAG] == "1"
    assert retry_run_key("run-1") == "retry:run-1"
