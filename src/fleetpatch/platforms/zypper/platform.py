"""The zypper family: from the framed scan output to :class:`~fleetpatch.facts.HostFacts`.

Decisions (see also ``zypper/templates/scan.sh.j2`` and docs/platforms.md):

* **The patch is the unit** (SSM on SUSE): every *needed* patch of ``list-patches`` (also those
  in ``<blocked-update-list>``, waiting for update-stack patches) is one AvailableUpdate with
  ``kind="patch"``, ``name`` = patch id (= advisory id), ``candidate_version`` = the patch's
  edition, ``packages`` = ``name-edition.arch`` of the packages it updates (the
  ``Conflicts`` of ``zypper info -t patch``, limited to installed name.arch),
  classification/severity from its category/severity, ``release_date`` = issue-date (older
  zypper without it: ``Created On`` of ``info``), ``reboot_suggested`` = ``restart``.
* Package updates (``list-updates``) that no needed patch covers are AvailableUpdates of
  ``kind="package"`` without classification (``security=False``); packages a patch covers are
  not repeated.
* Patches with status ``unwanted`` (locked) and update-stack patches (``pkgmanager``) are named
  in ``warnings``; ``applied``/``not-needed`` patches are not updates.
* **Applied patches** (``zypper.applied``) go on the installed packages they cover as
  ``advisories``: a package whose applied patch the baseline approves is INSTALLED, not
  INSTALLED_OTHER (SSM counts it in InstalledCount).
* **Reboot**: ``zypper needs-rebooting`` (rc 102) or the newest installed kernel package is not
  the running one.
"""

from __future__ import annotations

from datetime import datetime

from fleetpatch.errors import HostError
from fleetpatch.facts import Advisory, AvailableUpdate, HostFacts, InstalledPackage, OsInfo
from fleetpatch.memo import RunMemo
from fleetpatch.platforms.framing import Frames
from fleetpatch.platforms.rpm.parsers import (
    compare_evr,
    evr_sort_key,
    mark_rpm_duplicates,
    parse_repomd,
    parse_rpm_installed,
    parse_rpm_kernels,
    split_stderr,
)
from fleetpatch.platforms.rpm.repostate import parse_zypper_solv
from fleetpatch.platforms.zypper.parsers import (
    AppliedPatch,
    PackageUpdate,
    Patch,
    PatchInfo,
    parse_applied_patches,
    parse_list_patches,
    parse_list_updates,
    parse_needs_rebooting,
    parse_patch_info,
    parse_zypper_repos,
)

OK = frozenset({0})
# ZYPPER_EXIT_INF_*: 100 update needed, 101 security update needed, 102 reboot needed,
# 103 restart needed (update stack), 106 some repositories skipped, 107 rpm scriptlet failed.
LIST_RC = frozenset({0, 100, 101, 102, 103, 106, 107})
REPOS_RC = frozenset({0, 6})  # 6 = ZYPPER_EXIT_NO_REPOS
INFO_RC = frozenset({0, 104, 106})  # 104 = a name was not found, 106 = repositories skipped
REBOOT_RC = frozenset({0, 102})
REFRESH_RC = frozenset({0, 106})

CLASSIFICATIONS = {
    "security": "Security",
    "recommended": "Recommended",
    "bugfix": "Recommended",
    "optional": "Optional",
    "feature": "Feature",
    "enhancement": "Feature",
    "document": "Document",
    "yast": "Yast",
}
SEVERITIES = {
    "critical": "Critical",
    "important": "Important",
    "moderate": "Moderate",
    "low": "Low",
}


class ZypperNoRepos(HostError):
    """zypper has no enabled repository: available updates are unknown."""

    kind = "no_metadata"


