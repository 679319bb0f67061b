"""The ``etl`` command: the Typer app with every command module registered.

Each module under ``etl_cli.commands`` holds thin wrappers that parse options, call the logic
and print. Heavy modules (``etl_storage`` pulls in Dagster) are imported inside the commands,
so ``etl --help`` answers quickly.
"""

from __future__ import annotations

from etl_cli.cli import app, manifest_app
from etl_cli.commands import register_all

register_all()

__all__ = ["app", "main", "manifest_app"]


def main() -> None:
    """Console-script entry point (``etl``)."""
    app(prog_name="etl")
