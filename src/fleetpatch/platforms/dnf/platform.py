"""The dnf/yum family: from the framed scan output to :class:`~fleetpatch.facts.HostFacts`.

Decisions (see also the template ``dnf/templates/scan.sh.j2`` and docs/platforms.md):

* **Updates** are one per installed name.arch with a newer version in an enabled repository:
  ``dnf repoquery --upgrades --latest-limit=1`` (yum: ``check-update``). ``installed_version``
  is the newest installed version of that name.arch (install-only kernels have several).
* **Advisories** of an update are the ``updateinfo list --updates`` rows for the same
  name.arch whose version ``v`` is ``installed < v <= candidate``: the candidate carries every
  one of those fixes, so a package fixed by two advisories keeps both ids. Rows for versions
  no repository offers (``v > candidate``) are not updates; they become a warning.
* **classification / severity / release_date / title** come from the *primary* advisory:
  the most important by type (Security, Bugfix, Recommended, Enhancement, Newpackage), then
  severity (Critical, Important, Moderate/Medium, Low), then the newest date. Severity is the
  one ``updateinfo info`` prints (dnf 4 labels Amazon's ``Medium`` ``Unknown/Sec.`` in
  ``list``); the label is the fallback. ``cves``/``bugzilla_ids`` are the union over all
  advisories of the update, ``advisory_ids`` the primary first then the rest. Each advisory is
  also kept on its own in ``advisories`` (its version, type, severity, dates, references):
  the baseline judges them one by one, as ``update-minimal`` does.
* **Installed advisories** (section ``dnf.updateinfo_installed``, ``updateinfo list
  --installed -v``: the rows carry dnf's date) are the advisories the installed version
  already satisfies; they go on the newest installed package of their name.arch, so that a
  baseline approving one reports the package INSTALLED. The section is optional (older
  captures have none). The list label is all dnf prints of the severity there (dnf 4 labels
  a severity it does not know, Amazon's ``Medium``, ``Unknown/Sec.``: none then).
* **release_date** is the advisory's date as dnf shows it (libsolv keeps max(issued,
  updated): the Updated date, which is what SSM counts from on Amazon Linux); yum shows both,
  Updated wins when present. Updates without any advisory have ``release_date=None``,
  ``security=False``, no classification, and ``build_time`` from the repository: the baseline
  evaluator then uses the build time as the release date (SSM's rule).
* Repositories that supply a candidate but whose cached ``repomd.xml`` has no ``updateinfo``
  record are named in ``warnings`` (their updates can never be classified).
* **Reboot**: ``needs-restarting -r`` (rc 1 + "Reboot is required" is the *yes* answer) or
  the newest installed kernel package is not the running kernel
  (:func:`~fleetpatch.platforms.rpm.parsers.parse_rpm_kernels`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from fleetpatch.errors import HostError
from fleetpatch.facts import Advisory, AvailableUpdate, HostFacts, InstalledPackage, OsInfo
from fleetpatch.memo import RunMemo
from fleetpatch.platforms.dnf.parsers import (
    AdvisoryInfo,
    AdvisoryRow,
    CandidateRow,
    Candidates,
    NeedsRestarting,
    parse_check_update,
    parse_needs_restarting,
    parse_repoquery_upgrades,
    parse_updateinfo_info,
    parse_updateinfo_list,
)
from fleetpatch.platforms.framing import Frames
from fleetpatch.platforms.rpm.parsers import (
    KERNEL_NAMES,
    KernelState,
    MetadataState,
    compare_evr,
    evr_sort_key,
    mark_rpm_duplicates,
    parse_repomd,
    parse_rpm_installed,
    parse_rpm_kernels,
    split_stderr,
)
from fleetpatch.platforms.rpm.repostate import parse_dnf_repos

OK = frozenset({0})
CHECK_UPDATE_RC = frozenset({0, 100})  # 1 = error, 200 = another dnf/yum holds the lock
NEEDS_RESTARTING_RC = frozenset({0, 1, 2, 127})  # parse_needs_restarting decides

CLASSIFICATIONS = {
    "security": "Security",
    "bugfix": "Bugfix",
    "enhancement": "Enhancement",
    "newpackage": "Newpackage",
    "recommended": "Recommended",
}
_TYPE_RANK = {"security": 0, "bugfix": 1, "recommended": 2, "enhancement": 3, "newpackage": 4}
_SEVERITY_RANK = {"Critical": 0, "Important": 1, "Moderate": 2, "Medium": 2, "Low": 3}


class DnfMetadataMissing(HostError):
    """dnf/yum has no cached repository metadata: available updates are unknown. Scan with
    refresh (``dnf makecache``)."""

    kind = "no_metadata"


def parse_dnf_scan(
    frames: Frames,
    *,
    host: str,
    os: OsInfo,
    collected_at: datetime,
    memo: RunMemo | None = None,
) -> HostFacts:
    """Combine the ``dnf.*`` sections (dnf or yum) into HostFacts.

    ``memo`` is accepted for the common family-parser signature; the rpm parsers do not
    intern yet (every host is parsed in full).

    Raises:
        ParseError: a section is missing, ended with an undeclared exit code or is malformed.
        DnfMetadataMissing: no repository metadata is cached (and no refresh was asked).
    """
    warnings: list[str] = []
    refresh = frames.get("dnf.refresh")
    if refresh is not None:
        frames.require("dnf.refresh", allowed_rc=OK)
        warnings.extend(_messages("dnf makecache", split_stderr(refresh.body)[1]))
    installed = mark_rpm_duplicates(
        parse_rpm_installed(frames.require("dnf.installed", allowed_rc=OK).body, "dnf.installed"),
        "dnf" if frames.get("dnf.upgrades") is not None else "yum",
    )
    candidates = _candidates(frames)
    advisory_list = parse_updateinfo_list(frames.require("dnf.updateinfo_list", allowed_rc=OK).body)
    infos = parse_updateinfo_info(frames.require("dnf.updateinfo_info", allowed_rc=OK).body)
    installed_section = frames.get("dnf.updateinfo_installed")
    installed_rows = (
        parse_updateinfo_list(
            frames.require("dnf.updateinfo_installed", allowed_rc=OK).body, verbose=True
        )
        if installed_section is not None
        else None
    )
    kernels = parse_rpm_kernels(frames.require("dnf.kernels", allowed_rc=OK).body, "dnf.kernels")
    restart_section = frames.require("dnf.needs_restarting", allowed_rc=NEEDS_RESTARTING_RC)
    needs = parse_needs_restarting(restart_section.body, restart_section.rc)
    metadata = parse_repomd(frames.require("dnf.repomd", allowed_rc=OK).body, "dnf.repomd")
    missing: list[str] = []
    if frames.get("dnf.repos") is not None:  # dnf and yum (scans before it had none)
        tool = "dnf" if frames.get("dnf.upgrades") is not None else "yum"
        state = parse_dnf_repos(frames.require("dnf.repos", allowed_rc=OK).body)
        missing = state.missing(tool)

    if not metadata.repos and not candidates.rows:
        raise DnfMetadataMissing(
            "no repository metadata is cached (no repomd.xml under /var/cache/dnf or "
            "/var/cache/yum): available updates are unknown; scan with refresh"
        )
    warnings.extend(_messages("dnf", candidates.messages))
    warnings.extend(_messages("dnf updateinfo", advisory_list.messages + infos.messages))
    if installed_rows is not None:
        warnings.extend(_messages("dnf updateinfo", installed_rows.messages))
        installed = with_installed_advisories(installed, installed_rows.rows)
    updates, unmatched = build_updates(
        installed, candidates.rows, advisory_list.rows, infos.by_id()
    )
    for row in unmatched:
        warnings.append(
            f"advisory {row.advisory_id} names {row.package} which no enabled repository offers"
        )
    warnings.extend(_repos_without_updateinfo(candidates.rows, metadata))
    if candidates.obsoleting:
        warnings.append(
            "obsoleting packages (not reported as updates): " + " ".join(candidates.obsoleting)
        )
    reboot_required, reboot_packages = _reboot(kernels, needs, warnings)
    return HostFacts(
        host=host,
        collected_at=collected_at,
        os=os,
        installed=tuple(installed),
        updates=tuple(updates),
        reboot_required=reboot_required,
        reboot_required_packages=reboot_packages,
        metadata_age_seconds=metadata.age_seconds(),
        metadata_missing=tuple(missing),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _candidates(frames: Frames) -> Candidates:
    if frames.get("dnf.upgrades") is not None:
        section = frames.require("dnf.upgrades", allowed_rc=OK)
        _raise_if_no_cache(section.body, section.rc)
        return parse_repoquery_upgrades(section.body)
    section = frames.require("dnf.check_update", allowed_rc=CHECK_UPDATE_RC)
    return parse_check_update(section.body)


def _raise_if_no_cache(body: str, rc: int) -> None:
    if rc != 0 and "Cache-only enabled but no cache" in body:
        raise DnfMetadataMissing(
            "dnf has no cached metadata for an enabled repository (cache-only scan): "
            "available updates are unknown; scan with refresh"
        )


def _messages(source: str, lines: tuple[str, ...] | list[str]) -> list[str]:
    return [f"{source}: {line.strip()}" for line in lines if line.strip()]


def build_updates(
    installed: list[InstalledPackage],
    candidates: tuple[CandidateRow, ...],
    advisories: tuple[AdvisoryRow, ...],
    infos: dict[str, AdvisoryInfo],
) -> tuple[list[AvailableUpdate], list[AdvisoryRow]]:
    """One AvailableUpdate per candidate with its advisories (module docstring); also the
    advisory rows no candidate carries."""
    newest: dict[tuple[str, str], str] = {}
    for p in installed:
        have = newest.get((p.name, p.arch))
        if have is None or compare_evr(p.version, have) > 0:
            newest[(p.name, p.arch)] = p.version
    rows_by_key: dict[tuple[str, str], list[AdvisoryRow]] = defaultdict(list)
    for row in advisories:
        rows_by_key[(row.package.name, row.package.arch)].append(row)
    used: set[int] = set()
    updates: list[AvailableUpdate] = []
    for c in candidates:
        current = newest.get((c.name, c.arch))
        mine = []
        for row in rows_by_key.get((c.name, c.arch), []):
            evr = row.package.evr
            if compare_evr(evr, c.version) <= 0 and (
                current is None or compare_evr(evr, current) > 0
            ):
                mine.append(row)
                used.add(id(row))
        updates.append(_update(c, current, mine, infos))
    unmatched = [row for row in advisories if id(row) not in used]
    return updates, unmatched


def _update(
    c: CandidateRow,
    current: str | None,
    rows: list[AdvisoryRow],
    infos: dict[str, AdvisoryInfo],
) -> AvailableUpdate:
    base = AvailableUpdate(
        name=c.name,
        arch=c.arch,
        installed_version=current,
        candidate_version=c.version,
        origins=(c.repo,),
        security=False,
        build_time=c.build_time,
        reboot_suggested=c.name in KERNEL_NAMES,
    )
    if not rows:
        return base
    notices = {row.advisory_id: _notice(row, infos.get(row.advisory_id)) for row in rows}
    ordered = sorted(notices.values(), key=_importance)
    own = sorted(
        (_advisory(row.package.evr, notices[row.advisory_id]) for row in rows),
        key=lambda a: (evr_sort_key(a.version), a.id),
    )
    primary = ordered[0]
    cves: list[str] = []
    bugs: list[str] = []
    for n in ordered:
        cves.extend(n.cves)
        bugs.extend(n.bugzilla_ids)
    return base.model_copy(
        update={
            "security": primary.type == "security",
            "classification": CLASSIFICATIONS.get(primary.type),
            "severity": primary.severity,
            "advisory_ids": tuple(n.advisory_id for n in ordered),
            "cves": tuple(sorted(set(cves))),
            "bugzilla_ids": tuple(sorted(set(bugs))),
            "release_date": primary.updated or primary.issued,
            "title": primary.title,
            "reboot_suggested": base.reboot_suggested or any(n.reboot_suggested for n in ordered),
            "advisories": tuple(dict.fromkeys(own)),
        }
    )


def _advisory(version: str, n: AdvisoryInfo) -> Advisory:
    return Advisory(
        id=n.advisory_id,
        version=version,
        classification=CLASSIFICATIONS.get(n.type),
        severity=n.severity,
        issued=n.issued,
        updated=n.updated,
        cves=n.cves,
        bugzilla_ids=n.bugzilla_ids,
        title=n.title,
    )


def with_installed_advisories(
    installed: list[InstalledPackage], rows: tuple[AdvisoryRow, ...]
) -> list[InstalledPackage]:
    """``installed`` with each advisory row of ``updateinfo list --installed`` on the newest
    installed package of its name.arch whose version is at or above the row's (module
    docstring). Rows for other packages are dropped: dnf printed them, nothing holds them."""
    newest: dict[tuple[str, str], int] = {}
    for i, p in enumerate(installed):
        have = newest.get((p.name, p.arch))
        if have is None or compare_evr(p.version, installed[have].version) > 0:
            newest[(p.name, p.arch)] = i
    found: dict[int, list[Advisory]] = defaultdict(list)
    for row in rows:
        at = newest.get((row.package.name, row.package.arch))
        if at is None or compare_evr(installed[at].version, row.package.evr) < 0:
            continue
        found[at].append(
            Advisory(
                id=row.advisory_id,
                version=row.package.evr,
                classification=CLASSIFICATIONS.get(row.type),
                severity=row.severity,
                updated=row.date,
            )
        )
    out = list(installed)
    for i, advisories in found.items():
        ordered = sorted(set(advisories), key=lambda a: (evr_sort_key(a.version), a.id))
        out[i] = installed[i].model_copy(update={"advisories": tuple(ordered)})
    return out


def _notice(row: AdvisoryRow, info: AdvisoryInfo | None) -> AdvisoryInfo:
    """The advisory's details; the list row fills what ``info`` lacks (or all of it)."""
    if info is None:
        return AdvisoryInfo(advisory_id=row.advisory_id, type=row.type, severity=row.severity)
    return info.model_copy(
        update={"type": info.type or row.type, "severity": info.severity or row.severity}
    )


