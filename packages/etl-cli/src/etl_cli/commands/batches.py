"""Batch management: ``batches``, ``retry``, ``resubmit``, ``cancel``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from etl_cli.cli import EPILOG, app
from etl_cli.invocation import current, guarded
from etl_cli.options import (
    BatchIdOption,
    IntervalOption,
    JsonOption,
    TimeoutOption,
    UploaderOption,
    WaitOption,
    uploader_name,
)
from etl_cli.output import print_json, stderr_console, stdout_console

BatchArgument = Annotated[str, typer.Argument(help="The batch id printed by `etl submit`.")]
STATUSES = ("queued", "running", "success", "failure", "canceled", "rejected")


def _load(batch_id: str):
    from etl_cli.batch_status import load_batch_status, require_found
    from etl_cli.submission import check_batch_id

    check_batch_id(batch_id, "BATCH")
    services = current().services
    return require_found(load_batch_status(services.ledger, services.store, batch_id))


@app.command(epilog=EPILOG)
@guarded
def batches(
    status: Annotated[
        str | None, typer.Option("--status", help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    uploader: Annotated[str | None, typer.Option("--uploader", help="Only this uploader.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Taken in at or after: 2026-11-28, or 3d/12h.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Taken in before: a date/time, or an age.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """Batches the ledger knows, newest first, filtered by status, uploader, dataset, date."""
    from etl_cli.batch_actions import batch_row, parse_since
    from etl_cli.errors import UsageProblem
    from etl_cli.output import table

    if status is not None and status not in STATUSES:
        raise UsageProblem(f"--status {status!r} is unknown", f"use one of {', '.join(STATUSES)}")
    records = current().services.ledger.find_manifests(
        status=status,
        uploader=uploader,
        dataset_id=dataset,
        since=parse_since(since) if since else None,
        until=parse_since(until) if until else None,
        limit=limit,
    )
    rows = [batch_row(r) for r in records]
    if json_output:
        print_json(rows)
        return
    if not rows:
        stdout_console().print("no batches match")
        return
    stdout_console().print(
        table(
            None,
            ("batch", "status", "dataset", "uploader", "created (UTC)", "note"),
            [
                (
                    r["batch_id"],
                    r["status"],
                    r["dataset_id"],
                    r["uploader"],
                    r["created_at"][:19].replace("T", " "),
                    r["error"]
                    or (f"resubmits {r['resubmit_of']}" if r["resubmit_of"] else "")
                    or (f"{r['warnings']} warning(s)" if r["warnings"] else ""),
                )
                for r in rows
            ],
        )
    )


def _maybe_follow(
    batch_id: str,
    wait: bool,
    timeout: float,
    interval: float,
    json_output: bool,
    run_id: str | None = None,
):
    """Follow the batch to its end; with ``run_id``, to the end of that run (the batch is
    still terminal from its last run until the new one is recorded)."""
    if not wait:
        return None
    from etl_cli.follow import follow

    return follow(
        batch_id,
        timeout=timeout,
        interval=interval,
        json_output=json_output,
        on_timeout=lambda last: {"batch_id": batch_id, "timed_out": True},
        done=None
        if run_id is None
        else lambda s: (
            s.terminal and s.current_run is not None and s.current_run.dagster_run_id == run_id
        ),
    )


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def retry(
    batch_id: BatchArgument,
    uploader: UploaderOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 3600.0,
    interval: IntervalOption = 2.0,
    json_output: JsonOption = False,
) -> None:
    """Run a failed or canceled batch again through the platform (re-executes its run).

    Refused when the failure was the input's (a rejected manifest, unreadable data, a broken
    output contract): fix it and use `etl resubmit`. Needs the Dagster webserver."""
    from etl_cli.batch_actions import retry_batch

    services = current().services
    result = retry_batch(
        services.ledger, services.dagster, _load(batch_id), uploader_name(uploader)
    )
    if not json_output:
        typer.echo(result.run_id)
        stderr_console().print(f"re-executing run {result.parent_run_id}: {result.run_url}")
    final = _maybe_follow(batch_id, wait, timeout, interval, json_output, result.run_id)
    if json_output:
        print_json({**result.as_json(), "status": final.status if final else None})
    if final is not None:
        raise typer.Exit(int(final.exit_code))


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def resubmit(
    batch_id: BatchArgument,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="Edit the manifest: KEY.PATH=VALUE (repeatable)."),
    ] = None,
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            exists=True,
            dir_okay=False,
            readable=True,
            help="A local file replacing the batch's file of the same name (repeatable).",
        ),
    ] = None,
    new_batch_id: BatchIdOption = None,
    uploader: UploaderOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 3600.0,
    interval: IntervalOption = 2.0,
    json_output: JsonOption = False,
) -> None:
    """Submit a batch again as a new batch (new id), from its manifest with edits.

    The new batch is linked to the old one (resubmit_of in the ledger, an activity entry).
    Example: etl resubmit roads_20261129T101500_ab12 --set files.0.crs=EPSG:28355"""
    from etl_cli.commands.submit import deliver
    from etl_cli.resubmission import copy_raw_files, plan_resubmission
    from etl_cli.transfers import ensure_batch_id_free

    services = current().services
    old = _load(batch_id)
    actor = uploader_name(uploader)
    plan, copies = plan_resubmission(
        services.store,
        old,
        uploader=actor,
        sets=sets or (),
        files=files or (),
        batch_id=new_batch_id,
    )
    ensure_batch_id_free(services.store, services.ledger, plan.batch_id)
    copy_raw_files(services.store, copies)

    def link(_plan) -> None:
        services.ledger.log_activity(
            actor=actor,
            action="resubmitted",
            subject=batch_id,
            details={"new_batch_id": plan.batch_id, "sets": list(sets or ())},
            key=f"resubmit:{plan.batch_id}",
        )

    deliver(
        plan,
        wait=wait,
        timeout=timeout,
        interval=interval,
        json_output=json_output,
        after_upload=link,
    )


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def cancel(
    batch_id: BatchArgument,
    uploader: UploaderOption = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the ledger shows it ended.")
    ] = True,
    timeout: TimeoutOption = 120.0,
    interval: IntervalOption = 1.0,
    json_output: JsonOption = False,
) -> None:
    """Cancel a queued or running batch: terminate its Dagster run(s).

    A batch still queued is marked canceled in the ledger at once; a running one once its
    run has stopped (--wait follows it there)."""
    from etl_cli.batch_actions import cancel_batch

    services = current().services
    result = cancel_batch(
        services.ledger, services.dagster, _load(batch_id), uploader_name(uploader)
    )
    err = stderr_console()
    if not json_output:
        for run_id in result.terminated_runs:
            err.print(f"terminating run {run_id}")
        if result.note:
            err.print(f"[yellow]note:[/] {result.note}")
    final = _maybe_follow(batch_id, wait, timeout, interval, json_output)
    status = final.status if final else ("canceled" if result.marked_canceled else None)
    if json_output:
        print_json({**result.as_json(), "status": status})
    else:
        typer.echo(f"{batch_id}: {status or 'cancel requested'}")
