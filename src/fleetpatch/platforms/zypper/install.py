"""Install a chosen set on a zypper host: a pure script builder and a pure result parser.

The script (``zypper/templates/install.sh.j2``) runs ``zypper -n install -t patch NAME...``
(the patch is SUSE's unit) or ``zypper -n update PKG...``, non-interactively, with
``--auto-agree-with-licenses`` and (by default) ``--non-interactive-include-reboot-patches``
(otherwise zypper skips patches that ask for a reboot). Locks: ``ZYPP_LOCK_TIMEOUT`` seconds of
waiting inside zypper, then rc 7 is retried a bounded number of times; rc 103 (zypper updated
the update stack and asks to be run again) is rerun once. Afterwards ``rpm -q`` reports every
target package and ``zypper info -t patch`` every patch's status.

Exit codes of the install step: 0 ok, 102 ok + reboot needed, 106 ok but some repositories
were skipped, 107 installed but an rpm scriptlet failed (the package is installed: reported
``installed`` with the message); anything else fails the packages that did not reach their
version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import InputError
from fleetpatch.platforms.framing import parse_frames
from fleetpatch.platforms.render import render, validated
from fleetpatch.platforms.rpm.install import (
    VERIFY_QF,
    PackageTarget,
    PackageVerdict,
    parse_verify,
    verdicts,
)
from fleetpatch.platforms.zypper.parsers import parse_patch_info

SUCCESS_RC = frozenset({0, 102, 106, 107})
INSTALL_RC = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 101, 102, 103, 104, 105, 106, 107})
INFO_RC = frozenset({0, 104})


class PatchVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    status: Literal["installed", "failed"]
    patch_status: str = ""  # zypper's: applied, needed, not-needed, ...
    message: str = ""


class ZypperInstallResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    rc: int
    packages: tuple[PackageVerdict, ...]
    patches: tuple[PatchVerdict, ...] = ()
    reboot_needed: bool = False
    messages: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return (
            self.rc in SUCCESS_RC
            and all(p.status == "installed" for p in self.packages)
            and all(p.status == "installed" for p in self.patches)
        )


def zypper_install_script(
    *,
    patches: Sequence[str] = (),
    packages: Sequence[PackageTarget] = (),
    include_reboot_patches: bool = True,
    lock_timeout_seconds: int = 30,
    lock_retries: int = 4,
    lock_wait_seconds: int = 10,
    items: Sequence[PackageTarget] = (),
    simulate: bool = False,
    reboot_check: bool = False,
) -> str:
    """The install script for ``patches`` (ids) or, without patches, ``packages`` (updated to
    their newest version: ``zypper update NAME``). When installing patches, ``packages`` are
    the packages they touch (from the scan), only used for per-package verdicts.

    ``items`` (instead of patches/packages; used by
    :class:`fleetpatch.platforms.zypper.installer.ZypperInstaller`): names whose kind zypper
    decides on the host: ``patch:NAME`` when it knows a patch of that name, else the exact
    package ``NAME.ARCH=VERSION``; one ``zypper install`` of them all, preceded by zypper's
    own ``--dry-run`` of the same request (``zypper.simulate``, XML). ``simulate`` stops after
    the simulation (nothing is changed). ``reboot_check`` adds the scan's
    ``zypper.needs_rebooting`` and ``zypper.kernels`` sections at the end.

    Raises:
        InputError: nothing to install, or a name outside the rpm grammar.
    """
    if not patches and not packages and not items:
        raise InputError("nothing to install: give patches, packages or items")
    if items and (patches or packages):
        raise InputError("give items, or patches/packages, not both")
    if simulate and not items:
        raise InputError("simulate needs items")
    for p in [*packages, *items]:  # versions must be sane even where not in the script
        validated(p.version, "rpm")
    options = ["--no-refresh"]
    if include_reboot_patches and (patches or items):
        options.insert(0, "--non-interactive-include-reboot-patches")
    if items:
        names = list(dict.fromkeys(i.name for i in items))
        return render(
            "zypper/templates/install.sh.j2",
            options=options,
            patches=names,
            packages=[],
            items=[{"name": i.name, "arch": i.arch, "version": i.version} for i in items],
            names=sorted(names),
            verify_qf=VERIFY_QF,
            lock_timeout=int(lock_timeout_seconds),
            lock_retries=int(lock_retries),
            lock_wait=int(lock_wait_seconds),
            simulate=bool(simulate),
            reboot_check=bool(reboot_check),
        )
    return render(
        "zypper/templates/install.sh.j2",
        options=options,
        patches=list(patches),
        packages=[f"{p.name}.{p.arch}" if p.arch else p.name for p in packages],
        names=sorted({p.name for p in packages}),
        verify_qf=VERIFY_QF,
        lock_timeout=int(lock_timeout_seconds),
        lock_retries=int(lock_retries),
        lock_wait=int(lock_wait_seconds),
    )


def parse_zypper_install(
    stdout: str, *, patches: Sequence[str] = (), packages: Sequence[PackageTarget] = ()
) -> ZypperInstallResult:
    """Per-package and per-patch verdicts from the install script's output.

    Raises:
        ParseError: output cut short or malformed, or a section with an undeclared exit code.
    """
    frames = parse_frames(stdout)
    install = frames.require("zypper.install", allowed_rc=INSTALL_RC)
    verify = frames.require("zypper.verify", allowed_rc=frozenset(range(256)))
    messages = tuple(
        line.strip()
        for line in install.lines
        if line.startswith(("Problem:", "Error", "ERROR", "Warning:", " Solution"))
        or "%post" in line
        or "failed" in line.lower()
    )
    failed = install.rc not in SUCCESS_RC
    failure = (
        f"zypper rc {install.rc}: " + (" | ".join(messages) or "(no message)") if failed else ""
    )
    installed = parse_verify(verify.body, "zypper.verify")
    package_verdicts = verdicts(list(packages), installed, failure)
    if install.rc == 107:
        note = "installed, but an rpm scriptlet failed (zypper rc 107)"
        package_verdicts = tuple(
            v.model_copy(update={"message": note}) if v.status == "installed" else v
            for v in package_verdicts
        )
    patch_verdicts: list[PatchVerdict] = []
    if patches:
        infos = parse_patch_info(frames.require("zypper.patches", allowed_rc=INFO_RC).body)
        for name in patches:
            info = infos.get(name)
            status = info.status if info is not None else ""
            ok = status in ("applied", "not-needed")
            patch_verdicts.append(
                PatchVerdict(
                    name=name,
                    status="installed" if ok else "failed",
                    patch_status=status,
                    message=""
                    if ok
                    else (failure or f"patch status after install: {status or 'unknown'}"),
                )
            )
    return ZypperInstallResult(
        rc=install.rc,
        packages=package_verdicts,
        patches=tuple(patch_verdicts),
        reboot_needed=install.rc == 102,
        messages=messages,
    )


__all__ = ["PackageTarget", "ZypperInstallResult", "parse_zypper_install", "zypper_install_script"]