def _importance(n: AdvisoryInfo) -> tuple[int, int, float]:
    when = n.updated or n.issued
    return (
        _TYPE_RANK.get(n.type, 9),
        _SEVERITY_RANK.get(n.severity or "", 9),
        -(when.timestamp() if when else 0.0),
    )


def _repos_without_updateinfo(
    candidates: tuple[CandidateRow, ...], metadata: MetadataState
) -> list[str]:
    known = metadata.by_id()
    repos = sorted({c.repo for c in candidates})
    return [
        f"repository {repo!r} has no updateinfo: its updates have no classification, severity "
        "or advisory (security-only baselines approve none of them)"
        for repo in repos
        if repo in known and not known[repo].updateinfo
    ]


def _reboot(
    kernels: KernelState, needs: NeedsRestarting, warnings: list[str]
) -> tuple[bool, tuple[str, ...]]:
    packages = list(needs.packages)
    if kernels.pending and kernels.newest is not None:
        warnings.append(
            f"running kernel {kernels.running} is not the newest installed "
            f"{kernels.newest.name} {kernels.newest.version}"
        )
        if kernels.newest.name not in packages:
            packages.append(kernels.newest.name)
    if needs.required is None:
        warnings.append(
            "needs-restarting is not installed (dnf-utils / yum-utils): only the kernel "
            "was checked for a pending reboot"
        )
    return bool(needs.required) or bool(kernels.pending), tuple(packages)
