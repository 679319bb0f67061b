"""``python -m etl_devstack up|down|status|env|sample|run-health-check``: the local platform.

``make up`` / ``make down`` / ``make status`` call this. State (pids, logs, Mongo data, the
Dagster home and ``platform.env``) lives in ``.local/`` at the repository root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from etl_devstack.stack import RunOutcome, Stack, StackConfig, StackError, find_repo_root
from etl_devstack.webserver_client import WebserverError

if TYPE_CHECKING:
    from etl_devstack.sample import SampleReport


def _stack(args: argparse.Namespace) -> Stack:
    root = find_repo_root()
    state_dir = Path(args.state_dir) if args.state_dir else root / ".local"
    return Stack(StackConfig.from_env(state_dir, root / "infra"))


def run_health_checks(stack: Stack, timeout: float = 600.0) -> list[RunOutcome]:
    """The GDAL health check of every location, launched through the deployed webserver and
    gRPC servers."""
    outcomes = []
    for loc in stack.config.locations:
        print(f"launching {loc.health_job} on code location {loc.name} ...", flush=True)
        outcome = stack.run_job(loc.name, loc.health_job, timeout=timeout)
        print(f"  run {outcome.run_id}: {outcome.status}", flush=True)
        for error in outcome.errors:
            print(f"    {error}", flush=True)
        outcomes.append(outcome)
    return outcomes


def run_main_job(stack: Stack, timeout: float = 900.0) -> SampleReport:
    """The platform's main job after ``up``: the bundled sample batch (vector, CSV, raster,
    then the join), submitted with ``etl`` through the landing bucket, plus a ledger summary."""
    from etl_devstack.sample import format_report, run_sample

    generation = stack.started_at() or "local"
    print("submitting the sample batch with `etl` (through the landing bucket) ...", flush=True)
    report = run_sample(
        stack.config.environment(),
        stack.config.state_dir / "sample",
        generation,
        timeout=timeout,
        cwd=find_repo_root(),
        log=lambda line: print(line, flush=True),
    )
    print(format_report(report), flush=True)
    return report


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
        print(f"Dataset catalog: {stack.config.web_url}  (STAC API: {stack.config.web_url}/stac)")
    return all_up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_devstack", description=__doc__)
    parser.add_argument("--state-dir", help="state directory (default: <repo>/.local)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local platform, then submit the sample batch")
    up.add_argument("--no-main-job", action="store_true", help="only start and wait healthy")
    up.add_argument("--timeout", type=float, default=420.0, help="seconds to become healthy")
    sub.add_parser("down", help="stop every process of the stack")
    status = sub.add_parser("status", help="show each component and endpoint")
    status.add_argument("--check", action="store_true", help="exit 1 unless everything is up")
    sub.add_parser("env", help="print the effective settings as KEY=VALUE lines")
    health = sub.add_parser("run-health-check", help="run the GDAL health-check jobs")
    health.add_argument("--timeout", type=float, default=600.0)
    sample = sub.add_parser("sample", help="submit the sample batch to a running stack")
    sample.add_argument("--timeout", type=float, default=900.0)
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
            ok = args.no_main_job or _main_job_ok(stack)
            print(f"\nDagster UI: {stack.config.ui_url}")
            print(
                f"Dataset catalog: {stack.config.web_url}  (STAC API: {stack.config.web_url}/stac)"
            )
            print("the etl command: ./etl --help (from the repository root)")
            print("status: make status    stop: make down")
            return 0 if ok else 1
        if args.command == "run-health-check":
            return 0 if _health_checks_ok(stack, args.timeout) else 1
        if args.command == "sample":
            return 0 if _main_job_ok(stack, args.timeout) else 1
    except (StackError, WebserverError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command}")
    return 2


def _health_checks_ok(stack: Stack, timeout: float = 600.0) -> bool:
    outcomes = run_health_checks(stack, timeout)
    failed = [o for o in outcomes if o.status != "SUCCESS"]
    for o in failed:
        url = f"{stack.config.ui_url}/runs/{o.run_id}"
        print(f"error: {o.job} ({o.location}) ended {o.status}; see {url}", file=sys.stderr)
    return not failed


def _main_job_ok(stack: Stack, timeout: float = 900.0) -> bool:
    from etl_devstack.sample import SampleError

    try:
        report = run_main_job(stack, timeout)
    except SampleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    if not report.ok:
        print(
            f"error: the sample batch did not succeed; `etl status <batch id>` and the runs "
            f"page {stack.config.ui_url}/runs show why",
            file=sys.stderr,
        )
    return report.ok


if __name__ == "__main__":
    sys.exit(main())
