"""Faults a test scripts on one emulated host: rules matched against each request.

A rule names the WS-Management action it applies to (``"Create"``, ``"Command"``, ``"Send"``,
``"Receive"``, ``"Signal"``, ``"Delete"``; ``None`` for any), how many matching requests to let
through first (``skip``) and how many to hit (``times``; ``None`` for all of them). The first
live rule that matches a request decides; a rule used up stops matching. Rules are checked
after authentication, on the decrypted request, so a fault answer goes through the same
session encryption as a normal one.

Host-wide states that are not per-request (down for a reboot, refusing credentials) live on
``EmulatedHost``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from tests.winrm.soap import OPERATION_TIMED_OUT, WsmanFault


@dataclass(frozen=True)
class DropConnection:
    """Close the TCP connection without an HTTP response.

    ``when="before"``: the request is never acted on (it was lost on the way).
    ``when="after"``: it is acted on (a command starts, output is taken) and the answer is lost.
    ``reset=True`` sends a TCP RST (the client reads ECONNRESET) instead of a FIN (the client
    reads "Remote end closed connection without response").
    """

    when: Literal["before", "after"] = "before"
    reset: bool = False


@dataclass(frozen=True)
class AnswerFault:
    """Answer with a WS-Management fault (HTTP 500) instead of acting on the request.

    ``wait_operation_timeout``: first wait the OperationTimeout the client asked for, as a
    Windows Receive does before it gives up.
    """

    fault: WsmanFault
    wait_operation_timeout: bool = False


@dataclass(frozen=True)
class AnswerHttpError:
    """Answer with a bare HTTP status and no WS-Management body (a proxy, an overloaded
    HTTP.sys)."""

    status: int
    body: bytes = b""


@dataclass(frozen=True)
class Delay:
    """Wait this long, then act on the request as usual (a slow host)."""

    seconds: float


Effect = DropConnection | AnswerFault | AnswerHttpError | Delay


@dataclass
class FaultRule:
    effect: Effect
    action: str | None = None
    times: int | None = 1
    skip: int = 0
    hits: int = 0
    seen: int = 0

    def live(self) -> bool:
        return self.times is None or self.hits < self.times


class FaultPlan:
    """The rules of one host, consulted by the endpoint for every request it authenticates."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(
        self, effect: Effect, *, on: str | None = None, times: int | None = 1, skip: int = 0
    ) -> FaultRule:
        rule = FaultRule(effect, on, times, skip)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def effects_for(self, action: str) -> list[Effect]:
        """The effects for one request: every matching Delay, then at most one other."""
        chosen: list[Effect] = []
        decided = False
        with self._lock:
            for rule in self._rules:
                if not rule.live() or (rule.action is not None and rule.action != action):
                    continue
                if decided and not isinstance(rule.effect, Delay):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                rule.hits += 1
                chosen.append(rule.effect)
                decided = decided or not isinstance(rule.effect, Delay)
        return chosen

    # --- the usual faults, by name ----------------------------------------------------------

    def time_out_receives(self, times: int | None = 1, *, wait: bool = False) -> FaultRule:
        """Receive answers w:TimedOut (code 2150858793) instead of output; the output stays
        for the next Receive. pywinrm's get_command_output retries these silently."""
        return self.add(AnswerFault(OPERATION_TIMED_OUT, wait), on="Receive", times=times)

    def drop_connection(
        self,
        on: str | None = "Receive",
        *,
        times: int | None = 1,
        skip: int = 0,
        when: Literal["before", "after"] = "before",
        reset: bool = False,
    ) -> FaultRule:
        return self.add(DropConnection(when, reset), on=on, times=times, skip=skip)

    def wsman_fault(
        self, fault: WsmanFault, on: str | None = None, *, times: int | None = 1, skip: int = 0
    ) -> FaultRule:
        return self.add(AnswerFault(fault), on=on, times=times, skip=skip)

    def http_error(
        self, status: int, on: str | None = None, *, times: int | None = 1, body: bytes = b""
    ) -> FaultRule:
        return self.add(AnswerHttpError(status, body), on=on, times=times)

    def slow(self, seconds: float, on: str | None = None, *, times: int | None = None) -> FaultRule:
        return self.add(Delay(seconds), on=on, times=times)
