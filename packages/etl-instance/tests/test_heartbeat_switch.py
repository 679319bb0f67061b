"""``ETL_WORKER_HEARTBEAT_SECONDS``: the interval, or ``0``/``off`` where the run launcher
checks run workers itself (Kubernetes), so no run writes a heartbeat tag."""

import dagster as dg
import pytest
from etl_instance.heartbeat import (
    DEFAULT_INTERVAL_S,
    HEARTBEAT_AT_TAG,
    HEARTBEAT_INTERVAL_TAG,
    INTERVAL_ENV,
    RunWorkerHeartbeat,
    heartbeat_enabled,
    heartbeat_interval_from_env,
    job_heartbeat_tags,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, DEFAULT_INTERVAL_S), ("", DEFAULT_INTERVAL_S), ("15", 15), ("0", None), ("off", None)],
)
def test_interval_from_the_environment(raw, expected):
    environ = {} if raw is None else {INTERVAL_ENV: raw}
    assert heartbeat_interval_from_env(environ) == expected
    assert heartbeat_enabled(environ) == (expected is not None)


@pytest.mark.parametrize("raw", ["-1", "ten", "1.5"])
def test_bad_values_are_configuration_errors(raw):
    with pytest.raises(ValueError, match=INTERVAL_ENV):
        heartbeat_interval_from_env({INTERVAL_ENV: raw})


def test_job_tags_follow_the_environment(monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "12")
    assert job_heartbeat_tags() == {HEARTBEAT_INTERVAL_TAG: "12"}
    monkeypatch.setenv(INTERVAL_ENV, "0")
    assert job_heartbeat_tags() == {}
    # An explicit interval still wins (tests, jobs that always want it).
    assert job_heartbeat_tags(3) == {HEARTBEAT_INTERVAL_TAG: "3"}


@dg.op
def step(run_worker_heartbeat: RunWorkerHeartbeat) -> None:
    assert not run_worker_heartbeat.beating


@dg.job(tags={HEARTBEAT_INTERVAL_TAG: "1"})
def tagged_job():
    step()


def test_worker_does_not_beat_when_turned_off_even_for_tagged_runs(monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "off")
    with dg.instance_for_test() as instance:
        result = tagged_job.execute_in_process(
            instance=instance, resources={"run_worker_heartbeat": RunWorkerHeartbeat()}
        )
        assert result.success
        assert HEARTBEAT_AT_TAG not in instance.get_run_by_id(result.run_id).tags
