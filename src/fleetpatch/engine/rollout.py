"""The pure decisions of a rolling install: batches, rate control, error budget, canary and
maintenance window. Nothing here does I/O; the executor asks and reports, this module decides
and says why (docs/rollouts.md).

Rounding, chosen once for every percentage (SSM does not document its own): a percentage of the
*targeted* hosts is rounded **down**, the cautious direction (smaller batches, fewer tolerated
failures). Concurrency and batch sizes are then raised to at least 1; ``max_errors`` may be 0.
So ``max_errors: 10%`` of 50 hosts is 5 (the 6th failure stops new starts), of 25 hosts it is 2
(not 2.5), of 5 hosts it is 0 (the 1st failure stops).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Literal

from fleetpatch.errors import InputError

RateKind = Literal["max_concurrency", "max_errors", "batch size"]
OnFailure = Literal["continue", "halt"]
StopKind = Literal["budget", "halt", "canary", "health_check", "window", "store"]
DecisionEvent = Literal["batch", "failed", "canary_passed", "batch_done", "stopped", "done"]
Clock = Callable[[], datetime]

# SSM's grammars (SendCommand MaxConcurrency / MaxErrors); a batch size uses the concurrency one.
_COUNT_OR_PERCENT = re.compile(r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$")
_ERRORS = re.compile(r"^([1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%)$")
_GRAMMAR: dict[RateKind, str] = {
    "max_concurrency": "a number of hosts >= 1 or a percentage 1%-100% (e.g. 10 or 10%)",
    "max_errors": "a number of failures >= 0 or a percentage 0%-100% (e.g. 1 or 10%)",
    "batch size": "a number of hosts >= 1 or a percentage 1%-100% (e.g. 1 or 25%)",
}


class InvalidSetting(InputError):
    """A rate, batch size, duration or time that does not follow its grammar.

    ``problem`` is the explanation without the name and the value, for callers that add their
    own location (the playbook loader reports ``file:line: key.path: problem, got value``).
    """

    def __init__(self, what: str, problem: str, value: object):
        self.problem = problem
        super().__init__(f"{what}: {problem}, got {value!r}")


# ---------------------------------------------------------------------------- rates and batches


@dataclass(frozen=True)
class Rate:
    """A count of hosts (or failures) or a percentage of the targeted hosts."""

    kind: RateKind
    value: int
    percent: bool = False

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)

    def describe(self, total: int) -> str:
        """``5 (10% of 50 hosts)`` or ``5``."""
        resolved = resolve_rate(self, total)
        if not self.percent:
            return str(resolved)
        return f"{resolved} ({self.value}% of {total} host{'s' if total != 1 else ''})"


def parse_rate(value: int | str, kind: RateKind) -> Rate:
    """Parse ``max_concurrency``, ``max_errors`` or a batch size: ``10``, ``"10"`` or ``"10%"``.

    Follows SSM's grammar: no leading zeros, no fractions, at most ``100%``; only ``max_errors``
    allows ``0`` and ``0%``.

    Raises:
        InvalidSetting: (an InputError) the value does not follow the grammar; the message says
            why (``a batch must hold at least 1 host``, ``at most 100%``, ...).
    """
    problem = _rate_problem(value, kind)
    if problem is not None:
        raise InvalidSetting(kind, problem, value)
    text = str(value).strip()
    if text.endswith("%"):
        return Rate(kind, int(text[:-1]), percent=True)
    return Rate(kind, int(text))


def _rate_problem(value: int | str, kind: RateKind) -> str | None:
    grammar = f"expected {_GRAMMAR[kind]}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        return grammar
    text = str(value).strip() if isinstance(value, str) else str(value)
    pattern = _ERRORS if kind == "max_errors" else _COUNT_OR_PERCENT
    if pattern.match(text):
        return None
    number = re.fullmatch(r"(-?[0-9]+)(%?)", text)
    if number is None:
        return grammar
    amount, percent = int(number[1]), bool(number[2])
    if amount < 0:
        return f"must not be negative; {grammar}"
    if percent and amount > 100:
        return f"a percentage must be at most 100%; {grammar}"
    if amount == 0:
        noun = "a batch must hold" if kind == "batch size" else "max_concurrency must be"
        return f"{noun} at least 1 host; {grammar}"
    return f"write it without leading zeros; {grammar}"


def resolve_rate(rate: Rate, total: int) -> int:
    """The number ``rate`` stands for among ``total`` targeted hosts.

    A percentage is rounded down; concurrency and batch sizes are at least 1, ``max_errors``
    may be 0. A count is returned as written (the caller caps it where it must).
    """
    amount = rate.value * total // 100 if rate.percent else rate.value
    return amount if rate.kind == "max_errors" else max(1, amount)


def parse_batch_sizes(values: str | Sequence[int | str]) -> tuple[Rate, ...]:
    """``"1,10%,50%"`` (as given to ``--batches``) or ``[1, "10%", "50%"]`` -> batch sizes.

    Raises:
        InvalidSetting: one size is not a count >= 1 or a percentage 1%-100%; the message names
            its position (``batches[2]``).
    """
    items: Sequence[int | str] = values.split(",") if isinstance(values, str) else values
    return tuple(_batch_size(item, index) for index, item in enumerate(items))


def plan_batches(host_names: Sequence[str], sizes: Sequence[int | str | Rate]) -> list[list[str]]:
    """Split ``host_names`` into consecutive batches, order preserved.

    Each size is a count or a percentage of *all* targeted hosts (rounded down, at least 1);
    the last size repeats until every host is placed; a batch never holds more hosts than are
    left. No sizes means one batch with every host. ``[1, "50%"]`` over 5 hosts gives
    ``[[a], [b, c], [d, e]]``.

    Raises:
        InvalidSetting: a size does not follow the batch-size grammar.
        ValueError: a host name appears twice.
    """
    if len(set(host_names)) != len(host_names):
        raise ValueError("plan_batches: host names must be unique")
    parsed = [
        size if isinstance(size, Rate) else _batch_size(size, index)
        for index, size in enumerate(sizes)
    ]
    total = len(host_names)
    if not parsed:
        return [list(host_names)] if host_names else []
    counts = [resolve_rate(size, total) for size in parsed]
    batches: list[list[str]] = []
    start = 0
    while start < total:
        count = counts[min(len(batches), len(counts) - 1)]
        batches.append(list(host_names[start : start + count]))
        start += count
    return batches


def _batch_size(value: int | str, index: int) -> Rate:
    problem = _rate_problem(value, "batch size")
    if problem is not None:
        raise InvalidSetting(f"batches[{index}]", problem, value)
    return parse_rate(value, "batch size")


# --------------------------------------------------------------------------------- error budget


@dataclass
class ErrorBudget:
    """SSM's MaxErrors rule: no new host starts once failures exceed ``max_errors`` (that is, at
    the ``max_errors + 1``-th failure); hosts already running finish.

    ``record(failed, halt=True)`` models ``on_failure: halt``: that failure exhausts the budget
    whatever ``max_errors`` says. ``on_failure: continue`` (the default) lets a failed host be
    skipped while the rollout goes on, as long as the budget holds.
    """

    max_errors: int
    failures: int = 0
    halted: bool = False

    def __post_init__(self) -> None:
        if self.max_errors < 0:
            raise ValueError("max_errors must not be negative")

    @property
    def allowed(self) -> int:
        """How many failures are tolerated (``max_errors``)."""
        return self.max_errors

    @property
    def remaining(self) -> int:
        """Failures that may still happen before the budget is exhausted."""
        return 0 if self.exhausted else self.max_errors - self.failures

    @property
    def exhausted(self) -> bool:
        """True from the ``max_errors + 1``-th failure, or after a failure recorded with halt."""
        return self.halted or self.failures > self.max_errors

    def record(self, failed: bool, halt: bool = False) -> None:
        """Count one finished host; ``halt`` only matters when ``failed``."""
        if failed:
            self.failures += 1
            self.halted = self.halted or halt


# ---------------------------------------------------------------------- durations and windows

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DURATION_GRAMMAR = "expected a duration such as 90s, 30m, 2h or 1h30m"
_NO_OFFSET = "add Z or an offset such as +02:00 (a time without one is ambiguous)"
_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2})?$")
_WINDOW_GRAMMAR = (
    "expected an ISO-8601 time with an offset (2025-05-04T03:00:00Z, 2025-05-04T05:00+02:00) "
    "or a time of day HH:MM (controller's local time), HH:MMZ (UTC) or HH:MM+02:00"
)


def parse_duration(value: str, what: str = "duration") -> timedelta:
    """``"90s"``, ``"30m"``, ``"2h"``, ``"1h30m"``, ``"0s"`` -> timedelta.

    A bare number is refused on purpose (is ``30`` seconds or minutes? SSM's Cutoff counts
    hours): write the unit.

    Raises:
        InvalidSetting: not of that form.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        problem = _DURATION_GRAMMAR
        if isinstance(value, int | float) and not isinstance(value, bool):
            problem += f" (add a unit: {value}m or {value}s)"
        raise InvalidSetting(what, problem, value)
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None:
        raise InvalidSetting(what, _DURATION_GRAMMAR, value)
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def format_duration(span: timedelta) -> str:
    """``timedelta(minutes=90)`` -> ``1h30m``; the inverse of :func:`parse_duration`."""
    total = int(span.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    text += f"{seconds}s" if seconds or not text else ""
    return text


@dataclass(frozen=True)
class WindowEnd:
    """A parsed ``--window-end`` / ``window.end``: an absolute time, or a time of day.

    A time of day means its next occurrence strictly after the moment the run starts:
    ``03:00`` at 01:10 is today 03:00, at 03:20 it is tomorrow 03:00. Without ``Z`` or an
    offset it is in the controller's local time zone (the zone of ``now`` given to
    :meth:`resolve`).
    """

    text: str
    at: datetime | None = None
    time_of_day: time | None = None

    def resolve(self, now: datetime) -> datetime:
        """The end as an aware datetime. ``now`` must be aware.

        Raises:
            ValueError: ``now`` is naive.
        """
        _require_aware(now)
        if self.at is not None:
            return self.at
        assert self.time_of_day is not None
        zone = self.time_of_day.tzinfo or now.tzinfo
        local_now = now.astimezone(zone)
        candidate = datetime.combine(
            local_now.date(), self.time_of_day.replace(tzinfo=None), tzinfo=zone
        )
        if candidate <= now:
            candidate += timedelta(days=1)
        return candidate


def parse_window_end(text: str | datetime) -> WindowEnd:
    """Parse an end of maintenance window (see :class:`WindowEnd`). A datetime (what YAML makes
    of an unquoted ``2025-05-04T03:00:00Z``) is taken as an absolute end.

    Raises:
        InvalidSetting: not an ISO-8601 time with an offset nor HH:MM[Z|±HH:MM]; an ISO time
            without an offset is refused (ambiguous).
    """
    if isinstance(text, datetime):
        if text.tzinfo is None or text.utcoffset() is None:
            raise InvalidSetting("window end", _NO_OFFSET, text.isoformat())
        return WindowEnd(text.isoformat(), at=text)
    if isinstance(text, int) and not isinstance(text, bool):
        raise InvalidSetting(
            "window end", "quote the time: YAML reads an unquoted H:MM as a number", text
        )
    if not isinstance(text, str):
        raise InvalidSetting("window end", _WINDOW_GRAMMAR, text)
    stripped = text.strip()
    match = _TIME_OF_DAY.match(stripped)
    if match is not None:
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise InvalidSetting("window end", "not a valid time of day", text)
        zone = _zone(match[4]) if match[4] else None
        return WindowEnd(text, time_of_day=time(hour, minute, second, tzinfo=zone))
    try:
        at = datetime.fromisoformat(stripped)
    except ValueError:
        raise InvalidSetting("window end", _WINDOW_GRAMMAR, text) from None
    if at.tzinfo is None:
        raise InvalidSetting("window end", _NO_OFFSET, text)
    return WindowEnd(text, at=at)


def _zone(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def may_start(now: datetime, window_end: datetime, cutoff: timedelta) -> bool:
    """SSM's Cutoff: a host (or batch) may start only before ``window_end - cutoff``.

    At exactly ``window_end - cutoff`` nothing new starts any more. All times must be aware.
    """
    _require_aware(now)
    _require_aware(window_end)
    return now < window_end - cutoff


@dataclass(frozen=True)
class Window:
    """A resolved maintenance window: the end and the cutoff before it."""

    end: datetime
    cutoff: timedelta = timedelta(0)

    @property
    def last_start(self) -> datetime:
        """The first moment at which nothing new may start."""
        return self.end - self.cutoff

    def may_start(self, now: datetime) -> bool:
        return may_start(now, self.end, self.cutoff)

    def describe(self) -> str:
        """``maintenance window closes at 2025-05-04 03:00Z, cutoff 30m: no new host starts
        from 02:30Z``."""
        return (
            f"maintenance window closes at {format_time(self.end)}, cutoff "
            f"{format_duration(self.cutoff)}: no new host starts from "
            f"{format_time(self.last_start, date=self.last_start.date() != self.end.date())}"
        )


def format_time(moment: datetime, *, date: bool = True) -> str:
    """``2025-05-04 03:00Z`` / ``03:00+02:00`` (seconds only when not zero)."""
    shown = moment.strftime("%Y-%m-%d %H:%M" if date else "%H:%M")
    if moment.second:
        shown += f":{moment.second:02d}"
    offset = moment.utcoffset()
    if offset == timedelta(0):
        return shown + "Z"
    return shown + moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a time with a time zone, got {moment.isoformat()}")


# -------------------------------------------------------------------------------- the machine


@dataclass(frozen=True)
class Decision:
    """One thing the rollout decided, with the reason a person reads in the run log."""

    event: DecisionEvent
    reason: str
    batch: int | None = None
    """1-based batch number, when the decision concerns one."""
    host: str | None = None


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RolloutState:
    """Decides, for a rollout planned by :func:`plan_batches`, what may start next and when the
    rollout stops. The executor loop is::

        state = RolloutState(plan, max_errors=rate, canary=True, window=window)
        while (batch := state.next_batch()) is not None:
            # start hosts of the batch in order, at most max_concurrency at once; before each
            # start ask state.may_start_host(); as each ends call state.host_finished(name, ok)
            state.batch_finished(health_ok=<health check result, True if none>)
        for name in state.skipped_hosts(): ...   # report as skipped, reason state.stopped_reason

    Rules (each decision is appended to :attr:`decisions` with its reason):

    * batches run one after the other; the next starts only after :meth:`batch_finished`;
    * ``max_errors`` (SSM): once failures exceed it no new host starts, running hosts finish;
    * ``on_failure: halt`` (or ``host_finished(..., halt=True)``): any failure stops the rollout;
      ``continue`` skips the failed host and goes on while the budget holds;
    * canary: a failure of any host of batch 1, or a failed health check after it, stops the
      rollout whatever the budget;
    * a failed health check after any batch stops the rollout;
    * window: no host (or batch) starts at or after ``window.end - window.cutoff``.

    ``max_errors`` may be a :class:`Rate`; a percentage is taken of all planned hosts. ``clock``
    returns the current aware time and is read only when there is a window.
    """

    plan: Sequence[Sequence[str]]
    max_errors: int | Rate = 0
    canary: bool = False
    on_failure: OnFailure = "continue"
    window: Window | None = None
    clock: Clock = _utcnow
    budget: ErrorBudget = field(init=False)
    decisions: list[Decision] = field(init=False, default_factory=list)
    _batch: int = field(init=False, default=0)  # 1-based number of the current/last batch
    _in_batch: bool = field(init=False, default=False)
    _started: set[str] = field(init=False, default_factory=set)
    _ok: list[str] = field(init=False, default_factory=list)
    _failed: list[str] = field(init=False, default_factory=list)
    _stop: tuple[StopKind, str] | None = field(init=False, default=None)
    _budget_text: str = field(init=False, default="")

    def __post_init__(self) -> None:
        names = [name for batch in self.plan for name in batch]
        if len(set(names)) != len(names):
            raise ValueError("RolloutState: a host appears twice in the plan")
        if any(not batch for batch in self.plan):
            raise ValueError("RolloutState: a batch of the plan is empty")
        if isinstance(self.max_errors, Rate):
            allowed = resolve_rate(self.max_errors, len(names))
            self._budget_text = f"max_errors={self.max_errors.describe(len(names))}"
        else:
            allowed = self.max_errors
            self._budget_text = f"max_errors={allowed}"
        self.budget = ErrorBudget(allowed)

    # -- questions

    @property
    def stopped_reason(self) -> str | None:
        """Why the rollout stopped early, or None (still running, or every batch ran)."""
        return self._stop[1] if self._stop else None

    @property
    def stop_kind(self) -> StopKind | None:
        """``budget``, ``halt``, ``canary``, ``health_check``, ``window`` or ``store``; None if
        not stopped."""
        return self._stop[0] if self._stop else None

    @property
    def batch_number(self) -> int:
        """1-based number of the batch running or last run (0 before the first)."""
        return self._batch

    @property
    def succeeded_hosts(self) -> tuple[str, ...]:
        return tuple(self._ok)

    @property
    def failed_hosts(self) -> tuple[str, ...]:
        return tuple(self._failed)

    def skipped_hosts(self) -> list[str]:
        """Planned hosts that never started (in plan order). Final once :meth:`next_batch` has
        returned None; they are reported as skipped, not failed."""
        return [name for batch in self.plan for name in batch if name not in self._started]

    def may_start_host(self) -> bool:
        """Whether the next host of the current batch may start now. False once the rollout
        has stopped (budget, halt, canary, health check) or the window's cutoff is reached."""
        if not self._in_batch:
            return False
        return self._open()

    # -- events

    def next_batch(self) -> list[str] | None:
        """The hosts of the next batch, or None when every batch ran or the rollout stopped.

        Raises:
            RuntimeError: the previous batch has not been finished with :meth:`batch_finished`.
        """
        if self._in_batch:
            raise RuntimeError("next_batch() called before batch_finished()")
        if self._stop is not None:
            return None
        if self._batch >= len(self.plan):
            if not any(d.event == "done" for d in self.decisions):
                self._log("done", f"all {len(self.plan)} batches ran")
            return None
        if not self._open():
            return None
        self._batch += 1
        hosts = list(self.plan[self._batch - 1])
        self._in_batch = True
        role = " (canary)" if self.canary and self._batch == 1 else ""
        listing = ", ".join(hosts[:5]) + (", ..." if len(hosts) > 5 else "")
        self._log(
            "batch",
            f"batch {self._batch} of {len(self.plan)}{role}: {len(hosts)} "
            f"host{'s' if len(hosts) != 1 else ''} ({listing})",
        )
        return hosts

    def host_started(self, name: str) -> None:
        """Optional: mark a host as started (so a host still running when the run is cancelled
        is not reported as skipped). :meth:`host_finished` marks it too."""
        self._check_member(name)
        self._started.add(name)

    def host_finished(self, name: str, ok: bool, *, halt: bool | None = None) -> None:
        """Record the outcome of a host of the current batch. ``halt`` overrides the rollout's
        ``on_failure`` for this host (None: use it).

        Raises:
            ValueError: ``name`` is not in the current batch, or was already reported.
        """
        self._check_member(name)
        if name in self._ok or name in self._failed:
            raise ValueError(f"host {name!r} already finished")
        self._started.add(name)
        if ok:
            self._ok.append(name)
            return
        self._failed.append(name)
        halting = self.on_failure == "halt" if halt is None else halt
        self.budget.record(True, halt=halting)
        failures, allowed = self.budget.failures, self.budget.allowed
        if self._stop is not None:
            self._log("failed", f"host {name} failed (the rollout had already stopped)", name)
        elif self.canary and self._batch == 1:
            self._stop_with("canary", f"canary batch failed: host {name} failed", host=name)
        elif halting:
            self._stop_with(
                "halt", f"host {name} failed and on_failure is halt: stopping the rollout", name
            )
        elif self.budget.exhausted:
            self._stop_with(
                "budget",
                f"stopped: {failures} failure{'s exceed' if failures != 1 else ' exceeds'} "
                f"{self._budget_text} (SSM rule: stop at the {_ordinal(allowed + 1)})",
                host=name,
            )
        else:
            self._log(
                "failed",
                f"host {name} failed; failure {failures} of {allowed} tolerated "
                f"({self._budget_text}), the rollout goes on",
                host=name,
            )

    def batch_finished(
        self, health_ok: bool = True, detail: str = "", *, checked: bool = False
    ) -> None:
        """Close the current batch (every started host has finished). ``health_ok`` is the
        result of the health check run after it (True when there is none); ``detail`` (e.g.
        ``exit code 1``) is added to the reason when it failed; ``checked``: a health check
        ran (the reasons mention one only then).

        Raises:
            RuntimeError: no batch is running.
        """
        if not self._in_batch:
            raise RuntimeError("batch_finished() called without a running batch")
        self._in_batch = False
        suffix = f" ({detail})" if detail else ""
        is_canary = self.canary and self._batch == 1
        if not health_ok:
            if is_canary:
                reason = f"canary batch failed: health check failed after batch 1{suffix}"
                self._stop_with("canary", reason)
            else:
                reason = f"health check failed after batch {self._batch}{suffix}"
                self._stop_with("health_check", reason)
            return
        if self._stop is not None:
            return
        if is_canary:
            checks = " and the health check" if checked else ""
            self._log("canary_passed", f"canary batch passed: every host{checks} ok")
        else:
            self._log("batch_done", f"batch {self._batch} finished")

    def stop(self, reason: str) -> None:
        """Stop the rollout from outside its rules (the store failed: no host may be patched
        whose result cannot be stored); running hosts finish, no new host starts."""
        self._stop_with("store", reason)

    # -- internals

    def _open(self) -> bool:
        if self._stop is not None:
            return False
        if self.window is None:
            return True
        now = self.clock()
        if not self.window.may_start(now):
            self._stop_with("window", f"{self.window.describe()} (it is {format_time(now)})")
            return False
        return True

    def _check_member(self, name: str) -> None:
        if not self._in_batch or name not in self.plan[self._batch - 1]:
            raise ValueError(f"host {name!r} is not in the running batch")

    def _stop_with(self, kind: StopKind, reason: str, host: str | None = None) -> None:
        if self._stop is None:
            self._stop = (kind, reason)
            self._log("stopped", reason, host=host)

    def _log(self, event: DecisionEvent, reason: str, host: str | None = None) -> None:
        self.decisions.append(Decision(event, reason, self._batch or None, host))
