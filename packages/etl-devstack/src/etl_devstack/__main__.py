"""``python -m etl_devstack up|down|status|env|run-health-check``: the embedded local platform.

``make up`` / ``make down`` / ``make status`` call this. State (pids, logs, Mongo data, the
Dagster home and ``platform.env``) lives in ``.local/`` at the repository root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from etl_devstack.stack import RunOutcome, Stack, StackConfig, StackError, find_repo_root
from etl_devstack.webserver_client import WebserverError


def _stack(args: argparse.Namespace) -> Stack:
    root = find_repo_root()
    state_dir = Path(args.state_dir) if args.state_dir else root / ".local"
    return Stack(StackConfig.from_env(state_dir, root / "infra"))


def run_main_job(stack: Stack, timeout: float = 600.0) -> list[RunOutcome]:
    """The platform's main job after ``up``: for now the GDAL health check of every location,
    launched through the deployed webserver and gRPC servers."""
    outcomes = []
    for loc in stack.config.locations:
        print(f"launching {loc.health_job} on code location {loc.name} ...", flush=True)
        outcome = stack.run_job(loc.name, loc.health_job, timeout=timeout)
        print(f"  run {outcome.run_id}: {outcome.status}", flush=True)
        for error in outcome.errors:
            print(f"    {error}", flush=True)
        outcomes.append(outcome)
    return outcomes


def _print_status(stack: Stack) -> bool:
    statuses = stack.status()
    width = max(len(s.name) for s in statuses)
    for s in statuses:
        state = "up" if s.up else "down"
        pid = s.pid if s.running else "-"
        print(f"{s.name:<{width}}  {state:<4}  {s.endpoint:<21}  pid {pid}")
    all_up = all(s.up for s in statuses)
    if all_up:
        try:
            for entry in stack.client.locations().values():
                state = "loaded" if entry.loaded else f"{entry.load_status} {entry.kind}"
                print(f"code location {entry.name}: {state}")
        except WebserverError as exc:
            print(f"webserver: {exc}")
        print(f"Dagster UI: {stack.config.ui_url}")
    return all_up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_devstack", description=__doc__)
    parser.add_argument("--state-dir", help="state directory (default: <repo>/.local)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local stack and platform, run the main job")
    up.add_argument("--no-main-job", action="store_true", help="only start and wait healthy")
    up.add_argument("--timeout", type=float, default=420.0, help="seconds to become healthy")
    sub.add_parser("down", help="stop every process of the stack")
    status = sub.add_parser("status", help="show each component and endpoint")
    status.add_argument("--check", action="store_true", help="exit 1 unless everything is up")
    sub.add_parser("env", help="print the effective settings as KEY=VALUE lines")
    health = sub.add_parser("run-health-check", help="run the main job on a running stack")
    health.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)

    try:
        stack = _stack(args)
        if args.command == "env":
            for key, value in stack.config.environment().items():
                print(f"{key}={value}")
            return 0
        if args.command == "status":
            all_up = _print_status(stack)
            return 1 if args.check and not all_up else 0
        if args.command == "down":
            print("stopping the local platform")
            leftovers = stack.stop()
            if leftovers:
                print("still running: " + ", ".join(leftovers), file=sys.stderr)
                return 1
            print("stopped: no process left, every port closed")
            return 0
        if args.command == "up":
            if stack.is_running():
                print(f"already running (state in {stack.config.state_dir}); checking health")
                stack.wait_healthy(args.timeout)
            else:
                print(f"starting the local platform (state in {stack.config.state_dir})")
                stack.start(args.timeout)
            print(f"settings: {stack.config.state_dir / 'platform.env'}")
            if not args.no_main_job and not _main_job_ok(stack):
                return 1
            print(f"\nDagster UI: {stack.config.ui_url}")
            print("status: make status    stop: make down")
            return 0
        if args.command == "run-health-check":
            return 0 if _main_job_ok(stack, args.timeout) else 1
    except (StackError, WebserverError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command}")
    return 2


def _main_job_ok(stack: Stack, timeout: float = 600.0) -> bool:
    outcomes = run_main_job(stack, timeout)
    failed = [o for o in outcomes if o.status != "SUCCESS"]
    for o in failed:
        url = f"{stack.config.ui_url}/runs/{o.run_id}"
        print(f"error: {o.job} ({o.location}) ended {o.status}; see {url}", file=sys.stderr)
    return not failed


if __name__ == "__main__":
    sys.exit(main())
