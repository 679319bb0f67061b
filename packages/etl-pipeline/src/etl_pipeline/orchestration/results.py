"""Lane results as Dagster metadata and asset-check results, and lane errors as failures."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg

from etl_pipeline.lanes.contract import TARGET_CRS, LaneResult
from etl_pipeline.lanes.declaration import (
    CHECK_CRS,
    CHECK_GEOMETRIES,
    CHECK_JOIN_MATCH_RATE,
    CHECK_ROW_COUNT,
    CHECK_SCHEMA_DRIFT,
    WARNING_CHECKS,
)


def as_failure(exc: Exception) -> dg.Failure:
    """A permanent processing error as a Dagster failure that is not retried: its description
    is the one sentence the uploader reads; the technical chain stays in the metadata (and in
    the run log, through the failure's cause)."""
    from etl_pipeline.failures import technical_detail, user_message

    return dg.Failure(
        description=user_message(exc),
        allow_retries=False,
        metadata={
            "error_type": type(exc).__name__,
            "error_detail": dg.MetadataValue.text(technical_detail(exc)),
        },
    )


def permanent_failure(exc: Exception) -> dg.Failure | None:
    """``exc`` as a failure that is not retried when re-running cannot fix it (bad input, a
    missing raw file, a broken contract); ``None`` for operational errors, which the step's
    retry policy retries (see :func:`etl_pipeline.failures.is_permanent`)."""
    from etl_pipeline.failures import is_permanent

    return as_failure(exc) if is_permanent(exc) else None


@contextmanager
def no_retry_when_permanent() -> Iterator[None]:
    """Raise a permanent error as :func:`permanent_failure` (not retried); operational ones
    as they are, for the step's retry policy."""
    try:
        yield
    except Exception as exc:
        failure = permanent_failure(exc)
        if failure is None:
            raise
        raise failure from exc


def lane_metadata(result: LaneResult) -> dict[str, Any]:
    """Materialization metadata with Dagster's well-known keys."""
    plain = result.materialization_metadata()
    metadata: dict[str, Any] = {
        "dagster/uri": dg.MetadataValue.path(plain["uri"]),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=n, type=t) for n, t in plain["column_schema"]]
        ),
        "dataset_id": plain["dataset_id"],
        "version": plain["version"],
        "content_hash": plain["content_hash"],
        "deduplicated": plain["deduplicated"],
        "crs": plain["crs"] or "none",
        "source_crs": plain["source_crs"] or "unknown",
        "geometry_types": dg.MetadataValue.json(plain["geometry_types"]),
        "bbox": dg.MetadataValue.json(plain["bbox"]),
        "ledger_asset_id": str(result.asset.id),
    }
    if plain["row_count"] is not None:
        metadata["dagster/row_count"] = plain["row_count"]
    if plain["stac_item"]:
        metadata["stac_item"] = dg.MetadataValue.path(plain["stac_item"])
    return metadata


def check_specs(asset_key: dg.AssetKey, checks: Sequence[str]) -> list[dg.AssetCheckSpec]:
    """The lane's contract checks (blocking) and warnings (schema drift, join match rate)."""
    return [
        dg.AssetCheckSpec(name, asset=asset_key, blocking=name not in WARNING_CHECKS)
        for name in checks
    ]


def _check_result(name: str, result: LaneResult) -> dg.AssetCheckResult:
    q, drift = result.quality, result.drift
    if name == CHECK_CRS:
        passed = q.crs == TARGET_CRS if q.kind != "raster" else bool(q.crs)
        return dg.AssetCheckResult(
            check_name=name, passed=passed, metadata={"crs": q.crs or "none", "kind": q.kind}
        )
    if name == CHECK_GEOMETRIES:
        return dg.AssetCheckResult(
            check_name=name,
            passed=not q.invalid_geometries and not q.empty_geometries,
            metadata={
                "invalid": q.invalid_geometries or 0,
                "empty": q.empty_geometries or 0,
                "applies": q.kind != "raster",
            },
        )
    if name == CHECK_ROW_COUNT:
        return dg.AssetCheckResult(
            check_name=name,
            passed=q.rows_accounted,
            metadata={
                "source_rows": -1 if q.source_rows is None else q.source_rows,
                "output_rows": q.output_rows,
                "dropped_on_purpose": q.dropped_rows,
            },
        )
    if name == CHECK_SCHEMA_DRIFT:
        return dg.AssetCheckResult(
            check_name=name,
            passed=not drift.drifted,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "previous_version": drift.previous_version or 0,
                "added": dg.MetadataValue.json(drift.added),
                "removed": dg.MetadataValue.json(drift.removed),
                "retyped": dg.MetadataValue.json(drift.retyped),
            },
        )
    if name == CHECK_JOIN_MATCH_RATE:
        match = result.report.get("match") or {}
        return dg.AssetCheckResult(
            check_name=name,
            passed=not match.get("low"),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "keep": match.get("keep", "unknown"),
                "key_match": match.get("key_match", "unknown"),
                "min_match_rate": match.get("min_match_rate", 0.0),
                "match_rates": dg.MetadataValue.json(match.get("rates", {})),
                "below_threshold": dg.MetadataValue.json(match.get("low", [])),
            },
        )
    raise ValueError(f"unknown asset check {name!r}")


def check_results(result: LaneResult, checks: Sequence[str]) -> list[dg.AssetCheckResult]:
    """Check results from the facts the lane measured on its output."""
    return [_check_result(name, result) for name in checks]
