"""Reading a manifest file from disk exactly as the platform reads one from the landing zone.

The same decoder and size limit as the sensors (``etl_models.manifest_bytes``), so
``etl manifest validate`` agrees with the platform.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from etl_cli.errors import FieldProblem, ManifestInvalid, UsageProblem


def read_manifest_file(path: Path) -> dict[str, Any]:
    """The manifest at ``path`` (``-``: standard input) as a JSON object.

    ``ManifestInvalid`` (field ``(manifest)``) when it is not a readable JSON object.
    """
    from etl_models.manifest_bytes import (
        MANIFEST_MAX_BYTES,
        ManifestBytesError,
        decode_manifest_bytes,
    )

    source = "standard input" if str(path) == "-" else str(path)
    if str(path) == "-":
        body = sys.stdin.buffer.read(MANIFEST_MAX_BYTES + 1)
    else:
        if not path.is_file():
            raise UsageProblem(f"{path} is not a file")
        with path.open("rb") as handle:
            body = handle.read(MANIFEST_MAX_BYTES + 1)
    try:
        return decode_manifest_bytes(body, source)
    except ManifestBytesError as exc:
        raise ManifestInvalid([FieldProblem("(manifest)", str(exc))], source) from None
