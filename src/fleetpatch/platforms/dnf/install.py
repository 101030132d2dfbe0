"""Install a chosen set on a dnf/yum host: a pure script builder and a pure result parser.

The script (``dnf/templates/install.sh.j2``) runs one transaction, ``dnf -y upgrade`` of exact
NEVRAs (``name-E:V-R.arch``) and/or ``--advisory=ID`` (yum: ``yum -y upgrade``, same
arguments), non-interactively; rc 200 (another dnf holds the lock) is waited on and retried a
bounded number of times. Then ``rpm -q`` says what each target name is at, and
:func:`parse_dnf_install` turns that into one verdict per package. The transaction is
all-or-nothing: when it fails every target that did not reach its version is ``failed`` with
dnf's ``Error:``/problem lines as the message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import InputError
from fleetpatch.platforms.framing import parse_frames
from fleetpatch.platforms.render import render
from fleetpatch.platforms.rpm.install import (
    VERIFY_QF,
    PackageTarget,
    PackageVerdict,
    parse_verify,
    verdicts,
)

INSTALL_RC = frozenset({0, 1})  # 1 = dnf error (reported per package); others: script failure


class DnfInstallResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    rc: int
    packages: tuple[PackageVerdict, ...]
    messages: tuple[str, ...] = ()  # dnf's error / problem lines

    @property
    def ok(self) -> bool:
        return self.rc == 0 and all(p.status == "installed" for p in self.packages)


def dnf_install_script(
    targets: Sequence[PackageTarget],
    *,
    advisories: Sequence[str] = (),
    tool: Literal["dnf", "yum"] = "dnf",
    cache_only: bool = False,
    lock_retries: int = 6,
    lock_wait_seconds: int = 10,
    simulate: bool = False,
    reboot_check: bool = False,
) -> str:
    """The install script for ``targets`` (exact NEVRAs) and/or ``advisories`` (ids).

    With ``advisories`` and no explicit targets, dnf picks the advisories' packages; pass the
    targets anyway (from the scan) so the result has a verdict per package.

    ``simulate`` replaces the install by dnf's own simulation of the same NEVRAs
    (``TOOL -C --assumeno upgrade``, section ``dnf.simulate``; not with ``advisories``);
    ``reboot_check`` adds the scan's ``dnf.needs_restarting`` and ``dnf.kernels`` sections at
    the end. Both are used by :class:`fleetpatch.platforms.dnf.installer.DnfInstaller`.

    Raises:
        InputError: nothing to install, or a name/version/advisory outside the rpm grammar.
    """
    if not targets and not advisories:
        raise InputError("nothing to install: give packages or advisories")
    if simulate and advisories:
        raise InputError("simulate takes exact packages, not advisories")
    # By advisory: dnf picks the advisories' packages; the targets only get verdicts.
    nevras = [] if advisories else [t.nevra for t in targets]
    options = ["-C"] if cache_only else []
    if tool == "dnf":
        # a held lock is rc 200 at once (retried, bounded, saying so) instead of an endless
        # wait (yum has its own wait and no such option)
        options.append("--setopt=exit_on_lock=True")
    return render(
        "dnf/templates/install.sh.j2",
        tool=tool,
        options=options,
        nevras=nevras,
        advisories=list(advisories),
        names=sorted({t.name for t in targets}),
        verify_qf=VERIFY_QF,
        lock_retries=int(lock_retries),
        lock_wait=int(lock_wait_seconds),
        simulate=bool(simulate),
        reboot_check=bool(reboot_check),
    )


def parse_dnf_install(stdout: str, targets: Sequence[PackageTarget]) -> DnfInstallResult:
    """Per-package verdicts from the install script's output.

    Raises:
        ParseError: output cut short or malformed; the install step exited with a code other
            than 0/1 (e.g. 200 after every retry: the message says so).
    """
    frames = parse_frames(stdout)
    install = frames.require("dnf.install", allowed_rc=INSTALL_RC)
    verify = frames.require("dnf.verify", allowed_rc=frozenset(range(256)))
    messages = tuple(
        line.strip()
        for line in install.lines
        if line.startswith(("Error", " Problem", "  - ", "Problem"))
        or "No match for argument" in line
        or "Nothing to do" in line
    )
    failure = " | ".join(messages) if install.rc != 0 else ""
    installed = parse_verify(verify.body, "dnf.verify")
    results = tuple(
        _with_own_lines(v, install.lines) for v in verdicts(list(targets), installed, failure)
    )
    return DnfInstallResult(rc=install.rc, packages=results, messages=messages)


def _with_own_lines(verdict: PackageVerdict, lines: list[str]) -> PackageVerdict:
    """A failed package's message, prefixed by dnf's lines that name it ("No match for
    argument: ...", "Package ... is already installed", problem lines)."""
    if verdict.status != "failed":
        return verdict
    own = [line.strip() for line in lines if re.search(rf"\b{re.escape(verdict.name)}\b", line)]
    if not own:
        return verdict
    return verdict.model_copy(update={"message": " | ".join([*own, verdict.message])})


__all__ = ["DnfInstallResult", "PackageTarget", "dnf_install_script", "parse_dnf_install"]
