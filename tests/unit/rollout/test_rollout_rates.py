"""Rates (max_concurrency, max_errors, batch sizes): SSM's grammar and our rounding."""

from __future__ import annotations

import pytest

from fleetpatch.engine.rollout import (
    InvalidSetting,
    Rate,
    RateKind,
    parse_batch_sizes,
    parse_rate,
    resolve_rate,
)
from fleetpatch.errors import InputError


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (1, "max_concurrency", Rate("max_concurrency", 1)),
        ("50", "max_concurrency", Rate("max_concurrency", 50)),
        ("1%", "max_concurrency", Rate("max_concurrency", 1, percent=True)),
        ("99%", "max_concurrency", Rate("max_concurrency", 99, percent=True)),
        ("100%", "max_concurrency", Rate("max_concurrency", 100, percent=True)),
        (1000, "max_concurrency", Rate("max_concurrency", 1000)),
        (0, "max_errors", Rate("max_errors", 0)),
        ("0", "max_errors", Rate("max_errors", 0)),
        ("0%", "max_errors", Rate("max_errors", 0, percent=True)),
        ("5%", "max_errors", Rate("max_errors", 5, percent=True)),
        ("100%", "max_errors", Rate("max_errors", 100, percent=True)),
        (" 25% ", "batch size", Rate("batch size", 25, percent=True)),
    ],
)
def test_valid_rates(value: int | str, kind: RateKind, expected: Rate) -> None:
    assert parse_rate(value, kind) == expected


@pytest.mark.parametrize(
    ("value", "kind", "fragment"),
    [
        (0, "max_concurrency", "max_concurrency must be at least 1 host"),
        ("0%", "max_concurrency", "at least 1 host"),
        ("0", "batch size", "a batch must hold at least 1 host"),
        ("0%", "batch size", "a batch must hold at least 1 host"),
        (-1, "max_errors", "must not be negative"),
        ("-5%", "batch size", "must not be negative"),
        ("101%", "max_concurrency", "at most 100%"),
        ("150%", "max_errors", "at most 100%"),
        ("010", "max_concurrency", "without leading zeros"),
        ("05%", "max_errors", "without leading zeros"),
        ("1.5", "max_concurrency", "expected a number of hosts >= 1 or a percentage 1%-100%"),
        (1.5, "batch size", "expected a number of hosts >= 1"),
        ("ten", "max_errors", "expected a number of failures >= 0 or a percentage 0%-100%"),
        ("", "max_errors", "expected a number of failures"),
        ("10 %", "max_concurrency", "expected a number of hosts"),
        (True, "max_errors", "expected a number of failures"),
        (None, "max_concurrency", "expected a number of hosts"),
    ],
)
def test_invalid_rates(value: object, kind: RateKind, fragment: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_rate(value, kind)  # type: ignore[arg-type]
    assert isinstance(caught.value, InputError)
    assert fragment in caught.value.problem
    assert str(caught.value).startswith(f"{kind}: ")
    assert str(caught.value).endswith(f"got {value!r}")


@pytest.mark.parametrize(
    ("text", "kind", "total", "expected"),
    [
        ("10%", "max_errors", 50, 5),  # SSM's example: the 6th error stops the run
        ("10%", "max_errors", 25, 2),  # 2.5 rounds down
        ("10%", "max_errors", 5, 0),  # 0.5 rounds down to 0: the 1st failure stops
        ("0%", "max_errors", 1000, 0),
        ("100%", "max_errors", 7, 7),
        ("3", "max_errors", 2, 3),  # a count is taken as written
        ("10%", "max_concurrency", 5, 1),  # concurrency is at least 1
        ("10%", "max_concurrency", 0, 1),
        ("33%", "max_concurrency", 10, 3),
        ("50%", "batch size", 5, 2),
        ("1%", "batch size", 1, 1),
        ("100%", "batch size", 3, 3),
        ("7", "batch size", 3, 7),
    ],
)
def test_resolve_rate(text: str, kind: RateKind, total: int, expected: int) -> None:
    assert resolve_rate(parse_rate(text, kind), total) == expected


def test_describe_shows_the_percentage_origin() -> None:
    assert parse_rate("10%", "max_errors").describe(50) == "5 (10% of 50 hosts)"
    assert parse_rate("4", "max_errors").describe(50) == "4"
    assert str(parse_rate("10%", "max_errors")) == "10%"


def test_parse_batch_sizes_from_option_text_and_list() -> None:
    expected = (Rate("batch size", 1), Rate("batch size", 10, True), Rate("batch size", 50, True))
    assert parse_batch_sizes("1,10%,50%") == expected
    assert parse_batch_sizes([1, "10%", "50%"]) == expected


def test_parse_batch_sizes_names_the_bad_position() -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_batch_sizes("1,0,50%")
    assert str(caught.value).startswith("batches[1]: a batch must hold at least 1 host")
