"""zypper behind :class:`fleetpatch.platforms.installers.FamilyInstaller`.

The script is :func:`fleetpatch.platforms.zypper.install.zypper_install_script` with ``items``.

Decisions:

* **What an item is.** The scan makes SUSE patches the unit (``PatchItem.id`` = patch name,
  ``version`` = the patch's edition) and adds package updates no patch covers (``id`` =
  package name, ``version`` = the package edition). A :class:`~fleetpatch.results.
  PlannedPackage` does not say which, so zypper decides on the host: a name it knows as a
  patch (``search -t patch --match-exact``) is requested as ``patch:NAME``, any other as the
  exact package ``NAME.ARCH=VERSION``. Both go into *one* ``zypper install`` (one solver run,
  one transaction), with ``--non-interactive-include-reboot-patches`` (else zypper skips
  patches that ask for a reboot) and ``--auto-agree-with-licenses``.
* **Dry run** = zypper's own ``--xmlout install --dry-run`` of the same request (no metadata
  refresh, nothing changed). A real install runs that simulation first too: its summary is the
  plan (the solver is the same, on the same state, a moment apart).
* **planned**: the requested patches and packages from the summary; every other package in it
  (a patch's content at the version zypper picked, or a dependency) is ``dependency=True``,
  with the reason ``patch NAME`` when a requested patch lists the package (its Conflicts).
  zypper installs a patch by upgrading its packages to the *best* version satisfying it, which
  may be newer than the patch's own (fp-multi 1.2 for a patch fixed in 1.1): the plan shows it.
* **installed**: a patch whose status after the run is ``applied`` (or ``not-needed``) in
  ``zypper info -t patch`` -- libzypp's verdict that every package it lists is at or above the
  patch's version; a package that rpm shows at *exactly* the requested version.
* **failed**: zypper's own lines naming the item (``No provider of 'X' found``,
  ``Problem: ...``), else its general errors (a refused request fails every item: zypper
  installs nothing then), else the status after the run.
* **Reboot**: the install's rc 102 (or the simulation's, or its "requires a reboot" warning,
  in a dry run), ``zypper needs-rebooting`` rc 102, or the newest installed kernel is not the
  running one (the scan's rule).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fleetpatch import results
from fleetpatch.errors import InputError, RemoteCommandError
from fleetpatch.platforms.framing import Frames, parse_frames
from fleetpatch.platforms.installers import InstallOutcome
from fleetpatch.platforms.rpm.install import PackageTarget, parse_verify, unique_targets
from fleetpatch.platforms.rpm.parsers import compare_evr, parse_rpm_kernels
from fleetpatch.platforms.zypper.install import (
    INFO_RC,
    INSTALL_RC,
    SUCCESS_RC,
    parse_zypper_install,
    zypper_install_script,
)
from fleetpatch.platforms.zypper.parsers import (
    PatchInfo,
    parse_needs_rebooting,
    parse_patch_info,
)
from fleetpatch.platforms.zypper.simulate import (
    ZypperSimulation,
    parse_patch_search,
    parse_zypper_simulation,
)

KINDS_RC = frozenset({0, 104})  # 104: no patch of those names
REBOOT_RC = frozenset({0, 102})
VERIFY_RC = frozenset(range(256))

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+\-]*$")
_ARCH = re.compile(r"^[A-Za-z0-9_]+$")
_EDITION = re.compile(r"^(?:[0-9]+:)?[A-Za-z0-9._+~^]+(?:-[A-Za-z0-9._+~^]+)?$")


def zypper_item(p: results.PlannedPackage) -> PackageTarget:
    """One planned item as a target, checked strictly (no leading ``-``: it would be read as
    an option; an edition ``[E:]V[-R]``: a patch's is just ``1``).

    Raises:
        InputError: a name, arch or version outside those grammars.
    """
    if not _NAME.fullmatch(p.name):
        raise InputError(f"{p.name!r} is not a valid zypper patch or package name")
    arch = p.arch or "noarch"
    if not _ARCH.fullmatch(arch):
        raise InputError(f"{p.arch!r} is not a valid architecture (item {p.name})")
    if not _EDITION.fullmatch(p.version):
        raise InputError(f"{p.version!r} is not a valid edition (item {p.name})")
    return PackageTarget(name=p.name, arch=arch, version=p.version)


def _items(packages: Sequence[results.PlannedPackage]) -> list[PackageTarget]:
    return unique_targets(packages, zypper_item, empty="nothing to install")


def _naming(messages: Sequence[str], name: str) -> list[str]:
    pattern = re.compile(rf"(?<![A-Za-z0-9._+\-]){re.escape(name)}(?![A-Za-z0-9_+]|-[A-Za-z])")
    return [m for m in messages if pattern.search(m)]


class ZypperInstaller:
    """zypper behind FamilyInstaller; see the module docstring."""

    def __init__(
        self,
        *,
        lock_timeout_seconds: int = 30,
        lock_retries: int = 4,
        lock_wait_seconds: int = 10,
    ):
        self.lock_timeout_seconds = lock_timeout_seconds
        self.lock_retries = lock_retries
        self.lock_wait_seconds = lock_wait_seconds

    def render(self, packages: Sequence[results.PlannedPackage], *, dry_run: bool) -> str:
        """The install (or, with ``dry_run``, simulation) script for ``packages``.

        Raises:
            InputError: no item, a name/arch/edition outside the grammars, or the same
                name.arch twice.
        """
        return zypper_install_script(
            items=_items(packages),
            simulate=bool(dry_run),
            reboot_check=True,
            lock_timeout_seconds=self.lock_timeout_seconds,
            lock_retries=self.lock_retries,
            lock_wait_seconds=self.lock_wait_seconds,
        )

    def parse(
        self, stdout: str, packages: Sequence[results.PlannedPackage], *, dry_run: bool
    ) -> InstallOutcome:
        """Verdicts from the script's framed output (see the module docstring).

        Raises:
            RemoteCommandError: the script itself stopped with a non-zero exit code.
            ParseError: a section is missing, ended with an undeclared exit code, or zypper's
                XML is malformed.
        """
        items = _items(packages)
        frames = parse_frames(stdout)
        if frames.exit.rc != 0:
            raise RemoteCommandError(
                f"zypper install script failed at step {frames.exit.step!r} with exit code "
                f"{frames.exit.rc}"
            )
        patch_names = parse_patch_search(frames.require("zypper.kinds", allowed_rc=KINDS_RC).body)
        simulate = frames.require("zypper.simulate", allowed_rc=INSTALL_RC)
        simulation = parse_zypper_simulation(simulate.body)
        infos = parse_patch_info(frames.require("zypper.patches", allowed_rc=INFO_RC).body)
        requests = {(p.name, p.arch or "noarch"): p for p in packages}
        planned = _planned(simulation, requests, patch_names, infos)
        reboot = self._reboot(frames)
        if dry_run:
            refusals, problems = _refusals(frames, simulation, simulate.rc, items, patch_names)
            reboot = reboot or simulate.rc == 102 or simulation.reboot_message
            return InstallOutcome(
                planned=planned,
                failed=refusals,
                reboot_required=reboot,
                error="; ".join(problems),
            )
        install = frames.require("zypper.install", allowed_rc=INSTALL_RC)
        result = parse_zypper_install(
            stdout,
            patches=[i.name for i in items if i.name in patch_names],
            packages=[i for i in items if i.name not in patch_names],
        )
        # zypper's own words: problems and errors (its "Solution n:" and warning lines are
        # not reasons)
        messages = [m for m in result.messages if not m.startswith(("Solution", "Warning"))]
        refused = install.rc not in SUCCESS_RC
        general = f"zypper rc {install.rc}: " + (" | ".join(messages) or "(no message)")
        failed: dict[str, str] = {}
        installed: list[str] = []
        claimed: set[str] = set()
        states: list[tuple[str, bool, str]] = [
            (
                p.name,
                p.status == "installed",
                f"patch status after the run: {p.patch_status or 'unknown'}",
            )
            for p in result.patches
        ]
        for v in result.packages:
            exact = any(compare_evr(have, v.wanted) == 0 for have in v.installed_versions)
            have = ", ".join(v.installed_versions) or "nothing"
            states.append(
                (v.name, exact, f"rpm reports {v.name}.{v.arch} at {have}, requested {v.wanted}")
            )
        for name, ok, state in states:
            if ok:
                installed.append(name)
                continue
            own = _naming(messages, name)
            claimed.update(own)
            if own:
                failed[name] = " | ".join(own) + f" ({state})"
            elif refused:
                failed[name] = f"{general} ({state})"
            else:
                failed[name] = state
        unclaimed = [m for m in messages if m not in claimed]
        error = f"zypper rc {install.rc}: " + " | ".join(unclaimed) if refused and unclaimed else ""
        return InstallOutcome(
            planned=planned,
            installed=tuple(installed),
            failed=failed,
            reboot_required=reboot or result.reboot_needed,
            error=error,
        )

    @staticmethod
    def _reboot(frames: Frames) -> bool:
        section = frames.require("zypper.needs_rebooting", allowed_rc=REBOOT_RC)
        flag = parse_needs_rebooting(section.body, section.rc)
        kernels = parse_rpm_kernels(
            frames.require("zypper.kernels", allowed_rc=frozenset({0})).body, "zypper.kernels"
        )
        return flag or bool(kernels.pending)


def _planned(
    simulation: ZypperSimulation,
    requests: dict[tuple[str, str], results.PlannedPackage],
    patch_names: frozenset[str],
    infos: dict[str, PatchInfo],
) -> tuple[results.PlannedPackage, ...]:
    """The summary's patches and packages; not requested -> ``dependency=True`` with the
    requested patch that lists the package as reason."""
    owner: dict[str, str] = {}
    for name, info in infos.items():
        if name in patch_names and (name, "noarch") in requests:
            for package in info.packages:
                owner.setdefault(package.name, name)
    planned = []
    for s in simulation.changes:
        if s.kind not in ("package", "patch"):
            continue
        request = requests.get((s.name, s.arch))
        if s.kind == "patch" and request is None:
            request = next((r for (n, _), r in requests.items() if n == s.name), None)
        if request is not None:
            reason, dependency = request.reason, False
        else:
            reason, dependency = (f"patch {owner[s.name]}" if s.name in owner else ""), True
        planned.append(
            results.PlannedPackage(
                name=s.name,
                arch=s.arch,
                installed_version=s.edition_old,
                version=s.edition,
                reason=reason,
                dependency=dependency,
            )
        )
    return tuple(planned)


def _refusals(
    frames: Frames,
    simulation: ZypperSimulation,
    rc: int,
    items: Sequence[PackageTarget],
    patch_names: frozenset[str],
) -> tuple[dict[str, str], list[str]]:
    """A dry run: the items zypper would not install, and the general errors."""
    installed = parse_verify(
        frames.require("zypper.verify", allowed_rc=VERIFY_RC).body, "zypper.verify"
    )
    infos = parse_patch_info(frames.require("zypper.patches", allowed_rc=INFO_RC).body)
    messages = [*simulation.errors, *simulation.problems]
    placed = {(s.name, s.arch): s for s in simulation.changes}
    placed_patches = {s.name for s in simulation.changes if s.kind == "patch"}
    refused = rc not in SUCCESS_RC or bool(simulation.problems) or not simulation.summary
    failed: dict[str, str] = {}
    claimed: set[str] = set()
    for item in items:
        if item.name in patch_names:
            info = infos.get(item.name)
            if item.name in placed_patches or (
                info is not None and info.status in ("applied", "not-needed")
            ):
                continue
        else:
            row = placed.get((item.name, item.arch))
            if row is not None and compare_evr(row.edition, item.version) == 0:
                continue
            have = installed.get((item.name, item.arch), [])
            if any(compare_evr(v, item.version) == 0 for v in have):
                continue
        own = _naming(messages, item.name)
        claimed.update(own)
        if own:
            why = " | ".join(own)
        elif refused and messages:
            why = "zypper refused the whole request: " + " | ".join(messages)
        elif refused:
            why = f"zypper refused the whole request (rc {rc})"
        else:
            why = "zypper would not install it"
        failed[item.name] = why
    general = [m for m in messages if m not in claimed]
    return failed, general


__all__ = ["ZypperInstaller", "zypper_item"]
