"""Patch groups: which baseline a host uses (one host, one baseline per run)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetpatch.baseline.model import Baseline
from fleetpatch.baseline.oses import OS_NAMES, OperatingSystem
from fleetpatch.baseline.predefined import default_baseline_for, resolve_baseline, to_os
from fleetpatch.baseline.yamlpos import Positions, located, read_document
from fleetpatch.errors import InputError
from fleetpatch.facts import OsInfo

MAX_GROUPS_PER_BASELINE = 25
_GROUP_NAME = re.compile(r"^[\w\s.:/=+\-@]{1,256}$")


@dataclass(frozen=True)
class PatchGroupMap:
    """Patch group -> OS -> baseline, plus the user's per-OS default baselines."""

    groups: Mapping[str, Mapping[OperatingSystem, Baseline]] = field(default_factory=dict)
    defaults: Mapping[OperatingSystem, Baseline] = field(default_factory=dict)
    path: str | None = None


def _os_table(
    raw: Any, where: tuple[str | int, ...], path: str, positions: Positions, base: Path
) -> dict[OperatingSystem, Baseline]:
    if not isinstance(raw, dict):
        raise InputError(
            "expected a mapping of OperatingSystem to baseline name or file",
            path=path,
            location=located(where, positions),
        )
    out: dict[OperatingSystem, Baseline] = {}
    for os_name, ref in raw.items():
        loc = located((*where, str(os_name)), positions)
        try:
            os = OperatingSystem(str(os_name))
        except ValueError:
            raise InputError(
                f"unknown operating system {os_name!r}; accepted: {', '.join(OS_NAMES)}",
                path=path,
                location=loc,
            ) from None
        if not isinstance(ref, str) or not ref:
            raise InputError(
                "expected a predefined baseline name or a file path", path=path, location=loc
            )
        candidate = Path(ref) if Path(ref).is_absolute() else base / ref
        baseline = resolve_baseline(candidate if candidate.is_file() else ref)
        if baseline.operating_system is not os:
            raise InputError(
                f"baseline {baseline.name!r} is for {baseline.operating_system.value}, "
                f"not {os.value}",
                path=path,
                location=loc,
            )
        out[os] = baseline
    return out


def load_patch_group_map(path: str | Path) -> PatchGroupMap:
    """Load ``patch_groups: {group: {OS: baseline}}`` and optional ``defaults: {OS: baseline}``.

    Baselines are names of predefined baselines or file paths relative to the map file; all
    are loaded and validated now, so a bad reference fails before any host is touched.
    """
    p = str(path)
    data, positions = read_document(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError("expected a mapping with patch_groups and/or defaults", path=p)
    for key in data:
        if key not in ("patch_groups", "defaults"):
            raise InputError(
                f"unknown key {key!r}; accepted: patch_groups, defaults",
                path=p,
                location=located((str(key),), positions),
            )
    base = Path(path).parent
    groups: dict[str, dict[OperatingSystem, Baseline]] = {}
    raw_groups = data.get("patch_groups") or {}
    if not isinstance(raw_groups, dict):
        raise InputError(
            "expected a mapping of patch group names",
            path=p,
            location=located(("patch_groups",), positions),
        )
    for name, table in raw_groups.items():
        where = ("patch_groups", str(name))
        if not _GROUP_NAME.match(str(name)):
            raise InputError(
                "a patch group name is 1 to 256 letters, digits, spaces or _.:/=+-@",
                path=p,
                location=located(where, positions),
            )
        groups[str(name)] = _os_table(table, where, p, positions, base)
    uses = Counter(b.name for table in groups.values() for b in table.values())
    for baseline_name, n in uses.items():
        if n > MAX_GROUPS_PER_BASELINE:
            raise InputError(
                f"baseline {baseline_name!r} is used by {n} patch groups; at most "
                f"{MAX_GROUPS_PER_BASELINE} are allowed",
                path=p,
                location="patch_groups",
            )
    defaults = _os_table(data.get("defaults") or {}, ("defaults",), p, positions, base)
    return PatchGroupMap(groups=groups, defaults=defaults, path=p)


def select_baseline(
    patch_group: str | None,
    os: OsInfo,
    mapping: PatchGroupMap | None,
    *,
    override: Baseline | None = None,
) -> Baseline:
    """The one baseline for a host: ``override`` (``--baseline FILE``) wins; else the
    baseline its patch group maps for its OS; else the (user's or AWS's) default for the OS.

    A group that is unknown or has no baseline for this OS falls back to the default, as SSM
    does. Raises InputError if ``override`` is for another operating system.
    """
    host_os = to_os(os)
    if override is not None:
        if override.operating_system is not host_os:
            raise InputError(
                f"baseline {override.name!r} is for {override.operating_system.value}, "
                f"not {host_os.value}"
            )
        return override
    if mapping is not None and patch_group is not None:
        table = mapping.groups.get(patch_group)
        if table and host_os in table:
            return table[host_os]
    return default_baseline_for(host_os, defaults=mapping.defaults if mapping else None)
