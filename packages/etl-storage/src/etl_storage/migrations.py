"""Ledger migrations: numbered, checksummed, applied once, recorded in ``schema_migrations``.

Migrations are declarative (create a collection, create an index), so their checksum is the
SHA-256 of their canonical definition: editing an applied migration changes its checksum and is
refused, as is renumbering or renaming one. Schema changes are new migrations at the end of
``MIGRATIONS``. Every step is idempotent, so two processes migrating at once (both code
locations start together) converge: the record insert is keyed by number and the loser only
verifies the winner's checksum.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etl_models.ledger_records import MigrationRecord, utc_now
from etl_storage.errors import MigrationError

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

MIGRATIONS_COLLECTION = "schema_migrations"
DUPLICATE_KEY_CODE = 11000

# Collection names of the ledger plus the version counters.
MANIFESTS = "manifests"
RUNS = "runs"
ASSETS = "assets"
LINEAGE = "lineage"
ACTIVITY_LOGS = "activity_logs"
VERSION_COUNTERS = "version_counters"


@dataclass(frozen=True)
class CreateCollection:
    """Create a collection if it does not exist."""

    name: str

    def definition(self) -> dict[str, Any]:
        return {"op": "create_collection", "name": self.name}

    def apply(self, db: Database) -> None:
        from pymongo.errors import CollectionInvalid, OperationFailure

        if self.name in db.list_collection_names():
            return
        try:
            db.create_collection(self.name)
        except (CollectionInvalid, OperationFailure) as exc:
            # A concurrent migrator created it between the check and the create.
            if self.name not in db.list_collection_names():
                raise MigrationError(f"could not create collection {self.name}: {exc}") from exc


@dataclass(frozen=True)
class CreateIndex:
    """Create a named index; an existing index of that name must have the same definition."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    name: str
    unique: bool = False
    partial_filter: dict[str, Any] | None = field(default=None, hash=False)

    def definition(self) -> dict[str, Any]:
        return {
            "op": "create_index",
            "collection": self.collection,
            "keys": [list(k) for k in self.keys],
            "name": self.name,
            "unique": self.unique,
            "partial_filter": self.partial_filter,
        }

    def apply(self, db: Database) -> None:
        from pymongo.errors import OperationFailure

        options: dict[str, Any] = {"name": self.name, "unique": self.unique}
        if self.partial_filter is not None:
            options["partialFilterExpression"] = self.partial_filter
        try:
            db[self.collection].create_index(list(self.keys), **options)
        except OperationFailure as exc:
            if exc.code == DUPLICATE_KEY_CODE:
                raise MigrationError(
                    f"unique index {self.name} on {self.collection} cannot be created: existing "
                    f"documents share {[k for k, _ in self.keys]} ({exc}); resolve the "
                    "duplicates by hand, then start again (the migration is retried)"
                ) from exc
            raise MigrationError(
                f"index {self.name} on {self.collection} could not be created ({exc}); an index "
                "of that name with another definition exists: drop it or fix the migration"
            ) from exc


Step = CreateCollection | CreateIndex


@dataclass(frozen=True)
class Migration:
    """One numbered migration: an ordered list of idempotent steps."""

    number: int
    name: str
    steps: tuple[Step, ...]

    @property
    def checksum(self) -> str:
        """SHA-256 of the canonical definition (name and steps)."""
        definition = {"name": self.name, "steps": [s.definition() for s in self.steps]}
        canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _index(collection: str, name: str, *keys: tuple[str, int], **options: Any) -> CreateIndex:
    return CreateIndex(collection=collection, keys=tuple(keys), name=name, **options)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "create_collections",
        tuple(
            CreateCollection(name)
            for name in (MANIFESTS, RUNS, ASSETS, LINEAGE, ACTIVITY_LOGS, VERSION_COUNTERS)
        ),
    ),
    Migration(
        2,
        "manifest_indexes",
        (
            # batch_id is absent on manifests too broken to name one, hence partial.
            _index(
                MANIFESTS,
                "batch_id_unique",
                ("batch_id", 1),
                unique=True,
                partial_filter={"batch_id": {"$type": "string"}},
            ),
            _index(MANIFESTS, "intake_key_unique", ("intake_key", 1), unique=True),
            _index(MANIFESTS, "manifest_key", ("manifest_key", 1)),
            _index(MANIFESTS, "status_updated", ("status", 1), ("updated_at", -1)),
            _index(MANIFESTS, "dataset_id", ("dataset_id", 1)),
        ),
    ),
    Migration(
        3,
        "run_indexes",
        (
            _index(RUNS, "dagster_run_id_unique", ("dagster_run_id", 1), unique=True),
            _index(RUNS, "batch_started", ("batch_id", 1), ("created_at", 1)),
            _index(RUNS, "manifest_id", ("manifest_id", 1)),
            _index(RUNS, "status_updated", ("status", 1), ("updated_at", -1)),
        ),
    ),
    Migration(
        4,
        "asset_indexes",
        (
            _index(
                ASSETS, "dataset_version_unique", ("dataset_id", 1), ("version", 1), unique=True
            ),
            _index(ASSETS, "s3_key_unique", ("s3_key", 1), unique=True),
            _index(ASSETS, "content_hash", ("content_hash", 1)),
            _index(ASSETS, "run_id", ("run_id", 1)),
            _index(ASSETS, "batch_id", ("batch_id", 1)),
        ),
    ),
    Migration(
        5,
        "lineage_and_activity_indexes",
        (
            _index(LINEAGE, "edge_key_unique", ("edge_key", 1), unique=True),
            _index(LINEAGE, "asset_id", ("asset_id", 1)),
            _index(LINEAGE, "parent_asset_id", ("parent_asset_id", 1)),
            _index(LINEAGE, "input_path", ("input.path", 1)),
            _index(ACTIVITY_LOGS, "key_unique", ("key", 1), unique=True),
            _index(ACTIVITY_LOGS, "subject_at", ("subject", 1), ("at", 1)),
            _index(ACTIVITY_LOGS, "actor_at", ("actor", 1), ("at", 1)),
        ),
    ),
    Migration(
        6,
        "manifest_claimed_batch_id_index",
        # Rejections keep the batch id they named without claiming it; looked up by it.
        (_index(MANIFESTS, "claimed_batch_id", ("claimed_batch_id", 1)),),
    ),
    Migration(
        7,
        "asset_content_unique",
        # One asset per content within a dataset. Dedupe used to be read-then-write, so two
        # racing identical runs could both register; such pairs make this step fail clearly.
        (
            _index(
                ASSETS,
                "dataset_content_hash_unique",
                ("dataset_id", 1),
                ("content_hash", 1),
                unique=True,
            ),
        ),
    ),
)


