"""apt family: install a chosen set of package versions and report a verdict per package.

The script (``apt/templates/install.sh.j2``, rendered by :func:`apt_install_script`) recovers an
interrupted dpkg, asks apt for its own simulation of the exact install, runs it (unless a dry
run), then asks dpkg what is installed. The parsers here are pure.

Decisions:

* **Request**: ``apt-get install --only-upgrade NAME=VERSION...``: a package that is not
  installed is never installed by a patch run (apt says ``Skipping ...``), and the version is
  exact. Options shared by simulation and install: phased updates included (as the scan),
  ``APT::Cmd::Pattern-Only`` (so ``lib.+`` is never read as a regular expression).
* **Verdict ``installed``** needs dpkg to say the package is fully installed (status ``ii``,
  or ``hi`` for a held one: desired ``i``/``h``, state ``i``, no error flag) at *exactly* the
  requested version (dpkg equality, so ``0:1.0`` = ``1.0``). Not "or newer": the request
  names the version the baseline approved; if dpkg shows another one, something other than this
  request decided it (another run, an unattended upgrade, a different candidate), and saying
  "installed" would hide that. Such a package is ``failed`` with the version dpkg reports; a
  re-scan judges compliance anyway. A package apt calls "already the newest version" at the
  requested version is ``installed``.
* **Verdict ``failed``** carries the package manager's own words for that package: apt's
  ``E: Version '9.9' for 'x' was not found`` / ``E: Unable to locate package x``, dpkg's
  ``dpkg: error processing package x (--configure): <reason>`` and apt's Status-Fd
  ``pmerror`` line; without those, the general ``E:`` lines and what dpkg reports.
* **Verdict ``not_attempted``**: a dry run; apt skipped it (not installed); or apt refused the
  whole transaction before dpkg ran because of *another* request (its message is given).
* A failing package does not roll back the others: dpkg configures each on its own, so in one
  ``apt-get install`` a failing postinst leaves that package ``iF`` while the rest are ``ii``.
* **Dependencies** are the simulation's Inst lines whose name was not requested.
* **Reboot**: the ``apt.reboot`` section has the scan's format; required = reboot-required flag
  file, or a newer kernel installed than the one running.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, computed_field

from fleetpatch import results
from fleetpatch.errors import InputError, ParseError, RemoteCommandError
from fleetpatch.platforms.apt.parsers import (
    SUMMARY_LINE,
    AptSimulation,
    RebootInfo,
    parse_apt_simulate,
    parse_reboot,
)
from fleetpatch.platforms.framing import Frames, parse_frames
from fleetpatch.platforms.installers import InstallOutcome
from fleetpatch.platforms.render import render, validated
from fleetpatch.platforms.versions import compare_dpkg

RECOVER_RC = frozenset({0, 1, 2})  # dpkg: 0 ok, 1 a package failed to configure, 2 fatal (lock)
APT_RC = frozenset({0, 100})
STATUS_RC = frozenset({0})
VERIFY_RC = frozenset({0, 1})  # dpkg-query: 1 when a name matches no package
REBOOT_RC = frozenset({0})

AptRequest = tuple[str, str]


# ---------------------------------------------------------------------------------------------
# Rendering


def apt_install_script(
    packages: Sequence[tuple[str, str]], *, dry_run: bool = False, lock_timeout: int = 300
) -> str:
    """The install script for ``(name, version)`` pairs; ``name`` may carry ``:arch``.

    With ``dry_run`` the script only audits dpkg, simulates and reads the reboot state: it
    changes nothing. ``lock_timeout`` (seconds) is how long apt (``DPkg::Lock::Timeout``) and
    the dpkg recovery wait for a lock held by another package manager run.

    Raises:
        InputError: no package, a name or version outside the apt grammars, the same name
            twice, or a negative lock timeout.
    """
    requests = _check_requests(packages)
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, int) or lock_timeout < 0:
        raise InputError(
            f"lock_timeout must be a whole number of seconds >= 0, got {lock_timeout!r}"
        )
    return render(
        "apt/templates/install.sh.j2",
        packages=[{"name": name, "version": version} for name, version in requests],
        dry_run=bool(dry_run),
        lock_timeout=lock_timeout,
    )


def apt_repair_script(*, lock_timeout: int = 300) -> str:
    """Only the install script's ``apt.dpkg_recover`` section: repair an interrupted dpkg
    (``dpkg --configure -a``) on a host that has nothing else to install."""
    return render(
        "apt/templates/install.sh.j2",
        packages=[],
        dry_run=False,
        lock_timeout=int(lock_timeout),
        repair_only=True,
    )


def parse_apt_repair(stdout: str) -> tuple[str, ...]:
    """What :func:`apt_repair_script` did, as notes for the user.

    Raises:
        ParseError: the section is missing or malformed.
    """
    section = parse_frames(stdout).require("apt.dpkg_recover", allowed_rc=RECOVER_RC)
    recovery = parse_dpkg_recover(section.body, section.rc)
    if not recovery.interrupted:
        return ()
    result = "succeeded" if recovery.ok else f"exited {recovery.rc}"
    return (f"dpkg was interrupted before this run; dpkg --configure -a {result}",)


def _check_requests(packages: Sequence[tuple[str, str]]) -> list[AptRequest]:
    if isinstance(packages, str | bytes):
        raise InputError("packages must be a sequence of (name, version) pairs, got a string")
    requests: list[AptRequest] = []
    seen: set[str] = set()
    for item in packages:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InputError(f"expected a (name, version) pair, got {item!r}")
        name = validated(item[0], "apt")
        version = validated(item[1], "apt-version")
        if name in seen:
            raise InputError(f"package {name!r} is requested twice")
        seen.add(name)
        requests.append((name, version))
    if not requests:
        raise InputError("no package to install")
    return requests


# ---------------------------------------------------------------------------------------------
# Models


class Verdict(StrEnum):
    INSTALLED = "installed"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"


class PlanAction(StrEnum):
    UPGRADE = "upgrade"  # an Inst line at the requested version
    ALREADY_INSTALLED = "already_installed"  # apt: "is already the newest version (V)"
    NOT_INSTALLED = "not_installed"  # apt: "Skipping X, it is not installed ..."
    ERROR = "error"  # apt refused this request (version not found, unknown package)
    BLOCKED = "blocked"  # apt refused the whole transaction because of another request
    OTHER_VERSION = "other_version"  # an Inst line at another version than requested
    NOT_PLANNED = "not_planned"  # apt said nothing about it (e.g. held back)


class AptPlannedPackage(BaseModel):
    """One Inst line of apt's simulation of the install."""

    model_config = ConfigDict(frozen=True)

    name: str
    arch: str
    current: str | None
    version: str
    origins: tuple[str, ...] = ()
    security: bool = False
    requested: bool = False


