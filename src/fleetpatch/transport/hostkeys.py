"""Host key verification: known_hosts loaded once per run, unknown vs changed keys told apart.

Policy:
- Keys are looked up in the user's ``~/.ssh/known_hosts``, the inventory's known_hosts file and
  fleetpatch's own known_hosts file (under the user's data directory).
- A host with no known key fails with "unknown host key" unless ``accept_new`` is set, in which
  case the key is recorded in fleetpatch's own file (never in the user's).
- A host whose known key differs from the one presented fails with "host key changed"; nothing
  is sent to it. ``accept_new`` never overrides this.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import platformdirs


def fleetpatch_known_hosts() -> Path:
    """fleetpatch's own known_hosts file (``FLEETPATCH_KNOWN_HOSTS`` overrides)."""
    override = os.environ.get("FLEETPATCH_KNOWN_HOSTS")
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir("fleetpatch")) / "known_hosts"


def known_hosts_label(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


@dataclass
class HostKeyPolicy:
    """Known host keys for one run. Thread-safe appends; lookups are in memory."""

    files: tuple[Path, ...]
    accept_new: bool = False
    record_file: Path = field(default_factory=fleetpatch_known_hosts)
    accepted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        texts = []
        for path in (*self.files, self.record_file):
            try:
                texts.append(path.read_text())
            except FileNotFoundError:
                continue
        self._known = asyncssh.import_known_hosts("\n".join(texts))
        self._recorded: dict[str, list[asyncssh.SSHKey]] = {}
        self._lock = threading.Lock()

    @property
    def known(self) -> asyncssh.SSHKnownHosts:
        """The combined known hosts, for asyncssh's ``known_hosts`` option."""
        return self._known

    def trusted_keys(self, host: str, addr: str, port: int) -> list[asyncssh.SSHKey]:
        """Every key (or CA key) known for this host under any of its names."""
        result = self._known.match(host, addr, port)
        found = list(result[0]) + list(result[1])
        with self._lock:
            found += self._recorded.get(known_hosts_label(host, port), [])
        return found

    def record(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        """Remember a first-seen key in fleetpatch's own known_hosts file."""
        label = known_hosts_label(host, port)
        line = f"{label} {key.export_public_key('openssh').decode().strip()}\n"
        with self._lock:
            self.record_file.parent.mkdir(parents=True, exist_ok=True)
            with self.record_file.open("a") as fh:
                fh.write(line)
            self._recorded.setdefault(label, []).append(key)
            self.accepted.append(f"{label} {key.get_fingerprint()}")
