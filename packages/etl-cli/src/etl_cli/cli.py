"""The Typer applications every command module registers on, and the shared help epilog."""

from __future__ import annotations

from typing import Annotated

import typer

from etl_cli import __version__
from etl_cli.exit_codes import exit_code_table

EPILOG = (
    "Settings come from the environment (MINIO_ENDPOINT, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, "
    "MINIO_SECURE, LANDING_BUCKET, LAKE_BUCKET, MONGO_CONNECTION_STRING, MONGO_DATABASE, "
    "DAGSTER_UI_HOST, DAGSTER_UI_PORT), then "
    "from .local/platform.env (found upward from the working directory, or named by "
    "ETL_PLATFORM_ENV) for what the environment leaves unset. ETL_CLI_TIMEOUT_S bounds "
    "every network call to a service (default 10).\n\n"
    "Exit codes:\n" + exit_code_table()
)

app = typer.Typer(
    name="etl",
    help="Submit data to the spatial ETL platform, follow batches, inspect and download datasets.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
manifest_app = typer.Typer(
    help="Validate manifests locally; print the published JSON Schema.",
    no_args_is_help=True,
    epilog=EPILOG,
)
app.add_typer(manifest_app, name="manifest")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"etl {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Submit data to the spatial ETL platform, follow batches, inspect and download datasets."""
