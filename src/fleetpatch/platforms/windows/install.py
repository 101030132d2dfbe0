"""Installing updates on Windows: the job script for exactly the approved update ids, the
dry-run plan, and the verdicts read from the job's journal.

The engine's install flow runs :meth:`WindowsInstaller.render`'s script as a detached job
(:mod:`.jobs`: a SYSTEM scheduled task) and parses the journal with
:meth:`WindowsInstaller.parse`. An approved patch is a KB (SSM's Windows unit); what the agent
installs are update ids: :func:`install_targets` finds the ids of each approved KB in the
host's scan, so the job installs exactly those and nothing the scan did not see.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from fleetpatch.errors import InputError, ParseError
from fleetpatch.facts import HostFacts
from fleetpatch.platforms.installers import InstallOutcome
from fleetpatch.platforms.render import render
from fleetpatch.platforms.windows.markers import marker_params
from fleetpatch.platforms.windows.parsers import RESULT_CODES, SUCCEEDED
from fleetpatch.platforms.windows.records import Records, parse_records
from fleetpatch.results import PlannedPackage

WU_E_OPERATIONINPROGRESS = "0x80240009"
_UPDATE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@cache
def hresult_names() -> dict[str, str]:
    text = resources.files("fleetpatch.platforms.windows").joinpath("data/hresults.yaml")
    raw: dict[str, str] = yaml.safe_load(text.read_text())
    return {f"0x{int(str(key), 16):08X}": str(value) for key, value in raw.items()}


def describe_hresult(hresult: str) -> str:
    """``0x80240009`` -> ``0x80240009 WU_E_OPERATIONINPROGRESS (...)``."""
    try:
        key = f"0x{int(hresult, 16):08X}"
    except ValueError:
        return hresult
    name = hresult_names().get(key)
    return f"{key} {name}" if name else key


@dataclass(frozen=True)
class UpdateTarget:
    """One update the job installs: its id, the KB it is approved as, its title."""

    update_id: str
    kb: str
    title: str
    revision: str
    reboot_expected: bool


def install_targets(facts: HostFacts, packages: Sequence[PlannedPackage]) -> list[UpdateTarget]:
    """The update ids of the approved KBs, from the host's scan (every update of a KB).

    Raises:
        InputError: an approved KB the scan did not offer, or an update id that is not a
            GUID (the scan's output was tampered with).
    """
    by_name: dict[str, list[UpdateTarget]] = {}
    for update in facts.updates:
        if update.kind != "update" or not update.update_id:
            continue
        update_id = update.update_id.lower()
        if not _UPDATE_ID.fullmatch(update_id):
            raise InputError(f"{update.name}: {update.update_id!r} is not an update id (a GUID)")
        by_name.setdefault(update.name.upper(), []).append(
            UpdateTarget(
                update_id,
                update.name,
                update.title,
                update.candidate_version,
                update.reboot_suggested,
            )
        )
    targets: list[UpdateTarget] = []
    for package in packages:
        found = by_name.get(package.name.upper())
        if not found:
            raise InputError(f"{package.name} is not among the updates the host's scan offered")
        targets += [t for t in found if t not in targets]
    return targets


def plan_install(facts: HostFacts, packages: Sequence[PlannedPackage]) -> InstallOutcome:
    """The dry run: what the install would ask for, and whether a reboot is expected (an
    update that may need one, or one pending already). Nothing is sent to the host.

    Raises:
        InputError: as :func:`install_targets`.
    """
    targets = install_targets(facts, packages)
    reasons = {p.name.upper(): p.reason for p in packages}
    planned = tuple(
        PlannedPackage(
            name=t.kb,
            version=t.revision,
            reason=f"{reasons.get(t.kb.upper(), '')}; update {t.update_id}: {t.title}".lstrip("; "),
        )
        for t in targets
    )
    expected = facts.reboot_required or any(t.reboot_expected for t in targets)
    return InstallOutcome(planned=planned, reboot_required=expected)


def install_script(targets: Sequence[UpdateTarget]) -> str:
    """The job script installing exactly ``targets``' update ids.

    Raises:
        InputError: no targets, or an id that is not a GUID.
    """
    ids = [t.update_id.lower() for t in targets]
    if not ids:
        raise InputError("nothing to install")
    for update_id in ids:
        if not _UPDATE_ID.fullmatch(update_id):
            raise InputError(f"{update_id!r} is not an update id (a GUID)")
    return render("windows/templates/install.ps1.j2", **marker_params("install", ids=ids))


class WindowsInstaller:
    """The install side of the Windows family for one host (its scan names the update ids)."""

    def __init__(self, facts: HostFacts) -> None:
        self.facts = facts

    def render(self, packages: Sequence[PlannedPackage], *, dry_run: bool) -> str:
        """The install job's script (a dry run renders nothing: :func:`plan_install`).

        Raises:
            InputError: as :func:`install_targets`; or ``dry_run``.
        """
        if dry_run:
            raise InputError("a Windows dry run runs nothing on the host: use plan_install")
        return install_script(install_targets(self.facts, packages))

    def parse(
        self, stdout: str, packages: Sequence[PlannedPackage], *, dry_run: bool
    ) -> InstallOutcome:
        """Verdicts from the job's journal.

        Raises:
            ParseError: the journal is not the job's, or it ended without its exit record.
        """
        if dry_run:
            return plan_install(self.facts, packages)
        return parse_install_journal(stdout, install_targets(self.facts, packages))


def parse_install_journal(text: str, targets: Sequence[UpdateTarget]) -> InstallOutcome:
    """Per-KB verdicts: installed (result code 2 or 3), failed (with its HRESULT and name),
    not run (the job stopped first: failed with the job's error), no longer offered (a note:
    installed or superseded since the scan; the rescan decides).

    Raises:
        ParseError: a malformed record, or no exit record (the job's output was cut).
    """
    records = parse_records(text)
    by_id = {t.update_id.lower(): t for t in targets}
    installed: list[str] = []
    failed: dict[str, str] = {}
    reboot = False
    for result in records.of("result"):
        target = by_id.get(str(result["id"]).lower())
        if target is None:
            raise ParseError(f"line {result.line}: a result for {result['id']}, never requested")
        code = result["result_code"]
        if code in SUCCEEDED:
            installed.append(target.kb)
            reboot = reboot or bool(result["reboot_required"])
        else:
            failed[target.kb] = (
                f"Windows Update {RESULT_CODES.get(code, code)} (result code {code}), HRESULT "
                f"{describe_hresult(str(result['hresult']))}: {target.title}"
            )
    notes: list[str] = []
    missing = _missing(records)
    for update_id in missing:
        target = by_id.get(update_id)
        if target is not None:
            notes.append(
                f"{target.kb} is no longer offered (installed or superseded since the scan)"
            )
    done = set(installed) | set(failed) | {by_id[m].kb for m in missing if m in by_id}
    error = ""
    if not records.exit.ok:
        error = (
            f"the install stopped at step {records.exit.step!r}: "
            f"{describe_hresult(records.exit.hresult)}: {records.exit.error}"
        )
        for target in targets:
            if target.kb not in done:
                failed.setdefault(target.kb, f"not installed: {error}")
    for reboot_record in records.of("reboot"):
        reboot = reboot or any(bool(reboot_record[key]) for key in ("cbs", "wu", "system_info"))
    return InstallOutcome(
        installed=tuple(dict.fromkeys(installed)),
        failed=failed,
        reboot_required=reboot,
        error=error,
        notes=tuple(notes),
    )


def _missing(records: Records) -> list[str]:
    selected = list(records.of("selected"))
    if not selected:
        return []
    missing = selected[0]["missing"] or []
    return [str(m).lower() for m in (missing if isinstance(missing, list) else [missing])]


def locked_reason(text: str) -> str | None:
    """Why the job gave up because another Windows Update operation held the agent
    (WU_E_OPERATIONINPROGRESS), or None. Pure; never raises."""
    try:
        records = parse_records(text, require_exit=False)
    except ParseError:
        return None
    if records.exit.hresult.upper() == WU_E_OPERATIONINPROGRESS.upper():
        return (
            "another Windows Update operation is in progress on the host "
            f"({describe_hresult(WU_E_OPERATIONINPROGRESS)})"
        )
    return None
