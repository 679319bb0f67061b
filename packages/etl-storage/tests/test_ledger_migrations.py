"""Ledger migrations against the real Mongo wire server: applied once, drift is an error."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from pymongo.database import Database

from etl_storage import MigrationError
from etl_storage.migrations import (
    MIGRATIONS,
    CreateCollection,
    CreateIndex,
    Migration,
    apply_migrations,
    check_migration_sequence,
    recorded_migrations,
)

pytestmark = pytest.mark.integration

# Applied migrations are immutable. If this fails you edited one: restore it and append a new
# migration instead (only a migration that was never released may be changed, with this pin).
PINNED_CHECKSUMS = {
    1: "a571d808e13372537c5d74bcdd3d73f8dcc79333ee1577b9573c953e5a946e67",
    2: "ab88d5d82d84829c65a550749f3c2324e62be39ecdec9ad276d43f6c25c1740c",
    3: "ca0fdaf421df798540a9b03dde413a9c20afc8f1106afa6ffa22f5b5150d7d53",
    4: "7bf8628f8ba3fe356ea1d32d27068c67f8f01917ea12cc6d196b6c0ee0afa82f",
    5: "86171b0aeadd4e30d5797ec85235de1f4cc5158750ce121191b43d22de5000e4",
    6: "cee4d450c8961dd6771aa12aa81af4fa6d4202b128c99e92ba4c9191a9561e1f",
    7: "58ed7f781b0d19521d44203fb5c54235dc2d338295a2a598fe7bb6c10530bbe7",
}


@pytest.fixture
def db(mongo_service, ledger_database) -> Iterator[Database]:
    client = mongo_service.client(tz_aware=True)
    yield client[ledger_database]
    client.close()


def test_released_migrations_are_pinned() -> None:
    assert {m.number: m.checksum for m in MIGRATIONS} == PINNED_CHECKSUMS


def test_applies_each_migration_once_and_records_it(db: Database) -> None:
    applied = apply_migrations(db)

    assert [m.number for m in applied] == [m.number for m in MIGRATIONS] == [1, 2, 3, 4, 5, 6, 7]
    recorded = recorded_migrations(db)
    assert [(r.number, r.name, r.checksum) for r in recorded] == [
        (m.number, m.name, m.checksum) for m in MIGRATIONS
    ]
    assert all(r.applied_at.tzinfo is not None for r in recorded)
    assert apply_migrations(db) == []
    assert len(recorded_migrations(db)) == len(MIGRATIONS)


def test_new_migrations_are_applied_after_the_recorded_ones(db: Database) -> None:
    apply_migrations(db, MIGRATIONS[:2])
    applied = apply_migrations(db)
    assert [m.number for m in applied] == list(range(3, len(MIGRATIONS) + 1))


def test_a_changed_migration_is_an_error(db: Database) -> None:
    apply_migrations(db)
    changed = list(MIGRATIONS)
    extra = CreateIndex(collection="runs", keys=(("lane", 1),), name="lane")
    changed[2] = dataclasses.replace(changed[2], steps=(*changed[2].steps, extra))

    with pytest.raises(MigrationError, match=r"migration 3 .* immutable"):
        apply_migrations(db, changed)
    assert "lane" not in db.runs.index_information()


def test_a_renumbered_or_renamed_migration_is_an_error(db: Database) -> None:
    apply_migrations(db)
    swapped = list(MIGRATIONS)
    swapped[1], swapped[2] = (
        dataclasses.replace(MIGRATIONS[2], number=2),
        dataclasses.replace(MIGRATIONS[1], number=3),
    )
    with pytest.raises(MigrationError, match="renamed or renumbered"):
        apply_migrations(db, swapped)

    renamed = list(MIGRATIONS)
    renamed[0] = dataclasses.replace(MIGRATIONS[0], name="initial")
    with pytest.raises(MigrationError, match="applied as 'create_collections'"):
        apply_migrations(db, renamed)


def test_a_gap_in_the_recorded_history_is_an_error(db: Database) -> None:
    apply_migrations(db)
    db.schema_migrations.delete_one({"_id": 2})
    with pytest.raises(MigrationError, match="gap: migration 2 is not recorded"):
        apply_migrations(db)


def test_a_ledger_newer_than_the_code_is_an_error(db: Database) -> None:
    apply_migrations(db)
    with pytest.raises(MigrationError, match="does not know"):
        apply_migrations(db, MIGRATIONS[:3])


def test_code_sequence_must_be_contiguous() -> None:
    gap = [MIGRATIONS[0], dataclasses.replace(MIGRATIONS[1], number=3)]
    with pytest.raises(MigrationError, match="without gaps"):
        check_migration_sequence(gap)
    twice = [MIGRATIONS[0], dataclasses.replace(MIGRATIONS[0], number=2)]
    with pytest.raises(MigrationError, match="unique"):
        check_migration_sequence(twice)


def test_an_index_name_reused_with_another_definition_is_an_error(db: Database) -> None:
    apply_migrations(db)
    clash = Migration(
        len(MIGRATIONS) + 1,
        "clash",
        (CreateIndex(collection="assets", keys=(("s3_key", -1),), name="s3_key_unique"),),
    )
    with pytest.raises(MigrationError, match="s3_key_unique"):
        apply_migrations(db, (*MIGRATIONS, clash))


def test_concurrent_migrators_converge(mongo_service, ledger_database) -> None:
    clients = [mongo_service.client(tz_aware=True) for _ in range(4)]
    barrier = threading.Barrier(4)

    def migrate(i: int) -> int:
        barrier.wait()
        return len(apply_migrations(clients[i][ledger_database]))

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            counts = list(pool.map(migrate, range(4)))
        assert sum(counts) == len(MIGRATIONS)  # each recorded by exactly one migrator
        recorded = recorded_migrations(clients[0][ledger_database])
        assert [r.number for r in recorded] == [m.number for m in MIGRATIONS]
    finally:
        for client in clients:
            client.close()


def test_create_collection_is_idempotent(db: Database) -> None:
    CreateCollection("things").apply(db)
    CreateCollection("things").apply(db)
    assert "things" in db.list_collection_names()


def test_duplicate_asset_content_stops_the_unique_index_migration(db: Database) -> None:
    """Assets registered twice with one content (possible before migration 7) are reported."""
    apply_migrations(db, MIGRATIONS[:6])
    for version in (1, 2):
        db["assets"].insert_one(
            {
                "dataset_id": "roads",
                "version": version,
                "s3_key": f"r/v{version}",
                "content_hash": "h",
            }
        )
    with pytest.raises(MigrationError, match="dataset_content_hash_unique"):
        apply_migrations(db)
    assert [r.number for r in recorded_migrations(db)] == list(range(1, 7))

    db["assets"].delete_one({"version": 2})  # resolved by hand: the migration is retried
    assert [m.number for m in apply_migrations(db)] == [7]
