"""The apt family: from the framed scan output to :class:`~fleetpatch.facts.HostFacts`.

Decisions (see also the template ``apt/templates/scan.sh.j2``):

* **Updates** are the Inst lines of ``apt-get -s dist-upgrade`` (what SSM's Ubuntu/Debian
  operation installs). Phased updates (Ubuntu) are *included*
  (``APT::Get::Always-Include-Phased-Updates=true``) so the scan agrees with
  ``apt list --upgradable``; security-pocket updates are never phased, so this only changes
  non-security results. The install step must pass the same option.
* **New packages** pulled in as dependencies (Inst lines without ``[current]``) are updates
  with ``installed_version=None``; the baseline decides what to do with them.
* **Security** (``AvailableUpdate.security``): the candidate's origins (Inst line) include a
  security source (Label ``*-Security``, archive ``*-security`` or ``*/updates``), **or** a
  security source publishes a version ``v`` with ``installed < v <= candidate``: the candidate
  also carries that fix (apt shows only the non-security origin when ``-updates`` or a point
  release has the same or a newer version). For a new package only the first rule applies.
* **classification** is None: apt has no classification and SSM accepts no CLASSIFICATION
  filter for Debian/Ubuntu; ``security`` carries the implicit security rule.
* **priority/section**: the candidate's own Packages stanza; else the installed package's
  dpkg fields (usually equal); else None. Kept lower-case as apt prints them.
* **release_date** is None: apt publishes none.
* Held/kept-back packages, phasing-deferred packages, removals and apt's ``W:``/``E:`` lines
  become ``warnings``.
* No Packages list on disk at all means apt knows no candidates: that is not "no updates",
  it is :class:`AptListsMissing`.
* **Missing metadata** (``HostFacts.metadata_missing``, which makes the host's verdict unknown,
  :mod:`fleetpatch.knowledge`): a configured source without a Release file (``apt-get
  indextargets --no-release-info`` lists it, the plain ``indextargets`` does not: never
  downloaded, lists deleted, or its ``apt-get update`` failed), a list its Release names but
  that is not on disk, a source the scan's own refresh could not fetch, and, when a broken
  package makes ``apt-get -s`` refuse to run (rc 100), the pending updates themselves.
* **Metadata age**: seconds since the newest list changed (or APT::Periodic's
  update-success stamp); 0 after the scan's own ``apt-get update`` fetched every source
  (apt keeps an unchanged list's old mtime, so a list's age is that of its last change).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fleetpatch.errors import HostError, ParseError
from fleetpatch.facts import AvailableUpdate, HostFacts, InstalledPackage, OsInfo
from fleetpatch.knowledge import package_problem
from fleetpatch.memo import RunMemo
from fleetpatch.platforms.apt.parsers import (
    AptSimulation,
    CandidateInfo,
    RebootInfo,
    SimulatedInst,
    dpkg_row,
    is_installed,
    parse_apt_candidates,
    parse_apt_configured,
    parse_apt_indexes,
    parse_apt_simulate,
    parse_lists_age,
    parse_reboot,
    parse_security_versions,
    parse_update_failures,
)
from fleetpatch.platforms.framing import Frames, Section
from fleetpatch.platforms.versions import compare_dpkg

OK = frozenset({0})
REFRESH_RC = frozenset({0, 100})
SIMULATE_RC = frozenset({0, 100})  # 100 is accepted only when a broken package explains it
_NO_SIMULATION = "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."


class AptListsMissing(HostError):
    """apt has no Packages list on the host: no candidate is known, so no update can be seen.
    Scan again with refresh (``apt-get update``)."""

    kind = "no_metadata"


def parse_apt_scan(
    frames: Frames,
    *,
    host: str,
    os: OsInfo,
    collected_at: datetime,
    memo: RunMemo | None = None,
) -> HostFacts:
    """Combine the ``apt.*`` sections into HostFacts.

    ``memo`` (one per run) interns what hosts share: a dpkg row, an Inst line, a candidates or
    security-versions section already parsed for another host is not parsed again, and equal
    packages and updates are the same frozen objects (see :mod:`fleetpatch.memo`). Without
    one, a memo of this host alone is used: the facts are the same.

    Raises:
        ParseError: a section is missing, ended with an undeclared exit code or is malformed.
        AptListsMissing: no Packages list is present on the host.
    """
    warnings: list[str] = []
    missing: list[str] = []
    refreshed = False
    refresh = frames.get("apt.refresh")
    if refresh is not None:
        frames.require("apt.refresh", allowed_rc=REFRESH_RC)
        warnings.extend(
            f"apt-get update: {line}" for line in refresh.lines if line.startswith(("W:", "E:"))
        )
        failed = parse_update_failures(refresh.body)
        missing.extend(
            f"apt source {f}: the scan's apt-get update could not fetch it" for f in failed
        )
        refreshed = refresh.rc == 0 and not failed
    installed_text = frames.require("apt.installed", allowed_rc=OK).body
    indexes_text = frames.require("apt.indexes", allowed_rc=OK).body
    indexes = parse_apt_indexes(indexes_text)
    simulate = frames.require("apt.simulate", allowed_rc=SIMULATE_RC)
    simulate_text = simulate.body
    if simulate.rc != 0:
        missing.append(_simulation_refused(simulate, installed_text))
        simulate_text = _NO_SIMULATION
    candidates_text = frames.require("apt.candidates", allowed_rc=OK).body
    security_text = frames.require("apt.security_versions", allowed_rc=OK).body
    memo = memo if memo is not None else RunMemo()
    key = (installed_text, simulate_text, candidates_text, security_text)
    packages: _Packages | None = memo.table("apt.host", per_host=True).get(key)
    if packages is None:  # a host whose package sections no other host printed yet
        packages = memo.table("apt.host", per_host=True).put(
            key,
            _interned_packages(memo, installed_text, simulate_text, candidates_text, security_text),
        )
    simulation = packages.simulation
    reboot = parse_reboot(frames.require("apt.reboot", allowed_rc=OK).body)
    lists = parse_lists_age(frames.require("apt.lists", allowed_rc=OK).body)

    if not any(index.present for index in indexes):
        raise AptListsMissing(
            "apt has no downloaded Packages list (never updated, or the lists were deleted): "
            "available updates are unknown; scan with refresh"
        )
    known = {(index.site, index.release) for index in indexes}
    for site, release in parse_apt_configured(indexes_text):
        if (site, release) not in known and not any(
            m.startswith(f"apt source {site} {release} ") for m in missing
        ):
            missing.append(
                f"apt source {site} {release} (no Release file: never downloaded, deleted, or "
                "its last apt-get update failed)"
            )
    missing.extend(
        f"apt list {index.file} (named by its Release file, not on disk)"
        for index in indexes
        if not index.present
    )
    if not any(index.security for index in indexes):
        warnings.append("no security source configured in apt: no update can be security")

    warnings.extend(_simulation_warnings(simulation))
    reboot_packages, reboot_required = _reboot(reboot, warnings)
    facts = HostFacts.model_validate(
        {
            "host": host,
            "collected_at": collected_at,
            "os": os,
            "reboot_required": reboot_required,
            "reboot_required_packages": reboot_packages,
            "metadata_age_seconds": 0 if refreshed else lists.age_seconds,
            "metadata_missing": missing,
            "warnings": warnings,
        }
    )
    # the interned tuples themselves (validated when made), so later stages can recognise them
    return facts.model_copy(update={"installed": packages.installed, "updates": packages.updates})


def _simulation_refused(simulate: Section, installed_text: str) -> str:
    """What ``apt-get -s`` failing means: pending updates are unknown because of the broken
    packages it names (rc 100 with broken packages installed).

    Raises:
        ParseError: no installed package is broken: the failure is unexplained.
    """
    broken = []
    for lineno, line in enumerate(installed_text.split("\n"), start=1):
        if line:
            row = dpkg_row(line, lineno)
            if is_installed(row["status"]) and package_problem(row["name"], row["status"]):
                broken.append(f"{row['name']} ({row['status']})")
    errors = [line for line in simulate.lines if line.startswith("E: ")]
    if not broken:
        raise ParseError(
            f"section 'apt.simulate' exited {simulate.rc}, expected 0; last output: "
            f"{' | '.join(errors or simulate.lines[-3:]) or '(none)'}"
        )
    return (
        "pending updates: apt-get -s dist-upgrade refused to run because of the broken "
        f"packages {', '.join(broken)} (apt said: {' | '.join(errors) or 'nothing'})"
    )


@dataclass(frozen=True)
class _Packages:
    """What the package sections of one host say, interned (shared by every host whose
    sections are the same text)."""

    installed: tuple[InstalledPackage, ...]
    updates: tuple[AvailableUpdate, ...]
    simulation: AptSimulation


def _interned_packages(
    memo: RunMemo, installed_text: str, simulate_text: str, candidates_text: str, security_text: str
) -> _Packages:
    """Parse the package sections line by line through the run's memo (a line another host
    printed is not parsed again), in the order the uncached path parses them.

    Raises:
        ParseError: as the section parsers.
    """
    installed_rows = _interned_rows(installed_text, memo)
    simulation = _section(
        memo, simulate_text, lambda text: parse_apt_simulate(text, memo), "apt.simulate"
    )
    candidates: list[CandidateInfo] = _section(
        memo, candidates_text, parse_apt_candidates, "apt.candidates"
    )
    security: dict[str, tuple[str, ...]] = _section(
        memo, security_text, parse_security_versions, "apt.security_versions"
    )
    packages = _interned_installed(installed_rows, security, memo)
    lookup = _FieldLookup(packages, candidates)
    update_memo = memo.table("apt.update")
    updates = []
    for inst in simulation.insts:
        fields = _update(inst, lookup, security)
        key = tuple(fields.values())
        known = update_memo.get(key)
        if known is None:
            known = update_memo.put(key, AvailableUpdate.model_validate(fields))
        updates.append(known)
    return _Packages(tuple(packages), tuple(updates), simulation)


def _section(memo: RunMemo, text: str, parse: Callable[[str], _T], name: str) -> _T:
    """``parse(text)``; a section text seen before gives the same (never mutated) result
    without being parsed again."""
    table = memo.table(name, per_host=True)
    found: _T | None = table.get(text)
    if found is None:
        found = table.put(text, parse(text))
    return found


_T = TypeVar("_T")


def _interned_rows(text: str, memo: RunMemo) -> list[tuple[str, dict[str, Any]]]:
    """(line, row fields) of the installed rows of an ``apt.installed`` section; a line seen
    before is not parsed again.

    Raises:
        ParseError: as :func:`~fleetpatch.platforms.apt.parsers.parse_dpkg_installed`.
    """
    rows = memo.table("apt.installed.row")  # line -> row fields
    out: list[tuple[str, dict[str, Any]]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        row = rows.get(line)
        if row is None:
            row = rows.put(line, dpkg_row(line, lineno))
        if is_installed(row["status"]):
            out.append((line, row))
    return out


def _interned_installed(
    rows: list[tuple[str, dict[str, Any]]], security: dict[str, tuple[str, ...]], memo: RunMemo
) -> list[InstalledPackage]:
    """One frozen package per distinct (row, security origin) across the run."""
    objects = memo.table("apt.installed.package")  # (line, security origin) -> package
    packages: list[InstalledPackage] = []
    for line, row in rows:
        origin = row["version"] in security.get(row["name"], ())
        package = objects.get((line, origin))
        if package is None:
            package = objects.put(
                (line, origin), InstalledPackage.model_validate({**row, "security_origin": origin})
            )
        packages.append(package)
    return packages


def is_security_update(inst: SimulatedInst, security_versions: dict[str, tuple[str, ...]]) -> bool:
    """The security rule (module docstring): a security origin on the Inst line, or a security
    version ``v`` with ``installed < v <= candidate``."""
    if inst.security_origin:
        return True
    if inst.current is None:
        return False
    return any(
        compare_dpkg(version, inst.current) > 0 and compare_dpkg(version, inst.candidate) <= 0
        for version in security_versions.get(inst.name, ())
    )


def _update(
    inst: SimulatedInst,
    lookup: _FieldLookup,
    security_versions: dict[str, tuple[str, ...]],
) -> dict[str, Any]:
    """:class:`AvailableUpdate`'s fields (validated with the whole HostFacts)."""
    priority, section = lookup.priority_section(inst)
    return {
        "name": inst.name,
        "arch": inst.arch,
        "installed_version": inst.current,
        "candidate_version": inst.candidate,
        "origins": tuple(str(origin) for origin in inst.origins),
        "security": is_security_update(inst, security_versions),
        "priority": priority,
        "section": section,
    }


