"""Run-worker heartbeats: how run monitoring learns that a run's worker is gone.

``DefaultRunLauncher`` runs each run as a subprocess of its code server. When that server
stops (a deploy, a crash, ``docker compose restart``), its run workers die with it and
nothing tells Dagster: the run would stay ``STARTED`` forever and its manifest ``running``
in the ledger. So a job opts in with a tag (``job_heartbeat_tags``), its run worker stamps
another run tag every few seconds (``RunWorkerHeartbeat``), and the instance's run launcher
(``etl_instance.run_launcher``), asked by the daemon's run monitoring, fails a run whose
stamp went stale. Run retries (``run_retries`` in ``dagster.yaml``) then re-execute it.

Where the run launcher checks run workers itself (``K8sRunLauncher`` watches the run's
Kubernetes job), the stamp is only write load on the run storage: ``ETL_WORKER_HEARTBEAT_SECONDS=0``
(or ``off``) turns it off, both for the job tags and in the run worker.

The stamp lives in the run's own tags (Dagster's run storage), not in a separate store:
nothing to clean up, it is deleted with the run, it shows in the UI, and the webserver and
daemon need no connection beyond the instance they already have.
"""

import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

HEARTBEAT_INTERVAL_TAG = "etl/worker_heartbeat_interval_s"
"""Set on a job: its run workers heartbeat every this many seconds (the opt-in)."""

HEARTBEAT_AT_TAG = "etl/worker_heartbeat_at"
"""Written by the run worker: unix time of its last heartbeat."""

DEFAULT_INTERVAL_S = 10
INTERVAL_ENV = "ETL_WORKER_HEARTBEAT_SECONDS"
"""Heartbeat interval in seconds; ``0`` (or ``off``/``false``/``disabled``) turns heartbeats off."""
_OFF_VALUES = frozenset({"0", "off", "false", "no", "disabled"})
DEFAULT_TIMEOUT_S = 90
MIN_MISSED_BEATS = 4
"""A worker is declared dead only after missing at least this many beats in a row."""

_log = logging.getLogger(__name__)


def heartbeat_interval_from_env(
    environ: Mapping[str, str] | None = None, default: int = DEFAULT_INTERVAL_S
) -> int | None:
    """``ETL_WORKER_HEARTBEAT_SECONDS``: the interval in seconds, ``None`` when turned off
    (``0``/``off``), ``default`` when unset. Anything else is a configuration error."""
    env = os.environ if environ is None else environ
    raw = env.get(INTERVAL_ENV, "").strip().lower()
    if not raw:
        return default
    if raw in _OFF_VALUES:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"{INTERVAL_ENV} must be a whole number of seconds, or 0/off to disable (got {raw!r})"
        ) from None
    if value < 0:
        raise ValueError(f"{INTERVAL_ENV} must be 0 (off) or a positive number (got {value})")
    return value or None


def heartbeat_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether run workers heartbeat at all here (see ``heartbeat_interval_from_env``)."""
    return heartbeat_interval_from_env(environ) is not None


def job_heartbeat_tags(interval_s: int | None = None) -> dict[str, str]:
    """The job tags that make a job's run workers heartbeat.

    Without ``interval_s`` the interval comes from ``ETL_WORKER_HEARTBEAT_SECONDS`` (default
    10 s); when that turns heartbeats off the tags are empty, so runs do not opt in.
    """
    if interval_s is None:
        interval_s = heartbeat_interval_from_env()
        if interval_s is None:
            return {}
    if interval_s < 1:
        raise ValueError(f"heartbeat interval must be at least 1 second (got {interval_s})")
    return {HEARTBEAT_INTERVAL_TAG: str(interval_s)}


def _positive_float(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


@dataclass(frozen=True)
class HeartbeatVerdict:
    alive: bool
    message: str


def evaluate_heartbeat(
    tags: Mapping[str, str],
    *,
    started_at: float | None,
    now: float,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> HeartbeatVerdict | None:
    """Is the worker of a started run alive, judged by its heartbeat tags?

    ``None`` when the run's job did not opt in (nothing to judge). The limit is the larger of
    ``timeout_s`` and ``MIN_MISSED_BEATS`` intervals. A beat older than the run's start was
    copied from the parent run of a re-execution and does not count; until the first beat,
    the run's start time stands in for it.
    """
    if HEARTBEAT_INTERVAL_TAG not in tags:
        return None
    interval = _positive_float(tags.get(HEARTBEAT_INTERVAL_TAG)) or DEFAULT_INTERVAL_S
    limit = max(timeout_s, MIN_MISSED_BEATS * interval)
    beat = _positive_float(tags.get(HEARTBEAT_AT_TAG))
    if beat is not None and started_at is not None and beat < started_at:
        beat = None
    last = beat if beat is not None else started_at
    if last is None:
        return HeartbeatVerdict(True, "run has no start time yet; nothing to judge")
    age = now - last
    seen = "last heartbeat" if beat is not None else "no heartbeat since the run started"
    when = datetime.fromtimestamp(last, UTC).isoformat(timespec="seconds")
    if age <= limit:
        return HeartbeatVerdict(True, f"{seen} {age:.0f} s ago ({when})")
    return HeartbeatVerdict(
        False,
        f"the run worker stopped heartbeating: {seen} {age:.0f} s ago ({when}), limit "
        f"{limit:.0f} s. Its process is gone (killed, or stopped with its code server); "
        "the run is failed so that it can be retried or re-executed.",
    )


def _beat(instance: Any, run_id: str, interval_s: float, stop: threading.Event) -> None:
    while True:
        try:
            instance.add_run_tags(run_id, {HEARTBEAT_AT_TAG: f"{time.time():.3f}"})
        except Exception as exc:  # the run storage may blink; the next beat tries again
            _log.warning("run %s: heartbeat not recorded: %s", run_id, exc)
        if stop.wait(interval_s):
            return


class RunWorkerHeartbeat(dg.ConfigurableResource):
    """Stamps ``HEARTBEAT_AT_TAG`` on the current run from a daemon thread while the run
    worker lives, for runs of jobs tagged with ``job_heartbeat_tags``.

    A step needs this resource for the thread to exist: the lane assets and ingest ops
    require it. In an in-process run, resources are set up once for the whole run. Nothing
    beats where ``ETL_WORKER_HEARTBEAT_SECONDS`` turns heartbeats off in the run worker's
    environment (e.g. Kubernetes run pods), whatever the run's tags say.
    """

    _stop: threading.Event | None = PrivateAttr(default=None)
    _thread: threading.Thread | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run, instance = context.run, context.instance
        if run is None or instance is None or HEARTBEAT_INTERVAL_TAG not in run.tags:
            return
        if not heartbeat_enabled():
            return
        interval = _positive_float(run.tags[HEARTBEAT_INTERVAL_TAG]) or DEFAULT_INTERVAL_S
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_beat,
            args=(instance, run.run_id, interval, self._stop),
            name=f"run-worker-heartbeat-{run.run_id[:8]}",
            daemon=True,
        )
        self._thread.start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._stop = self._thread = None

    @property
    def beating(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