class PlannedRequest(BaseModel):
    """What apt's simulation says it would do with one requested ``name=version``."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    action: PlanAction
    planned_version: str | None = None
    message: str = ""


class AptInstallPlan(BaseModel):
    """apt's own simulation of ``install --only-upgrade NAME=VERSION...``."""

    model_config = ConfigDict(frozen=True)

    requested: tuple[PlannedRequest, ...]
    packages: tuple[AptPlannedPackage, ...] = ()
    removals: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    apt_rc: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dependencies(self) -> tuple[AptPlannedPackage, ...]:
        """Packages apt would upgrade or install that were not requested."""
        return tuple(p for p in self.packages if not p.requested)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """apt accepted the whole request."""
        return (
            self.apt_rc == 0
            and not self.errors
            and all(
                r.action in (PlanAction.UPGRADE, PlanAction.ALREADY_INSTALLED)
                for r in self.requested
            )
        )


class DpkgRecovery(BaseModel):
    """The ``apt.dpkg_recover`` step: was dpkg interrupted, and did ``--configure -a`` help."""

    model_config = ConfigDict(frozen=True)

    interrupted: bool
    action: str  # none | configure | skipped (dry run)
    audit: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
    rc: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return self.rc == 0


class PackageResult(BaseModel):
    """The verdict for one requested ``name=version``."""

    model_config = ConfigDict(frozen=True)

    name: str
    requested_version: str
    verdict: Verdict
    installed_version: str | None = None  # what dpkg reports after the run
    dpkg_status: str | None = None  # dpkg's status abbreviation, e.g. "ii", "iF"
    message: str = ""


