"""The Windows scan's records (``templates/scan.ps1.j2``) as host facts: a pure parser.

What becomes what (how the evaluation reads it: baseline/filters.py, baseline/evaluate.py):

* an **available update** (search ``IsInstalled=0 and Type='Software' and IsHidden=0``) is an
  :class:`AvailableUpdate` of kind ``update`` named by its first KB (the unit of SSM's Windows
  baselines; an update without a KB is named by its UpdateID), ``candidate_version`` its
  revision, ``update_id`` its UpdateID (what an install asks for), ``classification`` SSM's
  CLASSIFICATION mapped from the classification category's GUID (baseline/data/windows.yaml;
  the localised name only when the GUID is unknown, with a warning), ``severity`` the MSRC
  severity, ``packages`` the Windows Update product names (PRODUCT, PRODUCT_FAMILY and
  PATCH_SET derive from them), ``advisory_ids`` the security bulletin ids and the update's
  other KBs (an approved or rejected list may name any of them), ``cves``, ``release_date``
  LastDeploymentChangeTime, ``reboot_suggested`` when its reboot behaviour
  is not "never reboots", ``security`` when it is a Security Update;
* an **installed update** (search ``IsInstalled=1``, successful installs of the history,
  ``Get-HotFix``) is an :class:`InstalledPackage` named by its KB, with the latest install
  time any of them gives;
* the **OS** (build -> SSM PRODUCT: data/builds.yaml), the **last boot time** (the boot
  identity) and the **pending reboot** flags; a search that did not succeed fully makes the
  update list unknown (``metadata_missing``), never empty.

Raises :class:`fleetpatch.errors.ParseError` on output that is not the script's and
:class:`fleetpatch.errors.UnsupportedPlatform` on a Windows fleetpatch does not support.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml

from fleetpatch.baseline.filters import windows_tables
from fleetpatch.errors import ParseError, UnsupportedPlatform
from fleetpatch.facts import AvailableUpdate, HostFacts, InstalledPackage, OsInfo
from fleetpatch.platforms.windows.records import Record, Records, parse_records

SECURITY = "SecurityUpdates"
REBOOT_NEVER = 0
HISTORY_INSTALL = 1
SUCCEEDED = (2, 3)
"""OperationResultCode orcSucceeded and orcSucceededWithErrors"""
RESULT_CODES = {
    0: "not started",
    1: "in progress",
    2: "succeeded",
    3: "succeeded with errors",
    4: "failed",
    5: "aborted",
}
"""OperationResultCode (the Windows Update Agent API)"""
PRODUCT_TYPE_WORKSTATION = 1


@cache
def server_builds() -> dict[str, dict[str, str]]:
    text = resources.files("fleetpatch.platforms.windows").joinpath("data/builds.yaml")
    servers: dict[str, dict[str, str]] = yaml.safe_load(text.read_text())["servers"]
    return servers


def _when(value: Any, where: Record, key: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(
            f"line {where.line}: {where.type}.{key}: expected an ISO 8601 time, got {value!r}"
        ) from None


def _strings(record: Record, key: str) -> tuple[str, ...]:
    value = record[key]
    if value is None:
        return ()
    if isinstance(value, str):  # PowerShell 5.1 may write a one-element array as its element
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ParseError(
            f"line {record.line}: {record.type}.{key}: expected strings, got {value!r}"
        )
    return tuple(v for v in value if v)


def _objects(record: Record, key: str) -> list[dict[str, Any]]:
    value = record[key]
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ParseError(
            f"line {record.line}: {record.type}.{key}: expected objects, got {value!r}"
        )
    return value


def os_info(record: Record) -> OsInfo:
    """SSM's view of the OS from the ``os`` record.

    Raises:
        UnsupportedPlatform: a client Windows, or a build fleetpatch does not know.
    """
    build = str(record["build"])
    caption = str(record["caption"] or record["product_name"] or "Windows")
    if record["product_type"] == PRODUCT_TYPE_WORKSTATION:
        raise UnsupportedPlatform(
            f"{caption} (build {build}) is a client Windows; fleetpatch patches Windows "
            "Server 2012 R2 to 2025"
        )
    row = server_builds().get(build)
    if row is None:
        raise UnsupportedPlatform(
            f"{caption} (build {build}) is not a Windows Server release fleetpatch knows "
            f"(builds {', '.join(sorted(server_builds(), key=int))}: 2012 R2 to 2025)"
        )
    version = str(record["version"])
    ubr = record["ubr"]
    return OsInfo(
        family="windows",
        distro="windows",
        version_id=version,
        pretty_name=caption,
        codename=str(record["display_version"] or ""),
        product=row["product"],
        operating_system="WINDOWS",
        kernel=f"{version}.{ubr}" if isinstance(ubr, int) else version,
        arch=str(record["arch"] or ""),
    )


def update_name(record: Record) -> str:
    """The KB that names an update (its first), else its UpdateID."""
    kbs = _strings(record, "kb")
    return kbs[0] if kbs else str(record["id"])


def _classification(record: Record, warnings: list[str]) -> str | None:
    table = windows_tables().classifications
    for category in _objects(record, "classifications"):
        mapped = table.get(str(category.get("id", "")).upper())
        if mapped:
            return mapped
    for category in _objects(record, "classifications"):
        name = str(category.get("name") or "")
        if name:
            warnings.append(
                f"{update_name(record)}: classification {name!r} "
                f"({category.get('id')}) is not one SSM knows; no CLASSIFICATION rule "
                "matches it"
            )
            return name
    return None


def available_update(record: Record, warnings: list[str]) -> AvailableUpdate:
    classification = _classification(record, warnings)
    products = tuple(str(p.get("name")) for p in _objects(record, "products") if p.get("name"))
    msrc = str(record["msrc"] or "") or None
    return AvailableUpdate(
        name=update_name(record),
        candidate_version=str(record["rev"]),
        kind="update",
        security=classification == SECURITY,
        classification=classification,
        severity=msrc,
        advisory_ids=(*_strings(record, "bulletins"), *_strings(record, "kb")[1:]),
        cves=_strings(record, "cves"),
        release_date=_when(record["released"], record, "released"),
        reboot_suggested=record["reboot"] != REBOOT_NEVER,
        packages=products,
        title=str(record["title"] or ""),
        update_id=str(record["id"]),
    )


def _installed(records: Records) -> tuple[InstalledPackage, ...]:
    """Installed KBs from the installed search, the history's successful installs and
    Get-HotFix, each with the latest install time known."""
    seen: dict[str, datetime | None] = {}

    def note(kb: str, when: datetime | None) -> None:
        kb = kb.upper()
        if not kb.startswith("KB"):
            return
        have = seen.get(kb)
        if kb not in seen or (when is not None and (have is None or when > have)):
            seen[kb] = when

    for record in records.of("installed"):
        for kb in _strings(record, "kb"):
            note(kb, None)
    for record in records.of("history"):
        if record["operation"] == HISTORY_INSTALL and record["result_code"] in SUCCEEDED:
            for kb in _kbs_in(str(record["title"])):
                note(kb, _when(record["date"], record, "date"))
    for record in records.of("hotfix"):
        note(str(record["id"]), _when(record["installed_on"], record, "installed_on"))
    return tuple(
        InstalledPackage(name=kb, arch="", version="", install_time=when)
        for kb, when in sorted(seen.items())
    )


def _kbs_in(title: str) -> list[str]:
    """``... (KB5036896)`` -> ``["KB5036896"]`` (the history names updates by title only)."""
    found = []
    for part in title.replace("(", " ").replace(")", " ").split():
        if part.upper().startswith("KB") and part[2:].isdigit():
            found.append(part.upper())
    return found


def _searches(records: Records) -> tuple[int | None, tuple[str, ...]]:
    """The metadata age (0: the search just asked the service) and what is unknown."""
    missing: list[str] = []
    searches = {str(r["criteria"]): r for r in records.of("search")}
    for criteria in ("available", "installed"):
        search = searches.get(criteria)
        if search is None:
            missing.append(
                f"Windows Update: the search for {criteria} updates did not complete (the "
                f"scan stopped at step {records.exit.step!r}, HRESULT {records.exit.hresult}"
                + (f": {records.exit.error}" if records.exit.error else "")
                + ")"
            )
        elif search["result_code"] != 2:
            code = search["result_code"]
            missing.append(
                f"Windows Update: the search for {criteria} updates {RESULT_CODES.get(code, code)}"
                f" (result code {code}, {search['warnings']} warning(s)): some updates may be "
                "unknown"
            )
    age = 0 if "available" in searches and not missing else None
    return age, tuple(missing)


def parse_windows_scan(text: str, *, host: str, collected_at: datetime) -> HostFacts:
    """Host facts from the scan script's output.

    Raises:
        ParseError: the output is not the scan's (a malformed record, no os record, no exit
            record: the message names the line or the step reached).
        UnsupportedPlatform: a client Windows or an unknown build.
    """
    records = parse_records(text)
    if not any(True for _ in records.of("os")):
        raise ParseError(
            f"the scan stopped before it read the OS (step {records.exit.step!r}, HRESULT "
            f"{records.exit.hresult}: {records.exit.error or 'no message'})"
        )
    os = os_info(records.one("os"))
    warnings: list[str] = []
    updates = tuple(available_update(r, warnings) for r in records.of("update"))
    age, missing = _searches(records)
    boot = list(records.of("boot"))
    reboot = list(records.of("reboot"))
    flags = reboot[0].fields if reboot else {}
    if not reboot:
        warnings.append("the pending-reboot flags could not be read")
    pending = [key for key in ("cbs", "wu", "file_rename", "system_info") if flags.get(key)]
    if pending:
        labels = {
            "cbs": "CBS RebootPending",
            "wu": "WindowsUpdate RebootRequired",
            "file_rename": "PendingFileRenameOperations",
            "system_info": "the update agent's SystemInfo.RebootRequired",
        }
        warnings.append("a reboot is pending: " + ", ".join(labels[key] for key in pending))
    sources = list(records.of("source"))
    if sources and sources[0]["wsus"]:
        warnings.append(f"updates come from WSUS ({sources[0]['server'] or 'server not named'})")
    if not records.exit.ok and not missing:
        warnings.append(
            f"the scan ended with an error at step {records.exit.step!r} "
            f"(HRESULT {records.exit.hresult}: {records.exit.error})"
        )
    return HostFacts(
        host=host,
        collected_at=collected_at,
        os=os,
        installed=_installed(records),
        updates=updates,
        reboot_required=bool(pending),
        boot_id=str(boot[0]["last_boot"] or "") if boot else "",
        metadata_age_seconds=age,
        metadata_missing=missing,
        warnings=tuple(warnings),
    )
