"""Pure parsers for the sections of the zypper scan (``zypper/templates/scan.sh.j2``).

zypper's ``--xmlout`` documents are parsed with :mod:`xml.etree.ElementTree` after refusing
any DTD (zypper never writes one; a DTD is how entity-expansion attacks come in). Errors are
:class:`~fleetpatch.errors.ParseError` naming what was expected and what came.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import ParseError
from fleetpatch.platforms.rpm.parsers import split_stderr

# ---------------------------------------------------------------------------------------------
# XML


def parse_zypper_xml(text: str, section: str) -> tuple[ET.Element, tuple[str, ...]]:
    """The ``<stream>`` root of a zypper ``--xmlout`` document and its error messages
    (``<message type="error">``).

    Raises:
        ParseError: a DTD/entity declaration, malformed XML or a root other than ``stream``.
    """
    lines, stderr = split_stderr(text)
    body = "\n".join(lines).strip()
    if "<!DOCTYPE" in body or "<!ENTITY" in body:
        raise ParseError(f"{section}: expected zypper XML without a DTD, got a DOCTYPE/ENTITY")
    if not body:
        raise ParseError(
            f"{section}: expected a zypper XML <stream>, got no output"
            + (f" (stderr: {' | '.join(stderr)})" if stderr else "")
        )
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ParseError(
            f"{section}: expected well-formed zypper XML, got {exc} in {body[:120]!r}"
        ) from None
    if root.tag != "stream":
        raise ParseError(f"{section}: expected a <stream> root element, got <{root.tag}>")
    errors = [
        (m.text or "").strip()
        for m in root.iter("message")
        if m.get("type") == "error" and (m.text or "").strip()
    ]
    return root, tuple(errors) + tuple(f"stderr: {line}" for line in stderr if line.strip())


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


# ---------------------------------------------------------------------------------------------
# zypper.repos


class ZypperRepo(BaseModel):
    model_config = ConfigDict(frozen=True)

    alias: str
    name: str = ""
    enabled: bool = True
    url: str = ""


def parse_zypper_repos(text: str) -> tuple[ZypperRepo, ...]:
    """``zypper --xmlout repos``: ``<repo-list><repo alias name enabled ...><url/>``.

    Raises:
        ParseError: as :func:`parse_zypper_xml`, or a repo without an alias.
    """
    root, _ = parse_zypper_xml(text, "zypper.repos")
    repos: list[ZypperRepo] = []
    for repo in root.iter("repo"):
        alias = repo.get("alias")
        if not alias:
            raise ParseError("zypper.repos: expected an alias attribute on <repo>, got none")
        url = repo.find("url")
        repos.append(
            ZypperRepo(
                alias=alias,
                name=repo.get("name", ""),
                enabled=_bool(repo.get("enabled", "1")),
                url=(url.text or "").strip() if url is not None else "",
            )
        )
    return tuple(repos)


# ---------------------------------------------------------------------------------------------
# zypper.updates


class PackageUpdate(BaseModel):
    """One ``<update kind="package">`` of ``list-updates``."""

    model_config = ConfigDict(frozen=True)

    name: str
    arch: str
    edition: str
    edition_old: str | None = None
    arch_old: str | None = None
    repo: str = ""
    summary: str = ""


class PackageUpdates(BaseModel):
    model_config = ConfigDict(frozen=True)

    updates: tuple[PackageUpdate, ...] = ()
    messages: tuple[str, ...] = ()


def parse_list_updates(text: str) -> PackageUpdates:
    """``zypper -n -q --no-color --xmlout list-updates``. ``edition-old``/``arch-old`` are
    only written when they differ from the new ones (zypper's update.cc); editions may be
    ``E:V-R``.

    Raises:
        ParseError: malformed XML, or an update without name, edition or arch.
    """
    root, messages = parse_zypper_xml(text, "zypper.updates")
    updates: list[PackageUpdate] = []
    for node in root.iter("update"):
        if node.get("kind", "package") != "package":
            continue
        name, edition, arch = node.get("name"), node.get("edition"), node.get("arch")
        if not name or not edition or not arch:
            raise ParseError(
                "zypper.updates: expected name, edition and arch on <update>, got "
                f"{dict(node.attrib)}"
            )
        source = node.find("source")
        updates.append(
            PackageUpdate(
                name=name,
                arch=arch,
                edition=edition,
                edition_old=node.get("edition-old"),
                arch_old=node.get("arch-old"),
                repo=source.get("alias", "") if source is not None else "",
                summary=_text(node, "summary"),
            )
        )
    return PackageUpdates(updates=tuple(updates), messages=messages)


def _text(node: ET.Element, tag: str) -> str:
    child = node.find(tag)
    return (child.text or "").strip() if child is not None else ""


# ---------------------------------------------------------------------------------------------
# zypper.patches

PATCH_STATUSES = frozenset(
    {"needed", "applied", "not-needed", "unwanted", "optional", "retracted", "undetermined"}
)


class Patch(BaseModel):
    """One ``<update kind="patch">`` of ``list-patches``."""

    model_config = ConfigDict(frozen=True)

    name: str
    edition: str = ""
    arch: str = "noarch"
    status: str
    category: str = ""
    severity: str = ""
    pkgmanager: bool = False  # an update-stack patch (zypper/libzypp itself)
    restart: bool = False  # reboot suggested
    interactive: bool = False
    summary: str = ""
    repo: str = ""
    issue_date: datetime | None = None  # absent on older zypper (SLE 12)
    cves: tuple[str, ...] = ()
    bugzilla_ids: tuple[str, ...] = ()
    blocked: bool = False  # in <blocked-update-list>: waits for update-stack patches


class PatchList(BaseModel):
    model_config = ConfigDict(frozen=True)

    patches: tuple[Patch, ...] = ()
    messages: tuple[str, ...] = ()


def parse_list_patches(text: str) -> PatchList:
    """``zypper -n -q --no-color --xmlout list-patches``: patches in ``<update-list>`` and,
    when update-stack patches must go first, the rest in ``<blocked-update-list>``.

    Raises:
        ParseError: malformed XML, a patch without a name, an unknown status or a bad
            ``issue-date@time_t``.
    """
    root, messages = parse_zypper_xml(text, "zypper.patches")
    patches: list[Patch] = []
    for list_tag, blocked in (("update-list", False), ("blocked-update-list", True)):
        for container in root.iter(list_tag):
            for node in container.findall("update"):
                if node.get("kind") != "patch":
                    continue
                patches.append(_patch(node, blocked))
    return PatchList(patches=tuple(patches), messages=messages)


def _patch(node: ET.Element, blocked: bool) -> Patch:
    name = node.get("name")
    status = node.get("status", "")
    if not name:
        raise ParseError(f"zypper.patches: expected a name on a patch, got {dict(node.attrib)}")
    if status not in PATCH_STATUSES:
        raise ParseError(
            f"zypper.patches: expected a status in {sorted(PATCH_STATUSES)} for patch {name}, "
            f"got {status!r}"
        )
    issued: datetime | None = None
    date_node = node.find("issue-date")
    if date_node is not None:
        stamp = date_node.get("time_t", "")
        if not stamp.isdigit():
            raise ParseError(
                f"zypper.patches: expected issue-date@time_t epoch seconds for {name}, "
                f"got {stamp!r}"
            )
        issued = datetime.fromtimestamp(int(stamp), tz=UTC) if int(stamp) else None
    cves: list[str] = []
    bugs: list[str] = []
    for issue in node.iter("issue"):
        kind, ident = issue.get("type", ""), issue.get("id", "")
        if not ident:
            continue
        if kind == "cve":
            cves.append(ident)
        elif kind == "bugzilla":
            bugs.append(ident)
    source = node.find("source")
    return Patch(
        name=name,
        edition=node.get("edition", ""),
        arch=node.get("arch", "noarch"),
        status=status,
        category=node.get("category", ""),
        severity=node.get("severity", ""),
        pkgmanager=_bool(node.get("pkgmanager")),
        restart=_bool(node.get("restart")),
        interactive=_bool(node.get("interactive")),
        summary=_text(node, "summary"),
        repo=source.get("alias", "") if source is not None else "",
        issue_date=issued,
        cves=tuple(dict.fromkeys(cves)),
        bugzilla_ids=tuple(dict.fromkeys(bugs)),
        blocked=blocked,
    )


# ---------------------------------------------------------------------------------------------
# zypper.patch_info

_INFO_HEAD = re.compile(r"^Information for patch (?P<name>.+):$")
_INFO_KEY = re.compile(r"^(?P<key>[A-Z][A-Za-z ]*?)\s*:(?: (?P<value>.*))?$")
_CONFLICT = re.compile(r"^\s*(?P<name>\S+) < (?P<edition>\S+)$")
_ARCHES = frozenset(
    {
        "noarch",
        "x86_64",
        "i586",
        "i686",
        "aarch64",
        "ppc64le",
        "ppc64",
        "s390x",
        "armv7hl",
        "armv6hl",
        "riscv64",
        "nosrc",
        "src",
    }
)


class PatchPackage(BaseModel):
    """One ``name.arch < edition`` line of a patch's Conflicts: the package it updates."""

    model_config = ConfigDict(frozen=True)

    name: str
    arch: str
    edition: str

    def __str__(self) -> str:
        """``name-version-release.arch``: the rpm file name without ``.rpm`` (no epoch, as
        SSM's SUSE package lists spell it)."""
        edition = self.edition.split(":", 1)[1] if ":" in self.edition else self.edition
        return f"{self.name}-{edition}.{self.arch}"


class PatchInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    status: str = ""
    created: datetime | None = None
    packages: tuple[PatchPackage, ...] = ()


def _add_conflict(text: str, packages: list[PatchPackage]) -> None:
    """``name[.arch] < edition`` (no arch: any arch, zypper's spelling for noarch packages);
    ``srcpackage:`` entries and other relations are skipped."""
    match = _CONFLICT.match(text)
    if match is None or match["name"].startswith("srcpackage:"):
        return
    name, _, arch = match["name"].rpartition(".")
    if not name or arch not in _ARCHES:
        name, arch = match["name"], "noarch"
    packages.append(PatchPackage(name=name, arch=arch, edition=match["edition"]))


def _ctime(value: str, where: str) -> datetime | None:
    value = " ".join(value.split())
    if not value:
        return None
    try:
        return datetime.strptime(value, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        raise ParseError(
            f"{where}: expected a date like 'Mon Nov  2 00:00:00 2026', got {value!r}"
        ) from None


def parse_patch_info(text: str) -> dict[str, PatchInfo]:
    """``zypper -q info -t patch NAME...``: blocks ``Information for patch NAME:`` with
    ``Key : value`` lines; read ``Created On`` (local time: the scan sets TZ=UTC) and the
    ``Conflicts : [N]`` list of ``name.arch < edition`` lines (``srcpackage:`` entries
    skipped). An empty body means there was no patch to ask about.

    Raises:
        ParseError: a Conflicts count that disagrees with its lines, or a bad date.
    """
    lines, _ = split_stderr(text)
    infos: dict[str, PatchInfo] = {}
    name: str | None = None
    status = ""
    created: datetime | None = None
    packages: list[PatchPackage] = []
    in_conflicts = False
    expected = 0
    seen = 0

    def close() -> None:
        if name is None:
            return
        if in_conflicts and seen != expected:
            raise ParseError(
                f"zypper.patch_info: patch {name} says Conflicts : [{expected}], got {seen} lines"
            )
        infos[name] = PatchInfo(name=name, status=status, created=created, packages=tuple(packages))

    for lineno, line in enumerate(lines, start=1):
        head = _INFO_HEAD.match(line.strip())
        if head is not None:
            close()
            name, status, created, packages, in_conflicts, expected, seen = (
                head["name"],
                "",
                None,
                [],
                False,
                0,
                0,
            )
            continue
        if name is None:
            continue
        if in_conflicts and line.startswith((" ", "\t")) and line.strip():
            seen += 1
            _add_conflict(line, packages)
            continue
        key = _INFO_KEY.match(line)
        if key is None:
            continue
        label, value = key["key"].strip(), (key["value"] or "").strip()
        if in_conflicts:
            close_check = seen == expected
            if not close_check:
                raise ParseError(
                    f"zypper.patch_info line {lineno}: patch {name} says Conflicts : "
                    f"[{expected}], got {seen} lines"
                )
            in_conflicts = False
        if label == "Status":
            status = value
        elif label == "Created On":
            created = _ctime(value, f"zypper.patch_info line {lineno}")
        elif label == "Conflicts":
            count = re.fullmatch(r"\[(\d+)\]", value)
            if count is not None:
                in_conflicts, expected, seen = True, int(count[1]), 0
            elif value:  # one conflict is printed on the key's line
                _add_conflict(value, packages)
    close()
    return infos


# ---------------------------------------------------------------------------------------------
# zypper.applied


class AppliedPatch(BaseModel):
    """An applied patch and the installed packages it covers (``zypper.applied``)."""

    model_config = ConfigDict(frozen=True)

    name: str
    category: str = ""
    severity: str = ""
    created: datetime | None = None
    packages: tuple[PatchPackage, ...] = ()


def parse_applied_patches(text: str) -> list[AppliedPatch]:
    """Lines ``patch<TAB>name<TAB>category<TAB>severity<TAB>Created On`` each followed by its
    ``package<TAB>name[.arch]<TAB>edition`` lines (the scan's awk filter of ``zypper info -t
    patch '*'``: applied patches only, Conflicts of installed names only); ``stderr:`` lines
    are zypper's messages. One pass, no regular expression per line.

    Raises:
        ParseError: another line, a package line before any patch, or a bad date.
    """
    lines, _ = split_stderr(text)
    out: list[AppliedPatch] = []
    head: list[str] | None = None
    packages: list[PatchPackage] = []

    def close(lineno: int) -> None:
        if head is None:
            return
        created = _ctime(head[4], f"zypper.applied line {lineno}") if head[4] else None
        out.append(
            AppliedPatch(
                name=head[1],
                category=head[2],
                severity=head[3],
                created=created,
                packages=tuple(packages),
            )
        )

    for lineno, line in enumerate(lines, start=1):
        if not line:
            continue
        fields = line.split("\t")
        if fields[0] == "package" and len(fields) == 3 and head is not None:
            before = len(packages)
            _add_conflict(f"{fields[1]} < {fields[2]}", packages)
            if len(packages) == before:
                raise ParseError(
                    f"zypper.applied line {lineno}: expected 'package<TAB>name[.arch]<TAB>"
                    f"edition', got {line!r}"
                )
            continue
        if fields[0] == "patch" and len(fields) == 5 and fields[1]:
            close(lineno)
            head, packages = fields, []
            continue
        raise ParseError(
            f"zypper.applied line {lineno}: expected 'patch<TAB>name<TAB>category<TAB>severity"
            f"<TAB>date' or a 'package' line after one, got {line!r}"
        )
    close(len(lines))
    return out


# ---------------------------------------------------------------------------------------------
# zypper.needs_rebooting


def parse_needs_rebooting(text: str, rc: int) -> bool:
    """``zypper needs-rebooting``: rc 102 = reboot needed, rc 0 = not.

    Raises:
        ParseError: any other exit code.
    """
    if rc == 102:
        return True
    if rc == 0:
        return False
    lines, _ = split_stderr(text)
    raise ParseError(
        f"zypper.needs_rebooting: expected rc 0 or 102, got {rc}: "
        f"{' | '.join(line for line in lines if line.strip()) or '(no output)'}"
    )
