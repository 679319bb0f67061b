"""``python -m etl_cli`` runs the ``etl`` command."""

from __future__ import annotations

from etl_cli.app import main

if __name__ == "__main__":
    main()
