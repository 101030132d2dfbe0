"""dnf / yum behind :class:`fleetpatch.platforms.installers.FamilyInstaller`.

The script is :func:`fleetpatch.platforms.dnf.install.dnf_install_script` with exact NEVRAs
(``name-E:V-R.arch``, the epoch always spelled, ``0:`` included: dnf and yum both accept it;
the scan's versions are ``[E:]V-R`` with the epoch only when not 0).

Decisions:

* **Dry run** = the package manager's own simulation, ``TOOL -C --assumeno upgrade NEVRA...``:
  dnf resolves against the *cached* metadata (as the scan did: ``-C``), prints its transaction
  table and answers "no" (rc 1, "Operation aborted."). Nothing is downloaded, the rpm database
  and the metadata cache are untouched. ``--setopt=tsflags=test`` was not chosen: it downloads
  the packages and runs rpm's test transaction, i.e. it writes the package cache. The table is
  parsed by :func:`~fleetpatch.platforms.dnf.transaction.parse_dnf_transaction` (wrapped rows,
  dependency sections, cross-checked with the summary).
* **Install** = ``TOOL -y upgrade NEVRA...`` (metadata may be refreshed when expired; the
  versions are pinned by the NEVRAs), its own transaction table is the plan, then ``rpm -q``.
* **planned**: the table's rows that install/upgrade/downgrade a package; a row whose
  name.arch was not requested is ``dependency=True``. Removals (``Removing:``, an old kernel
  beyond ``installonly_limit``, obsoleted packages shown as ``replacing``) are normal in an
  upgrade and are not planned packages; :func:`parse_dnf_transaction` keeps them.
* **installed**: a requested name.arch that rpm shows at *exactly* the requested version after
  the run (as apt: another version means something else decided; it is ``failed`` with what
  rpm reports). **failed**: dnf's own lines naming the package (``No match for argument``,
  ``Problem: ...``), else its ``Error:`` lines, else what rpm reports.
* A dry run's ``failed`` holds the requests dnf would not carry out (not in the table at the
  requested version and not already installed at it).
* **Reboot** (after the install; in a dry run: now, or a reboot-class package in the plan):
  ``needs-restarting -r`` says "Reboot is required", or the newest installed kernel is not the
  running one (the scan's rule).
* Ids: ``failed``/``installed`` are keyed by the request's name; ``name.arch`` when the same
  name is requested for two architectures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from fleetpatch import results
from fleetpatch.errors import InputError, RemoteCommandError
from fleetpatch.platforms.dnf.install import dnf_install_script, parse_dnf_install
from fleetpatch.platforms.dnf.parsers import parse_needs_restarting
from fleetpatch.platforms.dnf.transaction import DnfTransaction, parse_dnf_transaction
from fleetpatch.platforms.framing import Frames, parse_frames
from fleetpatch.platforms.installers import InstallOutcome
from fleetpatch.platforms.rpm.install import PackageTarget, parse_verify, unique_targets
from fleetpatch.platforms.rpm.parsers import KERNEL_NAMES, compare_evr, parse_rpm_kernels

SIMULATE_RC = frozenset({0, 1})  # 1: answered "no" (--assumeno) or a dnf error
INSTALL_RC = frozenset({0, 1})
VERIFY_RC = frozenset(range(256))  # rpm -q: rc = number of names not installed
NEEDS_RESTARTING_RC = frozenset({0, 1, 2, 127})
KERNELS_RC = frozenset({0})

# needs-restarting's reboot list (dnf-plugins-core NEED_REBOOT) plus the kernel packages
REBOOT_PACKAGES = frozenset(
    {
        *KERNEL_NAMES,
        "kernel-modules",
        "glibc",
        "linux-firmware",
        "systemd",
        "dbus",
        "dbus-broker",
        "dbus-daemon",
        "microcode_ctl",
    }
)

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+\-]*$")
_ARCH = re.compile(r"^[A-Za-z0-9_]+$")
_EVR = re.compile(r"^(?:[0-9]+:)?[A-Za-z0-9._+~^]+-[A-Za-z0-9._+~^]+$")


def package_target(p: results.PlannedPackage) -> PackageTarget:
    """The exact target of one planned package, checked strictly: the name must not start
    with ``-`` (it would be read as an option), the version must be ``[E:]V-R``.

    Raises:
        InputError: a name, arch or version outside those grammars.
    """
    if not _NAME.fullmatch(p.name):
        raise InputError(f"{p.name!r} is not a valid rpm package name")
    if not _ARCH.fullmatch(p.arch):
        raise InputError(f"{p.arch!r} is not a valid rpm architecture (package {p.name})")
    if not _EVR.fullmatch(p.version):
        raise InputError(f"{p.version!r} is not a valid [epoch:]version-release (package {p.name})")
    return PackageTarget(name=p.name, arch=p.arch, version=p.version)


def _targets(packages: Sequence[results.PlannedPackage]) -> list[PackageTarget]:
    return unique_targets(packages, package_target, empty="no package to install")


def _ids(targets: Sequence[PackageTarget]) -> dict[tuple[str, str], str]:
    """The id under which each target is reported: its name, or name.arch when the name is
    requested for several architectures."""
    counts: dict[str, int] = {}
    for t in targets:
        counts[t.name] = counts.get(t.name, 0) + 1
    return {
        (t.name, t.arch): t.name if counts[t.name] == 1 else f"{t.name}.{t.arch}" for t in targets
    }


_MESSAGE_PREFIXES = ("Error", "Problem", " Problem", "  - ", "No match for argument")


def dnf_messages(lines: Sequence[str]) -> list[str]:
    """dnf's/yum's own error lines: ``Error: ...``, ``Problem: ...`` and its ``  - ...``
    details, ``No match for argument: ...``, ``Package ... is already installed`` /
    ``... available, but not installed``."""
    out = []
    for line in lines:
        if (
            line.startswith(_MESSAGE_PREFIXES)
            or "is already installed" in line
            or "but not installed" in line
            or "cannot update it" in line
        ):
            out.append(line.strip())
    return out


def _naming(messages: Sequence[str], target: PackageTarget) -> list[str]:
    pattern = re.compile(
        rf"(?<![A-Za-z0-9._+\-]){re.escape(target.name)}(?![A-Za-z0-9_+]|-[A-Za-z])"
    )
    return [m for m in messages if pattern.search(m)]


class DnfInstaller:
    """dnf (or yum: ``DnfInstaller(tool="yum")``) behind FamilyInstaller; see the module."""

    def __init__(
        self,
        tool: Literal["dnf", "yum"] = "dnf",
        *,
        lock_retries: int = 6,
        lock_wait_seconds: int = 10,
    ):
        if tool not in ("dnf", "yum"):
            raise InputError(f"tool must be dnf or yum, got {tool!r}")
        self.tool: Literal["dnf", "yum"] = tool
        self.lock_retries = lock_retries
        self.lock_wait_seconds = lock_wait_seconds

    def render(self, packages: Sequence[results.PlannedPackage], *, dry_run: bool) -> str:
        """The install (or, with ``dry_run``, simulation) script for ``packages``.

        Raises:
            InputError: no package, a name/arch/version outside the rpm grammars, or the
                same name.arch twice.
        """
        return dnf_install_script(
            _targets(packages),
            tool=self.tool,
            lock_retries=self.lock_retries,
            lock_wait_seconds=self.lock_wait_seconds,
            simulate=bool(dry_run),
            reboot_check=True,
        )

    def parse(
        self, stdout: str, packages: Sequence[results.PlannedPackage], *, dry_run: bool
    ) -> InstallOutcome:
        """Verdicts from the script's framed output (see the module docstring).

        Raises:
            RemoteCommandError: the script itself stopped with a non-zero exit code.
            ParseError: a section is missing, ended with an undeclared exit code, or the
                transaction table is malformed.
        """
        targets = _targets(packages)
        frames = parse_frames(stdout)
        if frames.exit.rc != 0:
            raise RemoteCommandError(
                f"{self.tool} install script failed at step {frames.exit.step!r} with exit "
                f"code {frames.exit.rc}"
            )
        requests = {(p.name, p.arch): p for p in packages}
        section = frames.require(
            "dnf.simulate" if dry_run else "dnf.install",
            allowed_rc=SIMULATE_RC if dry_run else INSTALL_RC,
        )
        transaction = parse_dnf_transaction(section.body, f"{section.name}")
        planned = self._planned(transaction, requests)
        messages = dnf_messages(section.lines)
        reboot = self._reboot(frames)
        if dry_run:
            failed, general = self._refusals(frames, transaction, targets, messages)
            reboot = reboot or any(r.name in REBOOT_PACKAGES for r in transaction.changes)
            installed: tuple[str, ...] = ()
        else:
            failed, installed, general = self._verdicts(stdout, targets, messages)
        return InstallOutcome(
            planned=planned,
            installed=installed,
            failed=failed,
            reboot_required=reboot,
            error="; ".join(general),
        )

    @staticmethod
    def _planned(
        transaction: DnfTransaction,
        requests: dict[tuple[str, str], results.PlannedPackage],
    ) -> tuple[results.PlannedPackage, ...]:
        """The table's installs/upgrades; the request's installed version and reason when the
        row was requested, else ``dependency=True``."""
        planned = []
        for row in transaction.changes:
            request = requests.get((row.name, row.arch))
            planned.append(
                results.PlannedPackage(
                    name=row.name,
                    arch=row.arch,
                    installed_version=request.installed_version if request else None,
                    version=row.version,
                    reason=request.reason if request else "",
                    dependency=request is None,
                )
            )
        return tuple(planned)

    def _refusals(
        self,
        frames: Frames,
        transaction: DnfTransaction,
        targets: Sequence[PackageTarget],
        messages: list[str],
    ) -> tuple[dict[str, str], list[str]]:
        """A dry run: the requests dnf would not carry out, and the general errors."""
        ids = _ids(targets)
        installed = parse_verify(
            frames.require("dnf.verify", allowed_rc=VERIFY_RC).body, "dnf.verify"
        )
        rows = {(r.name, r.arch): r for r in transaction.changes}
        failed: dict[str, str] = {}
        claimed: set[str] = set()
        for t in targets:
            row = rows.get((t.name, t.arch))
            if row is not None and compare_evr(row.version, t.version) == 0:
                continue
            if any(compare_evr(v, t.version) == 0 for v in installed.get((t.name, t.arch), [])):
                continue  # already at the requested version: nothing to do
            own = _naming(messages, t)
            claimed.update(own)
            if own:
                why = " | ".join(own)
            elif row is not None:
                why = f"{self.tool} would install {row.version}, not {t.version}"
            elif messages:
                why = f"{self.tool} refused the whole request: " + " | ".join(messages)
            else:
                why = f"{self.tool} would not change {t.name}.{t.arch}"
            failed[ids[(t.name, t.arch)]] = why
        general = [m for m in messages if m not in claimed and m.startswith(("Error", "Problem"))]
        return failed, general

    def _verdicts(
        self, stdout: str, targets: Sequence[PackageTarget], messages: list[str]
    ) -> tuple[dict[str, str], tuple[str, ...], list[str]]:
        """After a real install: rpm's view of each request at exactly its version."""
        ids = _ids(targets)
        result = parse_dnf_install(stdout, targets)
        failed: dict[str, str] = {}
        installed: list[str] = []
        claimed: set[str] = set()
        failure = " | ".join(messages) if result.rc != 0 else ""
        for t, verdict in zip(targets, result.packages, strict=True):
            exact = any(compare_evr(v, t.version) == 0 for v in verdict.installed_versions)
            if exact:
                installed.append(ids[(t.name, t.arch)])
                continue
            own = _naming(messages, t)
            claimed.update(own)
            have = ", ".join(verdict.installed_versions) or "nothing"
            state = f"rpm reports {t.name}.{t.arch} at {have}, requested {t.version}"
            words = " | ".join(own) or failure  # dnf's own, else its general failure
            failed[ids[(t.name, t.arch)]] = f"{words} ({state})" if words else state
        general = [m for m in messages if m not in claimed and m.startswith(("Error", "Problem"))]
        return failed, tuple(installed), general

    @staticmethod
    def _reboot(frames: Frames) -> bool:
        restart = frames.require("dnf.needs_restarting", allowed_rc=NEEDS_RESTARTING_RC)
        needs = parse_needs_restarting(restart.body, restart.rc)
        kernels = parse_rpm_kernels(
            frames.require("dnf.kernels", allowed_rc=KERNELS_RC).body, "dnf.kernels"
        )
        return bool(needs.required) or bool(kernels.pending)


class YumInstaller(DnfInstaller):
    """:class:`DnfInstaller` with ``tool="yum"`` (the ``yum`` family's registry entry)."""

    def __init__(self, *, lock_retries: int = 6, lock_wait_seconds: int = 10):
        super().__init__("yum", lock_retries=lock_retries, lock_wait_seconds=lock_wait_seconds)


__all__ = ["REBOOT_PACKAGES", "DnfInstaller", "YumInstaller", "dnf_messages", "package_target"]
