"""plan_batches: table cases and hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetpatch.engine.rollout import InvalidSetting, parse_rate, plan_batches, resolve_rate


def names(count: int) -> list[str]:
    return [f"h{i}" for i in range(1, count + 1)]


def shape(batches: list[list[str]]) -> list[int]:
    return [len(batch) for batch in batches]


@pytest.mark.parametrize(
    ("total", "sizes", "expected"),
    [
        (10, [1, "10%", "50%", "100%"], [1, 1, 5, 3]),
        (5, [1, "50%"], [1, 2, 2]),
        (5, [2], [2, 2, 1]),  # the last size repeats; the last batch holds what is left
        (3, [10], [3]),  # a batch never exceeds the hosts left
        (4, [], [4]),  # no sizes: one batch
        (0, [1, "50%"], []),
        (1, ["1%"], [1]),  # a percentage is at least 1 host
        (200, ["1%", "10%", "100%"], [2, 20, 178]),
        (7, [1, 1, "100%"], [1, 1, 5]),
        (9, ["33%"], [2, 2, 2, 2, 1]),  # 2.97 rounds down to 2
        (4, ["100%", 1], [4]),  # later sizes are never reached
    ],
)
def test_plan_shapes(total: int, sizes: list[int | str], expected: list[int]) -> None:
    assert shape(plan_batches(names(total), sizes)) == expected


def test_order_is_preserved() -> None:
    assert plan_batches(["c", "a", "b"], [1, 2]) == [["c"], ["a", "b"]]


@pytest.mark.parametrize(
    ("sizes", "fragment"),
    [
        ([1, 0], "batches[1]: a batch must hold at least 1 host"),
        (["0%"], "batches[0]: a batch must hold at least 1 host"),
        ([-2], "batches[0]: must not be negative"),
        (["101%"], "batches[0]: a percentage must be at most 100%"),
        (["x"], "batches[0]: expected a number of hosts >= 1"),
        ([True], "batches[0]: expected a number of hosts >= 1"),
    ],
)
def test_bad_sizes(sizes: list[int | str], fragment: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        plan_batches(names(3), sizes)
    assert fragment in str(caught.value)


def test_duplicate_names_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unique"):
        plan_batches(["a", "a"], [1])


size = st.one_of(st.integers(1, 40), st.integers(1, 100).map(lambda p: f"{p}%"))


@given(total=st.integers(0, 300), sizes=st.lists(size, min_size=1, max_size=6))
def test_batches_partition_the_hosts_in_order(total: int, sizes: list[int | str]) -> None:
    hosts = names(total)
    batches = plan_batches(hosts, sizes)
    assert [h for batch in batches for h in batch] == hosts
    assert all(batch for batch in batches)


@given(total=st.integers(1, 300), sizes=st.lists(size, min_size=1, max_size=6))
def test_each_batch_has_its_size_and_the_last_size_repeats(
    total: int, sizes: list[int | str]
) -> None:
    batches = plan_batches(names(total), sizes)
    wanted = [resolve_rate(parse_rate(s, "batch size"), total) for s in sizes]
    assert len(batches[0]) == min(wanted[0], total)
    for index, batch in enumerate(batches[:-1]):  # every batch but the last is full
        assert len(batch) == wanted[min(index, len(wanted) - 1)]
    last = len(batches) - 1
    assert len(batches[-1]) <= wanted[min(last, len(wanted) - 1)]


@given(total=st.integers(1, 500), percent=st.integers(1, 100))
def test_a_percentage_batch_is_floor_but_at_least_one(total: int, percent: int) -> None:
    first = plan_batches(names(total), [f"{percent}%"])[0]
    assert len(first) == max(1, total * percent // 100)
