"""The dataset catalog: a web app over the ledger and the lake, and a STAC API for tools.

Read-only unless ``ETL_WEB_TOKEN`` is set; the ledger is the source of truth for everything
shown, and only lake objects the ledger knows can be downloaded. ``create_app`` builds the
ASGI app; ``python -m etl_web`` serves it.
"""

from __future__ import annotations

from etl_web.app import create_app
from etl_web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
