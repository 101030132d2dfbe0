"""Is the controller of a running run still alive? The run status a reader shows.

A run's row says ``running`` from :meth:`begin_run` until :meth:`finish_run`; a controller
that was killed (SIGKILL, a crash, a lost machine) never gets to finish it. So the row also
carries the controller (``host:pid``) and a heartbeat time, renewed every
:data:`HEARTBEAT_SECONDS` by a thread of the controller while the run goes. A reader tells
``interrupted`` from ``running``:

- the controller ran on this machine: its process is gone (ended, a zombie not yet reaped,
  or the pid now belongs to a process started after the run began) -> ``interrupted``, at
  once;
- the controller ran on another machine: no heartbeat for :data:`STALE_AFTER` ->
  ``interrupted``;
- otherwise ``running``.

Stored statuses are ``running``, ``finished`` and ``cancelled``; ``interrupted`` is what a
``running`` row is shown as when its controller is gone (the row itself is left as it is: a
reader may have no right to write, and ``fleetpatch run --resume`` continues such a run).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fleetpatch.results import RunStatus

HEARTBEAT_SECONDS = 30.0
"""How often a running controller renews its run's heartbeat."""

STALE_AFTER = timedelta(minutes=5)
"""A run of another machine without a heartbeat for this long is shown as interrupted."""

_START_SLACK = timedelta(seconds=2)
_log = logging.getLogger(__name__)


def this_controller() -> str:
    """``host:pid`` of this process, as stored in ``runs.controller``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_status(
    stored: str,
    *,
    controller: str | None,
    heartbeat_at: datetime | None,
    started_at: datetime,
    now: datetime | None = None,
) -> RunStatus:
    """The status to show for a run whose row says ``stored``."""
    if stored in ("finished", "cancelled"):
        return "finished" if stored == "finished" else "cancelled"
    last = heartbeat_at or started_at
    alive = controller_alive(controller, last)
    if alive is not None:
        return "running" if alive else "interrupted"
    now = now or datetime.now(UTC)
    return "interrupted" if now - last > STALE_AFTER else "running"


def controller_alive(controller: str | None, last_seen: datetime) -> bool | None:
    """Whether the process ``host:pid`` last heard of at ``last_seen`` (its heartbeat, or when
    it took a lease) still runs; None when that cannot be told from here (another machine, no
    controller recorded). A process with that pid that started after ``last_seen`` is another
    one (pid reused); one that ended and was not yet reaped (a zombie) is not alive. The one
    liveness rule of fleetpatch: run status and leases (:mod:`fleetpatch.engine.leases`)."""
    if not controller or ":" not in controller:
        return None
    host, _, pid_text = controller.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    except OSError:
        return None
    began, ended = _process_start(pid)
    if ended:
        return False
    return began is None or began <= last_seen + _START_SLACK


def _process_start(pid: int) -> tuple[datetime | None, bool]:
    """When process ``pid`` started (Linux: /proc; None where that cannot be read), and
    whether it has ended already (a zombie: killed, not yet waited for by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, False
    fields = stat[stat.rindex(")") + 2 :].split()
    ended = fields[:1] in (["Z"], ["X"])
    try:
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        ticks = int(fields[19])
        return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), UTC), ended
    except (OSError, ValueError, StopIteration, IndexError):
        return None, ended


class Heartbeat:
    """A daemon thread that calls ``beat`` every ``every`` seconds until stopped. A failing
    beat is logged at debug level and tried again next time (the run's own writes report a
    store that stopped working)."""

    def __init__(self, beat: Callable[[], None], every: float | None = None, *, run_id: str = ""):
        self._beat = beat
        self._every = HEARTBEAT_SECONDS if every is None else every
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"fleetpatch-heartbeat {run_id}".strip(), daemon=True
        )

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._beat()
            except Exception as exc:  # the store may be full or gone: try again later
                _log.debug("heartbeat failed: %s", exc)