class AptInstallOutcome(BaseModel):
    """Everything the install script reported, one verdict per requested package."""

    model_config = ConfigDict(frozen=True)

    packages: tuple[PackageResult, ...]
    dependencies: tuple[AptPlannedPackage, ...] = ()
    plan: AptInstallPlan
    recovery: DpkgRecovery
    dry_run: bool = False
    apt_rc: int | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    reboot_required: bool = False
    reboot_packages: tuple[str, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """Every requested package is installed at its requested version."""
        return all(p.verdict is Verdict.INSTALLED for p in self.packages)


# ---------------------------------------------------------------------------------------------
# Section parsers

_E_VERSION = re.compile(r"^E: Version '(?P<version>[^']*)' for '(?P<name>[^']+)' was not found$")
_E_LOCATE = re.compile(r"^E: Unable to locate package (?P<name>\S+)$")
_E_GLOB = re.compile(r"^E: Couldn't find any package by (?:glob|regex) '(?P<name>[^']+)'$")
_SKIPPING = re.compile(
    r"^Skipping (?P<name>\S+), it is not installed and only upgrades are requested\.$"
)
_NEWEST = re.compile(r"^(?P<name>\S+) is already the newest version \((?P<version>[^)]+)\)\.$")
_DPKG_PACKAGE = re.compile(r"^dpkg: error processing package (?P<name>\S+) \(--\w+\):$")
_DPKG_ARCHIVE = re.compile(r"^dpkg: error processing archive (?P<path>\S+) \(--\w+\):$")
_DPKG_DEPENDS = re.compile(
    r"^dpkg: dependency problems prevent (?:configuration|removal) of (?P<name>\S+):$"
)
_DPKG_RAN = re.compile(r"^(?:Unpacking|Setting up|Preparing to unpack) ")
_STATUS_LINE = re.compile(r"^(?P<kind>[a-z]+):(?P<id>.+?):(?P<pct>\d+(?:\.\d+)?):(?P<text>.*)$")
_NOT_FOUND = re.compile(r"^dpkg-query: no packages found matching (?P<name>\S+)$")


def _base(name: str) -> str:
    return name.split(":", 1)[0]


class AptMessages(BaseModel):
    """apt-get/dpkg output, sorted by the package it names."""

    model_config = ConfigDict(frozen=True)

    by_package: dict[str, tuple[str, ...]] = {}
    skipped: dict[str, str] = {}
    newest: dict[str, str] = {}
    errors: tuple[str, ...] = ()  # E: lines naming no package
    all_errors: tuple[str, ...] = ()  # every E: line, in order
    warnings: tuple[str, ...] = ()  # W:/N: lines
    dpkg_ran: bool = False


def parse_apt_messages(text: str) -> AptMessages:
    """Sort apt-get output (stdout and stderr merged) into per-package messages.

    Per package: ``E: Version ... was not found``, ``E: Unable to locate package``, glob/regex
    misses, dpkg's ``error processing package|archive`` and ``dependency problems`` blocks
    (with their indented reason lines). ``Skipping X, it is not installed`` and ``X is already
    the newest version (V).`` are kept apart. Other ``E:`` lines are general errors.
    """
    by_package: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}
    newest: dict[str, str] = {}
    errors: list[str] = []
    warnings: list[str] = []
    dpkg_ran = False
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        block_name: str | None = None
        if (
            (m := _E_VERSION.match(line))
            or (m := _E_LOCATE.match(line))
            or (m := _E_GLOB.match(line))
        ):
            by_package.setdefault(_base(m["name"]), []).append(line)
        elif m := _SKIPPING.match(line):
            skipped[_base(m["name"])] = line
        elif m := _NEWEST.match(line):
            newest[_base(m["name"])] = m["version"]
        elif (m := _DPKG_PACKAGE.match(line)) or (m := _DPKG_DEPENDS.match(line)):
            block_name = _base(m["name"])
        elif m := _DPKG_ARCHIVE.match(line):
            block_name = m["path"].rsplit("/", 1)[-1].split("_", 1)[0]
        elif line.startswith("E: "):
            errors.append(line)
        elif line.startswith(("W: ", "N: ")):
            warnings.append(line)
        elif _DPKG_RAN.match(line):
            dpkg_ran = True
        if block_name is not None:
            reasons = []
            while index < len(lines) and lines[index].startswith(" "):
                reasons.append(lines[index].strip())
                index += 1
            message = " ".join([line, *reasons])
            by_package.setdefault(block_name, []).append(message)
    return AptMessages(
        by_package={k: tuple(v) for k, v in by_package.items()},
        skipped=skipped,
        newest=newest,
        errors=tuple(errors),
        all_errors=tuple(line for line in lines if line.startswith("E: ")),
        warnings=tuple(warnings),
        dpkg_ran=dpkg_ran,
    )


