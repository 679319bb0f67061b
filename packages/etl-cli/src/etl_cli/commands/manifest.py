"""``etl manifest validate|schema``: check a manifest locally, print the JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from etl_cli.cli import EPILOG, manifest_app
from etl_cli.exit_codes import ExitCode
from etl_cli.invocation import current, guarded
from etl_cli.options import JsonOption
from etl_cli.output import print_json, stdout_console


@manifest_app.command("validate", no_args_is_help=True, epilog=EPILOG)
@guarded
def manifest_validate(
    file: Annotated[
        Path,
        typer.Argument(
            allow_dash=True, help="Manifest JSON file ('-' reads standard input).", dir_okay=False
        ),
    ],
    json_output: JsonOption = False,
) -> None:
    """Validate a manifest file as the platform will (exit 2 with field errors).

    Prints OK with the dataset id and lane the platform will use."""
    from etl_cli.errors import ManifestInvalid
    from etl_cli.manifest_files import read_manifest_file
    from etl_cli.submission import validate_manifest

    landing = current().environment.object_store_settings().landing_bucket
    source = "standard input" if str(file) == "-" else str(file)
    try:
        data = read_manifest_file(file)
        parsed = validate_manifest(data, landing, source)
    except ManifestInvalid as exc:
        if json_output:
            print_json(
                {
                    "valid": False,
                    "file": source,
                    "errors": [{"field": p.field, "message": p.message} for p in exc.problems],
                }
            )
        else:
            stdout_console().print(exc.message, markup=False)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    from etl_cli.submission import description_lines, manifest_description
    from etl_pipeline.lanes.preflight import preflight
    from etl_pipeline.lanes.registry import lane_for_intent

    notes = preflight(parsed).notes
    result = {
        "valid": True,
        "file": source,
        "batch_id": parsed.batch_id,
        "intent": parsed.intent,
        "lane": lane_for_intent(parsed.intent).name,
        "dataset_id": parsed.dataset_id,
        "files": len(parsed.files),
        "warnings": notes,
        **manifest_description(parsed),
    }
    if json_output:
        print_json(result)
        return
    typer.echo(
        f"OK  {source}: batch {result['batch_id']} -> dataset {result['dataset_id']} "
        f"(intent {result['intent']}, lane {result['lane']}, {result['files']} file(s))"
    )
    for line in description_lines(result):
        typer.echo(f"    {line}")
    for note in notes:
        typer.echo(f"warning: {note}")


@manifest_app.command("schema", epilog=EPILOG)
@guarded
def manifest_schema() -> None:
    """Print the JSON Schema of the manifest, with the file types this platform's lanes read."""
    from etl_pipeline.lanes.registry import manifest_schema

    print_json(manifest_schema())
