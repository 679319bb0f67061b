"""The live view of a batch while ``--wait``/``--watch`` follow it (on stderr).

On a terminal: one rich live panel (status, phase with counts, elapsed time, queue position and
reason, run URL) with warnings printed above it as they appear. Otherwise: one plain line per
change and one per new warning, so logs and pipes see each fact once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from etl_cli.batch_status import BatchStatus
    from etl_cli.run_context import PlatformView


def elapsed_text(seconds: float) -> str:
    """``42s``, ``2m05s``, ``1h03m``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def counts_text(counts: dict[str, Any]) -> str:
    """``105,000 features, 0 repaired`` from a phase's counts."""
    parts = []
    for key, value in counts.items():
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        parts.append(f"{shown} {key.replace('_', ' ')}")
    return ", ".join(parts)


def state_text(status: BatchStatus) -> str:
    """``running · loading (105,000 features)``: one state, never contradicting itself."""
    text = status.status or "waiting for the platform"
    if status.status == "submitted":
        text += " (the manifest waits for the platform to take it in)"
    phase = status.phase
    if phase:
        counts = counts_text(status.phase_counts)
        text += f" · {phase}" + (f" ({counts})" if counts else "")
    return text


def final_text(status: BatchStatus, elapsed: float) -> str:
    """The last line: the outcome, how long it took and what it produced or why it failed."""
    from etl_cli.output import first_lines

    outcome = status.status or "unknown"
    text = f"{status.batch_id}: {outcome} after {elapsed_text(elapsed)}"
    produced = [v.asset for v in status.all_produced() if v.asset is not None]
    if outcome == "success" and produced:
        text += " -> " + ", ".join(f"{a.dataset_id}@v{a.version}" for a in produced)
    elif status.error:
        text += f": {first_lines(status.error, 1)}"
    return text


class ProgressDisplay:
    """Shows each poll of a followed batch; ``close()`` prints the final line."""

    def __init__(
        self,
        console: Console,
        batch_id: str,
        probe: Callable[[BatchStatus], PlatformView] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.batch_id = batch_id
        self.probe = probe
        self.clock = clock
        self.started = clock()
        self._warned: set[str] = set()
        self._last_line: tuple[Any, ...] | None = None
        self._live: Any = None
        self._status: BatchStatus | None = None

    def _elapsed(self) -> str:
        return elapsed_text(self.clock() - self.started)

    def update(self, status: BatchStatus) -> None:
        from rich.text import Text

        self._status = status
        view = self.probe(status) if self.probe is not None and not status.terminal else None
        for warning in status.warnings:
            if warning not in self._warned:
                self._warned.add(warning)
                self.console.print(Text.assemble(("warning: ", "yellow"), warning))
        if self.console.is_terminal:
            self._render_live(status, view)
        else:
            self._print_line(status, view)

    def _lines(self, status: BatchStatus, view: PlatformView | None) -> list[str]:
        lines = [f"{self.batch_id}: {state_text(status)}  [{self._elapsed()}]"]
        if view is not None and view.queue and status.status == "queued":
            lines.append(f"  queue: {view.queue}")
        if view is not None and view.run_url:
            lines.append(f"  run: {view.run_url}")
        return lines

    def _print_line(self, status: BatchStatus, view: PlatformView | None) -> None:
        marker = (
            status.status,
            status.phase,
            view.queue if view else None,
            view.run_url if view else None,
        )
        if marker == self._last_line:
            return
        self._last_line = marker
        from datetime import UTC, datetime

        now = datetime.now(UTC).strftime("%H:%M:%S")
        lines = self._lines(status, view)
        self.console.print(f"{now}  " + lines[0], highlight=False, markup=False)
        for extra in lines[1:]:
            self.console.print(extra.strip(), highlight=False, markup=False)

    def _render_live(self, status: BatchStatus, view: PlatformView | None) -> None:
        from rich.live import Live
        from rich.spinner import Spinner
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="ellipsis")
        lines = self._lines(status, view)
        grid.add_row(Spinner("dots"), lines[0])
        for extra in lines[1:]:
            grid.add_row("", extra.strip())
        if self._live is None:
            self._live = Live(grid, console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
        else:
            self._live.update(grid)

    def close(self) -> None:
        """Stop the live view and print the outcome (only once the batch ended)."""
        from rich.text import Text

        if self._live is not None:
            self._live.stop()
            self._live = None
        status = self._status
        if status is not None and status.terminal:
            style = "green" if status.status == "success" else "red"
            final = final_text(status, self.clock() - self.started)
            self.console.print(Text(final, style=f"bold {style}"))
