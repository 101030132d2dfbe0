"""Pure parsers for the sections of the apt scan (``apt/templates/scan.sh.j2``).

One function per section; each takes the section's text and returns typed values. Errors are
:class:`~fleetpatch.errors.ParseError` naming the line number, what was expected and what came.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, computed_field

from fleetpatch.errors import ParseError
from fleetpatch.facts import InstalledPackage
from fleetpatch.memo import RunMemo
from fleetpatch.platforms.versions import compare_dpkg, dpkg_sort_key

# ---------------------------------------------------------------------------------------------
# Security markers, shared by Inst origins and Packages lists (same rule as the shell's awk).


def is_security_marker(value: str) -> bool:
    """A Release Label, Suite, Codename or sources dist that marks a security source:
    ``*-Security`` / ``*-security`` (Debian-Security, jammy-security, jammy-infra-security) or
    ``*/updates`` (Debian <= 10 security dists)."""
    return value.lower().endswith("-security") or value.endswith("/updates")


class AptOrigin(BaseModel):
    """One ``Label:Version/Archive`` token of an Inst line."""

    model_config = ConfigDict(frozen=True)

    label: str = ""
    version: str = ""
    archive: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def security(self) -> bool:
        return is_security_marker(self.label) or is_security_marker(self.archive)

    def __str__(self) -> str:
        text = f"{self.version}/{self.archive}" if self.version else self.archive
        return f"{self.label}:{text}" if self.label else text


# ---------------------------------------------------------------------------------------------
# apt.installed


def parse_dpkg_installed(text: str) -> list[InstalledPackage]:
    """Rows of ``dpkg-query -W -f='${binary:Package}\\t${Version}\\t${Architecture}\\t
    ${db:Status-Abbrev}\\t${source:Package}\\t${source:Version}\\t${Priority}\\t${Section}\\t
    ${db-fsys:Last-Modified}\\n'``.

    Every row is returned, whatever its status (``rc`` rows too): see :func:`is_installed`.
    ``name`` loses the ``:arch`` suffix dpkg adds for Multi-Arch: same packages. An empty
    Last-Modified (dpkg older than 1.19.3) gives ``install_time=None``.

    Raises:
        ParseError: a line has the wrong number of fields or a bad timestamp.
    """
    return list(_INSTALLED_LIST.validate_python(dpkg_installed_rows(text)))


_INSTALLED_LIST: TypeAdapter[tuple[InstalledPackage, ...]] = TypeAdapter(
    tuple[InstalledPackage, ...]
)


def dpkg_installed_rows(text: str) -> list[dict[str, Any]]:
    """:func:`parse_dpkg_installed`'s rows as plain dicts with InstalledPackage's fields, for
    callers that validate a whole document at once (one pydantic call instead of one per
    package: the scan's hot path).

    Raises:
        ParseError: as :func:`parse_dpkg_installed`.
    """
    rows: list[dict[str, Any]] = []
    stamps: dict[str, datetime | None] = {}  # packages installed together share a stamp
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line:
            rows.append(dpkg_row(line, lineno, stamps))
    return rows


def dpkg_row(
    line: str, lineno: int, stamps: dict[str, datetime | None] | None = None
) -> dict[str, Any]:
    """One non-empty row of :func:`dpkg_installed_rows` (``lineno`` for errors; ``stamps``
    caches timestamps already converted).

    Raises:
        ParseError: as :func:`parse_dpkg_installed`.
    """
    fields = line.split("\t")
    if len(fields) == 8:
        fields.append("")
    if len(fields) != 9:
        raise ParseError(
            f"apt.installed line {lineno}: expected 9 tab-separated fields "
            f"(package, version, arch, status, source, source version, priority, section, "
            f"last-modified), got {len(fields)}: {line!r}"
        )
    name, version, arch, status, src, src_version, priority, section, modified = fields
    status = status.rstrip()
    if not name or not version or len(status) < 2:
        raise ParseError(
            f"apt.installed line {lineno}: expected a name, a version and a 2-3 letter "
            f"status, got {line!r}"
        )
    if name.endswith(f":{arch}"):
        name = name[: -len(arch) - 1]
    if stamps is None:
        stamp = _epoch(modified, f"apt.installed line {lineno}")
    else:
        stamp = stamps.get(modified, _UNSEEN)
        if stamp is _UNSEEN:
            stamp = stamps[modified] = _epoch(modified, f"apt.installed line {lineno}")
    return {
        "name": name,
        "arch": arch,
        "version": version,
        "source_name": src or name,
        "source_version": src_version or version,
        "status": status,
        "priority": priority,
        "section": section,
        "install_time": stamp,
    }


_UNSEEN = datetime.min


def is_installed(status: str) -> bool:
    """dpkg status abbreviation says the package is on disk (not ``n`` not-installed nor
    ``c`` config-files only)."""
    return len(status) >= 2 and status[1] not in "nc"


def _epoch(value: str, where: str) -> datetime | None:
    if not value:
        return None
    if not value.isdigit():
        raise ParseError(f"{where}: expected epoch seconds, got {value!r}")
    return datetime.fromtimestamp(int(value), tz=UTC)


# ---------------------------------------------------------------------------------------------
# apt.simulate

INST_LINE = re.compile(
    r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])? \((?P<new>\S+) (?:(?P<rels>.+?) )?"
    r"\[(?P<arch>[^\]\s]+)\]\)(?: \[.*\])*$"
)
REMV_LINE = re.compile(r"^(?P<verb>Remv|Purg) (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])?(?: \[.*\])*$")
CONF_LINE = re.compile(r"^Conf \S+ \(\S+ .*\)(?: \[.*\])*$")
ORIGIN_TOKEN = re.compile(r"^(?:(?P<label>[^:/]+):)?(?:(?P<version>[^/]+)/)?(?P<archive>.+)$")
SUMMARY_LINE = re.compile(
    r"^(?P<upgraded>\d+) upgraded, (?P<new>\d+) newly installed, "
    r"(?:(?P<reinstalled>\d+) reinstalled, )?(?:(?P<downgraded>\d+) downgraded, )?"
    r"(?P<remove>\d+) to remove and (?P<kept>\d+) not upgraded\.$"
)
_HEADERS = {
    "The following packages have been kept back:": "kept_back",
    "The following upgrades have been deferred due to phasing:": "phased",
    "Not upgrading yet due to phasing:": "phased",
}


class SimulatedInst(BaseModel):
    """One ``Inst`` line: a package apt would install or upgrade.

    ``current`` is None for a package the upgrade newly installs (a dependency pulled in,
    e.g. a new kernel ABI package).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    arch: str
    current: str | None
    candidate: str
    origins: tuple[AptOrigin, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def security_origin(self) -> bool:
        return any(origin.security for origin in self.origins)


class SimulatedRemoval(BaseModel):
    """One ``Remv``/``Purg`` line: a package the upgrade would remove."""

    model_config = ConfigDict(frozen=True)

    name: str
    current: str | None
    purge: bool = False


class AptSimulation(BaseModel):
    """Everything ``apt-get -s dist-upgrade`` said, checked against its summary line."""

    model_config = ConfigDict(frozen=True)

    insts: tuple[SimulatedInst, ...] = ()
    removals: tuple[SimulatedRemoval, ...] = ()
    kept_back: tuple[str, ...] = ()
    phased: tuple[str, ...] = ()
    upgraded: int = 0
    newly_installed: int = 0
    downgraded: int = 0
    reinstalled: int = 0
    to_remove: int = 0
    not_upgraded: int = 0
    warnings: tuple[str, ...] = ()


def apt_inst_lines(text: str) -> list[SimulatedInst]:
    """Only the Inst lines of ``apt-get -s`` output (see :func:`parse_apt_simulate`).

    Raises:
        ParseError: as :func:`parse_apt_simulate`.
    """
    return list(parse_apt_simulate(text).insts)


def parse_apt_simulate(text: str, memo: RunMemo | None = None) -> AptSimulation:
    """Parse ``apt-get -s -q dist-upgrade`` output (stdout and stderr merged).

    Inst, Remv/Purg lines are parsed strictly; Conf lines are checked and dropped; the
    ``kept back`` and ``deferred due to phasing`` name lists are collected; ``W:``/``E:``/
    ``N:`` lines become warnings; other chatter (``Reading package lists...``, the non-root
    ``NOTE: This is only a simulation!`` banner) is ignored. The counts of Inst lines with and
    without a current version and of Remv lines must equal the summary line's.

    Raises:
        ParseError: a malformed Inst/Remv/Conf line, no summary line, or counts that disagree
            with it.

    With a ``memo`` (one per run), an Inst line already seen on another host gives the same
    :class:`SimulatedInst` object without being parsed again.
    """
    # SimulatedInst fields (validated with the whole result), or memoised SimulatedInst objects
    insts: list[dict[str, Any] | SimulatedInst] = []
    inst_memo = memo.table("apt.inst") if memo is not None else None
    removals: list[SimulatedRemoval] = []
    lists: dict[str, list[str]] = {"kept_back": [], "phased": []}
    warnings: list[str] = []
    summary: re.Match[str] | None = None
    summary_lineno = 0
    header: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("  ") and header is not None:
            if header in lists:
                lists[header].extend(t for t in line.split() if not t.startswith("("))
            continue
        header = None
        if line.startswith("Inst "):
            if inst_memo is None:
                insts.append(_inst(line, lineno))
                continue
            known = inst_memo.get(line)
            if known is None:
                known = inst_memo.put(line, SimulatedInst.model_validate(_inst(line, lineno)))
            insts.append(known)
        elif line.startswith(("Remv ", "Purg ")):
            removals.append(_removal(line, lineno))
        elif line.startswith("Conf "):
            if not CONF_LINE.match(line):
                raise ParseError(
                    f"apt.simulate line {lineno}: expected 'Conf NAME (VERSION ORIGINS "
                    f"[ARCH])', got {line!r}"
                )
        elif line.startswith(("W: ", "E: ", "N: ")):
            warnings.append(line)
        elif line.startswith("The following ") or line.startswith("Not upgrading yet"):
            header = _HEADERS.get(line, "other")
        elif (match := SUMMARY_LINE.match(line)) is not None:
            summary, summary_lineno = match, lineno
    if summary is None:
        errors = [w for w in warnings if w.startswith("E: ")]
        raise ParseError(
            "apt.simulate: expected the summary line 'N upgraded, N newly installed, ... not "
            f"upgraded.', got none{(' (apt said: ' + ' | '.join(errors) + ')') if errors else ''}"
        )
    result = AptSimulation.model_validate(
        {
            "insts": insts,
            "removals": removals,
            "kept_back": lists["kept_back"],
            "phased": lists["phased"],
            "upgraded": int(summary["upgraded"]),
            "newly_installed": int(summary["new"]),
            "downgraded": int(summary["downgraded"] or 0),
            "reinstalled": int(summary["reinstalled"] or 0),
            "to_remove": int(summary["remove"]),
            "not_upgraded": int(summary["kept"]),
            "warnings": warnings,
        }
    )
    _check_summary(result, summary_lineno)
    return result


def _inst(line: str, lineno: int) -> dict[str, Any]:
    """One Inst line as :class:`SimulatedInst`'s fields."""
    match = INST_LINE.match(line)
    if match is None:
        raise ParseError(
            f"apt.simulate line {lineno}: expected 'Inst NAME [CURRENT] (CANDIDATE "
            f"LABEL:VERSION/ARCHIVE, ... [ARCH])', got {line!r}"
        )
    origins: list[dict[str, str]] = []
    for token in (match["rels"] or "").split(", "):
        token = token.strip()
        if not token:
            continue
        parts = ORIGIN_TOKEN.match(token)
        if parts is None:  # pragma: no cover - the pattern accepts any non-empty token
            raise ParseError(f"apt.simulate line {lineno}: expected an origin, got {token!r}")
        origins.append(
            {
                "label": parts["label"] or "",
                "version": parts["version"] or "",
                "archive": parts["archive"],
            }
        )
    return {
        "name": match["name"].split(":", 1)[0],
        "arch": match["arch"],
        "current": match["old"],
        "candidate": match["new"],
        "origins": origins,
    }


def _removal(line: str, lineno: int) -> SimulatedRemoval:
    match = REMV_LINE.match(line)
    if match is None:
        raise ParseError(
            f"apt.simulate line {lineno}: expected 'Remv NAME [CURRENT]', got {line!r}"
        )
    return SimulatedRemoval(
        name=match["name"].split(":", 1)[0], current=match["old"], purge=match["verb"] == "Purg"
    )


def _check_summary(sim: AptSimulation, lineno: int) -> None:
    with_current = sum(1 for i in sim.insts if i.current is not None)
    new = len(sim.insts) - with_current
    expected_current = sim.upgraded + sim.downgraded + sim.reinstalled
    if (with_current, new, len(sim.removals)) != (
        expected_current,
        sim.newly_installed,
        sim.to_remove,
    ):
        raise ParseError(
            f"apt.simulate line {lineno}: the summary says {expected_current} upgraded/"
            f"downgraded/reinstalled, {sim.newly_installed} newly installed, {sim.to_remove} to "
            f"remove; the Inst/Remv lines give {with_current}, {new}, {len(sim.removals)}"
        )


# ---------------------------------------------------------------------------------------------
# apt.indexes, apt.candidates, apt.security_versions


class AptIndex(BaseModel):
    """A Packages list apt is configured to use, with its Release fields."""

    model_config = ConfigDict(frozen=True)

    present: bool
    file: str
    origin: str = ""
    label: str = ""
    suite: str = ""
    codename: str = ""
    release: str = ""
    site: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def security(self) -> bool:
        return any(
            is_security_marker(v) for v in (self.label, self.suite, self.codename, self.release)
        )


def parse_apt_indexes(text: str) -> list[AptIndex]:
    """Lines ``present|missing<TAB>file<TAB>origin<TAB>label<TAB>suite<TAB>codename<TAB>
    release<TAB>site`` (from ``apt-get indextargets``); ``configured`` lines are
    :func:`parse_apt_configured`'s.

    Raises:
        ParseError: a line with the wrong field count or presence word.
    """
    indexes: list[AptIndex] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("configured\t"):
            continue
        fields = line.split("\t")
        if len(fields) != 8 or fields[0] not in ("present", "missing"):
            raise ParseError(
                f"apt.indexes line {lineno}: expected 'present|missing' and 7 tab-separated "
                f"fields (file, origin, label, suite, codename, release, site), got {line!r}"
            )
        present, file, origin, label, suite, codename, release, site = fields
        indexes.append(
            AptIndex(
                present=present == "present",
                file=file,
                origin=origin,
                label=label,
                suite=suite,
                codename=codename,
                release=release,
                site=site,
            )
        )
    return indexes


def parse_apt_configured(text: str) -> list[tuple[str, str]]:
    """``(site, release)`` of every ``configured<TAB>site<TAB>release`` line of the
    ``apt.indexes`` section: each source apt is configured to use (``apt-get indextargets
    --no-release-info``), whether its Release file was downloaded or not. Sorted, no repeats.

    Raises:
        ParseError: a ``configured`` line without exactly a site and a release.
    """
    found: set[tuple[str, str]] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("configured\t"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1]:
            raise ParseError(
                f"apt.indexes line {lineno}: expected 'configured<TAB>site<TAB>release', "
                f"got {line!r}"
            )
        found.add((fields[1], fields[2]))
    return sorted(found)


_UPDATE_ERR = re.compile(r"^Err:\d+ (?P<uri>\S+) (?P<dist>\S+)(?: (?P<what>.*))?$")
_FAILED_FETCH = re.compile(r"^[WE]: Failed to fetch (?P<url>\S+)\s*(?P<why>.*)$")


def parse_update_failures(text: str) -> list[str]:
    """The sources an ``apt-get update`` could not fetch, each as ``URI DIST (why)``: its
    ``Err:N URI DIST FILE`` lines with the indented reason below them, else (older apt) its
    ``W:``/``E: Failed to fetch URL  why`` lines. Empty when every source was fetched."""
    failures: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _UPDATE_ERR.match(line)
        if match is None:
            continue
        why = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1][:1] == " " else ""
        failures.setdefault(f"{match['uri']} {match['dist']}", why)
    if not failures:
        for line in lines:
            fetch = _FAILED_FETCH.match(line)
            if fetch is not None:
                failures.setdefault(fetch["url"], fetch["why"].strip())
    return [f"{where} ({why})" if why else where for where, why in failures.items()]


class CandidateInfo(BaseModel):
    """Priority and Section of one candidate version, from the Packages lists."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    arch: str
    priority: str = ""
    section: str = ""


def parse_apt_candidates(text: str) -> list[CandidateInfo]:
    """Lines ``name<TAB>version<TAB>arch<TAB>priority<TAB>section`` (the last two may be
    empty: a third-party repository may not set them).

    Raises:
        ParseError: a line without exactly 5 fields, or without name/version/arch.
    """
    rows: list[dict[str, str]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 5 or not all(fields[:3]):
            raise ParseError(
                f"apt.candidates line {lineno}: expected name, version, arch, priority, section "
                f"separated by tabs, got {line!r}"
            )
        name, version, arch, priority, section = fields
        rows.append(
            {
                "name": name,
                "version": version,
                "arch": arch,
                "priority": priority,
                "section": section,
            }
        )
    return list(_CANDIDATES.validate_python(rows))


_CANDIDATES: TypeAdapter[tuple[CandidateInfo, ...]] = TypeAdapter(tuple[CandidateInfo, ...])


def parse_security_versions(text: str) -> dict[str, tuple[str, ...]]:
    """Lines ``name<TAB>version`` published by security sources → versions per name, oldest
    first.

    Raises:
        ParseError: a line that is not two non-empty tab-separated fields.
    """
    found: dict[str, set[str]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not all(fields):
            raise ParseError(
                f"apt.security_versions line {lineno}: expected 'name<TAB>version', got {line!r}"
            )
        found.setdefault(fields[0], set()).add(fields[1])
    # most names have one version: sort only where there is something to order
    return {
        name: (next(iter(v)),) if len(v) == 1 else tuple(sorted(v, key=dpkg_sort_key))
        for name, v in sorted(found.items())
    }


# ---------------------------------------------------------------------------------------------
# apt.reboot

_KERNEL_PACKAGE = re.compile(r"^linux-image-(?:unsigned-)?(?P<release>[0-9].*)$")
_DEBIAN_BUILD = re.compile(r"\bDebian (?P<version>\S+) \(")


class KernelPackage(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    release: str
    status: str


class RebootInfo(BaseModel):
    """What the host says about needing a reboot.

    ``kernel_pending`` is True when the newest installed kernel is not the running one (or, on
    Debian, the running kernel's package was upgraded in place: ``uname -v`` names the package
    version it was built as), False when the running kernel is the newest, None when it cannot
    be told (no ``linux-image-<release>`` package installed: containers, custom kernels).
    """

    model_config = ConfigDict(frozen=True)

    flag_file: bool
    packages: tuple[str, ...] = ()
    running_release: str = ""
    running_build: str = ""
    kernels: tuple[KernelPackage, ...] = ()
    newest_kernel: KernelPackage | None = None
    kernel_pending: bool | None = None


def parse_reboot(text: str) -> RebootInfo:
    """Lines ``required<TAB>yes|no``, ``pkg<TAB>name``…, ``running<TAB>uname -r``,
    ``running_build<TAB>uname -v``, ``kernel<TAB>status<TAB>package<TAB>version``….

    Raises:
        ParseError: an unknown key, a malformed line or no ``required`` line.
    """
    flag: bool | None = None
    packages: list[str] = []
    running = build = ""
    kernels: list[KernelPackage] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        key, _, rest = line.partition("\t")
        if key == "required" and rest in ("yes", "no"):
            flag = rest == "yes"
        elif key == "pkg":
            if rest.strip():
                packages.append(rest.strip())
        elif key == "running":
            running = rest.strip()
        elif key == "running_build":
            build = rest.strip()
        elif key == "kernel" and len(fields := rest.split("\t")) == 3:
            status, name, version = fields
            match = _KERNEL_PACKAGE.match(name)
            if match and version and is_installed(status.rstrip()):
                kernels.append(
                    KernelPackage(
                        name=name, version=version, release=match["release"], status=status.rstrip()
                    )
                )
        else:
            raise ParseError(
                f"apt.reboot line {lineno}: expected required/pkg/running/running_build/kernel "
                f"fields, got {line!r}"
            )
    if flag is None:
        raise ParseError("apt.reboot: expected a 'required<TAB>yes|no' line, got none")
    newest = max(kernels, key=lambda k: dpkg_sort_key(k.version), default=None)
    return RebootInfo(
        flag_file=flag,
        packages=tuple(dict.fromkeys(packages)),
        running_release=running,
        running_build=build,
        kernels=tuple(kernels),
        newest_kernel=newest,
        kernel_pending=_kernel_pending(newest, kernels, running, build),
    )


def _kernel_pending(
    newest: KernelPackage | None, kernels: list[KernelPackage], running: str, build: str
) -> bool | None:
    if newest is None or not running:
        return None
    if newest.release != running:
        if any(k.release == running for k in kernels):
            return True  # the running kernel is installed but is not the newest
        return compare_dpkg(newest.release, running) > 0
    built = _DEBIAN_BUILD.search(build)
    if built is not None and built["version"] != newest.version:
        return compare_dpkg(newest.version, built["version"]) > 0
    return False


# ---------------------------------------------------------------------------------------------
# apt.lists


class ListsAge(BaseModel):
    """Epoch seconds, all from the host's clock; None when the file is absent."""

    model_config = ConfigDict(frozen=True)

    now: int
    lists_newest: int | None = None
    lists_partial: int | None = None
    update_success: int | None = None
    pkgcache: int | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def age_seconds(self) -> int | None:
        """Seconds since the newest package list (or APT::Periodic's update-success stamp)
        changed; None when there is no list at all. ``lists/partial`` and pkgcache.bin are
        not evidence: a failed update touches the former, any install rebuilds the latter."""
        stamps = [s for s in (self.lists_newest, self.update_success) if s is not None]
        if not stamps:
            return None
        return max(0, self.now - max(stamps))


_LISTS_KEYS = ("now", "lists_newest", "lists_partial", "update_success", "pkgcache")


def parse_lists_age(text: str) -> ListsAge:
    """Lines ``key<TAB>epoch`` for now, lists_newest, lists_partial, update_success, pkgcache.

    Raises:
        ParseError: an unknown key, a non-numeric value or no ``now`` line.
    """
    values: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        key, _, value = line.partition("\t")
        if key not in _LISTS_KEYS or not value.strip().isdigit():
            raise ParseError(
                f"apt.lists line {lineno}: expected one of {', '.join(_LISTS_KEYS)} and epoch "
                f"seconds, got {line!r}"
            )
        values[key] = int(value)
    if "now" not in values:
        raise ParseError("apt.lists: expected a 'now<TAB>epoch' line, got none")
    return ListsAge(**values)
