"""A package manager waiting on its lock, read from an install's journal (pure).

Each family says it in its own words while it waits:

* apt (``DPkg::Lock::Timeout``), once a second: ``Waiting for cache lock: Could not get lock
  /var/lib/dpkg/lock-frontend. It is held by process 76 (apt-get)...``; at the timeout
  ``E: Could not get lock ...`` or ``E: Unable to acquire the dpkg frontend lock ...``.
* dnf: ``Waiting for process with pid 1234 to finish.`` (blocking) or, with
  ``exit_on_lock``, ``... already locked by 1234`` and rc 200, which the install script
  retries, saying ``fleetpatch: dnf is locked by another process (rc 200), retry ...``.
* zypper: ``System management is locked by the application with pid 1234 (zypper).`` and rc 7,
  retried the same way.
"""

from __future__ import annotations

import re

_APT_WAIT = re.compile(
    r"^Waiting for cache lock: Could not get lock (?P<file>\S+?)\.? It is held by process "
    r"(?P<pid>\d+)(?: \((?P<name>[^)]*)\))?"
)
_APT_GIVE_UP = re.compile(
    r"^E: (?:Could not get lock \S+\.? It is held by process \d+.*|Unable to acquire the dpkg "
    r"(?:frontend )?lock.*|Could not get lock .*)$",
    re.M,
)
_DNF_WAIT = re.compile(r"Waiting for process with pid (?P<pid>\d+) to finish")
_DNF_LOCKED = re.compile(r"already locked by (?P<pid>\d+)")
_ZYPP_WAIT = re.compile(
    r"System management is locked by the application with pid (?P<pid>\d+)"
    r"(?: \((?P<name>[^)]*)\))?"
)
_RETRY = re.compile(r"^fleetpatch: (?P<tool>\S+) is locked by another process \(rc \d+\)")
_GAVE_UP_RC = {"dnf.install": "200", "zypper.install": "7"}


def lock_wait(line: str) -> str | None:
    """Who holds the lock a journal line says the package manager waits for
    (``process 76 (apt-get)``, ``/var/lib/dpkg/lock-frontend``), or None when the line says
    nothing of a lock."""
    match = _APT_WAIT.match(line)
    if match:
        holder = f"process {match['pid']}" + (f" ({match['name']})" if match["name"] else "")
        return f"{match['file']} is held by {holder}"
    match = _ZYPP_WAIT.search(line)
    if match:
        name = f" ({match['name']})" if match["name"] else ""
        return f"zypper's lock is held by process {match['pid']}{name}"
    match = _DNF_WAIT.search(line) or _DNF_LOCKED.search(line)
    if match:
        return f"the rpm database lock is held by process {match['pid']}"
    match = _RETRY.match(line)
    if match:
        return f"{match['tool']}'s lock is held by another process"
    return None


def lock_timed_out(journal: str) -> str | None:
    """Why the install gave up on the lock (the package manager's words), or None when it did
    not."""
    match = _APT_GIVE_UP.search(journal)
    if match:
        return f"the package manager's lock was still held at the lock timeout: {match[0][3:]}"
    for section, rc in _GAVE_UP_RC.items():
        if f"@@FP@@ END {section} {rc}\n" in journal or journal.endswith(
            f"@@FP@@ END {section} {rc}"
        ):
            holders = [h for h in map(lock_wait, journal.splitlines()) if h]
            said = f": {holders[-1]}" if holders else ""
            return f"the package manager's lock was still held at the lock timeout{said}"
    return None