class StatusFd(BaseModel):
    """apt's ``APT::Status-Fd`` lines: which packages dpkg handled, and ``pmerror`` reasons."""

    model_config = ConfigDict(frozen=True)

    touched: tuple[str, ...] = ()
    errors: dict[str, tuple[str, ...]] = {}
    conffiles: tuple[str, ...] = ()


def parse_status_fd(text: str) -> StatusFd:
    """Lines ``pmstatus:PKG:PCT:TEXT``, ``pmerror:PKG:PCT:TEXT``, ``pmconffile:FILE:PCT:TEXT``,
    ``dlstatus:N:PCT:TEXT`` (others are ignored: the format may grow).

    Raises:
        ParseError: a ``pm*``/``dl*`` line that does not have the ``kind:id:percent:text``
            shape.
    """
    touched: dict[str, None] = {}
    errors: dict[str, list[str]] = {}
    conffiles: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.startswith(("pm", "dl")):
            continue
        m = _STATUS_LINE.match(line)
        if m is None:
            raise ParseError(
                f"apt.install_status line {lineno}: expected 'KIND:ID:PERCENT:TEXT', got {line!r}"
            )
        kind, ident = m["kind"], m["id"]
        if kind == "pmstatus" and ident != "dpkg-exec":
            touched[_base(ident)] = None
        elif kind == "pmerror":
            errors.setdefault(_base(ident), []).append(f"{ident}: {m['text']}")
        elif kind == "pmconffile":
            conffiles.append(f"{ident}: {m['text']}")
    return StatusFd(
        touched=tuple(touched),
        errors={k: tuple(v) for k, v in errors.items()},
        conffiles=tuple(conffiles),
    )


class DpkgRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    arch: str
    status: str
    version: str

    @property
    def fully_installed(self) -> bool:
        """``ii``/``hi``: state installed, no error flag."""
        return len(self.status) == 2 and self.status[0] in "ih" and self.status[1] == "i"


def parse_verify(text: str) -> tuple[list[DpkgRow], set[str]]:
    """Rows ``name<TAB>arch<TAB>status-abbrev<TAB>version`` and dpkg-query's ``no packages
    found matching X`` lines; returns (rows, names not found).

    Raises:
        ParseError: any other line.
    """
    rows: list[DpkgRow] = []
    missing: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        if m := _NOT_FOUND.match(line):
            missing.add(m["name"])
            continue
        fields = line.split("\t")
        if len(fields) != 4 or not fields[0] or len(fields[2].rstrip()) < 2:
            raise ParseError(
                f"apt.verify line {lineno}: expected name, arch, status, version separated by "
                f"tabs, or 'dpkg-query: no packages found matching NAME', got {line!r}"
            )
        name, arch, status, version = fields
        rows.append(DpkgRow(name=name, arch=arch, status=status.rstrip(), version=version))
    return rows, missing


