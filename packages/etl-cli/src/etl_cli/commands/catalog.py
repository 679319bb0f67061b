"""Catalog commands: ``datasets``, ``versions``, ``lineage``, ``download``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from etl_cli.cli import EPILOG, app
from etl_cli.invocation import current, guarded
from etl_cli.options import JsonOption
from etl_cli.output import print_json, stderr_console, stdout_console


@app.command(epilog=EPILOG)
@guarded
def datasets(json_output: JsonOption = False) -> None:
    """Datasets in the lake: latest version, rows, format, last update."""
    from etl_cli.catalog import list_datasets
    from etl_cli.output import number, table

    rows = list_datasets(current().services.ledger)
    if json_output:
        print_json(rows)
        return
    console = stdout_console()
    if not rows:
        console.print("no datasets yet")
        return
    console.print(
        table(
            None,
            ("dataset", "latest", "versions", "rows", "format", "crs", "updated (UTC)"),
            [
                (
                    r["dataset_id"],
                    f"v{r['latest_version']}",
                    r["version_count"],
                    number(r["row_count"]),
                    r["format"],
                    r["crs"],
                    r["created_at"][:19].replace("T", " "),
                )
                for r in rows
            ],
        )
    )


def _deprecation(asset) -> dict:
    at = getattr(asset, "deprecated_at", None)
    return {
        "deprecated": at is not None,
        "deprecated_at": at.isoformat() if at else None,
        "deprecation_reason": getattr(asset, "deprecation_reason", None),
    }


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def versions(
    dataset: Annotated[str, typer.Argument(help="Dataset id.")],
    json_output: JsonOption = False,
) -> None:
    """Every version of a dataset."""
    from etl_cli.catalog import asset_summary, list_versions
    from etl_cli.output import human_bytes, number, table, when

    assets = list_versions(current().services.ledger, dataset)
    if json_output:
        print_json([{**asset_summary(a), **_deprecation(a)} for a in assets])
        return
    stdout_console().print(
        table(
            f"{assets[0].dataset_id}: {len(assets)} version(s)",
            ("version", "rows", "format", "crs", "size", "batch", "created (UTC)", "uri"),
            [
                (
                    f"v{a.version}" + (" (deprecated)" if _deprecation(a)["deprecated"] else ""),
                    number(a.row_count),
                    a.format,
                    a.crs,
                    human_bytes(a.size_bytes),
                    a.batch_id,
                    when(a.created_at),
                    a.uri,
                )
                for a in assets
            ],
        )
    )


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def lineage(
    dataset: Annotated[str, typer.Argument(help="DATASET or DATASET@vN (default: latest).")],
    json_output: JsonOption = False,
) -> None:
    """Where a version came from (inputs, parents) and what was derived from it."""
    from etl_cli.catalog import lineage_report, parse_dataset_ref, resolve_asset
    from etl_cli.output import number, table

    ledger = current().services.ledger
    asset = resolve_asset(ledger, parse_dataset_ref(dataset))
    report = lineage_report(ledger, asset)
    if json_output:
        print_json(report)
        return
    console = stdout_console()
    a = report["asset"]
    recipe = report["recipe"]
    console.print(f"[bold]{a['dataset_id']}@v{a['version']}[/]  {a['uri']}")
    console.print(
        f"rows {number(a['row_count'])}  crs {a['crs'] or '-'}  "
        f"recipe {recipe['name']} {recipe['version']}  batch {a['batch_id'] or '-'}"
    )
    console.print(
        table(
            "Inputs",
            ("path", "etag", "size"),
            [(i["path"], i["etag"], number(i["size"])) for i in report["inputs"]],
        )
        if report["inputs"]
        else "Inputs: none recorded"
    )
    console.print(
        table(
            "Parents",
            ("dataset", "role", "uri"),
            [(p["ref"], p["role"], p["uri"]) for p in report["parents"]],
        )
        if report["parents"]
        else "Parents: none"
    )
    console.print(
        table(
            "Children",
            ("dataset", "role", "uri"),
            [(c["ref"], c["role"], c["uri"]) for c in report["children"]],
        )
        if report["children"]
        else "Children: none"
    )


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def download(
    dataset: Annotated[str, typer.Argument(help="DATASET or DATASET@vN (default: latest).")],
    dest: Annotated[
        Path,
        typer.Argument(help="Directory (existing, or ending in /) or the data file's path."),
    ],
    with_stac: Annotated[
        bool, typer.Option("--with-stac", help="Also download the STAC item.json.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing local files.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Download a version's data file (and with --with-stac its STAC item).

    The object's size and ETag are checked against the ledger before, and the size after."""
    from etl_cli.catalog import download_asset, parse_dataset_ref, plan_download, resolve_asset
    from etl_cli.output import byte_progress

    services = current().services
    asset = resolve_asset(services.ledger, parse_dataset_ref(dataset))
    files = plan_download(services.store, asset, dest, with_stac=with_stac, overwrite=overwrite)
    total = sum(size for _, _, size in files)
    label = f"{asset.dataset_id}@v{asset.version}"
    with byte_progress(stderr_console(), total, f"downloading {label}") as sink:
        done = download_asset(services.store, files, sink)
    if json_output:
        print_json(
            {
                "dataset_id": asset.dataset_id,
                "version": asset.version,
                "files": [d.as_json() for d in done],
            }
        )
        return
    for d in done:
        typer.echo(str(d.path))
