"""``etl status``: what the ledger knows about a batch (``--watch`` follows it)."""

from __future__ import annotations

from typing import Annotated

import typer

from etl_cli.cli import EPILOG, app
from etl_cli.follow import follow
from etl_cli.invocation import current, guarded
from etl_cli.options import IntervalOption, JsonOption, TimeoutOption
from etl_cli.output import print_json, stdout_console


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def status(
    batch_id: Annotated[str, typer.Argument(help="The batch id printed by `etl submit`.")],
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until the batch ends.")] = False,
    timeout: TimeoutOption = 3600.0,
    interval: IntervalOption = 2.0,
    json_output: JsonOption = False,
) -> None:
    """Ledger status of a batch: history, runs, errors, produced assets.

    Exits 0 while the batch is submitted/queued/running or succeeded, 1 once it failed, was
    rejected or canceled, 3 if the batch is unknown."""
    from etl_cli.batch_status import load_batch_status, require_found
    from etl_cli.output import render_status
    from etl_cli.submission import check_batch_id

    check_batch_id(batch_id, "BATCH_ID")
    services = current().services
    report = require_found(load_batch_status(services.ledger, services.store, batch_id))
    if watch and not report.terminal:
        report = follow(
            batch_id,
            timeout=timeout,
            interval=interval,
            json_output=json_output,
            on_timeout=(lambda last: {**(last.as_json() if last else {}), "timed_out": True})
            if json_output
            else None,
        )
    if json_output:
        print_json(report.as_json())
    else:
        render_status(stdout_console(), report)
    raise typer.Exit(int(report.exit_code))