def parse_dpkg_recover(text: str, rc: int) -> DpkgRecovery:
    """Lines ``audit|pending|state|action|out|rc<TAB>value`` of the recovery step.

    Raises:
        ParseError: an unknown key, no ``state``/``action`` line, or an ``rc`` line that
            disagrees with the section's exit code.
    """
    values: dict[str, list[str]] = {"audit": [], "pending": [], "out": []}
    single: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        key, sep, value = line.partition("\t")
        if sep and key in values:
            values[key].append(value)
        elif sep and key in ("state", "action", "rc"):
            single[key] = value
        else:
            raise ParseError(
                f"apt.dpkg_recover line {lineno}: expected audit, pending, state, action, out "
                f"or rc and a tab, got {line!r}"
            )
    state, action = single.get("state"), single.get("action")
    if state not in ("clean", "interrupted") or action not in ("none", "configure", "skipped"):
        raise ParseError(
            "apt.dpkg_recover: expected 'state<TAB>clean|interrupted' and "
            f"'action<TAB>none|configure|skipped', got state={state!r} action={action!r}"
        )
    if "rc" in single and single["rc"] != str(rc):
        raise ParseError(
            f"apt.dpkg_recover: dpkg --configure -a reported rc {single['rc']!r} but the section "
            f"ended with {rc}"
        )
    return DpkgRecovery(
        interrupted=state == "interrupted",
        action=action,
        audit=tuple(values["audit"]),
        pending=tuple(values["pending"]),
        output=tuple(values["out"]),
        rc=rc,
    )


# ---------------------------------------------------------------------------------------------
# Whole-script parsers


def parse_apt_request(frames: Frames) -> list[AptRequest]:
    """The ``name=version`` words the script was rendered with (section ``apt.request``).

    Raises:
        ParseError: the section is missing or a line is not ``NAME=VERSION``.
    """
    requests: list[AptRequest] = []
    for lineno, line in enumerate(frames.require("apt.request").lines, start=1):
        name, sep, version = line.partition("=")
        if not sep or not name or not version:
            raise ParseError(f"apt.request line {lineno}: expected NAME=VERSION, got {line!r}")
        requests.append((name, version))
    return requests


def _check_transcript(frames: Frames, requested: Sequence[AptRequest]) -> None:
    """The transcript belongs to this request (guards against mixed-up outputs)."""
    if frames.get("apt.request") is None:
        return
    sent = parse_apt_request(frames)
    if sent != [(name, version) for name, version in requested]:
        raise ParseError(
            f"apt.request: the script was rendered for {sent}, but the caller asked about "
            f"{list(requested)}"
        )


def parse_apt_simulate_install(frames: Frames, requested: Sequence[AptRequest]) -> AptInstallPlan:
    """The plan: the exact packages and versions apt would install (requested + dependencies),
    and per request what apt would do, with its errors for that package.

    Raises:
        ParseError: the ``apt.simulate_install`` section is missing, ended with an undeclared
            exit code, or its Inst lines disagree with apt's summary line.
    """
    _check_transcript(frames, requested)
    section = frames.require("apt.simulate_install", allowed_rc=APT_RC)
    return _plan(section.body, section.rc, requested)


