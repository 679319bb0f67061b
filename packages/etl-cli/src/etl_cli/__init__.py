"""The ``etl`` command-line tool: submit batches, follow them, inspect and download datasets.

Only ``etl_cli.app`` is the entry point; the other modules hold the logic the commands use
(planning a submission, reading batch status, the catalog) so they are testable on their own.
"""

from __future__ import annotations

__version__ = "0.1.0"
