"""What a dataset version holds, from the ledger (and the Parquet footer when the ledger
recorded no schema): its columns, and how two versions differ."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl_models.ledger_records import AssetRecord
    from etl_storage import ObjectStore


def columns_of(store: ObjectStore | None, asset: AssetRecord) -> list[dict[str, Any]]:
    """``[{name, type, source_name, description}]``: the ledger's schema, else the footer's."""
    if asset.column_schema:
        return [
            {
                "name": c.name,
                "type": c.type,
                # source_name: the column's name in the input, where the lane renamed it.
                "source_name": getattr(c, "source_name", None),
                "description": c.description,
            }
            for c in asset.column_schema
        ]
    if store is None or not asset.s3_key.lower().endswith(".parquet"):
        return []
    from etl_cli.lake_reader import open_parquet

    parquet, _ = open_parquet(store, asset)
    return [
        {"name": f.name, "type": str(f.type), "source_name": None, "description": None}
        for f in parquet.schema_arrow
    ]


def schema_report(store: ObjectStore, asset: AssetRecord) -> dict[str, Any]:
    return {
        "dataset_id": asset.dataset_id,
        "version": asset.version,
        "format": asset.format,
        "crs": asset.crs,
        "row_count": asset.row_count,
        "geometry_types": list(asset.geometry_types),
        "deprecated_at": _when(getattr(asset, "deprecated_at", None)),
        "columns": columns_of(store, asset),
    }


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def diff_report(store: ObjectStore, old: AssetRecord, new: AssetRecord) -> dict[str, Any]:
    """Rows, columns added/removed/retyped, bbox, CRS, format and geometry types of two
    versions (``old`` -> ``new``)."""
    before = {c["name"]: c["type"] for c in columns_of(store, old)}
    after = {c["name"]: c["type"] for c in columns_of(store, new)}
    rows_delta = (
        new.row_count - old.row_count
        if new.row_count is not None and old.row_count is not None
        else None
    )
    return {
        "from": f"{old.dataset_id}@v{old.version}",
        "to": f"{new.dataset_id}@v{new.version}",
        "rows": {"from": old.row_count, "to": new.row_count, "delta": rows_delta},
        "columns_added": [{"name": n, "type": after[n]} for n in after if n not in before],
        "columns_removed": [{"name": n, "type": before[n]} for n in before if n not in after],
        "columns_retyped": [
            {"name": n, "from": before[n], "to": after[n]}
            for n in after
            if n in before and before[n] != after[n]
        ],
        "bbox": {
            "from": list(old.bounds) if old.bounds else None,
            "to": list(new.bounds) if new.bounds else None,
            "changed": old.bounds != new.bounds,
        },
        "crs": {"from": old.crs, "to": new.crs, "changed": old.crs != new.crs},
        "format": {"from": old.format, "to": new.format, "changed": old.format != new.format},
        "geometry_types": {
            "from": list(old.geometry_types),
            "to": list(new.geometry_types),
            "changed": sorted(old.geometry_types) != sorted(new.geometry_types),
        },
    }


def diff_lines(report: dict[str, Any]) -> list[str]:
    """The diff as plain lines for people (``+`` added, ``-`` removed, ``~`` changed)."""
    lines = [f"{report['from']} -> {report['to']}"]
    rows = report["rows"]
    if rows["delta"] is None:
        lines.append(f"~ rows: {rows['from']} -> {rows['to']}")
    elif rows["delta"]:
        lines.append(f"~ rows: {rows['from']:,} -> {rows['to']:,} ({rows['delta']:+,})")
    else:
        lines.append(f"= rows: {rows['to']:,}")
    lines += [f"+ column {c['name']} ({c['type']})" for c in report["columns_added"]]
    lines += [f"- column {c['name']} ({c['type']})" for c in report["columns_removed"]]
    lines += [f"~ column {c['name']}: {c['from']} -> {c['to']}" for c in report["columns_retyped"]]
    for field in ("crs", "format", "geometry_types", "bbox"):
        change = report[field]
        if change["changed"]:
            lines.append(f"~ {field}: {change['from']} -> {change['to']}")
    if len(lines) == 2 and lines[1].startswith("="):
        lines.append("no schema, CRS, format or extent changes")
    return lines
