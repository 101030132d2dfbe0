"""What an rpm install script's verification says: per-package verdicts (shared by dnf/yum
and zypper). Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import InputError, ParseError
from fleetpatch.platforms.rpm.parsers import compare_evr, evr_string, split_evr
from fleetpatch.results import PlannedPackage

VERIFY_QF = r"%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"
"""``rpm -q --qf`` of the verify section; absent names print ``package X is not installed``."""


class PackageTarget(BaseModel):
    """A package the install should leave at ``version`` (``[E:]V-R``) or newer."""

    model_config = ConfigDict(frozen=True)

    name: str
    arch: str
    version: str

    @property
    def nevra(self) -> str:
        """``name-E:V-R.arch``: the exact spelling dnf accepts (epoch always given)."""
        epoch, version, release = split_evr(self.version)
        return f"{self.name}-{epoch}:{version}-{release}.{self.arch}"


class PackageVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    arch: str
    wanted: str
    installed_versions: tuple[str, ...] = ()
    status: Literal["installed", "failed"]
    message: str = ""


def parse_verify(text: str, section: str) -> dict[tuple[str, str], list[str]]:
    """``rpm -q --qf VERIFY_QF NAMES`` -> installed versions per (name, arch).

    Raises:
        ParseError: a line that is neither a 5-field row nor ``package X is not installed``.
    """
    found: dict[tuple[str, str], list[str]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("stderr: "):
            continue
        if line.startswith("package ") and line.endswith(" is not installed"):
            continue
        fields = line.split("\t")
        if len(fields) != 5 or not fields[1].isdigit():
            raise ParseError(
                f"{section} line {lineno}: expected name, epoch, version, release, arch "
                f"separated by tabs, got {line!r}"
            )
        name, epoch, version, release, arch = fields
        found.setdefault((name, arch), []).append(evr_string(epoch, version, release))
    return found


def verdicts(
    targets: tuple[PackageTarget, ...] | list[PackageTarget],
    installed: dict[tuple[str, str], list[str]],
    failure_message: str,
) -> tuple[PackageVerdict, ...]:
    """installed: some installed version of name.arch is >= the target; else failed with the
    package manager's message (or "not installed after the transaction")."""
    out: list[PackageVerdict] = []
    for t in targets:
        versions = tuple(installed.get((t.name, t.arch), ()))
        ok = any(compare_evr(v, t.version) >= 0 for v in versions)
        out.append(
            PackageVerdict(
                name=t.name,
                arch=t.arch,
                wanted=t.version,
                installed_versions=versions,
                status="installed" if ok else "failed",
                message=""
                if ok
                else (
                    failure_message
                    or f"{t.name}.{t.arch} is at {', '.join(versions) or 'nothing'} after the "
                    f"transaction, wanted {t.version}"
                ),
            )
        )
    return tuple(out)


def unique_targets(
    packages: Sequence[PlannedPackage],
    convert: Callable[[PlannedPackage], PackageTarget],
    *,
    empty: str,
) -> list[PackageTarget]:
    """``packages`` converted (and validated) by ``convert``, duplicates dropped.

    Raises:
        InputError: not a sequence, nothing left (``empty`` says so), or one name.arch asked
            for at two versions.
    """
    if isinstance(packages, str | bytes):
        raise InputError("packages must be a sequence of PlannedPackage, got a string")
    targets = list(dict.fromkeys(convert(p) for p in packages))
    if not targets:
        raise InputError(empty)
    seen: set[tuple[str, str]] = set()
    for t in targets:
        if (t.name, t.arch) in seen:
            raise InputError(f"{t.name}.{t.arch} is requested at two versions")
        seen.add((t.name, t.arch))
    return targets
