"""The catalog's read model: datasets and their versions, as the ledger records them.

Everything is read from the ledger's documents (two queries: assets, then the manifests of
their batches). Documents are kept raw beside the validated records, so fields that newer
writers add (licence, attribution, keywords, providers, a column's source name) show up
without this module having to know the model version that wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from etl_models.ledger_records import AssetRecord, ManifestRecord

if TYPE_CHECKING:
    from etl_storage import Ledger

HUMAN_FIELDS = ("title", "description", "license", "attribution", "keywords", "providers")


@dataclass(frozen=True)
class Version:
    """One published version: the validated record and the raw ledger document."""

    record: AssetRecord
    doc: Mapping[str, Any]

    @property
    def dataset_id(self) -> str:
        return self.record.dataset_id

    @property
    def number(self) -> int:
        return self.record.version

    @property
    def kind(self) -> str:
        """vector, raster or tabular (what the preview can show)."""
        fmt = (self.record.format or "").lower()
        if fmt in {"cog", "geotiff", "gtiff", "tif", "tiff"} or self.record.s3_key.endswith(".tif"):
            return "raster"
        if self.record.geometry_types:
            return "vector"
        return "tabular"

    @property
    def columns(self) -> list[dict[str, Any]]:
        """Name, type, source name and description of each column (source name when known)."""
        out = []
        for column in self.doc.get("column_schema") or []:
            if isinstance(column, Mapping) and column.get("name"):
                out.append(
                    {
                        "name": column["name"],
                        "type": column.get("type") or "",
                        "source_name": column.get("source_name"),
                        "description": column.get("description"),
                    }
                )
        return out

    @property
    def quality(self) -> dict[str, Any]:
        value = (self.record.stats or {}).get("quality")
        return dict(value) if isinstance(value, Mapping) else {}

    @property
    def report(self) -> dict[str, Any]:
        value = (self.record.stats or {}).get("report")
        return dict(value) if isinstance(value, Mapping) else {}

    @property
    def join_report(self) -> dict[str, Any]:
        """The join report, whether it is the whole report or under a ``join`` key."""
        report = self.report
        nested = report.get("join")
        if isinstance(nested, Mapping):
            return dict(nested)
        return report if self.record.lane == "join" or "match_rate" in report else {}


@dataclass
class Dataset:
    """A dataset: its versions (ascending) and the manifest of each version's batch."""

    dataset_id: str
    versions: list[Version] = field(default_factory=list)
    manifests: dict[str, ManifestRecord] = field(default_factory=dict)
    manifest_docs: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    @property
    def updated_at(self) -> datetime:
        return self.latest.record.created_at

    @property
    def manifest(self) -> ManifestRecord | None:
        return self.manifests.get(self.latest.record.batch_id or "")

    def version(self, number: int) -> Version | None:
        return next((v for v in self.versions if v.number == number), None)

    def meta(self, name: str) -> Any:
        """A human metadata field: the asset's own, else its batch manifest's, else a tag."""
        value = self.latest.doc.get(name)
        if value not in (None, "", []):
            return value
        nested = self.latest.doc.get("metadata")
        if isinstance(nested, Mapping) and nested.get(name) not in (None, "", []):
            return nested[name]
        manifest_doc = self.manifest_docs.get(self.latest.record.batch_id or "") or {}
        if manifest_doc.get(name) not in (None, "", []):
            return manifest_doc[name]
        meta = self.manifest_metadata
        if meta.get(name) not in (None, "", []):
            return meta[name]
        return self.tags.get(name)

    @property
    def manifest_metadata(self) -> dict[str, Any]:
        record = self.manifest
        meta = (record.manifest or {}).get("metadata") if record else None
        return dict(meta) if isinstance(meta, Mapping) else {}

    @property
    def tags(self) -> dict[str, Any]:
        tags = self.manifest_metadata.get("tags")
        return dict(tags) if isinstance(tags, Mapping) else {}

    @property
    def title(self) -> str:
        return str(self.meta("title") or self.dataset_id)

    @property
    def keywords(self) -> list[str]:
        value = self.meta("keywords")
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return [str(k) for k in value] if isinstance(value, list) else []

    @property
    def license(self) -> str | None:
        value = self.meta("license")
        return str(value) if value else None

    @property
    def attribution(self) -> str | None:
        value = self.meta("attribution")
        return str(value) if value else None

    @property
    def providers(self) -> list[dict[str, Any]]:
        value = self.meta("providers")
        if not isinstance(value, list):
            return []
        return [p if isinstance(p, Mapping) else {"name": str(p)} for p in value]

    @property
    def uploader(self) -> str | None:
        record = self.manifest
        return record.uploader if record else None

    @property
    def format(self) -> str:
        return self.latest.record.format


