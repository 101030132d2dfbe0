"""What a run needs before its first host is contacted: the hosts' timeouts, the host-key
policy and the connector.

Kept apart from :mod:`fleetpatch.engine.context` (baselines, templates) so that a scan can start
its first handshakes before it imports and loads those (``fleetpatch scan``,
:meth:`fleetpatch.transport.ssh.SshConnector.start_connecting`).
"""

from __future__ import annotations

from pathlib import Path

from fleetpatch.inventory.model import Host, Inventory
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


def new_connector(inv: Inventory, *, accept_new_host_keys: bool) -> SshConnector:
    """The run's SSH connector, with the known hosts of the inventory loaded."""
    return SshConnector(host_key_policy(inv, accept_new=accept_new_host_keys))


def with_timeouts(
    host: Host,
    *,
    connect: float | None,
    command: float | None,
    connect_retries: int | None = None,
) -> Host:
    """``host`` with its connect and command timeouts (and connection retries) replaced where
    given."""
    updates: dict[str, float] = {}
    if connect:
        updates["connect_timeout"] = connect
    if command:
        updates["command_timeout"] = command
    if connect_retries is not None:
        updates["connect_retries"] = connect_retries
    if not updates:
        return host
    return host.model_copy(update={"connection": host.connection.model_copy(update=updates)})
