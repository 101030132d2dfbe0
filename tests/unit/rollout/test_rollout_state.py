"""RolloutState: the scenarios an executor meets, driven like the executor drives it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetpatch.engine.rollout import (
    RolloutState,
    Window,
    parse_rate,
    plan_batches,
)

HOSTS = [f"web-{i}" for i in range(1, 11)]


def drive(
    state: RolloutState,
    failing: Iterable[str] = (),
    health: Callable[[int], bool] = lambda batch: True,
    halting: Iterable[str] = (),
) -> list[str]:
    """Run hosts one at a time (concurrency 1); returns the hosts that started."""
    failing, halting = set(failing), set(halting)
    started: list[str] = []
    while (batch := state.next_batch()) is not None:
        for name in batch:
            if not state.may_start_host():
                break
            started.append(name)
            state.host_finished(
                name, ok=name not in failing, halt=True if name in halting else None
            )
        state.batch_finished(health_ok=health(state.batch_number))
    return started


def test_every_batch_runs_when_all_is_well() -> None:
    state = RolloutState(plan_batches(HOSTS, [1, "50%", "100%"]), max_errors=0, canary=True)
    assert drive(state) == HOSTS
    assert state.stopped_reason is None
    assert state.stop_kind is None
    assert state.skipped_hosts() == []
    assert state.succeeded_hosts == tuple(HOSTS)
    events = [d.event for d in state.decisions]
    assert events == [
        "batch",
        "canary_passed",
        "batch",
        "batch_done",
        "batch",
        "batch_done",
        "done",
    ]
    assert state.decisions[0].reason == "batch 1 of 3 (canary): 1 host (web-1)"
    assert state.decisions[2].reason.startswith("batch 2 of 3: 5 hosts (web-2, ")


def test_canary_failure_stops_even_within_budget() -> None:
    state = RolloutState(plan_batches(HOSTS, [2, "100%"]), max_errors=5, canary=True)
    started = drive(state, failing=["web-1"])
    assert started == ["web-1"]  # the 2nd canary host does not start either
    assert state.stop_kind == "canary"
    assert state.stopped_reason == "canary batch failed: host web-1 failed"
    assert state.skipped_hosts() == HOSTS[1:]
    assert state.failed_hosts == ("web-1",)


def test_canary_health_check_failure() -> None:
    state = RolloutState(plan_batches(HOSTS, [1, "100%"]), canary=True)
    drive(state, health=lambda batch: False)
    assert state.stop_kind == "canary"
    assert state.stopped_reason == "canary batch failed: health check failed after batch 1"
    assert state.skipped_hosts() == HOSTS[1:]


def test_health_check_failure_after_a_later_batch() -> None:
    state = RolloutState(plan_batches(HOSTS, [1, 3]), max_errors=3)
    started = drive(state, health=lambda batch: batch != 2)
    assert started == HOSTS[:4]
    assert state.stop_kind == "health_check"
    assert state.stopped_reason == "health check failed after batch 2"
    assert state.skipped_hosts() == HOSTS[4:]
    assert state.failed_hosts == ()


def test_health_check_detail_is_kept() -> None:
    state = RolloutState([["a"], ["b"]])
    state.next_batch()
    state.host_finished("a", ok=True)
    state.batch_finished(health_ok=False, detail="exit code 7")
    assert state.stopped_reason == "health check failed after batch 1 (exit code 7)"
    assert state.next_batch() is None


def test_without_canary_a_first_batch_failure_is_a_normal_failure() -> None:
    state = RolloutState(plan_batches(HOSTS, [2, "100%"]), max_errors=1)
    assert drive(state, failing=["web-1"]) == HOSTS
    assert state.stopped_reason is None
    assert state.failed_hosts == ("web-1",)


def test_continue_host_is_skipped_and_the_rollout_goes_on() -> None:
    state = RolloutState(plan_batches(HOSTS, [5]), max_errors=2, on_failure="continue")
    assert drive(state, failing=["web-2", "web-7"]) == HOSTS
    assert state.failed_hosts == ("web-2", "web-7")
    assert state.stopped_reason is None
    tolerated = [d for d in state.decisions if d.event == "failed"]
    assert tolerated[0].host == "web-2"
    assert tolerated[0].reason == (
        "host web-2 failed; failure 1 of 2 tolerated (max_errors=2), the rollout goes on"
    )


def test_halt_rollout_stops_at_the_first_failure() -> None:
    state = RolloutState(plan_batches(HOSTS, [5]), max_errors=9, on_failure="halt")
    assert drive(state, failing=["web-3"]) == HOSTS[:3]
    assert state.stop_kind == "halt"
    assert state.stopped_reason == "host web-3 failed and on_failure is halt: stopping the rollout"
    assert state.skipped_hosts() == HOSTS[3:]


def test_halt_per_host_overrides_continue() -> None:
    state = RolloutState(plan_batches(HOSTS, [5]), max_errors=9)
    drive(state, failing=["web-2", "web-4"], halting=["web-4"])
    assert state.stop_kind == "halt"
    assert state.failed_hosts == ("web-2", "web-4")
    assert state.skipped_hosts() == HOSTS[4:]


def test_budget_exhausted_mid_batch_running_hosts_finish() -> None:
    """Five hosts of a batch run at once; the 2nd failure (max_errors=1) stops new starts,
    the hosts already running still report, the rest of the batch and later batches skip."""
    state = RolloutState(plan_batches(HOSTS, [8]), max_errors=1)
    batch = state.next_batch()
    assert batch == HOSTS[:8]
    running = []
    for name in batch[:5]:  # concurrency 5
        assert state.may_start_host()
        state.host_started(name)
        running.append(name)
    state.host_finished("web-1", ok=False)
    assert state.may_start_host()  # 1 failure is tolerated
    state.host_finished("web-2", ok=False)
    assert not state.may_start_host()
    assert state.stopped_reason == (
        "stopped: 2 failures exceed max_errors=1 (SSM rule: stop at the 2nd)"
    )
    state.host_finished("web-3", ok=True)  # running hosts finish and are recorded
    state.host_finished("web-4", ok=False)
    state.host_finished("web-5", ok=True)
    assert state.stopped_reason.startswith("stopped: 2 failures")  # the first reason stays
    assert state.decisions[-1].reason == "host web-4 failed (the rollout had already stopped)"
    state.batch_finished(health_ok=True)
    assert state.next_batch() is None
    assert state.failed_hosts == ("web-1", "web-2", "web-4")
    assert state.succeeded_hosts == ("web-3", "web-5")
    assert state.skipped_hosts() == HOSTS[5:]


def test_percentage_budget_reason_shows_its_origin() -> None:
    hosts = [f"h{i}" for i in range(50)]
    state = RolloutState([hosts], max_errors=parse_rate("10%", "max_errors"))
    assert state.budget.allowed == 5
    assert drive(state, failing=hosts[:10]) == hosts[:6]  # the 6th failure stops
    assert state.stopped_reason == (
        "stopped: 6 failures exceed max_errors=5 (10% of 50 hosts) (SSM rule: stop at the 6th)"
    )


@pytest.mark.parametrize(
    ("allowed", "ordinal"), [(0, "1st"), (2, "3rd"), (10, "11th"), (20, "21st")]
)
def test_ordinals(allowed: int, ordinal: str) -> None:
    hosts = [f"h{i}" for i in range(30)]
    state = RolloutState([hosts], max_errors=allowed)
    drive(state, failing=hosts)
    assert state.stopped_reason is not None
    assert state.stopped_reason.endswith(f"(SSM rule: stop at the {ordinal})")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_window_cutoff_stops_new_batches_and_hosts() -> None:
    clock = Clock(datetime(2025, 5, 4, 2, 0, tzinfo=UTC))
    window = Window(datetime(2025, 5, 4, 3, 0, tzinfo=UTC), timedelta(minutes=30))
    state = RolloutState(plan_batches(HOSTS, [2]), window=window, clock=clock)
    first = state.next_batch()
    assert first == HOSTS[:2]
    assert state.may_start_host()
    state.host_finished("web-1", ok=True)
    clock.now = datetime(2025, 5, 4, 2, 30, tzinfo=UTC)  # cutoff reached mid-batch
    assert not state.may_start_host()
    state.batch_finished()
    assert state.next_batch() is None
    assert state.stop_kind == "window"
    assert state.stopped_reason == (
        "maintenance window closes at 2025-05-04 03:00Z, cutoff 30m: no new host starts from "
        "02:30Z (it is 2025-05-04 02:30Z)"
    )
    assert state.skipped_hosts() == HOSTS[1:]
    assert state.failed_hosts == ()


def test_window_already_closed_starts_nothing() -> None:
    clock = Clock(datetime(2025, 5, 4, 4, 0, tzinfo=UTC))
    window = Window(datetime(2025, 5, 4, 3, 0, tzinfo=UTC))
    state = RolloutState([HOSTS], window=window, clock=clock)
    assert state.next_batch() is None
    assert state.skipped_hosts() == HOSTS
    assert state.stop_kind == "window"


def test_misuse_is_refused() -> None:
    state = RolloutState([["a"], ["b"]])
    assert not state.may_start_host()  # no batch running
    with pytest.raises(RuntimeError):
        state.batch_finished()
    state.next_batch()
    with pytest.raises(RuntimeError):
        state.next_batch()
    with pytest.raises(ValueError, match="not in the running batch"):
        state.host_finished("b", ok=True)
    state.host_finished("a", ok=True)
    with pytest.raises(ValueError, match="already finished"):
        state.host_finished("a", ok=True)
    with pytest.raises(ValueError, match="twice"):
        RolloutState([["a"], ["a"]])
    with pytest.raises(ValueError, match="empty"):
        RolloutState([["a"], []])


def test_empty_plan_is_done_at_once() -> None:
    state = RolloutState([])
    assert state.next_batch() is None
    assert state.skipped_hosts() == []
    assert state.stopped_reason is None


@given(
    total=st.integers(1, 40),
    sizes=st.lists(st.integers(1, 10), min_size=1, max_size=4),
    max_errors=st.integers(0, 5),
    outcomes=st.lists(st.booleans(), min_size=40, max_size=40),
    canary=st.booleans(),
)
def test_sequential_rollout_invariants(
    total: int, sizes: list[int], max_errors: int, outcomes: list[bool], canary: bool
) -> None:
    hosts = [f"h{i}" for i in range(total)]
    failing = [h for h, ok in zip(hosts, outcomes, strict=False) if not ok]
    state = RolloutState(plan_batches(hosts, sizes), max_errors=max_errors, canary=canary)
    started = drive(state, failing=failing)
    # started hosts are a prefix, and every host is exactly one of ok / failed / skipped
    assert started == hosts[: len(started)]
    assert sorted([*state.succeeded_hosts, *state.failed_hosts, *state.skipped_hosts()]) == sorted(
        hosts
    )
    failures = len(state.failed_hosts)
    first_batch = set(plan_batches(hosts, sizes)[0])
    canary_failed = canary and bool(first_batch & set(state.failed_hosts))
    if state.stop_kind == "budget":
        assert failures == max_errors + 1  # stops exactly at the (max_errors+1)-th failure
        assert started[-1] == state.failed_hosts[-1]
    elif state.stop_kind == "canary":
        assert canary_failed
        assert started[-1] == state.failed_hosts[-1]
    else:
        assert state.stop_kind is None
        assert failures <= max_errors
        assert started == hosts


def test_one_failure_over_a_zero_budget_reads_as_a_sentence() -> None:
    state = RolloutState([["a", "b"]], max_errors=0)
    assert state.next_batch() == ["a", "b"]
    state.host_started("a")
    state.host_finished("a", ok=False)
    assert state.stopped_reason == (
        "stopped: 1 failure exceeds max_errors=0 (SSM rule: stop at the 1st)"
    )


def test_canary_passed_mentions_a_health_check_only_when_one_ran() -> None:
    for checked, reason in (
        (False, "canary batch passed: every host ok"),
        (True, "canary batch passed: every host and the health check ok"),
    ):
        state = RolloutState([["a"], ["b"]], max_errors=0, canary=True)
        assert state.next_batch() == ["a"]
        state.host_started("a")
        state.host_finished("a", ok=True)
        state.batch_finished(health_ok=True, checked=checked)
        assert state.decisions[-1].reason == reason