def _plan(text: str, rc: int, requested: Sequence[AptRequest]) -> AptInstallPlan:
    messages = parse_apt_messages(text)
    has_summary = any(SUMMARY_LINE.match(line) for line in text.splitlines())
    simulation = parse_apt_simulate(text) if has_summary else AptSimulation()
    if rc == 0 and not has_summary:
        raise ParseError(
            "apt.simulate_install: apt-get -s exited 0 but printed no summary line 'N upgraded, "
            "N newly installed, ...'"
        )
    wanted = {_base(name) for name, _ in requested}
    packages = tuple(
        AptPlannedPackage(
            name=inst.name,
            arch=inst.arch,
            current=inst.current,
            version=inst.candidate,
            origins=tuple(str(o) for o in inst.origins),
            security=inst.security_origin,
            requested=inst.name in wanted,
        )
        for inst in simulation.insts
    )
    by_name = {p.name: p for p in packages}
    general = list(messages.errors)
    plans: list[PlannedRequest] = []
    for name, version in requested:
        base = _base(name)
        own = messages.by_package.get(base, ())
        inst = by_name.get(base)
        if own:
            plans.append(_planned(name, version, PlanAction.ERROR, None, " | ".join(own)))
        elif base in messages.skipped:
            plans.append(
                _planned(name, version, PlanAction.NOT_INSTALLED, None, messages.skipped[base])
            )
        elif inst is not None:
            same = compare_dpkg(inst.version, version) == 0
            action = PlanAction.UPGRADE if same else PlanAction.OTHER_VERSION
            note = "" if same else f"apt would install {inst.version}, not {version}"
            plans.append(_planned(name, version, action, inst.version, note))
        elif base in messages.newest:
            current = messages.newest[base]
            same = compare_dpkg(current, version) == 0
            action = PlanAction.ALREADY_INSTALLED if same else PlanAction.OTHER_VERSION
            note = "" if same else f"{current} is installed and apt keeps it, not {version}"
            plans.append(_planned(name, version, action, current, note))
        elif rc != 0:
            reason = " | ".join(messages.all_errors) or f"apt-get -s exited {rc}"
            plans.append(
                _planned(name, version, PlanAction.BLOCKED, None, f"apt refused: {reason}")
            )
        else:
            plans.append(
                _planned(name, version, PlanAction.NOT_PLANNED, None, "apt would not change it")
            )
    warnings = [*messages.warnings]
    warnings.extend(w for w in simulation.warnings if not w.startswith("E: "))
    if simulation.kept_back:
        warnings.append("kept back: " + " ".join(simulation.kept_back))
    return AptInstallPlan(
        requested=tuple(plans),
        packages=packages,
        removals=tuple(r.name for r in simulation.removals),
        errors=tuple(general),
        warnings=tuple(dict.fromkeys(warnings)),
        apt_rc=rc,
    )


def _planned(
    name: str, version: str, action: PlanAction, planned: str | None, message: str
) -> PlannedRequest:
    return PlannedRequest(
        name=name, version=version, action=action, planned_version=planned, message=message
    )


