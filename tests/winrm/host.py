"""One emulated Windows host behind an endpoint: its port, account, handler, shells, faults.

An endpoint serves many hosts; each host listens on a port of its own (so an inventory needs
nothing but ``address: 127.0.0.1`` and ``port: <host.port>``), has its own shells and fault
rules, and can go down for a while as a rebooting machine does: its listening socket stops
accepting (clients get ECONNREFUSED), its open connections are cut and its shells are gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tests.winrm.auth import Credentials
from tests.winrm.faults import FaultPlan
from tests.winrm.process import CommandHandler, CommandRequest, RemoteProcess
from tests.winrm.shells import ShellTable


class ListenerControl(Protocol):
    """What the endpoint's accept loop offers a host (tests/winrm/server.py)."""

    def suspend(self) -> None: ...

    def resume(self) -> None: ...


@dataclass(frozen=True)
class RequestRecord:
    """One request as the host saw it: the action and how it was answered."""

    action: str  # "Create", "Receive", ... or "auth" for a refused authentication
    outcome: str  # "ok", "fault w:TimedOut", "dropped", "http 500", "401", "delayed 0.5s"


class EmulatedHost:
    """An emulated host. Tests and handlers script it through this object.

    Attributes:
        name: the host's name (the Machine of its faults, the host_name of its commands).
        handler: what runs each command.
        faults: per-request fault rules (tests/winrm/faults.py).
        max_receive_bytes: cap on the output one ReceiveResponse carries (None: as much as
            the client's MaxEnvelopeSize allows, about 110 KB for pywinrm).
        processes: every command handed to the handler, in order, with what it received
            (``process.request``, ``process.stdin_received``, ``process.exit_code``).
        log: every request, in order.
        errors: exceptions raised by the handler (the fixture fails the test with them).
    """

    def __init__(
        self,
        name: str,
        handler: CommandHandler,
        credentials: Credentials,
        scheme: str,
    ) -> None:
        self.name = name
        self.handler = handler
        self._credentials = credentials
        self._scheme = scheme
        self.faults = FaultPlan()
        self.shells = ShellTable(self)
        self.max_receive_bytes: int | None = None
        self.port = 0
        self.processes: list[RemoteProcess] = []
        self.log: list[RequestRecord] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._state = threading.RLock()
        self._listener: ListenerControl | None = None
        self._up = True
        self._stopped = False
        self._timer: threading.Timer | None = None
        self._generation = 0

    @property
    def commands_started(self) -> list[CommandRequest]:
        """The decoded command of every process handed to the handler, in order."""
        with self._lock:
            return [process.request for process in self.processes]

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}/wsman"

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    def set_credentials(self, credentials: Credentials) -> None:
        """Change the account (a password rotated on the host): clients with the old password
        now get 401; connections already authenticated stay so, as with NTLM on Windows."""
        with self._lock:
            self._credentials = credentials

    # --- up and down -------------------------------------------------------------------------

    @property
    def is_up(self) -> bool:
        return self._up

    def attach(self, listener: ListenerControl, port: int) -> None:
        self._listener = listener
        self.port = port

    def go_down(self) -> None:
        """Stop answering: refuse new connections, cut open ones, lose every shell."""
        with self._state:
            self._cancel_timer()
            if not self._stopped:
                self._go_down_locked()

    def come_up(self) -> None:
        with self._state:
            self._cancel_timer()
            if not self._stopped:
                self._come_up_locked()

    def reboot(self, down_for: float, *, after: float = 0.0) -> None:
        """Go down ``after`` seconds from now (0: at once), come back ``down_for`` seconds
        later. A handler can call this before returning, as ``Restart-Computer`` does."""
        with self._state:
            self._cancel_timer()
            if self._stopped:
                return
            if after > 0:
                self._schedule(after, lambda: self._reboot_locked(down_for))
            else:
                self._reboot_locked(down_for)

    def stop(self) -> None:
        """The endpoint is stopping: cancel timers, stop every process."""
        with self._state:
            self._stopped = True
            self._cancel_timer()
        self.shells.close_all()

    # Every change of state happens under _state, so a timer that fires while a test calls
    # come_up() or removes the host cannot interleave with it; a timer that was replaced or
    # cancelled after it started does nothing (the generation moved on).

    def _go_down_locked(self) -> None:
        was_up, self._up = self._up, False
        # Shells first: a request thread that wakes up now sees the host down and answers
        # nothing (server.py), then the cut reaches every connection.
        self.shells.close_all()
        if was_up and self._listener is not None:
            self._listener.suspend()

    def _come_up_locked(self) -> None:
        was_up, self._up = self._up, True
        if not was_up and self._listener is not None:
            self._listener.resume()

    def _reboot_locked(self, down_for: float) -> None:
        self._go_down_locked()
        self._schedule(down_for, self._come_up_locked)

    def _schedule(self, delay: float, action: Callable[[], None]) -> None:
        generation = self._generation

        def fire() -> None:
            with self._state:
                if self._stopped or generation != self._generation:
                    return
                self._timer = None
                action()

        self._timer = threading.Timer(delay, fire)
        self._timer.daemon = True
        self._timer.start()

    def _cancel_timer(self) -> None:
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- bookkeeping -------------------------------------------------------------------------

    def record(self, action: str, outcome: str) -> None:
        with self._lock:
            self.log.append(RequestRecord(action, outcome))

    def record_process(self, process: RemoteProcess) -> None:
        with self._lock:
            self.processes.append(process)

    def record_error(self, error: BaseException) -> None:
        with self._lock:
            self.errors.append(error)

    def outcomes(self, action: str) -> list[str]:
        """How each request with this action was answered, in order."""
        with self._lock:
            return [r.outcome for r in self.log if r.action == action]
