"""ErrorBudget: SSM's MaxErrors rule and on_failure halt."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetpatch.engine.rollout import ErrorBudget, parse_rate, resolve_rate


@given(max_errors=st.integers(0, 50), successes=st.lists(st.booleans(), max_size=100))
def test_exhausted_exactly_at_max_errors_plus_one(max_errors: int, successes: list[bool]) -> None:
    budget = ErrorBudget(max_errors)
    failures = 0
    for ok in successes:
        budget.record(failed=not ok)
        failures += not ok
        assert budget.failures == failures
        assert budget.exhausted == (failures >= max_errors + 1)
        assert budget.remaining == (0 if budget.exhausted else max_errors - failures)


@pytest.mark.parametrize(
    ("rate", "total", "stops_at"),
    [
        ("3", 100, 4),  # SSM: MaxErrors 3 -> the 4th error
        ("10%", 50, 6),  # SSM: 10% of 50 -> the 6th error
        ("0", 10, 1),
        ("0%", 10, 1),
        ("10%", 5, 1),
        ("100%", 4, 5),  # never reached with 4 hosts: the whole rollout is tolerated
    ],
)
def test_worked_examples(rate: str, total: int, stops_at: int) -> None:
    budget = ErrorBudget(resolve_rate(parse_rate(rate, "max_errors"), total))
    for number in range(1, stops_at + 1):
        assert not budget.exhausted
        budget.record(failed=True)
        assert budget.exhausted == (number == stops_at)


def test_success_never_spends_the_budget() -> None:
    budget = ErrorBudget(0)
    for _ in range(10):
        budget.record(failed=False, halt=True)
    assert not budget.exhausted
    assert budget.allowed == 0


def test_halt_exhausts_whatever_the_budget() -> None:
    budget = ErrorBudget(10)
    budget.record(failed=True)
    assert not budget.exhausted
    budget.record(failed=True, halt=True)
    assert budget.exhausted
    assert budget.remaining == 0


def test_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        ErrorBudget(-1)
