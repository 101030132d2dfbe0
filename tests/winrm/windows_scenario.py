"""Scenario files of the emulated Windows host (tests/winrm/scenarios/*.yaml).

A scenario is the host as it starts: its OS and build, its boot time, where updates come from,
its updates (available or installed, with all the metadata the Windows Update Agent gives) and
how it behaves: how long a reboot takes, updates that fail with an HRESULT, updates that are
offered again after every reboot, updates that are offered only after others are installed
and the host rebooted, another Windows Update operation holding the agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SCENARIOS = Path(__file__).parent / "scenarios"

CLASSIFICATION_GUIDS = {
    "SecurityUpdates": ("0FA1201D-4330-4FA8-8AE9-B877473B6441", "Security Updates"),
    "CriticalUpdates": ("E6CF1350-C01B-414D-A61F-263D14D133B4", "Critical Updates"),
    "DefinitionUpdates": ("E0789628-CE08-4437-BE74-2495B842F43B", "Definition Updates"),
    "Updates": ("CD5FFD1E-E932-4E3A-BF74-18BF0B1BBD83", "Updates"),
    "UpdateRollups": ("28BC880E-0592-4CBF-8F95-C79B17911D5F", "Update Rollups"),
    "Drivers": ("EBFC1FC5-71A4-4F7B-9ACA-3B9A503104A0", "Drivers"),
}
"""the scenario names a classification by SSM's word; the host answers with Microsoft's GUID
and (English) name, as the agent does"""


@dataclass(frozen=True)
class UpdateSpec:
    id: str
    title: str
    kb: tuple[str, ...] = ()
    rev: int = 200
    classification: str = "SecurityUpdates"
    product: str = "Windows Server 2019"
    family: str = "Windows"
    msrc: str = ""
    released: str = "2024-04-09T00:00:00Z"
    reboot: int = 1
    """InstallationBehavior.RebootBehavior: 0 never, 1 always, 2 can request"""
    cves: tuple[str, ...] = ()
    bulletins: tuple[str, ...] = ()
    installed: bool = False
    fail_hresult: str | None = None
    """the install fails: ResultCode 4 (failed) with this HRESULT"""
    reoffer_after_reboot: bool = False
    """reports installed, and after every reboot is offered again"""
    requires: tuple[str, ...] = ()
    """offered only once these update ids are installed and the host has rebooted since"""
    install_seconds: float = 0.05

    def classification_category(self) -> dict[str, str]:
        guid, name = CLASSIFICATION_GUIDS.get(self.classification, (self.classification, ""))
        return {"id": guid, "name": name}


@dataclass(frozen=True)
class Scenario:
    name: str
    os: dict[str, Any]
    boot_time: str
    updates: tuple[UpdateSpec, ...]
    reboot_down_for: float = 0.5
    reboot_after: float = 0.2
    source: dict[str, Any] = field(
        default_factory=lambda: {"wsus": False, "server": None, "service": "Microsoft Update"}
    )
    busy: bool = False
    """another Windows Update operation holds the agent: installs end WU_E_OPERATIONINPROGRESS"""
    console_codepage: int | None = None
    """the console writes in this code page whatever the client asked (an old host)"""


def load_scenario(name_or_path: str | Path) -> Scenario:
    """``ws2019`` (a file of tests/winrm/scenarios) or a path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIOS / f"{name_or_path}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    updates = tuple(
        UpdateSpec(
            **{
                key: tuple(value) if isinstance(value, list) else value
                for key, value in entry.items()
            }
        )
        for entry in raw.get("updates", [])
    )
    reboot = raw.get("reboot", {})
    return Scenario(
        name=path.stem,
        os=raw["os"],
        boot_time=str(raw["boot_time"]),
        updates=updates,
        reboot_down_for=float(reboot.get("down_for", 0.5)),
        reboot_after=float(reboot.get("after", 0.2)),
        source=raw.get("source", {"wsus": False, "server": None, "service": "Microsoft Update"}),
        busy=bool(raw.get("busy", False)),
        console_codepage=raw.get("console_codepage"),
    )