def parse_apt_install(frames: Frames, requested: Sequence[AptRequest]) -> AptInstallOutcome:
    """Per-package verdicts of the install script (see the module docstring for the rules).

    A dry-run transcript (no ``apt.install`` section) gives ``not_attempted`` for every package
    with the plan attached.

    Raises:
        RemoteCommandError: the script stopped at a step with a non-zero exit code.
        ParseError: a section is missing, ended with an undeclared exit code or is malformed.
    """
    if frames.exit.rc != 0:
        raise RemoteCommandError(
            f"install script failed at step {frames.exit.step!r} with exit code {frames.exit.rc}"
        )
    recover = frames.require("apt.dpkg_recover", allowed_rc=RECOVER_RC)
    recovery = parse_dpkg_recover(recover.body, recover.rc)
    plan = parse_apt_simulate_install(frames, requested)
    reboot = parse_reboot(frames.require("apt.reboot", allowed_rc=REBOOT_RC).body)
    warnings: list[str] = []
    if recovery.interrupted:
        warnings.append(
            "dpkg was interrupted before this run"
            + (
                "; dpkg --configure -a " + ("succeeded" if recovery.ok else f"exited {recovery.rc}")
                if recovery.action == "configure"
                else " (dry run: not repaired)"
            )
        )
    install = frames.get("apt.install")
    if install is None:
        packages = tuple(
            PackageResult(
                name=name,
                requested_version=version,
                verdict=Verdict.NOT_ATTEMPTED,
                message="dry run: nothing was installed",
            )
            for name, version in requested
        )
        return AptInstallOutcome(
            packages=packages,
            dependencies=plan.dependencies,
            plan=plan,
            recovery=recovery,
            dry_run=True,
            errors=plan.errors,
            warnings=tuple(dict.fromkeys([*warnings, *plan.warnings])),
            reboot_required=_reboot_required(reboot),
            reboot_packages=_reboot_packages(reboot),
        )
    frames.require("apt.install", allowed_rc=APT_RC)
    messages = parse_apt_messages(install.body)
    status = parse_status_fd(frames.require("apt.install_status", allowed_rc=STATUS_RC).body)
    rows, _missing = parse_verify(frames.require("apt.verify", allowed_rc=VERIFY_RC).body)
    dpkg_ran = messages.dpkg_ran or bool(status.touched)
    wanted = {_base(name) for name, _ in requested}
    results = [
        _verdict(name, version, rows, messages, status, install.rc, dpkg_ran)
        for name, version in requested
    ]
    errors = list(messages.errors)
    for package, lines in messages.by_package.items():
        if package not in wanted:
            errors.extend(lines)
    for package, lines in status.errors.items():
        if package not in wanted and package not in messages.by_package:
            errors.extend(lines)
    warnings.extend(messages.warnings)
    warnings.extend(f"conffile: {c}" for c in status.conffiles)
    return AptInstallOutcome(
        packages=tuple(results),
        dependencies=plan.dependencies,
        plan=plan,
        recovery=recovery,
        dry_run=False,
        apt_rc=install.rc,
        errors=tuple(errors),
        warnings=tuple(dict.fromkeys(warnings)),
        reboot_required=_reboot_required(reboot),
        reboot_packages=_reboot_packages(reboot),
    )


def _verdict(
    name: str,
    version: str,
    rows: list[DpkgRow],
    messages: AptMessages,
    status: StatusFd,
    apt_rc: int,
    dpkg_ran: bool,
) -> PackageResult:
    base, _, arch = name.partition(":")
    mine = [r for r in rows if r.name == base and (not arch or r.arch == arch)]
    present = [r for r in mine if len(r.status) >= 2 and r.status[1] not in "nc"]
    shown = present[0] if present else (mine[0] if mine else None)
    found_version = shown.version if shown else None
    found_status = shown.status if shown else None

    def result(verdict: Verdict, message: str = "") -> PackageResult:
        return PackageResult(
            name=name,
            requested_version=version,
            verdict=verdict,
            installed_version=found_version,
            dpkg_status=found_status,
            message=message,
        )

    if present and all(
        r.fully_installed and compare_dpkg(r.version, version) == 0 for r in present
    ):
        return result(Verdict.INSTALLED)
    if base in messages.skipped:
        return result(Verdict.NOT_ATTEMPTED, messages.skipped[base])
    own = [*messages.by_package.get(base, ())]
    own.extend(e for e in status.errors.get(base, ()) if not _said(e, own))
    if own:
        return result(Verdict.FAILED, " | ".join(own))
    if apt_rc != 0 and not dpkg_ran:
        reason = " | ".join(messages.all_errors) or f"apt-get exited {apt_rc}"
        return result(Verdict.NOT_ATTEMPTED, f"apt refused the whole request: {reason}")
    if shown is None:
        detail = "dpkg does not know the package after the run"
    else:
        detail = f"dpkg reports {shown.status} {shown.version}, requested {version}"
    if messages.errors:
        detail += " | " + " | ".join(messages.errors)
    return result(Verdict.FAILED, detail)


def _said(status_error: str, messages: list[str]) -> bool:
    """A pmerror text already present in dpkg's own message for the package."""
    text = status_error.split(": ", 1)[-1]
    return any(text in m for m in messages)


def _reboot_required(reboot: RebootInfo) -> bool:
    return reboot.flag_file or bool(reboot.kernel_pending)


def _reboot_packages(reboot: RebootInfo) -> tuple[str, ...]:
    packages = list(reboot.packages)
    newest = reboot.newest_kernel
    if reboot.kernel_pending and newest is not None and newest.name not in packages:
        packages.append(newest.name)
    return tuple(packages)


# ---------------------------------------------------------------------------------------------
# The FamilyInstaller of fleetpatch.platforms.installers


class AptInstaller:
    """apt behind :class:`fleetpatch.platforms.installers.FamilyInstaller`.

    Packages are requested by name; a name that appears with two architectures is qualified
    (``libc6:i386``) on both rows (``all`` never is).
    """

    def __init__(self, *, lock_timeout: int = 300):
        self.lock_timeout = lock_timeout

    def repair_script(self) -> str:
        """Repair an interrupted dpkg (see :func:`apt_repair_script`)."""
        return apt_repair_script(lock_timeout=self.lock_timeout)

    def parse_repair(self, stdout: str) -> tuple[str, ...]:
        """Raises: ParseError (see :func:`parse_apt_repair`)."""
        return parse_apt_repair(stdout)

    def requests(self, packages: Sequence[results.PlannedPackage]) -> list[AptRequest]:
        counts: dict[str, int] = {}
        for p in packages:
            counts[p.name] = counts.get(p.name, 0) + 1
        pairs: list[AptRequest] = []
        for p in packages:
            qualify = counts[p.name] > 1 and p.arch and p.arch != "all"
            pairs.append((f"{p.name}:{p.arch}" if qualify else p.name, p.version))
        return list(dict.fromkeys(pairs))

    def render(self, packages: Sequence[results.PlannedPackage], *, dry_run: bool) -> str:
        """The install script (see :func:`apt_install_script`).

        Raises:
            InputError: as :func:`apt_install_script`.
        """
        return apt_install_script(
            self.requests(packages), dry_run=dry_run, lock_timeout=self.lock_timeout
        )

    def parse(
        self, stdout: str, packages: Sequence[results.PlannedPackage], *, dry_run: bool
    ) -> InstallOutcome:
        """Verdicts as the engine wants them: ``failed`` maps a requested name to apt's or
        dpkg's message (a dry run: the plan's refusals); ``error`` joins the general errors.

        Raises:
            ParseError, RemoteCommandError: as :func:`parse_apt_install`.
        """
        requested = self.requests(packages)
        outcome = parse_apt_install(parse_frames(stdout), requested)
        reasons = {p.name: p.reason for p in packages}
        planned = tuple(
            results.PlannedPackage(
                name=p.name,
                arch=p.arch,
                installed_version=p.current,
                version=p.version,
                reason=reasons.get(p.name, ""),
                dependency=not p.requested,
            )
            for p in outcome.plan.packages
        )
        if dry_run:
            refused = (PlanAction.ERROR, PlanAction.BLOCKED, PlanAction.NOT_INSTALLED)
            failed = {
                _base(r.name): r.message for r in outcome.plan.requested if r.action in refused
            }
            installed: tuple[str, ...] = ()
        else:
            failed = {
                _base(p.name): p.message
                for p in outcome.packages
                if p.verdict is not Verdict.INSTALLED
            }
            installed = tuple(
                _base(p.name) for p in outcome.packages if p.verdict is Verdict.INSTALLED
            )
        return InstallOutcome(
            planned=planned,
            installed=installed,
            failed=failed,
            reboot_required=outcome.reboot_required,
            error="; ".join(outcome.errors),
            notes=outcome.warnings,
        )


__all__ = [
    "AptInstallOutcome",
    "AptInstallPlan",
    "AptInstaller",
    "AptMessages",
    "AptPlannedPackage",
    "AptRequest",
    "DpkgRecovery",
    "PackageResult",
    "PlanAction",
    "PlannedRequest",
    "StatusFd",
    "Verdict",
    "apt_install_script",
    "parse_apt_install",
    "parse_apt_messages",
    "parse_apt_request",
    "parse_apt_simulate_install",
    "parse_dpkg_recover",
    "parse_status_fd",
    "parse_verify",
]
