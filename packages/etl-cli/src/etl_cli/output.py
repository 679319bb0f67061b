"""How results are shown: rich tables for people, JSON for scripts, progress on stderr.

Results go to stdout; progress, notes and status changes to stderr, so ``etl ... | jq`` and
``BATCH=$(etl submit ...)`` see only the result.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from etl_cli.batch_status import BatchStatus

ERROR_LINES = 3


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)  # ObjectId and anything else printable


def print_json(data: Any) -> None:
    """One JSON document on stdout (ObjectIds and datetimes as strings)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    from rich.console import Console

    # Messages are not broken at 80 columns: logs and grep see one line per message.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def when(value: datetime | None) -> str:
    """A timestamp for tables: ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def first_lines(text: str | None, count: int = ERROR_LINES) -> str:
    """The first ``count`` lines of an error (``…`` when there is more)."""
    if not text:
        return ""
    lines = text.strip().splitlines()
    head = "\n".join(lines[:count])
    return head + ("\n…" if len(lines) > count else "")


def human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


@contextmanager
def byte_progress(
    console: Console, total: int, description: str
) -> Iterator[Callable[[int], None]]:
    """A bytes progress bar on ``console`` (only on a terminal); yields ``advance(n)``."""
    if not console.is_terminal or total <= 0:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Listing:
    """A table of strings that stays readable at any width and when piped (``Listing``)."""
    cells = [tuple("-" if v is None else str(v) for v in row) for row in rows]
    return Listing(title, tuple(columns), cells)


class Listing:
    """Rows for people and for pipes.

    On a terminal: a rich table whose cells are never broken inside a word (too long values
    end in an ellipsis rather than being folded into fragments like ``geo|par|que|t``; only
    the last column, free text such as an error or a URI, wraps). Elsewhere (a pipe, a file):
    the title as a ``# `` line, then a header and one tab-separated line per row, never
    wrapped, so ``cut -f``/``awk -F'\t'`` work."""

    def __init__(
        self, title: str | None, columns: tuple[str, ...], rows: list[tuple[str, ...]]
    ) -> None:
        self.title = title
        self.columns = columns
        self.rows = rows

    def plain_lines(self) -> list[str]:
        def clean(value: str) -> str:
            return value.replace("\t", " ").replace("\n", " ")

        lines = [f"# {self.title}"] if self.title else []
        lines.append("\t".join(self.columns))
        lines.extend("\t".join(clean(v) for v in row) for row in self.rows)
        return lines

    def __rich_console__(self, console, options):
        from rich.segment import Segment
        from rich.table import Table

        if not console.is_terminal:
            for line in self.plain_lines():
                yield Segment(line)
                yield Segment.line()
            return
        t = Table(title=self.title, title_justify="left", show_lines=False)
        last = len(self.columns) - 1
        for index, column in enumerate(self.columns):
            if index == last and index > 0:
                t.add_column(column, overflow="fold", ratio=1)
            else:
                t.add_column(column, no_wrap=True, overflow="ellipsis")
        for row in self.rows:
            t.add_row(*row)
        yield t


_STATUS_STYLES = {
    "success": "bold green",
    "failure": "bold red",
    "rejected": "bold red",
    "canceled": "bold yellow",
    "running": "bold cyan",
    "queued": "bold",
    "submitted": "bold",
}


def render_status(console: Console, status: BatchStatus) -> None:
    """The batch report: manifest, history, runs, produced assets, rejected intakes."""
    from rich.text import Text

    current = status.current
    label = status.status or "unknown"
    console.print(
        Text.assemble(
            ("Batch ", "bold"),
            (status.batch_id, "bold"),
            "  ",
            (label, _STATUS_STYLES.get(label, "bold")),
        )
    )
    if current is None:
        console.print("The manifest waits in the landing zone; no sensor has taken it in yet.")
        return
    facts = [
        f"intent {current.intent or '-'}",
        f"lane {current.lane or '-'}",
        f"dataset {current.dataset_id or '-'}",
        f"uploader {current.uploader or '-'}",
    ]
    console.print("  ".join(facts))
    archived = f" (archived at {current.archive_key})" if current.archive_key else ""
    console.print(f"manifest {current.manifest_key}{archived}")
    if current.error:
        console.print(Text("error: ", style="bold red") + Text(first_lines(current.error, 10)))
    # History entries reference runs by ledger id; people know runs by their Dagster run id.
    run_names = {r.id: r.dagster_run_id for r in status.runs}
    console.print(
        table(
            "History",
            ("at (UTC)", "status", "run", "error"),
            [
                (
                    when(c.at),
                    c.status,
                    run_names.get(c.run_id, str(c.run_id)) if c.run_id else "",
                    first_lines(c.error, 1),
                )
                for c in current.status_history
            ],
        )
    )
    if status.runs:
        console.print(
            table(
                "Runs",
                ("dagster run id", "status", "started", "finished", "error"),
                [
                    (
                        r.dagster_run_id,
                        r.status.value,
                        when(r.started_at),
                        when(r.finished_at),
                        first_lines(r.error),
                    )
                    for r in status.runs
                ],
            )
        )
    produced = status.all_produced()
    if produced:
        console.print(
            table(
                "Produced assets",
                ("dataset", "uri", "rows", "note"),
                [
                    (
                        f"{v.asset.dataset_id}@v{v.asset.version}" if v.asset else v.asset_id,
                        v.asset.uri if v.asset else "(record missing)",
                        number(v.asset.row_count) if v.asset else "-",
                        "already present (deduplicated)" if v.deduplicated else "",
                    )
                    for v in produced
                ],
            )
        )
    others = [r for r in status.rejected if r is not current]
    if others:
        console.print(
            table(
                "Rejected intakes that named this batch id",
                ("at (UTC)", "manifest", "error"),
                [(when(r.created_at), r.manifest_key, first_lines(r.error)) for r in others],
            )
        )
