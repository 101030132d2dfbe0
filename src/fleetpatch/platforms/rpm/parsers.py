"""Pure parsers shared by the rpm families (dnf/yum and zypper).

Sections come from ``rpm/templates/rpm.sh.j2``: the rpm database (``rpm -qa --qf``), the
installed kernels next to ``uname -r``, and the repository metadata found in the package
managers' caches. Errors are :class:`~fleetpatch.errors.ParseError` naming the line, what was
expected and what came.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import ParseError
from fleetpatch.facts import InstalledPackage
from fleetpatch.platforms.versions import compare_rpm_evr

STDERR_PREFIX = "stderr: "
"""The scan scripts append a command's stderr to its section, each line with this prefix."""

_NEVRA = re.compile(
    r"^(?P<name>.+)-(?:(?P<epoch>\d+):)?(?P<version>[^-:]+)-(?P<release>[^-]+)\.(?P<arch>[^.]+)$"
)
_SRC_RPM = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.(?:no)?src\.rpm$")


def split_stderr(text: str) -> tuple[list[str], list[str]]:
    """Split a section body into its stdout lines and the ``stderr: `` lines the script added."""
    out: list[str] = []
    err: list[str] = []
    for line in text.splitlines():
        if line.startswith(STDERR_PREFIX):
            err.append(line[len(STDERR_PREFIX) :])
        else:
            out.append(line)
    return out, err


def evr_string(epoch: int | str, version: str, release: str) -> str:
    """``E:V-R`` as dnf prints it, without the epoch when it is 0 (as rpm and zypper do)."""
    e = str(epoch).strip()
    vr = f"{version}-{release}" if release else version
    return f"{e}:{vr}" if e not in ("", "0", "(none)") else vr


def split_evr(evr: str) -> tuple[int, str, str]:
    """``[E:]V[-R]`` -> (epoch, version, release); release "" when absent.

    Raises:
        ParseError: the epoch is not a number or the version is empty.
    """
    epoch = 0
    rest = evr.strip()
    if ":" in rest:
        head, rest = rest.split(":", 1)
        if not head.isdigit():
            raise ParseError(f"expected a numeric epoch in {evr!r}, got {head!r}")
        epoch = int(head)
    version, sep, release = rest.rpartition("-")
    if not sep:
        version, release = rest, ""
    if not version:
        raise ParseError(f"expected [epoch:]version-release, got {evr!r}")
    return epoch, version, release


def compare_evr(a: str, b: str) -> int:
    """rpm ordering of two ``[E:]V-R`` strings (negative, zero, positive)."""
    return compare_rpm_evr(split_evr(a), split_evr(b))


evr_sort_key = functools.cmp_to_key(compare_evr)


