"""Store test fixtures: ``store_url`` runs every store test on SQLite, and on PostgreSQL
when the lab's ``postgres_url`` fixture is available."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fleetpatch.store import Store, open_store


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    return probe.returncode == 0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.lab)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty store database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'fleetpatch.db'}"
        return
    # ---- PostgreSQL hook ------------------------------------------------------------------
    # Uses the lab fixture ``postgres_url`` (tests/lab/fixtures.py, fleetpatch-lab/postgres
    # image) once it is registered as a plugin (pytest_plugins = ["tests.lab.fixtures"] in
    # the root conftest). Skips only when Docker is absent or the fixture is not wired yet.
    # Each test gets its own fresh database inside that server, dropped afterwards.
    if not _docker_available():
        pytest.skip("Docker is not available: PostgreSQL store tests need the lab container")
    try:
        server_url = str(request.getfixturevalue("postgres_url"))
    except pytest.FixtureLookupError:
        pytest.skip("postgres_url fixture (tests/lab/fixtures.py) is not registered yet")
    yield from _fresh_postgres_database(server_url)


def _fresh_postgres_database(server_url: str) -> Iterator[str]:
    name = f"fp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened
