"""How well a join matched, judged on the side(s) the user keeps, in words for the user.

``match_summary`` goes into the join's report (so into the ledger and the asset check);
``join_warnings`` turns it into ledger warnings; ``no_match_error`` fails a join that matched
nothing, showing keys of both sides so the user sees why (``'01'`` against ``'1'``).
"""

from __future__ import annotations

from typing import Any

# keep -> the sides whose rows the user wants matched.
_JUDGED_SIDES = {
    "spatial": ("spatial",),
    "tabular": ("tabular",),
    "both": ("spatial", "tabular"),
    "matched": ("spatial", "tabular"),
}
_SAMPLE = 5


def match_summary(config: Any, report: Any) -> dict[str, Any]:
    """Keep, key rule, threshold, the judged sides' match rates and the sides under it."""
    keep = config.effective_keep
    rates = {"spatial": report.spatial_match_rate, "tabular": report.match_rate}
    sides = _JUDGED_SIDES[keep]
    counts = {
        "spatial": (report.matched_spatial_rows, report.spatial_rows),
        "tabular": (report.matched_tabular_rows, report.tabular_rows),
    }
    unmatched = {"spatial": report.unmatched_spatial_keys, "tabular": report.unmatched_tabular_keys}
    low = [s for s in sides if rates[s] is not None and rates[s] < config.min_match_rate]
    return {
        "keep": keep,
        "key_match": report.key_match,
        "min_match_rate": config.min_match_rate,
        "rates": {s: rates[s] for s in sides},
        "low": low,
        "matched": {s: list(counts[s]) for s in sides},
        "unmatched_samples": {s: list(unmatched[s].sample[:_SAMPLE]) for s in low},
    }


def _hint(key_match: str) -> str:
    if key_match in ("exact", "trimmed"):
        return (
            "; if the keys differ only by leading zeros or number format set key_match "
            "'numeric', if by letter case 'casefold'"
        )
    return ""


def join_warnings(report: dict[str, Any]) -> list[str]:
    """Sentences for the batch's ledger warnings: low match rates, rows without geometry."""
    match = report.get("match") or {}
    notes = []
    for side in match.get("low", []):
        matched, total = match["matched"][side]
        note = (
            f"join matched {matched} of {total} {side} rows ({match['rates'][side]:.1%}), under "
            f"min_match_rate {match['min_match_rate']:.0%} with key_match '{match['key_match']}'"
        )
        samples = ", ".join(repr(k) for k in match["unmatched_samples"].get(side, []))
        if samples:
            note += f"; unmatched {side} keys include {samples}"
        notes.append(note + _hint(match["key_match"]))
    missing = report.get("rows_without_geometry") or 0
    if missing:
        notes.append(
            f"{missing} output rows have no geometry: tabular rows without a matching feature "
            f"(keep '{match.get('keep', 'tabular')}')"
        )
    return notes


def no_match_error(report: Any) -> str | None:
    """Why a join that matched no row at all fails, with keys of both sides; else ``None``."""
    if report.matched_tabular_rows or not report.tabular_rows or not report.spatial_rows:
        return None

    def sample(keys: Any) -> str:
        return ", ".join(repr(k) for k in keys.sample[:_SAMPLE]) or "(all keys empty)"

    return (
        f"no key matched: tabular {report.left_key!r} has e.g. "
        f"{sample(report.unmatched_tabular_keys)}, spatial {report.right_key!r} has e.g. "
        f"{sample(report.unmatched_spatial_keys)} (key_match '{report.key_match}': "
        f"{report.key_rule}); check the key columns" + _hint(report.key_match)
    )
