"""What happened to a batch: its manifest record, runs and produced assets, read from the ledger.

A batch is found through the ledger first (the source of truth). A manifest that is still in
the landing zone, not yet taken in by a sensor, is reported as ``submitted``. Rejected intakes
that named the batch id are shown too, since a rejected manifest does not claim its id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etl_cli.errors import NotFound, WaitTimeout
from etl_cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from etl_models.ledger_records import AssetRecord, ManifestRecord, RunRecord
    from etl_storage import Ledger, ObjectStore

SUBMITTED = "submitted"  # the manifest waits in the landing zone; no ledger record yet
TERMINAL_STATUSES = frozenset({"success", "failure", "canceled", "rejected"})
FAILED_STATUSES = frozenset({"failure", "canceled", "rejected"})


@dataclass(frozen=True)
class ProducedAssetView:
    """An asset a run produced, resolved from the ledger (``None`` fields if it vanished)."""

    asset_id: str
    deduplicated: bool
    asset: AssetRecord | None

    def as_json(self) -> dict[str, Any]:
        a = self.asset
        return {
            "asset_id": self.asset_id,
            "deduplicated": self.deduplicated,
            "dataset_id": a.dataset_id if a else None,
            "version": a.version if a else None,
            "uri": a.uri if a else None,
            "row_count": a.row_count if a else None,
        }


@dataclass(frozen=True)
class BatchStatus:
    """Everything the ledger knows about one batch id."""

    batch_id: str
    manifest: ManifestRecord | None
    rejected: tuple[ManifestRecord, ...] = ()
    runs: tuple[RunRecord, ...] = ()
    produced: dict[str, tuple[ProducedAssetView, ...]] = field(default_factory=dict)
    in_landing: bool = False

    @property
    def current(self) -> ManifestRecord | None:
        """The record that decides the status: the accepted one, else the latest rejection."""
        if self.manifest is not None:
            return self.manifest
        return self.rejected[-1] if self.rejected else None

    @property
    def status(self) -> str | None:
        """``queued``/``running``/... from the ledger, ``submitted``, or ``None`` if unknown."""
        if self.current is not None:
            return self.current.status.value
        return SUBMITTED if self.in_landing else None

    @property
    def found(self) -> bool:
        return self.status is not None

    @property
    def terminal(self) -> bool:
        """Whether the batch has reached an end state."""
        return self.status in TERMINAL_STATUSES

    @property
    def exit_code(self) -> ExitCode:
        """0 while queued/running/succeeded, 1 once failed, rejected or canceled."""
        return ExitCode.BATCH_FAILED if self.status in FAILED_STATUSES else ExitCode.OK

    @property
    def current_run(self) -> RunRecord | None:
        """The run the manifest follows (``current_run_id``), else the newest run."""
        current = self.current
        if current is not None and current.current_run_id is not None:
            for run in self.runs:
                if run.id == current.current_run_id:
                    return run
        return max(self.runs, key=lambda r: r.created_at) if self.runs else None

    @property
    def phase(self) -> str | None:
        """What a running batch is doing, consistent with ``status``.

        The run's own record ends before the manifest's (two sensors): a running batch whose
        run has ended is ``finishing``, never "running (run ... success)"."""
        if self.status != "running":
            return None
        run = self.current_run
        if run is None:
            return "starting"
        if run.status.value != "running":
            return "finishing"
        return run.phase or "starting"

    @property
    def phase_counts(self) -> dict[str, Any]:
        """The counts the current run recorded with its latest phase (rows, features)."""
        run = self.current_run
        if self.phase is None or run is None or not run.phases:
            return {}
        return dict(run.phases[-1].counts)

    @property
    def warnings(self) -> list[str]:
        """What the user should know although nothing failed (``ManifestRecord.warnings``)."""
        current = self.current
        return list(getattr(current, "warnings", None) or []) if current is not None else []

    @property
    def error(self) -> str | None:
        return self.current.error if self.current is not None else None

    def as_json(self) -> dict[str, Any]:
        """A JSON-able report (ObjectIds and datetimes as strings)."""
        current = self.current
        return {
            "batch_id": self.batch_id,
            "status": self.status,
            "terminal": self.terminal,
            "error": self.error,
            "phase": self.phase,
            "warnings": self.warnings,
            "manifest": _manifest_json(current) if current is not None else None,
            "rejected_intakes": [_manifest_json(r) for r in self.rejected],
            "runs": [
                {
                    **_dump(run, exclude={"tags", "status_history", "produced_assets"}),
                    "status_history": [_dump(c) for c in run.status_history],
                    "produced_assets": [v.as_json() for v in self.produced.get(str(run.id), ())],
                }
                for run in self.runs
            ],
            "assets": [v.as_json() for v in self.all_produced()],
        }

    def all_produced(self) -> list[ProducedAssetView]:
        """Produced assets of every run, each once."""
        seen: dict[str, ProducedAssetView] = {}
        for views in self.produced.values():
            for view in views:
                seen.setdefault(view.asset_id, view)
        return list(seen.values())


def _dump(model: Any, exclude: set[str] | None = None) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude=exclude)


def _manifest_json(record: ManifestRecord) -> dict[str, Any]:
    # The stored manifest document and fingerprint are bulky and add nothing to a status.
    data = _dump(record, exclude={"manifest", "fingerprint", "intake_key"})
    data["id"] = str(record.id) if record.id is not None else None
    return data


def load_batch_status(
    ledger: Ledger,
    store: ObjectStore | None,
    batch_id: str,
    *,
    ignore_intakes: Iterable[str] = (),
) -> BatchStatus:
    """Read the batch from the ledger (and the landing zone when the ledger has nothing).

    ``ignore_intakes`` are manifest record ids (as strings) to leave out: rejections of an
    earlier submission under the same batch id, when following a new one.
    """
    ignored = set(ignore_intakes)
    records = [r for r in ledger.manifests_for_batch(batch_id) if str(r.id) not in ignored]
    accepted = next((r for r in records if r.batch_id == batch_id), None)
    rejected = tuple(r for r in records if r is not accepted)
    runs = tuple(ledger.runs_for_batch(batch_id))
    produced: dict[str, tuple[ProducedAssetView, ...]] = {}
    for run in runs:
        produced[str(run.id)] = tuple(
            ProducedAssetView(
                str(link.asset_id), link.deduplicated, ledger.get_asset_by_id(link.asset_id)
            )
            for link in run.produced_assets
        )
    in_landing = False
    if accepted is None and not rejected and store is not None:
        in_landing = store.landing_object_exists(f"manifests/{batch_id}.json")
    return BatchStatus(batch_id, accepted, rejected, runs, produced, in_landing)


def require_found(status: BatchStatus) -> BatchStatus:
    """``status`` if the batch is known anywhere, else ``NotFound``."""
    if not status.found:
        raise NotFound(
            f"unknown batch {status.batch_id!r}: the ledger has no record of it and no "
            "manifest with that name waits in the landing zone",
            "check the batch id printed by `etl submit`",
        )
    return status


def follow_batch(
    load: Callable[[], BatchStatus],
    *,
    timeout_s: float | None,
    interval_s: float,
    on_change: Callable[[BatchStatus], None] | None = None,
    done: Callable[[BatchStatus], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchStatus:
    """Poll ``load`` until the batch is terminal; ``WaitTimeout`` after ``timeout_s``.

    ``on_change`` sees every poll's status, the first one included (it decides what changed).
    ``done`` replaces "terminal" as the end (``retry`` waits for its new run's end).
    """
    deadline = None if timeout_s is None else clock() + timeout_s
    while True:
        status = load()
        if on_change is not None:
            on_change(status)
        if done(status) if done is not None else status.terminal:
            return status
        if deadline is not None and clock() >= deadline:
            error = WaitTimeout(
                f"batch {status.batch_id!r} is still {status.status or 'not picked up'} "
                f"after {timeout_s:g} s",
                f"keep following it with `etl status {status.batch_id} --watch`",
            )
            error.last_status = status
            raise error
        sleep(interval_s if deadline is None else max(0.0, min(interval_s, deadline - clock())))
