"""The published JSON Schema of the manifest.

``python -m etl_models.json_schema`` prints it; the copy shipped as
``manifest.schema.json`` is checked against the model by the tests, so it never drifts.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMA_ID = "https://spatial-etl.local/schemas/manifest.schema.json"
SCHEMA_FILE = "manifest.schema.json"


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a manifest document."""
    from etl_models.manifest import Manifest

    schema = Manifest.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Spatial ETL batch manifest",
        "description": (
            "Uploaded to s3://landing-zone/manifests/<name>.json after the raw files. "
            "Rules the schema cannot express (paths confined to the landing bucket, intent and "
            "file type agreement, join rules) are enforced by the platform with field-level errors."
        ),
        **schema,
    }


def published_schema() -> dict[str, Any]:
    """The schema file shipped with the package."""
    text = resources.files("etl_models").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def render() -> str:
    return json.dumps(manifest_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
