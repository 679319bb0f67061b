"""Following a batch until it ends: what ``--wait`` and ``--watch`` share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from etl_cli.errors import WaitTimeout
from etl_cli.invocation import current
from etl_cli.output import stderr_console

if TYPE_CHECKING:
    from etl_cli.batch_status import BatchStatus


def final_fields(status: BatchStatus | None) -> dict[str, Any]:
    """The ``status``/``report`` fields of a ``--json`` result."""
    if status is None:
        return {"status": None, "report": None}
    return {"status": status.status, "report": status.as_json()}


def follow(
    batch_id: str,
    *,
    timeout: float,
    interval: float,
    json_output: bool,
    ignore_intakes: frozenset[str] = frozenset(),
    on_timeout: Callable[[BatchStatus | None], dict[str, Any]] | None = None,
    done: Callable[[BatchStatus], bool] | None = None,
) -> BatchStatus:
    """Poll the ledger until ``batch_id`` ends, showing its progress on stderr (not with
    ``--json``, whose single document is the result). On a timeout ``on_timeout(last)`` gives
    the JSON document printed with the error's fields."""
    from etl_cli.batch_status import follow_batch, load_batch_status
    from etl_cli.progress import ProgressDisplay
    from etl_cli.run_context import PlatformProbe

    services = current().services

    def load() -> BatchStatus:
        return load_batch_status(
            services.ledger, services.store, batch_id, ignore_intakes=ignore_intakes
        )

    display = None
    if not json_output:
        probe = PlatformProbe(services.ledger, services.dagster)
        display = ProgressDisplay(stderr_console(), batch_id, probe.view)
    try:
        return follow_batch(
            load,
            timeout_s=timeout or None,
            interval_s=interval,
            on_change=display.update if display is not None else None,
            done=done,
        )
    except WaitTimeout as exc:
        if on_timeout is not None:
            from etl_cli.invocation import error_fields
            from etl_cli.output import print_json

            # One JSON document: what was seen last, and the error.
            print_json({**on_timeout(exc.last_status), **error_fields(exc)})
            exc.reported = True
        raise
    finally:
        if display is not None:
            display.close()
