"""Options several commands share, and their small helpers."""

from __future__ import annotations

import getpass
from enum import Enum
from typing import Annotated

import typer


def file_type_choice(value: str) -> str:
    """``--type``: one of the file types the lanes declare (read when the option is used, so
    the CLI's start stays light)."""
    from etl_pipeline.lanes.registry import file_types

    known = file_types()
    chosen = value.strip().lower()
    if chosen not in known:
        raise typer.BadParameter(f"{value!r} is not a file type; use one of {', '.join(known)}")
    return chosen


FileTypeOption = Annotated[
    str | None,
    typer.Option(
        "--type",
        parser=file_type_choice,
        metavar="TYPE",
        help="File type, e.g. vector, raster or tabular: one a lane reads (default: from intent).",
    ),
]


class JoinHow(str, Enum):
    left = "left"
    inner = "inner"
    right = "right"
    outer = "outer"


class JoinKeep(str, Enum):
    spatial = "spatial"
    tabular = "tabular"
    both = "both"
    matched = "matched"


class KeyMatch(str, Enum):
    exact = "exact"
    trimmed = "trimmed"
    casefold = "casefold"
    numeric = "numeric"


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document (scripting).")]
TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", min=0.0, help="Give up waiting after this many seconds (exit 5)."),
]
IntervalOption = Annotated[
    float, typer.Option("--interval", min=0.05, help="Seconds between ledger polls.")
]
TagOption = Annotated[
    list[str] | None,
    typer.Option("--tag", help="Tag KEY=VALUE (repeatable); goes to metadata.tags."),
]
TitleOption = Annotated[str | None, typer.Option("--title", help="Title of the batch.")]
DescriptionOption = Annotated[
    str | None, typer.Option("--description", help="Description of the batch.")
]
ProjectOption = Annotated[str | None, typer.Option("--project", help="Project name.")]
DatasetIdOption = Annotated[
    str | None,
    typer.Option("--dataset-id", help="Dataset to create/version (default: derived from batch)."),
]
BatchIdOption = Annotated[
    str | None,
    typer.Option("--batch-id", help="Batch id (default: <stem>_<UTC time>_<4 hex>)."),
]
UploaderOption = Annotated[
    str | None,
    typer.Option("--uploader", envvar="ETL_UPLOADER", help="Who submits (default: login name)."),
]
WaitOption = Annotated[bool, typer.Option("--wait", help="Follow the batch to its end.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Validate and print the manifest; upload nothing.")
]


def uploader_name(value: str | None) -> str:
    """``value``, else the login name, else ``unknown``."""
    if value:
        return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"
