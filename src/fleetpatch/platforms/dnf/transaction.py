"""dnf's / yum's transaction table, as printed before a transaction runs (pure parser).

The same table comes from ``TOOL -C --assumeno upgrade NEVRA...`` (the package manager's own
simulation: it resolves, prints the table and answers "no", rc 1) and from the real
``TOOL -y upgrade NEVRA...`` before it downloads. Layout (dnf/cli/output.py
``list_transaction``, yum's ``listTransaction``)::

    ================================================================================
     Package              Architecture    Version                 Repository   Size
    ================================================================================
    Installing:
     kernel-core          x86_64          900.2.0-1.el9           fp          6.2 k
    Upgrading:
     fp-a-name-longer-than-its-column
                          x86_64          1.1-1.el9               fp          6.1 k
     fp-new               x86_64          2:1.1-1.el9             fp          6.1 k
         replacing  fp-old.x86_64 1.0-1.el9
    Installing dependencies:
     ...

    Transaction Summary
    ================================================================================
    Install  1 Package
    Upgrade  2 Packages

A row starts with one space; a value longer than its column is followed by a newline and the
row goes on under the next column (``fmtColumns``): continuation lines start with more spaces.
The size (``6.1 k``) may hold a space: it is kept as the rest of the row. Module and group
sections (``Enabling module streams:``...) have no package rows and are skipped. The rows are
cross-checked with the summary counts (``Install N``, ``Upgrade N``, ``Remove N``,
``Downgrade N``, ``Skip N``; yum's ``(+N Dependent packages)``): a disagreement is a
ParseError, never a silently short plan.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import ParseError

Action = Literal["install", "upgrade", "downgrade", "reinstall", "remove", "skip"]

# header (lower case, without the colon) -> (action, pulled in as a dependency)
_SECTIONS: dict[str, tuple[Action, bool]] = {
    "installing": ("install", False),
    "upgrading": ("upgrade", False),
    "updating": ("upgrade", False),  # yum
    "reinstalling": ("reinstall", False),
    "downgrading": ("downgrade", False),
    "installing dependencies": ("install", True),
    "installing weak dependencies": ("install", True),
    "installing for dependencies": ("install", True),  # yum
    "updating for dependencies": ("upgrade", True),  # yum
    "upgrading dependencies": ("upgrade", True),
    "installing group/module packages": ("install", False),
    "installing group packages": ("install", False),
    "removing": ("remove", False),
    "removing dependent packages": ("remove", True),
    "removing unused dependencies": ("remove", True),
    "removing for dependencies": ("remove", True),  # yum
}
_SKIP_PREFIXES = ("skipping packages with", "skipped")
# summary word -> the actions its count covers
_SUMMARY: dict[str, frozenset[Action]] = {
    "Install": frozenset({"install"}),
    "Upgrade": frozenset({"upgrade"}),
    "Remove": frozenset({"remove"}),
    "Downgrade": frozenset({"downgrade"}),
    "Skip": frozenset({"skip"}),
}
_RULE = re.compile(r"^=+$")
_HEADER = re.compile(r"^(?P<title>\S.*):$")
_REPLACING = re.compile(r"^\s+replacing\s+(?P<na>\S+)\s+(?P<evr>\S+)\s*$")
_SUMMARY_ROW = re.compile(
    r"^(?P<action>[A-Z][a-z]+)\s+(?:(?P<count>\d+) Packages?)?\s*"
    r"(?:\(\+?\s*(?P<dep>\d+) Dependent packages?\))?\s*$"
)


class TransactionRow(BaseModel):
    """One package row of the table."""

    model_config = ConfigDict(frozen=True)

    action: Action
    name: str
    arch: str
    version: str  # [E:]V-R as dnf prints it (epoch only when not 0)
    repo: str
    size: str = ""
    dependency_section: bool = False  # listed under a "... dependencies" header
    replacing: tuple[str, ...] = ()  # obsoleted packages, "name.arch evr"


class DnfTransaction(BaseModel):
    """The table (empty when dnf printed none: nothing to do, or it failed first)."""

    model_config = ConfigDict(frozen=True)

    rows: tuple[TransactionRow, ...] = ()
    summary: dict[str, int] = {}

    @property
    def changes(self) -> tuple[TransactionRow, ...]:
        """Rows that put a package version on the system (not removals, not skipped)."""
        return tuple(r for r in self.rows if r.action not in ("remove", "skip"))

    @property
    def removals(self) -> tuple[TransactionRow, ...]:
        return tuple(r for r in self.rows if r.action == "remove")

    @property
    def skipped(self) -> tuple[TransactionRow, ...]:
        return tuple(r for r in self.rows if r.action == "skip")


def _section(title: str) -> tuple[Action, bool] | Literal["other"] | None:
    """A package section's (action, dependency); None for a skip list; "other" for module
    and group sections (no package rows)."""
    key = title.strip().lower()
    if key in _SECTIONS:
        return _SECTIONS[key]
    if key.startswith(_SKIP_PREFIXES) or key.startswith("(add "):
        return None
    return "other"


def parse_dnf_transaction(text: str, where: str = "dnf transaction") -> DnfTransaction:
    """The transaction table in ``text`` (the output of a dnf/yum upgrade, simulated or real).

    Raises:
        ParseError: a package row without name, arch, version and repository; a table
            without its summary; or rows that disagree with the summary counts.
    """
    lines = text.splitlines()
    start = _table_start(lines)
    if start is None:
        return DnfTransaction()
    rows: list[TransactionRow] = []
    current: tuple[Action, bool] | Literal["other"] | None = "other"
    pending: list[str] = []  # the lines of the row being read
    pending_lineno = 0
    replacing: list[str] = []

    def close() -> None:
        nonlocal pending, replacing
        if not pending:
            return
        fields = " ".join(pending).split()
        if len(fields) < 4:
            raise ParseError(
                f"{where} line {pending_lineno}: expected 'name arch version repository "
                f"size', got {' '.join(pending)!r}"
            )
        action: Action
        dependency: bool
        if current is None:
            action, dependency = "skip", False
        elif current == "other":
            pending, replacing = [], []
            return
        else:
            action, dependency = current
        rows.append(
            TransactionRow(
                action=action,
                name=fields[0],
                arch=fields[1],
                version=fields[2],
                repo=fields[3],
                size=" ".join(fields[4:]),
                dependency_section=dependency,
                replacing=tuple(replacing),
            )
        )
        pending, replacing = [], []

    index = start
    summary_at: int | None = None
    while index < len(lines):
        line = lines[index].rstrip()
        lineno = index + 1
        index += 1
        if line.startswith("Transaction Summary"):
            close()
            summary_at = index
            break
        if not line.strip():
            close()
            continue
        header = _HEADER.match(line)
        if header is not None and not line.startswith(" "):
            close()
            current = _section(header["title"])
            continue
        if line.startswith("(add ") or (not line.startswith(" ") and current is None):
            continue  # the second line of dnf's "Skipping packages with conflicts" header
        if current == "other":
            continue
        replaced = _REPLACING.match(line)
        if replaced is not None and pending:
            replacing.append(f"{replaced['na']} {replaced['evr']}")
            continue
        if line.startswith("  "):  # a value overflowed its column: the row goes on
            if not pending:
                raise ParseError(
                    f"{where} line {lineno}: expected a package row, got a continuation {line!r}"
                )
            pending.append(line.strip())
            continue
        if not line.startswith(" "):
            raise ParseError(
                f"{where} line {lineno}: expected a section header 'Name:' or a package row, "
                f"got {line!r}"
            )
        close()
        pending, pending_lineno = [line.strip()], lineno
    close()
    if summary_at is None:
        raise ParseError(f"{where}: expected 'Transaction Summary' after the table, got none")
    summary = _summary(lines[summary_at:], where)
    _cross_check(rows, summary, where)
    return DnfTransaction(rows=tuple(rows), summary=summary)


def _table_start(lines: list[str]) -> int | None:
    """Index of the first line after the ``=== / Package ... / ===`` heading, or None. The
    heading itself may wrap (a wide name column pushes ``Size`` onto a second line)."""
    for i in range(len(lines) - 2):
        if not _RULE.match(lines[i].strip()) or lines[i + 1].split()[:1] not in (
            ["Package"],
            ["Pkg"],
        ):
            continue
        for j in range(i + 2, min(i + 5, len(lines))):
            if _RULE.match(lines[j].strip()):
                return j + 1
    return None


def _summary(lines: list[str], where: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        text = line.strip()
        if _RULE.match(text):
            continue
        if not text:
            if counts:
                break
            continue
        match = _SUMMARY_ROW.match(text)
        if match is None or match["action"] not in _SUMMARY:
            break  # "Total size: ...", "Is this ok", "Operation aborted."
        counts[match["action"]] = int(match["count"] or 0) + int(match["dep"] or 0)
    return counts


def _cross_check(rows: list[TransactionRow], summary: dict[str, int], where: str) -> None:
    seen = Counter(r.action for r in rows)
    for word, actions in _SUMMARY.items():
        listed = sum(seen[a] for a in actions)
        said = summary.get(word, 0)
        if listed != said and not (word == "Skip" and word not in summary):
            raise ParseError(
                f"{where}: the table lists {listed} package(s) to {word.lower()}, the "
                f"transaction summary says {said}"
            )


__all__ = ["DnfTransaction", "TransactionRow", "parse_dnf_transaction"]