class _FieldLookup:
    """Priority/Section of a candidate: its Packages stanza (same arch first), else the
    installed package of the same name and arch."""

    def __init__(self, installed: list[InstalledPackage], candidates: list[CandidateInfo]):
        self.exact: dict[tuple[str, str, str], CandidateInfo] = {}
        self.any_arch: dict[tuple[str, str], CandidateInfo] = {}
        for c in candidates:
            self.exact.setdefault((c.name, c.version, c.arch), c)
            self.any_arch.setdefault((c.name, c.version), c)
        self.installed = {(p.name, p.arch): (p.priority, p.section) for p in installed}

    def priority_section(self, inst: SimulatedInst) -> tuple[str | None, str | None]:
        found = self.exact.get((inst.name, inst.candidate, inst.arch)) or self.any_arch.get(
            (inst.name, inst.candidate)
        )
        if found is not None:
            return found.priority or None, found.section or None
        package = self.installed.get((inst.name, inst.arch))
        if package is not None:
            return package[0] or None, package[1] or None
        return None, None


def _simulation_warnings(simulation: AptSimulation) -> list[str]:
    warnings = [f"apt-get: {line}" for line in simulation.warnings]
    if simulation.kept_back:
        warnings.append(
            "kept back (held, or needing changes dist-upgrade will not make): "
            + " ".join(simulation.kept_back)
        )
    if simulation.phased:
        warnings.append(
            "deferred by phasing (not reported as updates): " + " ".join(simulation.phased)
        )
    if simulation.removals:
        warnings.append(
            "the upgrade would remove: " + " ".join(r.name for r in simulation.removals)
        )
    return warnings


def _reboot(reboot: RebootInfo, warnings: list[str]) -> tuple[tuple[str, ...], bool]:
    packages = list(reboot.packages)
    if reboot.kernel_pending and reboot.newest_kernel is not None:
        warnings.append(
            f"running kernel {reboot.running_release} is older than the newest installed "
            f"{reboot.newest_kernel.name} {reboot.newest_kernel.version}"
        )
        if reboot.newest_kernel.name not in packages:
            packages.append(reboot.newest_kernel.name)
    return tuple(packages), reboot.flag_file or bool(reboot.kernel_pending)
