"""POST one GraphQL operation to a Dagster webserver (standard library only); shared by the
CLI's client and etl-devstack's."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

# What a launch (new run or re-execution) answers: the run id or why not.
LAUNCH_RESULT_FIELDS = """
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PipelineNotFoundError { message }
    ... on RunConflict { message }
    ... on InvalidSubsetError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on PresetNotFoundError { message }
    ... on NoModeProvidedError { message }
    ... on UnauthorizedError { message }
    ... on PythonError { message }
"""


# Run listing with the fields either client reads.
RUNS_QUERY = """
query EtlRuns($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs {
      results {
        runId
        status
        creationTime
        jobName
        tags { key value }
        repositoryOrigin { repositoryLocationName }
      }
    }
    ... on InvalidPipelineRunsFilterError { message }
    ... on PythonError { message }
  }
}
"""

REEXECUTE_RUN_MUTATION = (
    """
mutation EtlReexecuteRun($params: ReexecutionParams!) {
  launchRunReexecution(reexecutionParams: $params) {"""
    + LAUNCH_RESULT_FIELDS
    + """  }
}
"""
)


class GraphQLRequestError(RuntimeError):
    """The request failed; the message is a short reason, ``body`` an HTTP error's body."""

    def __init__(self, reason: str, body: str = "") -> None:
        super().__init__(reason)
        self.body = body


def post_graphql(
    graphql_url: str, query: str, variables: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """One operation's ``data``; ``GraphQLRequestError`` on HTTP, transport or GraphQL errors."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(  # noqa: S310 - a configured http(s) URL
        graphql_url,
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise GraphQLRequestError(f"HTTP {exc.code}", detail) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GraphQLRequestError(str(reason) or type(reason).__name__) from None
    if payload.get("errors"):
        messages = "; ".join(str(e.get("message", e)) for e in payload["errors"])
        raise GraphQLRequestError(f"GraphQL error: {messages}")
    return payload.get("data") or {}