class Nevra(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    epoch: int = 0
    version: str
    release: str
    arch: str

    @property
    def evr(self) -> str:
        return evr_string(self.epoch, self.version, self.release)

    def __str__(self) -> str:
        return f"{self.name}-{self.evr}.{self.arch}"


def parse_nevra(text: str, where: str = "NEVRA") -> Nevra:
    """``name-[epoch:]version-release.arch`` (dnf's and yum's spelling).

    Raises:
        ParseError: the text is not a NEVRA.
    """
    match = _NEVRA.match(text.strip())
    if match is None:
        raise ParseError(f"{where}: expected name-[epoch:]version-release.arch, got {text!r}")
    return Nevra(
        name=match["name"],
        epoch=int(match["epoch"] or 0),
        version=match["version"],
        release=match["release"],
        arch=match["arch"],
    )


def epoch_datetime(value: str, where: str) -> datetime | None:
    """Epoch seconds as a UTC datetime; "" or "0" -> None.

    Raises:
        ParseError: not a number.
    """
    value = value.strip()
    if not value or value == "0":
        return None
    if not value.isdigit():
        raise ParseError(f"{where}: expected epoch seconds, got {value!r}")
    return datetime.fromtimestamp(int(value), tz=UTC)


# ---------------------------------------------------------------------------------------------
# <family>.installed


def parse_rpm_installed(text: str, section: str = "rpm.installed") -> list[InstalledPackage]:
    """Rows of ``rpm -qa --qf '%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t
    %{INSTALLTIME}\\t%{SOURCERPM}\\n'``.

    One row per installed header: install-only kernels and multilib packages give several rows
    per name. ``version`` is ``[E:]V-R`` (epoch only when non-zero). ``gpg-pubkey``
    pseudo-packages (arch ``(none)``) are skipped.

    Raises:
        ParseError: a row without 7 fields, a non-numeric epoch or install time.
    """
    packages: list[InstalledPackage] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 7 or not fields[0] or not fields[2]:
            raise ParseError(
                f"{section} line {lineno}: expected 7 tab-separated fields (name, epochnum, "
                f"version, release, arch, installtime, sourcerpm), got {line!r}"
            )
        name, epoch, version, release, arch, installed_at, source = fields
        if arch == "(none)" or name == "gpg-pubkey":
            continue
        if not epoch.isdigit():
            raise ParseError(f"{section} line {lineno}: expected a numeric epoch, got {epoch!r}")
        src = _SRC_RPM.match(source)
        packages.append(
            InstalledPackage(
                name=name,
                arch=arch,
                version=evr_string(epoch, version, release),
                source_name=src["name"] if src else name,
                source_version=f"{src['version']}-{src['release']}" if src else "",
                status="installed",
                install_time=epoch_datetime(installed_at, f"{section} line {lineno}"),
            )
        )
    return packages


MULTIVERSION = re.compile(r"^(kernel|kernel-.+|kmod-.+|.+-kmp-.+)$")
"""Names the rpm database legitimately holds in several versions of one arch: install-only
kernels and kernel modules (dnf's default ``installonlypkgs``: kernel, installonlypkg(kernel),
installonlypkg(kernel-module); zypp's ``multiversion = provides:multiversion(kernel)``: SUSE's
kernel-* and KMPs). ``gpg-pubkey`` is skipped by :func:`parse_rpm_installed`. A package made
multiversion by local configuration (``installonlypkgs=`` in dnf.conf, ``multiversion =`` in
zypp.conf) is not known here: its versions would be reported as a duplicate."""

DUPLICATE_STATUS = "rpm-duplicate"
"""``InstalledPackage.status`` of a package whose name.arch the rpm database holds twice:
``rpm-duplicate TOOL V1,V2...`` (knowledge.package_problem words it)."""


def mark_rpm_duplicates(installed: list[InstalledPackage], tool: str) -> list[InstalledPackage]:
    """The rows of ``installed`` with the newest of each duplicated name.arch marked
    ``rpm-duplicate TOOL V1,V2`` (oldest version first): what an rpm transaction killed
    between adding the new header and erasing the old one leaves behind (dnf, yum and zypper
    have no journal to resume it, unlike dpkg). ``tool`` is ``dnf``, ``yum`` or ``zypper``
    (the repair differs). Install-only names (:data:`MULTIVERSION`) are left alone."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index, p in enumerate(installed):
        groups.setdefault((p.name, p.arch), []).append(index)
    marked = list(installed)
    for (name, _arch), indexes in groups.items():
        if len(indexes) < 2 or MULTIVERSION.match(name):
            continue
        ordered = sorted(indexes, key=lambda i: evr_sort_key(installed[i].version))
        versions = ",".join(installed[i].version for i in ordered)
        newest = ordered[-1]
        marked[newest] = installed[newest].model_copy(
            update={"status": f"{DUPLICATE_STATUS} {tool} {versions}"}
        )
    return marked


# ---------------------------------------------------------------------------------------------
# <family>.kernels

KERNEL_NAMES = (
    "kernel",
    "kernel-core",
    "kernel-rt-core",
    "kernel-uek",
    "kernel-uek-core",
    "kernel-default",
    "kernel-default-base",
    "kernel-azure",
    "kernel-preempt",
    "kernel-rt",
)
"""The install-only kernel packages whose version is compared with ``uname -r``."""


class RpmKernel(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str  # [E:]V-R
    arch: str
    release_names: tuple[str, ...]  # the ``uname -r`` strings this package would boot as


class KernelState(BaseModel):
    """Installed kernels and the running one.

    ``pending`` is True when the newest installed kernel is not the running one, False when it
    is, None when no kernel package is installed (containers without one, custom kernels).
    When the running kernel is not among the installed ones (a container sharing its host's
    kernel), the newest installed kernel is pending if its version-release sorts above
    ``uname -r`` (rpm ordering): the lab names its kernels 900.x so that this is always so.
    """

    model_config = ConfigDict(frozen=True)

    running: str = ""
    kernels: tuple[RpmKernel, ...] = ()
    newest: RpmKernel | None = None
    running_installed: bool = False
    pending: bool | None = None


def kernel_release_names(name: str, version: str, release: str, arch: str) -> tuple[str, ...]:
    """The ``uname -r`` spellings of one kernel package: RHEL/AL ``V-R.ARCH`` (older: ``V-R``),
    SUSE ``V-R'-FLAVOR`` where R' drops the last release component (kernel-default
    5.14.21-150500.55.19.1 boots as 5.14.21-150500.55.19-default)."""
    names = [f"{version}-{release}.{arch}", f"{version}-{release}"]
    for suffix in ("-core", "-base"):
        name = name.removesuffix(suffix)
    flavor = name.removeprefix("kernel").lstrip("-")
    if flavor and flavor not in ("uek", "rt"):
        short = release.rsplit(".", 1)[0] if "." in release else release
        names.append(f"{version}-{short}-{flavor}")
    elif flavor:
        names.append(f"{version}-{release}.{arch}+{flavor}")
    return tuple(dict.fromkeys(names))


def parse_rpm_kernels(text: str, section: str = "rpm.kernels") -> KernelState:
    """Lines ``running<TAB>uname -r`` and ``kernel<TAB>name<TAB>epochnum<TAB>version<TAB>
    release<TAB>arch`` (one per installed kernel package).

    Raises:
        ParseError: an unknown key or a malformed kernel line.
    """
    running = ""
    kernels: list[RpmKernel] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        key, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if key == "running":
            running = rest.strip()
        elif key == "kernel" and len(fields) == 5 and fields[1].isdigit():
            name, epoch, version, release, arch = fields
            kernels.append(
                RpmKernel(
                    name=name,
                    version=evr_string(epoch, version, release),
                    arch=arch,
                    release_names=kernel_release_names(name, version, release, arch),
                )
            )
        else:
            raise ParseError(
                f"{section} line {lineno}: expected 'running<TAB>release' or 'kernel<TAB>name"
                f"<TAB>epoch<TAB>version<TAB>release<TAB>arch', got {line!r}"
            )
    newest = max(kernels, key=lambda k: evr_sort_key(k.version), default=None)
    running_installed = any(running in k.release_names for k in kernels)
    pending: bool | None = None
    if newest is not None and running:
        if running_installed:
            pending = running not in newest.release_names
        else:
            _, version, release = split_evr(newest.version)
            pending = compare_rpm_evr((0, f"{version}-{release}", None), (0, running, None)) > 0
    return KernelState(
        running=running,
        kernels=tuple(kernels),
        newest=newest,
        running_installed=running_installed,
        pending=pending,
    )


# ---------------------------------------------------------------------------------------------
# <family>.repomd


class RepoMetadata(BaseModel):
    """One repository's cached ``repomd.xml``."""

    model_config = ConfigDict(frozen=True)

    repo_id: str
    path: str
    mtime: int
    updateinfo: bool


class MetadataState(BaseModel):
    model_config = ConfigDict(frozen=True)

    now: int
    repos: tuple[RepoMetadata, ...] = ()

    def age_seconds(self, repo_ids: set[str] | None = None) -> int | None:
        """Seconds since the stalest cached repomd.xml (of ``repo_ids`` when given) was
        written or checked; None when no metadata is cached."""
        stamps = [r.mtime for r in self.repos if repo_ids is None or r.repo_id in repo_ids]
        return max(0, self.now - min(stamps)) if stamps else None

    def by_id(self) -> dict[str, RepoMetadata]:
        return {r.repo_id: r for r in self.repos}


_DNF_CACHE_DIR = re.compile(r"^(?P<repo>.+)-[0-9a-f]{16}$")


def repo_id_from_cache_path(path: str) -> str:
    """The repository id of a cached repomd.xml: dnf ``/var/cache/dnf/<id>-<hash16>/repodata/
    repomd.xml``, yum ``/var/cache/yum/<arch>/<rel>/<id>/repomd.xml``, zypper
    ``/var/cache/zypp/raw/<alias>/repodata/repomd.xml``."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[-1] == "repomd.xml":
        parts = parts[:-1]
    if parts and parts[-1] == "repodata":
        parts = parts[:-1]
    last = parts[-1] if parts else path
    match = _DNF_CACHE_DIR.match(last)
    return match["repo"] if match and "/dnf/" in path else last


def parse_repomd(text: str, section: str = "rpm.repomd") -> MetadataState:
    """Lines ``now<TAB>epoch`` and ``repomd<TAB>path<TAB>mtime<TAB>yes|no`` (yes: the repomd
    lists an ``updateinfo`` record).

    Raises:
        ParseError: a malformed line or no ``now`` line.
    """
    now: int | None = None
    repos: list[RepoMetadata] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if fields[0] == "now" and len(fields) == 2 and fields[1].isdigit():
            now = int(fields[1])
        elif (
            fields[0] == "repomd"
            and len(fields) == 4
            and fields[2].isdigit()
            and fields[3] in ("yes", "no")
        ):
            repos.append(
                RepoMetadata(
                    repo_id=repo_id_from_cache_path(fields[1]),
                    path=fields[1],
                    mtime=int(fields[2]),
                    updateinfo=fields[3] == "yes",
                )
            )
        else:
            raise ParseError(
                f"{section} line {lineno}: expected 'now<TAB>epoch' or 'repomd<TAB>path<TAB>"
                f"mtime<TAB>yes|no', got {line!r}"
            )
    if now is None:
        raise ParseError(f"{section}: expected a 'now<TAB>epoch' line, got none")
    return MetadataState(now=now, repos=tuple(repos))
