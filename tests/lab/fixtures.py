"""Session-scoped pytest fixtures for the fleetpatch lab (imported by tests/conftest.py).

    lab_key          Path of the lab's ed25519 client key (.lab/id_ed25519)
    debian_fleet     3 x fleetpatch-lab/debian12       (list[LabHost], restart unless-stopped)
    repo_fleet       2 x fleetpatch-lab/debian12-repo  (list[LabHost], restart unless-stopped)
    rpm_fleet        1 x each of fleetpatch-lab/rocky9, al2023, sles15 (list[LabHost], that order)
    postgres_url     SQLAlchemy URL of a fleetpatch-lab/postgres container
    lab_fleet        factory: lab_fleet(image, count, restart_policy=...) -> list[LabHost]
                     (fresh containers for tests that change a host; removed at session end)
    lab_files        factory: lab_files(hosts, directory) -> LabFiles(inventory, known_hosts)

Docker missing -> the test is skipped (with the reason). Images missing -> the test fails
and says to run `make lab-images`. Containers are removed at session end.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:  # `tests.lab` is a namespace package under the repo root
    sys.path.insert(0, _REPO_ROOT)

from tests.lab import fleet  # noqa: E402
from tests.lab.fleet import LabHost  # noqa: E402

__all__ = [
    "LabFiles",
    "debian_fleet",
    "lab_files",
    "lab_fleet",
    "lab_key",
    "postgres_url",
    "repo_fleet",
]

_SESSION_TAG = f"pt{os.getpid()}"


def _need_docker() -> None:
    ok, reason = fleet.docker_available()
    if not ok:
        pytest.skip(f"lab needs Docker: {reason}")


def _need_image(image: str) -> None:
    try:
        fleet.require_image(image)
    except fleet.ImageMissing as exc:
        pytest.fail(str(exc), pytrace=False)


def _start(image: str, count: int, prefix: str, restart_policy: str | None) -> list[LabHost]:
    _need_docker()
    _need_image(image)
    try:
        return fleet.start_fleet(image, count, prefix, restart_policy=restart_policy)
    except fleet.LabError as exc:
        pytest.fail(f"could not start lab fleet {prefix!r}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def lab_key() -> Path:
    """The lab client key; its public half is authorized for root, fleet and fleetpw."""
    return fleet.ensure_key()


@pytest.fixture(scope="session")
def debian_fleet(lab_key: Path) -> Iterator[list[LabHost]]:
    hosts = _start(fleet.IMAGE_DEBIAN12, 3, f"{_SESSION_TAG}-deb", "unless-stopped")
    try:
        yield hosts
    finally:
        fleet.stop_fleet(hosts)


@pytest.fixture(scope="session")
def repo_fleet(lab_key: Path) -> Iterator[list[LabHost]]:
    hosts = _start(fleet.IMAGE_DEBIAN12_REPO, 2, f"{_SESSION_TAG}-repo", "unless-stopped")
    try:
        yield hosts
    finally:
        fleet.stop_fleet(hosts)


@pytest.fixture(scope="session")
def rpm_fleet(lab_key: Path) -> Iterator[list[LabHost]]:
    """One host each of rocky9, al2023 and sles15 (in that order)."""
    hosts: list[LabHost] = []
    try:
        for image, tag in (
            (fleet.IMAGE_ROCKY9, "rocky"),
            (fleet.IMAGE_AL2023, "al2023"),
            (fleet.IMAGE_SLES15, "sles"),
        ):
            hosts += _start(image, 1, f"{_SESSION_TAG}-{tag}", "unless-stopped")
        yield hosts
    finally:
        fleet.stop_fleet(hosts)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    _need_docker()
    _need_image(fleet.IMAGE_POSTGRES)
    try:
        pg = fleet.start_postgres(_SESSION_TAG)
    except fleet.LabError as exc:
        pytest.fail(f"could not start lab postgres: {exc}", pytrace=False)
    try:
        yield pg.url
    finally:
        fleet.stop_postgres(pg)


@pytest.fixture(scope="session")
def lab_fleet(lab_key: Path) -> Iterator[Callable[..., list[LabHost]]]:
    """Factory for fresh fleets, e.g. ``lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)``."""
    started: list[LabHost] = []
    counter = itertools.count(1)

    def start(
        image: str, count: int = 1, *, restart_policy: str | None = "unless-stopped"
    ) -> list[LabHost]:
        prefix = f"{_SESSION_TAG}-f{next(counter)}"
        hosts = _start(image, count, prefix, restart_policy)
        started.extend(hosts)
        return hosts

    try:
        yield start
    finally:
        fleet.stop_fleet(started)


@dataclass(frozen=True)
class LabFiles:
    inventory: Path
    known_hosts: Path
    key: Path


@pytest.fixture(scope="session")
def lab_files(lab_key: Path) -> Callable[..., LabFiles]:
    """Factory writing an inventory + known_hosts for `hosts` into `directory`."""

    def write(hosts: list[LabHost], directory: Path, *, user: str = "root") -> LabFiles:
        directory = Path(directory)
        kh = fleet.write_known_hosts(hosts, directory / "known_hosts")
        inv = fleet.write_inventory(
            hosts, directory / "inventory.yaml", known_hosts_path=kh, key_path=lab_key, user=user
        )
        return LabFiles(inventory=inv, known_hosts=kh, key=lab_key)

    return write
