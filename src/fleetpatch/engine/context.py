"""Build what a run needs once: connector, rendered script, baseline choice."""

from __future__ import annotations

from pathlib import Path

from fleetpatch.baseline.groups import load_patch_group_map, select_baseline
from fleetpatch.baseline.model import Baseline
from fleetpatch.baseline.predefined import resolve_baseline
from fleetpatch.engine.pipeline import BaselineChooser, ScanContext
from fleetpatch.facts import OsInfo
from fleetpatch.inventory.model import Host, Inventory
from fleetpatch.platforms.render import scan_script
from fleetpatch.transport.hostkeys import HostKeyPolicy
from fleetpatch.transport.ssh import SshConnector


def user_known_hosts() -> Path:
    return Path.home() / ".ssh" / "known_hosts"


def host_key_policy(inv: Inventory, *, accept_new: bool) -> HostKeyPolicy:
    """Known hosts from the user's file, the inventory's file and per-host files."""
    files: list[Path] = [user_known_hosts()]
    if inv.known_hosts:
        files.append(Path(inv.known_hosts))
    for host in inv.hosts:
        if host.connection.known_hosts and Path(host.connection.known_hosts) not in files:
            files.append(Path(host.connection.known_hosts))
    return HostKeyPolicy(files=tuple(files), accept_new=accept_new)


def load_baseline_choice(*, baseline: str | None, patch_groups: Path | None) -> BaselineChooser:
    """Resolve ``--baseline`` / ``--patch-groups`` once, before any host is contacted.

    Raises:
        InputError: the baseline or the mapping file is invalid.
    """
    override: Baseline | None = resolve_baseline(baseline) if baseline else None
    mapping = load_patch_group_map(patch_groups) if patch_groups else None

    def choose(host: Host, os_info: OsInfo) -> Baseline:
        return select_baseline(host.patch_group, os_info, mapping, override=override)

    return choose


def build_scan_context(
    inv: Inventory, *, choose: BaselineChooser, accept_new_host_keys: bool, refresh: bool
) -> ScanContext:
    connector = SshConnector(host_key_policy(inv, accept_new=accept_new_host_keys))
    return ScanContext(
        connector=connector, script=scan_script(refresh=refresh), choose_baseline=choose
    )
