"""Approved/rejected list entries: the accepted formats per family and how an entry matches.

ssm-semantics.md §1 "Approved/rejected list formats". Validation (:func:`check_patch_name`)
runs at load time; :class:`NameMatcher` is compiled once per baseline and used per host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from fleetpatch.baseline.oses import NameFamily
from fleetpatch.baseline.versions import split_evr
from fleetpatch.facts import AvailableUpdate, InstalledPackage

MAX_ENTRY_CHARS = 100

_N = r"[A-Za-z0-9_+][A-Za-z0-9._+\-]*"
_V = r"[A-Za-z0-9._+~^]+"
_E = r"\d+"
_YUM_PACKAGE = re.compile(
    rf"^(?:{_N}|{_V}(?:-{_V})?|{_E}:{_V}-{_V}|{_N}-{_E}:{_V}-{_V}|{_E}:{_N}-{_V}-{_V}"
    rf"|{_N}:{_E}:{_V}-{_V})$"
)
BUGZILLA = re.compile(r"^\d+$")
CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)
ADVISORY = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9.]+)*-\d{4}[-:]\d+$")
_APT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.\-]*$")
_SUSE_PATCH = re.compile(r"^[A-Za-z][A-Za-z0-9_.+\-]*-\d{4}-\d+$")
_SUSE_RPM = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+\-]*-[^-\s]+-[^-\s]+\.[A-Za-z0-9_]+\.rpm$")
_SUSE_GLOB = re.compile(r"^[A-Za-z0-9_.+\-:*]+$")
_KB = re.compile(r"^KB\d+$", re.IGNORECASE)
_BULLETIN = re.compile(r"^MS\d{2}-\d{3}$", re.IGNORECASE)
_MACOS = re.compile(r"^[^\s*?\[\]]+(?: [^\s*?\[\]]+)*$")

_YUM_PKG_FORMS = (
    "name, name.arch, name-version, name-version-release, name-version-release.arch, version, "
    "version-release, epoch:version-release, name-epoch:version-release, "
    "name-epoch:version-release.arch, epoch:name-version-release.arch, "
    "name.arch:epoch:version-release"
)

ACCEPTED_FORMS: dict[tuple[NameFamily, bool], str] = {
    ("yum", False): (
        "a Bugzilla id (1234567), a CVE id (CVE-2018-1234567), an advisory id (RHSA-2017:0864, "
        f"ALAS-2018-123), or a package as {_YUM_PKG_FORMS}; any of them with at most one '*' "
        "(e.g. dbus-1:1.12.28-1.amzn2023.0.1.x86_64, dbus*)"
    ),
    ("yum", True): (
        f"a package as {_YUM_PKG_FORMS}, with at most one '*' (Bugzilla, CVE and advisory ids "
        "are accepted only in approved_patches)"
    ),
    ("apt", False): "a bare package name (ExamplePkg33), with no architecture, version or '*'",
    ("zypper", False): (
        "a patch name (SUSE-SLE-Example-Package-12-2018-123) or a package file name "
        "(pkg-2018.11.4-46.17.1.x86_64.rpm), with at most one '*'"
    ),
    ("windows", False): "a KB id (KB2032276) or a security bulletin id (MS10-048)",
    ("macos", False): "the full update name, without '*'",
}


def accepted_forms(family: NameFamily, rejected: bool) -> str:
    return ACCEPTED_FORMS.get((family, rejected)) or ACCEPTED_FORMS[(family, False)]


def check_patch_name(entry: str, family: NameFamily, *, rejected: bool) -> str | None:
    """None if ``entry`` is an accepted list entry for ``family``, else what is wrong."""
    forms = accepted_forms(family, rejected)
    if not entry:
        return f"empty entry; accepted: {forms}"
    if len(entry) > MAX_ENTRY_CHARS:
        return f"entry is {len(entry)} characters, at most {MAX_ENTRY_CHARS}; accepted: {forms}"
    stars = entry.count("*")
    if stars > 1:
        return f"{entry!r} has {stars} '*'; at most one is accepted; accepted: {forms}"
    ok = _format_ok(entry, family, rejected)
    if ok:
        return None
    return f"{entry!r} is not a valid entry; accepted: {forms}"


def _format_ok(entry: str, family: NameFamily, rejected: bool) -> bool:
    if family == "yum":
        if rejected and (BUGZILLA.match(entry) or CVE.match(entry) or ADVISORY.match(entry)):
            return False
        if not rejected and (BUGZILLA.match(entry) or CVE.match(entry) or ADVISORY.match(entry)):
            return True
        return bool(_YUM_PACKAGE.match(entry.replace("*", "0")))
    if family == "apt":
        return bool(_APT_NAME.match(entry))
    if family == "zypper":
        if "*" in entry:
            return bool(_SUSE_GLOB.match(entry))
        return bool(_SUSE_PATCH.match(entry) or _SUSE_RPM.match(entry))
    if family == "windows":
        return bool(_KB.match(entry) or _BULLETIN.match(entry))
    return bool(_MACOS.match(entry))


@lru_cache(maxsize=65536)
def yum_package_forms(name: str, arch: str, evr: str) -> str:
    """Every spelling of one package that a yum-style list entry may use, one per line
    (memoised: fleets share most packages)."""
    epoch, version, release = split_evr(evr)
    vr = f"{version}-{release}" if release else version
    evr0 = f"{epoch}:{vr}"
    forms = [name, f"{name}-{version}", f"{name}-{vr}", version, vr, evr0, f"{name}-{evr0}"]
    if arch:
        forms += [
            f"{name}.{arch}",
            f"{name}-{vr}.{arch}",
            f"{name}-{evr0}.{arch}",
            f"{epoch}:{name}-{vr}.{arch}",
            f"{name}.{arch}:{evr0}",
        ]
    return "\n".join(forms)


def rpm_file_name(name: str, arch: str, evr: str) -> str:
    _, version, release = split_evr(evr)
    vr = f"{version}-{release}" if release else version
    return f"{name}-{vr}.{arch or 'noarch'}.rpm"


def _glob_regex(entry: str) -> str:
    return ".*".join(re.escape(part) for part in entry.split("*"))


@dataclass(frozen=True)
class NameMatcher:
    """A compiled approved or rejected list for one family.

    ``match_update`` / ``match_installed`` return the list entry that matched, or None.
    Plain names and ids are dict lookups; only entries with versions or ``*`` need regexes.
    """

    family: NameFamily
    entries: tuple[str, ...]
    names: dict[str, str]  # normalised name/id -> entry
    ids: dict[str, str]  # bugzilla / CVE / advisory / KB / bulletin -> entry
    pattern: re.Pattern[str] | None
    pattern_entries: tuple[str, ...]

    @classmethod
    def compile(cls, entries: Sequence[str], family: NameFamily) -> NameMatcher:
        names: dict[str, str] = {}
        ids: dict[str, str] = {}
        patterns: list[str] = []
        for entry in entries:
            if family == "windows":
                names.setdefault(entry.upper(), entry)
                ids.setdefault(entry.upper(), entry)
            elif family in ("apt", "macos"):
                names.setdefault(entry, entry)
            elif family == "zypper":
                if "*" in entry:
                    patterns.append(entry)
                else:
                    names.setdefault(entry, entry)
            else:
                if BUGZILLA.match(entry) or CVE.match(entry) or ADVISORY.match(entry):
                    ids.setdefault(entry.upper(), entry)
                if "*" not in entry and not re.search(r"[.:\-]", entry):
                    names.setdefault(entry, entry)
                else:
                    patterns.append(entry)
        pattern = None
        if patterns:
            alternatives = "|".join(f"(?P<e{i}>{_glob_regex(p)})" for i, p in enumerate(patterns))
            pattern = re.compile(rf"^(?:{alternatives})$", re.MULTILINE)
        return cls(family, tuple(entries), names, ids, pattern, tuple(patterns))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def _search(self, forms: Iterable[str] | str) -> str | None:
        if self.pattern is None:
            return None
        m = self.pattern.search(forms if isinstance(forms, str) else "\n".join(forms))
        if m is None or m.lastgroup is None:
            return None
        return self.pattern_entries[int(m.lastgroup[1:])]

    def _ids(self, values: Iterable[str]) -> str | None:
        for value in values:
            hit = self.ids.get(value.upper())
            if hit is not None:
                return hit
        return None

    def match_update(self, u: AvailableUpdate) -> str | None:
        if not self.entries:
            return None
        fam = self.family
        if fam == "windows":
            return self.names.get(u.name.upper()) or self._ids(u.advisory_ids)
        if fam in ("apt", "macos"):
            return self.names.get(u.name)
        if fam == "zypper":
            hit = self.names.get(u.name)
            if hit is not None:
                return hit
            for patch_id in u.advisory_ids:  # a package judged by the applied patch it carries
                hit = self.names.get(patch_id)
                if hit is not None:
                    return hit
            files = (
                [rpm_file_name(u.name, u.arch, u.candidate_version)] if u.kind == "package" else []
            )
            files += [p if p.endswith(".rpm") else f"{p}.rpm" for p in u.packages]
            for f in files:
                hit = self.names.get(f)
                if hit is not None:
                    return hit
            return self._search([u.name, *u.advisory_ids, *u.packages, *files])
        hit = self.names.get(u.name)
        if hit is not None:
            return hit
        if self.ids:
            hit = self._ids(u.bugzilla_ids) or self._ids(u.cves) or self._ids(u.advisory_ids)
            if hit is not None:
                return hit
        return self._search(yum_package_forms(u.name, u.arch, u.candidate_version))

    def match_installed(self, p: InstalledPackage) -> str | None:
        if not self.entries:
            return None
        fam = self.family
        if fam == "windows":
            return self.names.get(p.name.upper())
        if fam in ("apt", "macos"):
            return self.names.get(p.name)
        if fam == "zypper":
            f = rpm_file_name(p.name, p.arch, p.version)
            return self.names.get(f) or self.names.get(p.name) or self._search([p.name, f])
        return self.names.get(p.name) or self._search(yum_package_forms(p.name, p.arch, p.version))

    def explicit_entries(self) -> tuple[str, ...]:
        """Entries without '*' (the ones that can be counted as not applicable)."""
        return tuple(e for e in self.entries if "*" not in e)
