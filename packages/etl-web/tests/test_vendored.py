"""The vendored browser library is what the lock file pins, unmodified."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

HERE = Path(__file__).resolve().parents[1]
VENDOR = HERE / "src" / "etl_web" / "static" / "vendor" / "maplibre-gl"


def test_vendored_maplibre_matches_the_lock_and_its_checksums():
    lock = json.loads((HERE / "frontend" / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/maplibre-gl"]["version"]
    lines = (VENDOR / "VENDORED.txt").read_text().splitlines()
    assert lines[0].startswith(f"maplibre-gl {locked} ")
    for line in lines[1:]:
        digest, name = line.split()
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert (
        "BSD" in (VENDOR / "LICENSE.txt").read_text()
        or "Redistribution" in (VENDOR / "LICENSE.txt").read_text()
    )
