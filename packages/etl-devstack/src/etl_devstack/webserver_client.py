"""A small client of the Dagster webserver's GraphQL API: workspace health, launching jobs,
waiting for runs.

Launching through the webserver is what a person does in the UI: the run goes to the instance's
run queue, the daemon dequeues it and the code location's gRPC server executes it. So a run
launched here exercises the whole deployment, not an in-process shortcut.

Standard library only (urllib + json), so the stack CLI starts fast and needs no GraphQL client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from etl_cli.graphql_http import (
    LAUNCH_RESULT_FIELDS,
    REEXECUTE_RUN_MUTATION,
    RUNS_QUERY,
    GraphQLRequestError,
    post_graphql,
)

# Definitions loaded from a module's ``defs`` object live in a repository with this name.
DEFAULT_REPOSITORY = "__repository__"
TERMINAL_RUN_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})

WORKSPACE_QUERY = """
query PlatformWorkspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name jobs { name } } }
          ... on PythonError { message }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

DAEMON_HEALTH_QUERY = """
query PlatformDaemonHealth {
  instance {
    daemonHealth {
      allDaemonStatuses { daemonType required healthy }
    }
  }
}
"""

LAUNCH_RUN_MUTATION = (
    """
mutation PlatformLaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {"""
    + LAUNCH_RESULT_FIELDS
    + """  }
}
"""
)

