"""Build what a run needs once: connector, rendered script, baseline choice."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fleetpatch.baseline.groups import load_patch_group_map, select_baseline
from fleetpatch.baseline.model import Baseline
from fleetpatch.baseline.oses import OperatingSystem
from fleetpatch.baseline.predefined import resolve_baseline, to_os
from fleetpatch.engine.pipeline import BaselineChooser, ScanContext
from fleetpatch.errors import InputError
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


def load_baseline_choice(
    *, baselines: Sequence[str] = (), patch_groups: Path | None = None
) -> BaselineChooser:
    """Resolve ``--baseline`` / ``--patch-groups`` once, before any host is contacted.

    Like SSM's BaselineOverride, several baselines may be given: each applies to the hosts of
    its operating system; hosts of other systems keep their patch group's or default baseline.

    Raises:
        InputError: a baseline or the mapping file is invalid, or two baselines are given for
            the same operating system.
    """
    overrides: dict[OperatingSystem, Baseline] = {}
    for ref in baselines:
        loaded = resolve_baseline(ref)
        other = overrides.get(loaded.operating_system)
        if other is not None:
            raise InputError(
                f"--baseline {ref}: a baseline for {loaded.operating_system.value} is already "
                f"given ({other.name}); give at most one per operating system"
            )
        overrides[loaded.operating_system] = loaded
    mapping = load_patch_group_map(patch_groups) if patch_groups else None

    def choose(host: Host, os_info: OsInfo) -> Baseline:
        override = overrides.get(to_os(os_info))
        return select_baseline(host.patch_group, os_info, mapping, override=override)

    return choose


def build_scan_context(
    inv: Inventory, *, choose: BaselineChooser, accept_new_host_keys: bool, refresh: bool
) -> ScanContext:
    connector = SshConnector(host_key_policy(inv, accept_new=accept_new_host_keys))
    return ScanContext(
        connector=connector, script=scan_script(refresh=refresh), choose_baseline=choose
    )


def with_timeouts(host: Host, *, connect: float | None, command: float | None) -> Host:
    """``host`` with its connect and command timeouts replaced where given."""
    updates: dict[str, float] = {}
    if connect:
        updates["connect_timeout"] = connect
    if command:
        updates["command_timeout"] = command
    if not updates:
        return host
    return host.model_copy(update={"connection": host.connection.model_copy(update=updates)})
