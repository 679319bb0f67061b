"""Moving bytes: uploading a planned batch to the landing zone, downloading lake objects.

Progress is reported as bytes through a plain callable, so the rich progress bar lives in the
command layer and these functions stay testable. Uploads go one file at a time and one part at
a time (minio reports a part when it has read it; with a single upload in flight, the previous
part has been sent by the time the next one is read, which keeps the bar honest).
"""

from __future__ import annotations

import io
import mimetypes
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_cli.errors import IntegrityProblem, UsageProblem
from etl_cli.submission import SubmissionPlan, UploadItem

if TYPE_CHECKING:
    from etl_storage import Ledger, ObjectStore

ByteSink = Callable[[int], None]
FileDone = Callable[[UploadItem], None]

PART_SIZE = 8 * 1024 * 1024  # >= S3's 5 MiB minimum part
MAX_PARTS = 10_000
DOWNLOAD_CHUNK = 1024 * 1024


def _nothing(_: int) -> None:
    return None


class _PartProgress:
    """minio's progress hook (``set_meta``/``update``), crediting a part once it was sent."""

    def __init__(self, sink: ByteSink) -> None:
        self._sink = sink
        self._pending = 0

    def set_meta(self, object_name: str, total_length: int) -> None:
        return None

    def update(self, size: int) -> None:
        credit, self._pending = self._pending, size
        if credit:
            self._sink(credit)

    def finish(self) -> None:
        if self._pending:
            self._sink(self._pending)
            self._pending = 0


def part_size_for(size: int) -> int:
    """A multipart part size that keeps ``size`` within S3's 10,000 parts."""
    return max(PART_SIZE, -(-size // MAX_PARTS))


@dataclass(frozen=True)
class SubmittedBatch:
    """A batch in the landing zone: its plan, the manifest's ETag, earlier rejected intakes."""

    plan: SubmissionPlan
    manifest_etag: str
    earlier_intake_ids: frozenset[str]


def ensure_batch_id_free(store: ObjectStore, ledger: Ledger, batch_id: str) -> frozenset[str]:
    """Refuse a batch id the platform already knows; return ids of earlier rejected intakes.

    A batch id is taken when the ledger has an accepted manifest for it, or when a manifest
    with that name waits in the landing zone. Rejected intakes do not claim their id (a fixed
    manifest may be resubmitted under it); their ids are returned so ``--wait`` ignores them.
    """
    record = ledger.get_manifest(batch_id)
    if record is not None:
        when = record.created_at.strftime("%Y-%m-%d %H:%M UTC")
        raise UsageProblem(
            f"batch id {batch_id!r} is already taken: the ledger records it as "
            f"{record.status.value} (uploaded by {record.uploader or '?'} on {when})",
            f"batch ids are unique forever; choose another --batch-id (or omit it for a fresh "
            f"one). `etl status {batch_id}` shows the existing batch",
        )
    key = f"manifests/{batch_id}.json"
    if store.landing_object_exists(key):
        raise UsageProblem(
            f"batch id {batch_id!r} is already taken: s3://{store.landing_bucket}/{key} "
            "is waiting in the landing zone",
            f"choose another --batch-id; `etl status {batch_id}` follows the waiting batch",
        )
    return frozenset(str(r.id) for r in ledger.manifests_for_batch(batch_id) if r.id is not None)


def upload_file(store: ObjectStore, item: UploadItem, sink: ByteSink = _nothing) -> str:
    """Upload one planned file to the landing bucket; its ETag."""
    content_type = mimetypes.guess_type(item.local_path.name)[0] or "application/octet-stream"
    progress = _PartProgress(sink)
    with item.local_path.open("rb") as stream:
        result = store.client.put_object(
            store.landing_bucket,
            item.key,
            stream,
            item.size,
            content_type=content_type,
            progress=progress,
            part_size=part_size_for(item.size),
            num_parallel_uploads=1,
        )
    progress.finish()
    return (result.etag or "").strip('"')


def upload_batch(
    store: ObjectStore,
    ledger: Ledger,
    plan: SubmissionPlan,
    sink: ByteSink = _nothing,
    file_done: FileDone | None = None,
    earlier_intake_ids: frozenset[str] | None = None,
) -> SubmittedBatch:
    """Check the batch id is free, upload every file, then write the manifest (last).

    The manifest is what the platform's sensors look for, so writing it last means no run can
    start on a half-uploaded batch. Pass ``earlier_intake_ids`` (from ``ensure_batch_id_free``)
    when the caller already checked the batch id.
    """
    earlier = (
        ensure_batch_id_free(store, ledger, plan.batch_id)
        if earlier_intake_ids is None
        else earlier_intake_ids
    )
    for item in plan.uploads:
        if item.local_path.stat().st_size != item.size:
            raise UsageProblem(f"{item.local_path} changed size while being submitted; retry")
        upload_file(store, item, sink)
        if file_done is not None:
            file_done(item)
    body = plan.manifest_bytes()
    result = store.client.put_object(
        store.landing_bucket,
        plan.manifest_key,
        io.BytesIO(body),
        len(body),
        content_type="application/json",
    )
    return SubmittedBatch(plan, (result.etag or "").strip('"'), earlier)


def download_lake_object(
    store: ObjectStore,
    key: str,
    dest: Path,
    expected_size: int,
    sink: ByteSink = _nothing,
) -> int:
    """Stream ``s3://<lake>/<key>`` to ``dest`` through a temporary file; bytes written.

    The file appears at ``dest`` only when complete and of ``expected_size`` bytes;
    otherwise the partial file is removed and ``IntegrityProblem`` raised.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    written = 0
    response: Any = store.client.get_object(store.lake_bucket, key)
    try:
        with partial.open("wb") as out:
            for chunk in response.stream(DOWNLOAD_CHUNK):
                out.write(chunk)
                written += len(chunk)
                sink(len(chunk))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        response.close()
        response.release_conn()
    if written != expected_size:
        partial.unlink(missing_ok=True)
        raise IntegrityProblem(
            f"s3://{store.lake_bucket}/{key}: received {written} bytes, the ledger records "
            f"{expected_size}; nothing was written to {dest}",
            "retry the download; if it persists the lake object and the ledger disagree: "
            "report it to the platform team",
        )
    partial.replace(dest)
    return written