def parse_zypper_scan(
    frames: Frames,
    *,
    host: str,
    os: OsInfo,
    collected_at: datetime,
    memo: RunMemo | None = None,
) -> HostFacts:
    """Combine the ``zypper.*`` sections into HostFacts.

    ``memo`` is accepted for the common family-parser signature; the zypper parsers do not
    intern yet (every host is parsed in full).

    Raises:
        ParseError: a section is missing, ended with an undeclared exit code or is malformed.
        ZypperNoRepos: no repository is defined or enabled.
    """
    warnings: list[str] = []
    refresh = frames.get("zypper.refresh")
    if refresh is not None:
        frames.require("zypper.refresh", allowed_rc=REFRESH_RC)
        warnings.extend(f"zypper refresh: {m}" for m in split_stderr(refresh.body)[1] if m.strip())
        if refresh.rc == 106:
            warnings.append("zypper refresh: some repositories were skipped (rc 106)")
    installed = mark_rpm_duplicates(
        parse_rpm_installed(
            frames.require("zypper.installed", allowed_rc=OK).body, "zypper.installed"
        ),
        "zypper",
    )
    if frames.get("zypper.applied") is not None:  # scans before it had none
        applied = frames.require("zypper.applied", allowed_rc=INFO_RC)
        installed = with_applied_patches(installed, parse_applied_patches(applied.body))
    repos_section = frames.require("zypper.repos", allowed_rc=REPOS_RC)
    repos = parse_zypper_repos(repos_section.body) if repos_section.rc == 0 else ()
    if not any(r.enabled for r in repos):
        raise ZypperNoRepos("zypper has no enabled repository: available updates are unknown")
    updates_section = frames.require("zypper.updates", allowed_rc=LIST_RC)
    package_updates = parse_list_updates(updates_section.body)
    patches_section = frames.require("zypper.patches", allowed_rc=LIST_RC)
    patch_list = parse_list_patches(patches_section.body)
    infos = parse_patch_info(frames.require("zypper.patch_info", allowed_rc=INFO_RC).body)
    kernels = parse_rpm_kernels(
        frames.require("zypper.kernels", allowed_rc=OK).body, "zypper.kernels"
    )
    reboot_section = frames.require("zypper.needs_rebooting", allowed_rc=REBOOT_RC)
    flag = parse_needs_rebooting(reboot_section.body, reboot_section.rc)
    metadata = parse_repomd(frames.require("zypper.repomd", allowed_rc=OK).body, "zypper.repomd")
    missing: list[str] = []
    if frames.get("zypper.solv") is not None:
        caches = parse_zypper_solv(frames.require("zypper.solv", allowed_rc=OK).body)
        missing = [
            f"zypper repository {r.alias!r} ({r.url or r.name}): no metadata cache (zypper "
            "could not read or fetch it and skipped it)"
            for r in repos
            if r.enabled and r.alias not in caches
        ]

    for section, rc in (("list-updates", updates_section.rc), ("list-patches", patches_section.rc)):
        if rc == 106:
            warnings.append(f"zypper {section}: some repositories were skipped (rc 106)")
    warnings.extend(f"zypper: {m}" for m in package_updates.messages + patch_list.messages)
    updates = build_updates(installed, patch_list.patches, infos, package_updates.updates)
    for patch in patch_list.patches:
        if patch.status == "unwanted":
            warnings.append(f"patch {patch.name} is needed but locked (status unwanted)")
        if patch.status == "needed" and patch.pkgmanager:
            warnings.append(
                f"patch {patch.name} updates the package manager itself: it is installed first"
            )
    packages = []
    if kernels.pending and kernels.newest is not None:
        warnings.append(
            f"running kernel {kernels.running} is not the newest installed "
            f"{kernels.newest.name} {kernels.newest.version}"
        )
        packages.append(kernels.newest.name)
    return HostFacts(
        host=host,
        collected_at=collected_at,
        os=os,
        installed=tuple(installed),
        updates=tuple(updates),
        reboot_required=flag or bool(kernels.pending),
        reboot_required_packages=tuple(packages),
        metadata_age_seconds=metadata.age_seconds(),
        metadata_missing=tuple(missing),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def build_updates(
    installed: list[InstalledPackage],
    patches: tuple[Patch, ...],
    infos: dict[str, PatchInfo],
    package_updates: tuple[PackageUpdate, ...],
) -> list[AvailableUpdate]:
    """Needed patches, then the package updates no needed patch covers (module docstring)."""
    have = {(p.name, p.arch) for p in installed}
    covered: set[tuple[str, str]] = set()
    updates: list[AvailableUpdate] = []
    for patch in patches:
        if patch.status != "needed":
            continue
        info = infos.get(patch.name)
        touched = info.packages if info is not None else ()
        covered.update((p.name, p.arch) for p in touched)
        mine = [p for p in touched if (p.name, p.arch) in have] or list(touched)
        category = patch.category.lower()
        updates.append(
            AvailableUpdate(
                name=patch.name,
                arch=patch.arch,
                installed_version=None,
                candidate_version=patch.edition or "1",
                kind="patch",
                origins=(patch.repo,) if patch.repo else (),
                security=category == "security",
                classification=CLASSIFICATIONS.get(category, patch.category.title() or None),
                severity=SEVERITIES.get(patch.severity.lower()),
                advisory_ids=(patch.name,),
                cves=tuple(sorted(patch.cves)),
                bugzilla_ids=tuple(sorted(patch.bugzilla_ids)),
                release_date=patch.issue_date or (info.created if info else None),
                reboot_suggested=patch.restart,
                packages=tuple(sorted(str(p) for p in mine)),
                title=patch.summary,
            )
        )
    for u in package_updates:
        if (u.name, u.arch) in covered:
            continue
        updates.append(
            AvailableUpdate(
                name=u.name,
                arch=u.arch,
                installed_version=_installed_version(installed, u),
                candidate_version=u.edition,
                origins=(u.repo,) if u.repo else (),
                security=False,
                title=u.summary,
            )
        )
    return updates


def with_applied_patches(
    installed: list[InstalledPackage], applied: list[AppliedPatch]
) -> list[InstalledPackage]:
    """Each installed package carries the applied patches it satisfies
    (``InstalledPackage.advisories``: the patch id, the version the patch ships for that
    name.arch, its category and severity, Created On as its date), so that a package whose
    applied patch the baseline approves is INSTALLED (SSM's InstalledCount), as dnf/yum
    packages are by their installed advisories."""
    by_key: dict[tuple[str, str], list[int]] = {}
    for index, p in enumerate(installed):
        by_key.setdefault((p.name, p.arch), []).append(index)
    found: dict[int, list[Advisory]] = {}
    for patch in applied:
        category = patch.category.lower()
        for pkg in patch.packages:
            for index in by_key.get((pkg.name, pkg.arch), ()):
                if compare_evr(installed[index].version, pkg.edition) < 0:
                    continue  # an older version of a multiversion package (a kernel)
                found.setdefault(index, []).append(
                    Advisory(
                        id=patch.name,
                        version=pkg.edition,
                        classification=CLASSIFICATIONS.get(
                            category, patch.category.title() or None
                        ),
                        severity=SEVERITIES.get(patch.severity.lower()),
                        issued=patch.created,
                    )
                )
    if not found:
        return installed
    return [
        p.model_copy(update={"advisories": (*p.advisories, *found[i])}) if i in found else p
        for i, p in enumerate(installed)
    ]


def _installed_version(installed: list[InstalledPackage], u: PackageUpdate) -> str | None:
    if u.edition_old:
        return u.edition_old
    arch = u.arch_old or u.arch
    versions = [p.version for p in installed if p.name == u.name and p.arch == arch]
    return max(versions, key=evr_sort_key) if versions else None