def version_changes(older: Version, newer: Version) -> list[str]:
    """What changed from ``older`` to ``newer``, in plain words (rows, columns, bbox)."""
    changes: list[str] = []
    a, b = older.record, newer.record
    if a.row_count is not None and b.row_count is not None and a.row_count != b.row_count:
        delta = b.row_count - a.row_count
        changes.append(f"rows {a.row_count:,} → {b.row_count:,} ({delta:+,})")
    old_cols = {c["name"]: c["type"] for c in older.columns}
    new_cols = {c["name"]: c["type"] for c in newer.columns}
    added = [n for n in new_cols if n not in old_cols]
    removed = [n for n in old_cols if n not in new_cols]
    retyped = [f"{n} ({old_cols[n]} → {t})" for n, t in new_cols.items() if old_cols.get(n, t) != t]
    if added:
        changes.append("columns added: " + ", ".join(added))
    if removed:
        changes.append("columns removed: " + ", ".join(removed))
    if retyped:
        changes.append("column types changed: " + ", ".join(retyped))
    if a.bounds != b.bounds:
        fmt = lambda bb: "none" if bb is None else "[" + ", ".join(f"{v:.4g}" for v in bb) + "]"  # noqa: E731
        changes.append(f"bbox {fmt(a.bounds)} → {fmt(b.bounds)}")
    if a.format != b.format:
        changes.append(f"format {a.format} → {b.format}")
    return changes or ["no change in rows, columns or bbox"]


def load_datasets(ledger: Ledger, dataset_id: str | None = None) -> dict[str, Dataset]:
    """Every dataset (or one) with its versions and manifests, keyed by dataset id."""
    from etl_storage.migrations import ASSETS, MANIFESTS

    query: dict[str, Any] = {} if dataset_id is None else {"dataset_id": dataset_id}
    docs = list(ledger.db[ASSETS].find(query).sort([("dataset_id", 1), ("version", 1)]))
    datasets: dict[str, Dataset] = {}
    for doc in docs:
        record = AssetRecord.from_mongo(doc)
        ds = datasets.setdefault(record.dataset_id, Dataset(record.dataset_id))
        ds.versions.append(Version(record, doc))
    by_batch: dict[str, Dataset] = {
        v.record.batch_id: d for d in datasets.values() for v in d.versions if v.record.batch_id
    }
    if by_batch:
        for mdoc in ledger.db[MANIFESTS].find({"batch_id": {"$in": sorted(by_batch)}}):
            record = ManifestRecord.from_mongo(mdoc)
            ds = by_batch[record.batch_id or ""]
            ds.manifests[record.batch_id or ""] = record
            ds.manifest_docs[record.batch_id or ""] = mdoc
    return datasets


def _bbox_intersects(a: Iterable[float] | None, b: Iterable[float]) -> bool:
    if a is None:
        return False
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    return ax0 <= bx1 and bx0 <= ax1 and ay0 <= by1 and by0 <= ay1


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` as floats; ``ValueError`` names the rule."""
    if not text or not text.strip():
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError("bbox must be four numbers: min lon, min lat, max lon, max lat") from None
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        raise ValueError("bbox must be four numbers: min lon, min lat, max lon, max lat")
    return values[0], values[1], values[2], values[3]


@dataclass(frozen=True)
class SearchQuery:
    """Filters of the dataset list; empty fields do not filter."""

    q: str = ""
    keyword: str = ""
    tag: str = ""
    uploader: str = ""
    format: str = ""
    bbox: tuple[float, float, float, float] | None = None

    def matches(self, ds: Dataset) -> bool:
        if self.q:
            needle = self.q.lower()
            hay = [ds.dataset_id, ds.title, str(ds.meta("description") or ""), *ds.keywords]
            if not any(needle in h.lower() for h in hay):
                return False
        if self.keyword and self.keyword.lower() not in {k.lower() for k in ds.keywords}:
            return False
        if self.tag:
            key, sep, value = self.tag.partition("=")
            tags = {str(k).lower(): str(v) for k, v in ds.tags.items()}
            if key.strip().lower() not in tags:
                return False
            if sep and tags[key.strip().lower()] != value.strip():
                return False
        if self.uploader and self.uploader.lower() not in (ds.uploader or "").lower():
            return False
        if self.format and self.format.lower() != ds.format.lower():
            return False
        return not (self.bbox and not _bbox_intersects(ds.latest.record.bounds, self.bbox))


def search(datasets: Mapping[str, Dataset], query: SearchQuery) -> list[Dataset]:
    """Matching datasets, most recently updated first."""
    found = [ds for ds in datasets.values() if query.matches(ds)]
    return sorted(found, key=lambda d: (d.updated_at, d.dataset_id), reverse=True)
