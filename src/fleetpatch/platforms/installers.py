"""The install side of each package-manager family, behind one small interface."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fleetpatch.results import PlannedPackage


@dataclass(frozen=True)
class InstallOutcome:
    """What one install (or simulated install) transaction did, from the package manager's
    own view after it ran."""

    planned: tuple[PlannedPackage, ...] = ()
    installed: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    reboot_required: bool = False
    error: str = ""
    notes: tuple[str, ...] = ()
    """what the user should know although nothing failed (an interrupted dpkg repaired first)"""


class FamilyInstaller(Protocol):
    def render(self, packages: Sequence[PlannedPackage], *, dry_run: bool) -> str:
        """The install script for ``packages`` (validated and quoted)."""
        ...

    def parse(
        self, stdout: str, packages: Sequence[PlannedPackage], *, dry_run: bool
    ) -> InstallOutcome:
        """Per-package verdicts from the script's framed output.

        Raises:
            ParseError: the output is not what the script prints.
        """
        ...


# family -> "module:Class"; imported on first use so a scan never loads install code
_INSTALLERS = {
    "apt": "fleetpatch.platforms.apt.install:AptInstaller",
    "dnf": "fleetpatch.platforms.dnf.installer:DnfInstaller",
    "yum": "fleetpatch.platforms.dnf.installer:YumInstaller",
    "zypper": "fleetpatch.platforms.zypper.installer:ZypperInstaller",
}


# how each family waits for a held lock: seconds -> its installer's options
_LOCK_WAIT_SECONDS = 10


def _lock_options(family: str, seconds: int) -> dict[str, int]:
    if family == "apt":
        return {"lock_timeout": seconds}
    if family == "zypper":  # ZYPP_LOCK_TIMEOUT, then the script's own retries
        return {"lock_timeout_seconds": seconds, "lock_retries": 0}
    return {  # dnf, yum: rc 200 retried every 10 s
        "lock_retries": max(1, -(-seconds // _LOCK_WAIT_SECONDS)),
        "lock_wait_seconds": _LOCK_WAIT_SECONDS,
    }


def installer_for(family: str, *, lock_timeout: int | None = None) -> FamilyInstaller | None:
    """The installer of a family, or None where installing is not supported yet.
    ``lock_timeout``: how long the package manager waits for a lock held by another process
    (seconds; None: each family's default)."""
    target = _INSTALLERS.get(family)
    if target is None:
        return None
    module_name, _, class_name = target.partition(":")
    factory = getattr(importlib.import_module(module_name), class_name)
    options = {} if lock_timeout is None else _lock_options(family, int(lock_timeout))
    installer: FamilyInstaller = factory(**options)
    return installer