def check_migration_sequence(migrations: Sequence[Migration]) -> None:
    """The code's migrations must be numbered 1..N without gaps and have unique names."""
    numbers = [m.number for m in migrations]
    if numbers != list(range(1, len(migrations) + 1)):
        raise MigrationError(
            f"migrations must be numbered 1..{len(migrations)} in order without gaps, "
            f"got {numbers}; append new migrations with the next number"
        )
    names = [m.name for m in migrations]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MigrationError(f"migration names must be unique, repeated: {duplicates}")


def _verify_recorded(recorded: list[dict[str, Any]], migrations: Sequence[Migration]) -> None:
    by_number = {m.number: m for m in migrations}
    expected = 1
    for doc in sorted(recorded, key=lambda d: d["_id"]):
        number = doc["_id"]
        if number != expected:
            raise MigrationError(
                f"schema_migrations has a gap: migration {expected} is not recorded but "
                f"{number} ({doc.get('name')!r}) is; the ledger was changed by hand or "
                "migrations were renumbered: restore the recorded history"
            )
        expected += 1
        code = by_number.get(number)
        if code is None:
            raise MigrationError(
                f"ledger has migration {number} ({doc.get('name')!r}) that this code does not "
                f"know (code knows 1..{len(migrations)}); deploy the newer code"
            )
        if doc.get("name") != code.name:
            raise MigrationError(
                f"migration {number} was applied as {doc.get('name')!r} but the code calls it "
                f"{code.name!r}: migrations must not be renamed or renumbered; "
                "restore the original and append a new migration"
            )
        if doc.get("checksum") != code.checksum:
            raise MigrationError(
                f"migration {number} ({code.name!r}) was applied with checksum "
                f"{doc.get('checksum')} but the code's definition has {code.checksum}: "
                "applied migrations are immutable; restore it and append a new migration"
            )


def apply_migrations(
    db: Database, migrations: Sequence[Migration] = MIGRATIONS
) -> list[MigrationRecord]:
    """Apply the pending migrations in order; return the ones applied now.

    Raises ``MigrationError`` when the recorded history does not match the code (changed
    checksum, renamed or renumbered migration, a gap, or a ledger newer than the code).
    """
    from pymongo.errors import DuplicateKeyError

    check_migration_sequence(migrations)
    table = db[MIGRATIONS_COLLECTION]
    recorded = list(table.find({}))
    _verify_recorded(recorded, migrations)
    done = {doc["_id"] for doc in recorded}
    applied: list[MigrationRecord] = []
    for migration in migrations:
        if migration.number in done:
            continue
        for step in migration.steps:
            step.apply(db)
        record = MigrationRecord(
            number=migration.number,
            name=migration.name,
            checksum=migration.checksum,
            applied_at=utc_now(),
        )
        try:
            table.insert_one(record.to_mongo())
        except DuplicateKeyError:
            # Another process applied it concurrently; it must be the same migration.
            _verify_recorded(list(table.find({})), migrations)
            continue
        log.info("applied ledger migration %s %s", migration.number, migration.name)
        applied.append(record)
    return applied


def recorded_migrations(db: Database) -> list[MigrationRecord]:
    """The migrations recorded in ``schema_migrations``, in order."""
    return [
        MigrationRecord.from_mongo(doc) for doc in db[MIGRATIONS_COLLECTION].find({}).sort("_id", 1)
    ]
