from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from tests.engine.sshserver import ServerHandle, start_server, write_client_key


@pytest.fixture
def client_key(tmp_path: Path) -> tuple[asyncssh.SSHKey, Path]:
    return write_client_key(tmp_path)


@pytest.fixture
async def server(client_key: tuple[asyncssh.SSHKey, Path]) -> AsyncIterator[ServerHandle]:
    handle = await start_server(client_key=client_key[0])
    yield handle
    await handle.close()


@pytest.fixture(autouse=True)
def _own_known_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """fleetpatch's own known_hosts goes to a temp file, never the user's data dir."""
    path = tmp_path / "fleetpatch_known_hosts"
    monkeypatch.setenv("FLEETPATCH_KNOWN_HOSTS", str(path))
    return path
