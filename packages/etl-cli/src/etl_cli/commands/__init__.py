"""The ``etl`` commands, one module per group; importing a module registers its commands."""

from __future__ import annotations

import importlib

# Help lists commands in registration order: submitting first, then following, then reading.
MODULES = (
    "submit",
    "join",
    "status",
    "batches",
    "catalog",
    "inspect",
    "manifest",
)


def register_all() -> None:
    """Import every command module (each registers its commands on ``etl_cli.cli.app``)."""
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
