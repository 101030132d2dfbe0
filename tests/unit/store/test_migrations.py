"""Migrations: from empty, idempotent, refuses newer, frozen first step, schema drift."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, UniqueConstraint, inspect, select, text

from fleetpatch.store import StoreSchemaTooNew, default_store_url, open_store
from fleetpatch.store.engine import create_store_engine
from fleetpatch.store.migrate import current_version, schema_version
from fleetpatch.store.migrations import LATEST_VERSION, MIGRATIONS, v0001_initial
from fleetpatch.store.schema import metadata as current_metadata

# sha256 of migration 1's table structure (see _structure). Migration 1 is frozen: if this test
# fails, a released migration was edited — add a new migration step instead.
V0001_STRUCTURE_SHA256 = "0e00f63b7549418c0b5aa1c6da863d603d1526846f61755dbd5597c514d6d893"


def test_migrates_empty_database_to_latest(store_url: str) -> None:
    with open_store(store_url) as store, store.engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION
        versions = conn.execute(select(schema_version.c.version)).scalars().all()
        assert versions == [m.version for m in MIGRATIONS]
        tables = set(inspect(conn).get_table_names())
    assert {"runs", "host_results", "patch_states", "audit", "facts_blobs"} <= tables


def test_reopening_is_idempotent(store_url: str) -> None:
    open_store(store_url).close()
    with open_store(store_url) as store, store.engine.connect() as conn:
        rows = conn.execute(select(schema_version)).all()
    assert len(rows) == len(MIGRATIONS)


def test_refuses_a_database_newer_than_the_code(store_url: str) -> None:
    with open_store(store_url) as store, store.engine.begin() as conn:
        conn.execute(
            schema_version.insert().values(
                version=LATEST_VERSION + 1, description="from the future", applied_at=_now()
            )
        )
    with pytest.raises(StoreSchemaTooNew, match=rf"version {LATEST_VERSION + 1} is newer"):
        open_store(store_url)
    engine = create_store_engine(store_url)
    with engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION + 1
    engine.dispose()


def test_migrated_schema_matches_current_schema_module(store_url: str) -> None:
    with open_store(store_url) as store, store.engine.connect() as conn:
        reflected = MetaData()
        reflected.reflect(conn)
    for table in current_metadata.sorted_tables:
        live = reflected.tables[table.name]
        assert [c.name for c in live.columns] == [c.name for c in table.columns], table.name
        for column in table.columns:
            assert live.columns[column.name].nullable == column.nullable, column
        assert {i.name for i in live.indexes} == {i.name for i in table.indexes}, table.name
        assert {u.name for u in _uniques(live)} == {u.name for u in _uniques(table)}, table.name


def _uniques(table: Table) -> list[UniqueConstraint]:
    return [c for c in table.constraints if isinstance(c, UniqueConstraint)]


def _structure(metadata: MetaData) -> str:
    """A SQLAlchemy-version-independent description of tables, columns, keys and indexes."""
    lines = []
    for table in metadata.sorted_tables:
        for c in table.columns:
            fks = ",".join(sorted(fk.target_fullname for fk in c.foreign_keys))
            length = getattr(c.type, "length", None)
            lines.append(
                f"{table.name}.{c.name}:{type(c.type).__name__}({length})"
                f":null={c.nullable}:pk={c.primary_key}:fk={fks}"
            )
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            lines.append(f"{table.name}:index:{index.name}:{[c.name for c in index.columns]}")
        for unique in sorted(_uniques(table), key=lambda u: str(u.name)):
            lines.append(f"{table.name}:unique:{unique.name}:{[c.name for c in unique.columns]}")
    return "\n".join(lines)


def test_first_migration_is_frozen() -> None:
    digest = hashlib.sha256(_structure(v0001_initial.metadata).encode()).hexdigest()
    assert digest == V0001_STRUCTURE_SHA256


def test_concurrent_first_open_migrates_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"

    def opener(_: int) -> int:
        with open_store(url) as store, store.engine.connect() as conn:
            return current_version(conn)

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(opener, range(4))) == [LATEST_VERSION] * 4
    with open_store(url) as store, store.engine.connect() as conn:
        assert len(conn.execute(select(schema_version)).all()) == len(MIGRATIONS)


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'p.db'}") as store, store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() >= 5000


def test_default_store_url_is_under_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FLEETPATCH_STORE", raising=False)
    monkeypatch.setattr("platformdirs.user_data_dir", lambda appname: str(tmp_path / appname))
    url = default_store_url()
    assert url == f"sqlite:///{tmp_path / 'fleetpatch' / 'fleetpatch.db'}"
    open_store(url).close()
    assert (tmp_path / "fleetpatch" / "fleetpatch.db").is_file()


def test_env_var_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETPATCH_STORE", "postgresql+psycopg://fp@db.example/fleet")
    assert default_store_url() == "postgresql+psycopg://fp@db.example/fleet"


def _now() -> datetime:
    return datetime.now(UTC)
