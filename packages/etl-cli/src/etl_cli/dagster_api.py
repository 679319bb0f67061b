"""The few Dagster webserver calls the CLI makes (GraphQL): find a batch's runs, the run
queue, terminate a run, re-execute one. Standard library only; every request is bounded by
``ETL_CLI_TIMEOUT_S``. Progress display treats the webserver as optional (``reachable``);
``cancel`` and ``retry`` need it and say so when it is down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from etl_cli.errors import ServiceUnavailable
from etl_cli.graphql_http import (
    REEXECUTE_RUN_MUTATION,
    RUNS_QUERY,
    GraphQLRequestError,
    post_graphql,
)

QUEUED_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING")
ACTIVE_STATUSES = (*QUEUED_STATUSES, "STARTED", "CANCELING")

_TERMINATE = """
mutation EtlCliTerminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunFailure { message }
    ... on RunNotFoundError { message }
    ... on UnauthorizedError { message }
    ... on PythonError { message }
  }
}
"""


@dataclass(frozen=True)
class DagsterRun:
    """One Dagster run as the webserver lists it."""

    run_id: str
    status: str
    created: float
    tags: dict[str, str]


class DagsterApi:
    """GraphQL client of one webserver (``base_url`` like ``http://127.0.0.1:3000``)."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def run_url(self, run_id: str) -> str:
        return f"{self.base_url}/runs/{run_id}"

    def _unavailable(self, detail: str) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"cannot use the Dagster webserver at {self.base_url}: {detail}",
            "check that it runs (`make status`) and that DAGSTER_UI_HOST/DAGSTER_UI_PORT "
            "(or DAGSTER_UI_URL) point at it",
        )

    def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """One GraphQL operation's ``data``; ``ServiceUnavailable`` on any failure."""
        try:
            return post_graphql(f"{self.base_url}/graphql", query, variables, self.timeout_s)
        except GraphQLRequestError as exc:
            raise self._unavailable(str(exc)) from None

    def reachable(self) -> bool:
        try:
            self.execute("query EtlCliPing { version }", {})
        except ServiceUnavailable:
            return False
        return True

    def runs(
        self,
        *,
        tags: dict[str, str] | None = None,
        statuses: tuple[str, ...] = (),
        limit: int = 100,
    ) -> list[DagsterRun]:
        """Runs (newest first) carrying all ``tags`` and in one of ``statuses``."""
        run_filter: dict[str, Any] = {}
        if tags:
            run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if statuses:
            run_filter["statuses"] = list(statuses)
        data = self.execute(RUNS_QUERY, {"filter": run_filter, "limit": limit})["runsOrError"]
        if data.get("__typename") != "Runs":
            raise self._unavailable(f"listing runs failed: {data.get('message')}")
        return [
            DagsterRun(
                run_id=str(r["runId"]),
                status=str(r["status"]),
                created=float(r.get("creationTime") or 0.0),
                tags={t["key"]: t["value"] for t in r.get("tags", [])},
            )
            for r in data["results"]
        ]

    def batch_runs(self, batch_id: str) -> list[DagsterRun]:
        """The runs of one batch (tag ``batch_id``), newest first."""
        from etl_models.intake import TAG_BATCH_ID

        return self.runs(tags={TAG_BATCH_ID: batch_id}, limit=20)

    def queue_ahead(self, run: DagsterRun) -> int:
        """How many queued runs Dagster will dequeue before ``run``."""
        queued = self.runs(statuses=("QUEUED",), limit=1000)
        return sum(1 for r in queued if r.created < run.created and r.run_id != run.run_id)

    def terminate(self, run_id: str) -> None:
        """Terminate a run (a queued one is canceled before it starts)."""
        result = self.execute(_TERMINATE, {"runId": run_id})["terminateRun"]
        if result.get("__typename") != "TerminateRunSuccess":
            raise self._unavailable(
                f"run {run_id} was not terminated: {result.get('message') or result['__typename']}"
            )

    def reexecute(
        self, run_id: str, extra_tags: dict[str, str], strategy: str = "ALL_STEPS"
    ) -> str:
        """Re-execute a run as the UI's button does (same job, partition, tags, plus
        ``extra_tags``); the new run id."""
        params = {
            "parentRunId": run_id,
            "strategy": strategy,
            "extraTags": [{"key": k, "value": v} for k, v in extra_tags.items()],
        }
        result = self.execute(REEXECUTE_RUN_MUTATION, {"params": params})["launchRunReexecution"]
        if result.get("__typename") != "LaunchRunSuccess":
            raise self._unavailable(
                f"run {run_id} was not re-executed: {result.get('message') or result['__typename']}"
            )
        return str(result["run"]["runId"])
