"""Looking at data without downloading it: ``schema``, ``head``, ``diff``, ``deprecate``."""

from __future__ import annotations

from typing import Annotated

import typer

from etl_cli.cli import EPILOG, app
from etl_cli.invocation import current, guarded
from etl_cli.options import JsonOption, UploaderOption, uploader_name
from etl_cli.output import print_json, stderr_console, stdout_console

RefArgument = Annotated[str, typer.Argument(help="DATASET or DATASET@vN (default: latest).")]


def _asset(ref: str):
    from etl_cli.catalog import parse_dataset_ref, resolve_asset

    return resolve_asset(current().services.ledger, parse_dataset_ref(ref))


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def schema(dataset: RefArgument, json_output: JsonOption = False) -> None:
    """Columns of a version: name, type and the source column it came from (when renamed)."""
    from etl_cli.dataset_view import schema_report
    from etl_cli.output import number, table

    asset = _asset(dataset)
    report = schema_report(current().services.store, asset)
    if json_output:
        print_json(report)
        return
    console = stdout_console()
    deprecated = "  DEPRECATED" if report["deprecated_at"] else ""
    console.print(
        f"{asset.dataset_id}@v{asset.version}  {asset.format}  crs {asset.crs or '-'}  "
        f"rows {number(asset.row_count)}{deprecated}",
        markup=False,
    )
    console.print(
        table(
            None,
            ("column", "type", "source column"),
            [(c["name"], c["type"], c["source_name"] or "") for c in report["columns"]],
        )
    )


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def head(
    dataset: RefArgument,
    rows: Annotated[int, typer.Option("-n", "--rows", min=1, max=10_000, help="Rows.")] = 10,
    json_output: JsonOption = False,
) -> None:
    """The first rows of a version (geometry as WKT), reading only the row groups needed."""
    from etl_cli.lake_reader import head_rows, open_parquet
    from etl_cli.output import table

    asset = _asset(dataset)
    parquet, raw = open_parquet(current().services.store, asset)
    names, values = head_rows(parquet, rows)
    if json_output:
        print_json(
            {
                "dataset_id": asset.dataset_id,
                "version": asset.version,
                "columns": names,
                "rows": [dict(zip(names, row, strict=True)) for row in values],
                "bytes_read": raw.bytes_read,
                "object_bytes": raw.size,
            }
        )
        return
    stdout_console().print(table(None, names, values))
    stderr_console().print(
        f"{len(values)} row(s) of {asset.dataset_id}@v{asset.version}; read "
        f"{raw.bytes_read:,} of {raw.size:,} bytes",
        markup=False,
    )


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def diff(
    old: Annotated[str, typer.Argument(help="DATASET@vA (the older version).")],
    new: Annotated[str, typer.Argument(help="DATASET@vB, or another dataset's version.")],
    json_output: JsonOption = False,
) -> None:
    """How two versions differ: rows, columns added/removed/retyped, bbox, CRS, format."""
    from etl_cli.dataset_view import diff_lines, diff_report

    report = diff_report(current().services.store, _asset(old), _asset(new))
    if json_output:
        print_json(report)
        return
    for line in diff_lines(report):
        typer.echo(line)


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def deprecate(
    dataset: Annotated[str, typer.Argument(help="DATASET@vN to mark deprecated.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (shown in listings).")] = None,
    uploader: UploaderOption = None,
    json_output: JsonOption = False,
) -> None:
    """Mark a version deprecated in the ledger (its data stays; nothing is deleted).

    `etl versions` and `etl schema` show the mark."""
    from etl_cli.catalog import parse_dataset_ref
    from etl_cli.errors import UsageProblem

    ref = parse_dataset_ref(dataset)
    if ref.version is None:
        raise UsageProblem(
            f"name the version to deprecate: {dataset}@vN", "`etl versions` lists them"
        )
    asset = _asset(dataset)
    actor = uploader_name(uploader)
    ledger = current().services.ledger
    marked = ledger.deprecate_asset(asset.dataset_id, asset.version, actor=actor, reason=reason)
    ledger.log_activity(
        actor=actor,
        action="deprecated",
        subject=f"{asset.dataset_id}@v{asset.version}",
        details={"reason": reason},
        key=f"deprecate:{asset.dataset_id}@v{asset.version}",
    )
    result = {
        "dataset_id": marked.dataset_id,
        "version": marked.version,
        "deprecated_at": marked.deprecated_at.isoformat() if marked.deprecated_at else None,
        "deprecated_by": marked.deprecated_by,
        "reason": marked.deprecation_reason,
    }
    if json_output:
        print_json(result)
        return
    typer.echo(
        f"{marked.dataset_id}@v{marked.version} deprecated"
        + (f" ({marked.deprecation_reason})" if marked.deprecation_reason else "")
    )
