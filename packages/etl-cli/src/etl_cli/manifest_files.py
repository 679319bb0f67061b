"""Reading a manifest file from disk exactly as the platform reads one from the landing zone.

The same decoder as the sensors (``etl_storage``: UTF-8, no duplicate keys, no NaN, a JSON
object) and the same size limit, so ``etl manifest validate`` agrees with the platform.
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
    from etl_storage.errors import ManifestReadError
    from etl_storage.object_store import DEFAULT_MANIFEST_MAX_BYTES, parse_manifest_bytes

    source = "standard input" if str(path) == "-" else str(path)
    if str(path) == "-":
        body = sys.stdin.buffer.read(DEFAULT_MANIFEST_MAX_BYTES + 1)
    else:
        if not path.is_file():
            raise UsageProblem(f"{path} is not a file")
        with path.open("rb") as handle:
            body = handle.read(DEFAULT_MANIFEST_MAX_BYTES + 1)
    if len(body) > DEFAULT_MANIFEST_MAX_BYTES:
        raise ManifestInvalid(
            [
                FieldProblem(
                    "(manifest)",
                    f"larger than the platform's limit of {DEFAULT_MANIFEST_MAX_BYTES} bytes; "
                    "a manifest lists files, it does not contain data",
                )
            ],
            source,
        )
    try:
        return parse_manifest_bytes(source, body)
    except ManifestReadError as exc:
        raise ManifestInvalid([FieldProblem("(manifest)", str(exc))], source) from None
