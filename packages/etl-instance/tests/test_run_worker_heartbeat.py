"""Run-worker heartbeats and the launcher's health check, on a real (temporary) Dagster
instance: the beat is written by a real run, read back from run storage, and judged by the
launcher the instance loads from its configuration."""

import time

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus
from etl_instance.heartbeat import (
    HEARTBEAT_AT_TAG,
    HEARTBEAT_INTERVAL_TAG,
    MIN_MISSED_BEATS,
    RunWorkerHeartbeat,
    evaluate_heartbeat,
    job_heartbeat_tags,
)
from etl_instance.run_launcher import HeartbeatRunLauncher

NOW = 1_800_000_000.0


# --- the verdict -----------------------------------------------------------------------------


def test_jobs_without_the_tag_are_not_judged():
    assert evaluate_heartbeat({}, started_at=NOW - 10_000, now=NOW) is None


def test_fresh_beat_is_alive_and_stale_beat_is_dead():
    tags = {HEARTBEAT_INTERVAL_TAG: "10", HEARTBEAT_AT_TAG: str(NOW - 30)}
    alive = evaluate_heartbeat(tags, started_at=NOW - 600, now=NOW, timeout_s=90)
    assert alive is not None and alive.alive
    dead = evaluate_heartbeat(tags, started_at=NOW - 600, now=NOW + 61, timeout_s=90)
    assert dead is not None and not dead.alive
    assert "stopped heartbeating" in dead.message and "91 s ago" in dead.message


def test_no_beat_yet_counts_from_the_run_start():
    tags = {HEARTBEAT_INTERVAL_TAG: "10"}
    assert evaluate_heartbeat(tags, started_at=NOW - 20, now=NOW, timeout_s=90).alive
    verdict = evaluate_heartbeat(tags, started_at=NOW - 200, now=NOW, timeout_s=90)
    assert not verdict.alive and "no heartbeat since the run started" in verdict.message


def test_beat_copied_from_the_parent_run_does_not_count():
    # A re-execution copies its parent's tags, including the parent's last heartbeat.
    tags = {HEARTBEAT_INTERVAL_TAG: "10", HEARTBEAT_AT_TAG: str(NOW - 5_000)}
    verdict = evaluate_heartbeat(tags, started_at=NOW - 5, now=NOW, timeout_s=90)
    assert verdict.alive, verdict


def test_limit_is_at_least_four_intervals_and_bad_tags_fall_back():
    tags = {HEARTBEAT_INTERVAL_TAG: "60", HEARTBEAT_AT_TAG: str(NOW - 200)}
    assert evaluate_heartbeat(tags, started_at=NOW - 900, now=NOW, timeout_s=30).alive
    assert MIN_MISSED_BEATS * 60 > 200
    garbage = {HEARTBEAT_INTERVAL_TAG: "nan", HEARTBEAT_AT_TAG: "yesterday"}
    assert evaluate_heartbeat(garbage, started_at=NOW - 20, now=NOW, timeout_s=30).alive
    assert not evaluate_heartbeat(garbage, started_at=NOW - 100, now=NOW, timeout_s=30).alive


def test_run_without_start_time_is_not_failed():
    assert evaluate_heartbeat({HEARTBEAT_INTERVAL_TAG: "5"}, started_at=None, now=NOW).alive


def test_job_tags_reject_a_zero_interval():
    assert job_heartbeat_tags(7) == {HEARTBEAT_INTERVAL_TAG: "7"}
    with pytest.raises(ValueError, match="at least 1 second"):
        job_heartbeat_tags(0)


# --- a real run and a real instance ----------------------------------------------------------

LAUNCHER = {
    "module": "etl_instance.run_launcher",
    "class": "HeartbeatRunLauncher",
    "config": {"heartbeat_timeout_seconds": 1},
}


@dg.op
def slow_step(context: dg.OpExecutionContext, run_worker_heartbeat: RunWorkerHeartbeat) -> None:
    # Only runs of jobs that opted in beat.
    assert run_worker_heartbeat.beating == (HEARTBEAT_INTERVAL_TAG in context.run.tags)
    time.sleep(2.5)


@dg.job(tags=job_heartbeat_tags(1))
def beating_job() -> None:
    slow_step()


@dg.job
def silent_job() -> None:
    slow_step()


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance) -> dg.DagsterRun:
    result = job.execute_in_process(
        instance=instance, resources={"run_worker_heartbeat": RunWorkerHeartbeat()}
    )
    assert result.success
    return instance.get_run_by_id(result.run_id)


def test_worker_stamps_its_run_and_the_launcher_judges_it():
    with dg.instance_for_test(overrides={"run_launcher": LAUNCHER}) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, HeartbeatRunLauncher)
        assert launcher.supports_check_run_worker_health
        assert launcher.heartbeat_timeout_seconds == 1

        run = _run(beating_job, instance)
        record = instance.get_run_record_by_id(run.run_id)
        beat = float(run.tags[HEARTBEAT_AT_TAG])
        # Beats during the 2.5 s step: the last one is after the start, before the end.
        assert record.start_time <= beat <= record.end_time
        # Judged right after the run: fresh; after 4 intervals (4 s) of silence: dead.
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
        time.sleep(MIN_MISSED_BEATS * 1 + 1 - (time.time() - beat))
        result = launcher.check_run_worker_health(run)
        assert result.status == WorkerStatus.FAILED
        assert "stopped heartbeating" in result.msg


def test_runs_of_jobs_that_do_not_heartbeat_are_reported_running():
    with dg.instance_for_test(overrides={"run_launcher": LAUNCHER}) as instance:
        run = _run(silent_job, instance)
        assert HEARTBEAT_AT_TAG not in run.tags
        result = instance.run_launcher.check_run_worker_health(run)
        assert result.status == WorkerStatus.RUNNING


def test_launcher_rejects_a_bad_timeout():
    with pytest.raises(ValueError, match="heartbeat_timeout_seconds"):
        HeartbeatRunLauncher(heartbeat_timeout_seconds=0)