RUN_STATUS_QUERY = """
query PlatformRunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

RUN_ERRORS_QUERY = """
query PlatformRunErrors($runId: ID!) {
  logsForRun(runId: $runId, limit: 500) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level }
        ... on ExecutionStepFailureEvent { error { message } }
        ... on RunFailureEvent { error { message } }
      }
    }
  }
}
"""


class WebserverError(RuntimeError):
    """The webserver could not be reached or answered with an error."""


class JobLaunchError(WebserverError):
    """The webserver refused to launch a run; the message says why."""


class RunTimeoutError(WebserverError):
    """A run did not reach a terminal status in time."""


@dataclass(frozen=True)
class LocationEntry:
    """One code location as the webserver sees it."""

    name: str
    load_status: str  # LOADING | LOADED
    kind: str  # RepositoryLocation | PythonError
    error: str | None
    jobs: tuple[str, ...]

    @property
    def loaded(self) -> bool:
        """Loaded without error: the gRPC server answered and the definitions loaded."""
        return self.load_status == "LOADED" and self.kind == "RepositoryLocation"


@dataclass(frozen=True)
class RunInfo:
    """One Dagster run as the webserver reports it."""

    run_id: str
    status: str
    job_name: str
    tags: dict[str, str]
    location: str | None


class DagsterWebserverClient:
    """GraphQL client for one webserver (``url`` like ``http://127.0.0.1:3000``)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.graphql_url = f"{self.url}/graphql"
        self.timeout = timeout

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one GraphQL operation and return its ``data``; raise on transport/GraphQL errors."""
        try:
            return post_graphql(self.graphql_url, query, variables or {}, self.timeout)
        except GraphQLRequestError as exc:
            body = f": {exc.body}" if exc.body else ""
            raise WebserverError(f"{self.graphql_url}: {exc}{body}") from exc

    def reachable(self) -> bool:
        """Whether the webserver answers GraphQL at all."""
        try:
            self.execute("query PlatformPing { version }")
        except WebserverError:
            return False
        return True

    def locations(self) -> dict[str, LocationEntry]:
        """The code locations of the workspace, by name."""
        data = self.execute(WORKSPACE_QUERY)["workspaceOrError"]
        if data["__typename"] != "Workspace":
            raise WebserverError(f"workspace failed to load: {data.get('message')}")
        entries: dict[str, LocationEntry] = {}
        for entry in data["locationEntries"]:
            location = entry.get("locationOrLoadError") or {}
            kind = location.get("__typename", "None")
            jobs = tuple(
                job["name"]
                for repo in location.get("repositories", [])
                for job in repo.get("jobs", [])
            )
            entries[entry["name"]] = LocationEntry(
                name=entry["name"],
                load_status=entry["loadStatus"],
                kind=kind,
                error=location.get("message"),
                jobs=jobs,
            )
        return entries

    def daemon_statuses(self) -> dict[str, tuple[bool, bool]]:
        """``daemonType -> (required, healthy)`` from the instance's daemon heartbeats."""
        data = self.execute(DAEMON_HEALTH_QUERY)
        statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {s["daemonType"]: (bool(s["required"]), bool(s["healthy"])) for s in statuses}

    def launch_job(
        self,
        location: str,
        job_name: str,
        run_config: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        repository: str = DEFAULT_REPOSITORY,
    ) -> str:
        """Submit ``job_name`` of code location ``location``; return the new run id."""
        params: dict[str, Any] = {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": repository,
                "jobName": job_name,
            },
            "runConfigData": run_config or {},
            "executionMetadata": {
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]
            },
        }
        result = self.execute(LAUNCH_RUN_MUTATION, {"executionParams": params})["launchRun"]
        return _launched_run_id(result, f"launch job {job_name!r} of code location {location!r}")

    def run_status(self, run_id: str) -> str:
        """The run's status (QUEUED, STARTING, STARTED, SUCCESS, FAILURE, CANCELED, ...)."""
        result = self.execute(RUN_STATUS_QUERY, {"runId": run_id})["runOrError"]
        if result["__typename"] != "Run":
            raise WebserverError(f"run {run_id}: {result['__typename']}: {result.get('message')}")
        return str(result["status"])

    def wait_for_run(self, run_id: str, timeout: float = 300.0, poll: float = 1.0) -> str:
        """Poll until the run is SUCCESS, FAILURE or CANCELED and return that status."""
        deadline = time.monotonic() + timeout
        status = "UNKNOWN"
        while time.monotonic() < deadline:
            status = self.run_status(run_id)
            if status in TERMINAL_RUN_STATUSES:
                return status
            time.sleep(poll)
        raise RunTimeoutError(
            f"run {run_id} still {status} after {timeout:.0f}s; see {self.url}/runs/{run_id}"
        )

    def run_errors(self, run_id: str) -> list[str]:
        """Error messages of a run's event log (step failures, run failure, ERROR logs)."""
        result = self.execute(RUN_ERRORS_QUERY, {"runId": run_id})["logsForRun"]
        messages: list[str] = []
        for event in result.get("events", []):
            error = event.get("error") or {}
            if error.get("message"):
                messages.append(error["message"].strip())
            elif event.get("level") in {"ERROR", "CRITICAL"} and event.get("message"):
                messages.append(event["message"].strip())
        return messages

    def runs(self, tags: dict[str, str] | None = None, limit: int = 1000) -> list[RunInfo]:
        """Runs of the instance (newest first), optionally only those carrying all ``tags``."""
        run_filter = {"tags": [{"key": k, "value": v} for k, v in tags.items()]} if tags else {}
        result = self.execute(RUNS_QUERY, {"filter": run_filter, "limit": limit})["runsOrError"]
        if result["__typename"] != "Runs":
            raise WebserverError(f"listing runs failed: {result.get('message')}")
        return [
            RunInfo(
                run_id=str(run["runId"]),
                status=str(run["status"]),
                job_name=str(run["jobName"]),
                tags={tag["key"]: tag["value"] for tag in run["tags"]},
                location=(run.get("repositoryOrigin") or {}).get("repositoryLocationName"),
            )
            for run in result["results"]
        ]

    def reexecute_run(self, parent_run_id: str, strategy: str = "FROM_FAILURE") -> str:
        """Re-execute a run (``ALL_STEPS``, ``FROM_FAILURE`` or ``FROM_ASSET_FAILURE``), as the
        UI's re-execute button does: same job, partition and tags; return the new run id."""
        params = {"parentRunId": parent_run_id, "strategy": strategy}
        result = self.execute(REEXECUTE_RUN_MUTATION, {"params": params})["launchRunReexecution"]
        return _launched_run_id(result, f"re-execute run {parent_run_id} ({strategy})")


def _launched_run_id(result: dict[str, Any], action: str) -> str:
    """The new run's id from a launch result; ``JobLaunchError`` saying why not."""
    if result["__typename"] == "LaunchRunSuccess":
        return str(result["run"]["runId"])
    detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
    raise JobLaunchError(f"could not {action}: {result['__typename']}: {detail}")
