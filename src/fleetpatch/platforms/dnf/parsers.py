"""Pure parsers for the sections of the dnf/yum scan (``dnf/templates/scan.sh.j2``).

One function per section; each takes the section's text and returns typed values. Errors are
:class:`~fleetpatch.errors.ParseError` naming the line number, what was expected and what came.
Lines the script marked as the command's stderr (``stderr: ``) are returned as messages.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import ParseError
from fleetpatch.platforms.rpm.parsers import Nevra, evr_string, parse_nevra, split_stderr

# ---------------------------------------------------------------------------------------------
# dnf.upgrades (repoquery) and dnf.check_update (yum)


class CandidateRow(BaseModel):
    """The newest version a repository offers for an installed name.arch."""

    model_config = ConfigDict(frozen=True)

    name: str
    arch: str
    version: str  # [E:]V-R
    repo: str
    build_time: datetime | None = None


class Candidates(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: tuple[CandidateRow, ...] = ()
    obsoleting: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


def _build_time(value: str, where: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC) if int(value) else None
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ParseError(f"{where}: expected a build time (epoch or YYYY-MM-DD HH:MM), got {value!r}")


def parse_repoquery_upgrades(text: str) -> Candidates:
    """Rows of ``dnf -q repoquery --upgrades --latest-limit=1 --qf '%{name}\\t%{epoch}\\t
    %{version}\\t%{release}\\t%{arch}\\t%{repoid}\\t%{buildtime}\\n'``.

    dnf 4 adds its own newline after the format (blank lines), dnf 5 does not: blank lines are
    skipped. ``%{buildtime}`` is UTC ``YYYY-MM-DD HH:MM`` in dnf 4, epoch seconds elsewhere.

    Raises:
        ParseError: a row without 7 fields or with a bad epoch / build time.
    """
    lines, messages = split_stderr(text)
    rows: list[CandidateRow] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 7 or not all(fields[:5]) or not fields[1].isdigit():
            raise ParseError(
                f"dnf.upgrades line {lineno}: expected name, epoch, version, release, arch, "
                f"repoid, buildtime separated by tabs, got {line!r}"
            )
        name, epoch, version, release, arch, repo, built = fields
        rows.append(
            CandidateRow(
                name=name,
                arch=arch,
                version=evr_string(epoch, version, release),
                repo=repo,
                build_time=_build_time(built, f"dnf.upgrades line {lineno}"),
            )
        )
    return Candidates(rows=tuple(rows), messages=tuple(messages))


_CHECK_UPDATE_ROW = re.compile(r"^(?P<na>\S+)\s+(?P<evr>\S+)\s+(?P<repo>\S+)\s*$")
_NAME_ARCH = re.compile(r"^(?P<name>.+)\.(?P<arch>[^.]+)$")
_CHECK_UPDATE_NOISE = (
    "Last metadata expiration check",
    "Loaded plugins:",
    "Loading mirror speeds",
    "Security:",
    " * ",
)


def parse_check_update(text: str) -> Candidates:
    """``yum|dnf -q check-update`` rows ``name.arch  [epoch:]version-release  repo``.

    A value longer than its column wraps: the row continues on the next line(s), which the
    parser joins before matching. Rows after ``Obsoleting Packages`` are obsoletes (names
    kept, not candidates). Plugin chatter (``Loaded plugins:``, ``Security: ...``) is ignored.

    Raises:
        ParseError: a row that does not split into name.arch, version and repository.
    """
    lines, messages = split_stderr(text)
    rows: list[CandidateRow] = []
    obsoleting: list[str] = []
    pending = ""
    in_obsoletes = False
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if not line.strip() or line.startswith(_CHECK_UPDATE_NOISE):
            continue
        if line.startswith("Obsoleting Packages"):
            in_obsoletes = True
            pending = ""
            continue
        if in_obsoletes:
            if not line.startswith(" "):
                obsoleting.append(line.split()[0])
            continue
        pending = f"{pending} {line.strip()}" if pending else line.strip()
        if len(pending.split()) < 3:
            continue  # wrapped: the row goes on on the next line
        match = _CHECK_UPDATE_ROW.match(pending)
        na = _NAME_ARCH.match(match["na"]) if match else None
        if match is None or na is None:
            raise ParseError(
                f"dnf.check_update line {lineno}: expected 'name.arch [epoch:]version-release "
                f"repo', got {pending!r}"
            )
        rows.append(
            CandidateRow(name=na["name"], arch=na["arch"], version=match["evr"], repo=match["repo"])
        )
        pending = ""
    if pending:
        raise ParseError(f"dnf.check_update: the last row is cut short: {pending!r}")
    return Candidates(rows=tuple(rows), obsoleting=tuple(obsoleting), messages=tuple(messages))


# ---------------------------------------------------------------------------------------------
# dnf.updateinfo_list

_LIST_ROW = re.compile(
    r"^(?:[i ] )?(?P<id>\S+)\s+(?P<label>\S+)\s+(?P<nevra>\S+)"
    r"(?:\s+(?P<date>\d{4}-\d\d-\d\d(?: \d\d:\d\d(?::\d\d)?)?))?\s*$"
)
# a yum row (no date): ID, a label yum prints (Severity/Sec. or a type), an arch-suffixed NEVRA
_YUM_ROW = re.compile(
    r"^(?:[i ] )?\S+\s+(?:[A-Za-z]+/Sec\.|bugfix|enhancement|newpackage|unknown|security)\s+"
    r"\S+-[^-\s]+-[^-\s]+\.[A-Za-z0-9_]+\s*$"
)
_SEC_LABEL = re.compile(r"^(?P<severity>[A-Za-z]+)/Sec\.$")
TYPES = {
    "security": "security",
    "bugfix": "bugfix",
    "enhancement": "enhancement",
    "newpackage": "newpackage",
    "recommended": "recommended",
    "unknown": "unknown",
}
SEVERITIES = {
    "critical": "Critical",
    "important": "Important",
    "moderate": "Moderate",
    "medium": "Medium",
    "low": "Low",
    "none": "None",
}


def normalise_severity(value: str) -> str | None:
    """Vendor severity in SSM spelling (``important`` -> ``Important``; Amazon's ``Medium``
    stays ``Medium``); "" and "Unknown" -> None; other words are kept as given."""
    value = value.strip()
    if not value or value.lower() in ("unknown", "unspecified"):
        return None
    return SEVERITIES.get(value.lower(), value)


class AdvisoryRow(BaseModel):
    """One row of ``updateinfo list``: an advisory and one package version it ships."""

    model_config = ConfigDict(frozen=True)

    advisory_id: str
    type: str  # security, bugfix, enhancement, newpackage, recommended, unknown
    severity: str | None  # from the label (security only); ``updateinfo info`` is better
    package: Nevra
    date: datetime | None = None  # dnf -v: the advisory's date (max of issued, updated)


class AdvisoryList(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: tuple[AdvisoryRow, ...] = ()
    messages: tuple[str, ...] = ()


def parse_updateinfo_list(text: str, *, verbose: bool = False) -> AdvisoryList:
    """``dnf updateinfo list --updates`` / ``yum updateinfo list updates`` rows
    ``ID LABEL NEVRA [DATE]``.

    ``verbose``: the output of ``dnf -v`` (``updateinfo list --installed -v``, whose rows end
    with the advisory's date): dnf writes its debug chatter (``DNF version: 4.14.0``,
    ``cachedir: ...``, the plugin list) to stdout then, so a row is a line with the date and
    every other line is chatter. yum prints no date: its rows are read as without ``-v``.

    LABEL is ``Severity/Sec.`` (any case: AL2's yum prints ``important/Sec.``; dnf 4 prints
    ``Unknown/Sec.`` for a severity it has no label for, e.g. Amazon's ``Medium``) or the
    type (``bugfix``, ``enhancement``, ``newpackage``, ``unknown``...). yum's trailing
    ``updateinfo list done`` and plugin chatter are ignored.

    Raises:
        ParseError: a row that is not ID, label and NEVRA.
    """
    lines, messages = split_stderr(text)
    rows: list[AdvisoryRow] = []
    for lineno, line in enumerate(lines, start=1):
        if (
            not line.strip()
            or line.startswith(("Loaded plugins:", "Last metadata expiration check"))
            or line.strip() == "updateinfo list done"
        ):
            continue
        match = _LIST_ROW.match(line)
        if verbose and (match is None or match["date"] is None) and not _YUM_ROW.match(line):
            continue
        if match is None:
            raise ParseError(
                f"dnf.updateinfo_list line {lineno}: expected 'ADVISORY LABEL NEVRA', got {line!r}"
            )
        label = match["label"]
        sec = _SEC_LABEL.match(label)
        if sec is not None:
            kind, severity = "security", normalise_severity(sec["severity"])
        else:
            kind, severity = TYPES.get(label.lower(), label.lower()), None
        rows.append(
            AdvisoryRow(
                advisory_id=match["id"],
                type=kind,
                severity=severity,
                package=parse_nevra(match["nevra"], f"dnf.updateinfo_list line {lineno}"),
                date=_info_date(match["date"] or "", f"dnf.updateinfo_list line {lineno}"),
            )
        )
    return AdvisoryList(rows=tuple(rows), messages=tuple(messages))


# ---------------------------------------------------------------------------------------------
# dnf.updateinfo_info

_RULE = re.compile(r"^={20,}$")
_KEY = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z ]*?)\s*:(?: (?P<value>.*))?$")
_CONTINUATION = re.compile(r"^\s+:(?: (?P<value>.*))?$")
_BUG = re.compile(r"^(?P<id>\S+)(?: - (?P<title>.*))?$")
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


class AdvisoryInfo(BaseModel):
    """One advisory as ``updateinfo info`` shows it.

    ``updated``: dnf shows one date, libsolv's max(issued, updated); yum shows ``Issued`` and
    ``Updated`` separately. Both are UTC (the scan runs with TZ=UTC).
    """

    model_config = ConfigDict(frozen=True)

    advisory_id: str
    title: str = ""
    type: str = ""
    severity: str | None = None
    issued: datetime | None = None
    updated: datetime | None = None
    cves: tuple[str, ...] = ()
    bugzilla_ids: tuple[str, ...] = ()
    reboot_suggested: bool = False


class AdvisoryInfos(BaseModel):
    model_config = ConfigDict(frozen=True)

    advisories: tuple[AdvisoryInfo, ...] = ()
    messages: tuple[str, ...] = ()

    def by_id(self) -> dict[str, AdvisoryInfo]:
        return {a.advisory_id: a for a in self.advisories}


def _info_date(value: str, where: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ParseError(f"{where}: expected a date YYYY-MM-DD[ HH:MM[:SS]], got {value!r}")


def parse_updateinfo_info(text: str) -> AdvisoryInfos:
    """``dnf updateinfo info --updates`` / ``yum updateinfo info updates``: blocks of a rule of
    ``=``, the title, a rule, then ``Key: value`` lines (keys right-aligned; yum writes
    ``Key : value``) whose continuation lines have an empty key (``      : more``).

    Read: Update ID, Type, Severity, Issued, Updated, CVEs, Bugs (``id - title``; yum lists
    several per line), Reboot (yum). Other keys (Description, Rights, Files, Release,
    Status...) are skipped.

    Raises:
        ParseError: a block without ``Update ID``, a key line outside a block, a bad date.
    """
    lines, messages = split_stderr(text)
    advisories: list[AdvisoryInfo] = []
    block: dict[str, list[str]] | None = None
    title = ""
    key = ""
    state = "outside"  # outside -> title -> rule2 -> body
    start = 0

    def close(lineno: int) -> None:
        if block is None:
            return
        advisories.append(_advisory(block, title, lineno))

    for lineno, line in enumerate(lines, start=1):
        if _RULE.match(line.strip()):
            if state == "title":
                continue  # a rule before the title's rule: tolerate
            if state == "rule2":
                state = "body"
                continue
            close(start)
            block, title, key, state, start = {}, "", "", "title", lineno
            continue
        if state == "title":
            title = line.strip()
            state = "rule2"
            continue
        if state == "outside":
            text = line.strip()
            if (
                text
                and not line.startswith(("Loaded plugins:", "Last metadata"))
                and text != "updateinfo info done"
            ):
                raise ParseError(
                    f"dnf.updateinfo_info line {lineno}: expected a '====' rule starting "
                    f"an advisory, got {line!r}"
                )
            continue
        if block is None or not line.strip():
            continue
        if line.strip() == "updateinfo info done":
            continue
        cont = _CONTINUATION.match(line)
        if cont is not None:
            if key:
                block.setdefault(key, []).append((cont["value"] or "").strip())
            continue
        match = _KEY.match(line)
        if match is None:
            if key:  # yum wraps long values without the ':' column
                block.setdefault(key, []).append(line.strip())
            continue
        key = match["key"].strip().lower()
        block.setdefault(key, []).append((match["value"] or "").strip())
    close(start)
    return AdvisoryInfos(advisories=tuple(advisories), messages=tuple(messages))


def _advisory(block: dict[str, list[str]], title: str, lineno: int) -> AdvisoryInfo:
    where = f"dnf.updateinfo_info block at line {lineno}"
    ids = block.get("update id") or []
    if not ids or not ids[0]:
        raise ParseError(f"{where}: expected an 'Update ID' line, got keys {sorted(block)}")
    cves: list[str] = []
    for value in block.get("cves", []):
        cves.extend(t for t in value.split() if t)
    bugs: list[str] = []
    for value in block.get("bugs", []):
        # dnf: "id - title" per line; yum: several "id" tokens, or "id - title"
        match = _BUG.match(value.strip())
        if match and match["title"] is not None:
            bugs.append(match["id"])
        else:
            bugs.extend(t for t in value.split() if t)
    first = {k: (v[0] if v else "") for k, v in block.items()}
    severity = normalise_severity(first.get("severity", ""))
    kind = first.get("type", "").lower()
    reboot = first.get("reboot", "").lower() in ("true", "yes", "1", "reboot required")
    return AdvisoryInfo(
        advisory_id=ids[0],
        title=title,
        type=TYPES.get(kind, kind),
        severity=severity,
        issued=_info_date(first.get("issued", ""), where),
        updated=_info_date(first.get("updated", ""), where),
        cves=tuple(dict.fromkeys(cves)),
        bugzilla_ids=tuple(dict.fromkeys(bugs)),
        reboot_suggested=reboot,
    )


# ---------------------------------------------------------------------------------------------
# dnf.needs_restarting


class NeedsRestarting(BaseModel):
    """``needs-restarting -r``: ``required`` None when the tool is not there."""

    model_config = ConfigDict(frozen=True)

    required: bool | None
    packages: tuple[str, ...] = ()
    message: str = ""


_UNAVAILABLE = ("No such command", "command not found", "not found", "Unknown command")


def parse_needs_restarting(text: str, rc: int) -> NeedsRestarting:
    """``needs-restarting -r`` (stdout and stderr merged) and its exit code.

    rc 0 with ``Reboot should not be necessary`` -> False; rc 1 with ``Reboot is required``
    -> True, ``  * name`` lines are the packages; rc 1 or 127 saying the command does not
    exist (no dnf-utils / yum-utils) -> None (unknown).

    Raises:
        ParseError: rc 1 without either message (a real dnf error), or another exit code.
    """
    lines, _ = split_stderr(text)
    body = "\n".join(lines)
    packages = tuple(line.strip()[2:].strip() for line in lines if line.strip().startswith("* "))
    if rc == 1 and "Reboot is required" in body:
        return NeedsRestarting(required=True, packages=packages, message=_last(lines))
    if rc == 0 and ("Reboot should not be necessary" in body or not body.strip()):
        return NeedsRestarting(required=False, message=_last(lines))
    if rc in (1, 2, 127) and any(marker in body for marker in _UNAVAILABLE):
        return NeedsRestarting(required=None, message=_last(lines))
    raise ParseError(
        f"dnf.needs_restarting: expected rc 0 'Reboot should not be necessary' or rc 1 'Reboot "
        f"is required', got rc {rc}: {_last(lines) or '(no output)'!r}"
    )


def _last(lines: list[str]) -> str:
    rest = [line.strip() for line in lines if line.strip()]
    return rest[-1] if rest else ""
