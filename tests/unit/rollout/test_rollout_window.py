"""Maintenance window: end parsing, durations, cutoff boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetpatch.engine.rollout import (
    InvalidSetting,
    Window,
    format_duration,
    format_time,
    may_start,
    parse_duration,
    parse_window_end,
)

PLUS2 = timezone(timedelta(hours=2))


def utc(hour: int, minute: int = 0, second: int = 0, day: int = 4) -> datetime:
    return datetime(2025, 5, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1h0m5s", timedelta(hours=1, seconds=5)),
        ("0s", timedelta(0)),
        ("0m", timedelta(0)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "expected a duration such as 90s, 30m, 2h or 1h30m"),
        ("30", "expected a duration"),
        ("30 m", "expected a duration"),
        ("1.5h", "expected a duration"),
        ("30m1h", "expected a duration"),
        ("-5m", "expected a duration"),
        (30, "add a unit: 30m or 30s"),
        (True, "expected a duration"),
    ],
)
def test_bad_durations(value: object, fragment: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_duration(value, "cutoff")  # type: ignore[arg-type]
    assert fragment in caught.value.problem
    assert str(caught.value).startswith("cutoff: ")


@given(st.integers(0, 10 * 24 * 3600))
def test_format_duration_round_trips(seconds: int) -> None:
    span = timedelta(seconds=seconds)
    assert parse_duration(format_duration(span)) == span


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("2025-05-04T03:00:00Z", utc(9), utc(3)),  # absolute: taken as is, even if past
        ("2025-05-04T05:00+02:00", utc(1), utc(3)),
        ("03:00Z", utc(1, 10), utc(3)),  # later today
        ("03:00Z", utc(3, 20), utc(3, day=5)),  # already past: tomorrow
        ("03:00Z", utc(3), utc(3, day=5)),  # exactly now is not "next"
        ("05:00+02:00", utc(1), utc(3)),
        ("5:00:30+0200", utc(1), utc(3, 0, 30)),
        ("03:00", datetime(2025, 5, 4, 1, 0, tzinfo=PLUS2), datetime(2025, 5, 4, 3, tzinfo=PLUS2)),
        ("03:00", utc(1), utc(3)),  # local = the zone of now
        ("23:59Z", utc(0), utc(23, 59)),
        ("00:00Z", utc(23, 30), utc(0, day=5)),
    ],
)
def test_window_end_resolution(text: str, now: datetime, expected: datetime) -> None:
    assert parse_window_end(text).resolve(now) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2025-05-04T03:00", "add Z or an offset such as +02:00"),
        ("2025-05-04", "add Z or an offset"),
        ("24:00", "not a valid time of day"),
        ("03:60Z", "not a valid time of day"),
        ("tomorrow", "expected an ISO-8601 time with an offset"),
        ("3pm", "expected an ISO-8601 time"),
    ],
)
def test_bad_window_ends(text: str, fragment: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_window_end(text)
    assert fragment in caught.value.problem


def test_resolve_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="time zone"):
        parse_window_end("03:00").resolve(datetime(2025, 5, 4, 1))


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (utc(2, 29, 59), True),
        (utc(2, 30), False),  # exactly at end - cutoff: nothing new starts
        (utc(2, 30, 1), False),
        (utc(3), False),
        (utc(4), False),
        (utc(0), True),
    ],
)
def test_cutoff_boundaries(now: datetime, allowed: bool) -> None:
    assert may_start(now, utc(3), timedelta(minutes=30)) is allowed
    assert Window(utc(3), timedelta(minutes=30)).may_start(now) is allowed


def test_zero_cutoff_allows_until_the_end() -> None:
    assert may_start(utc(2, 59, 59), utc(3), timedelta(0))
    assert not may_start(utc(3), utc(3), timedelta(0))


@given(
    offset=st.integers(-36 * 3600, 36 * 3600),
    cutoff=st.integers(0, 6 * 3600),
)
def test_may_start_is_before_end_minus_cutoff(offset: int, cutoff: int) -> None:
    end = utc(3)
    now = end + timedelta(seconds=offset)
    assert may_start(now, end, timedelta(seconds=cutoff)) == (offset < -cutoff)


def test_describe() -> None:
    window = Window(utc(3), timedelta(minutes=30))
    assert window.describe() == (
        "maintenance window closes at 2025-05-04 03:00Z, cutoff 30m: no new host starts from 02:30Z"
    )
    across_midnight = Window(utc(0, 15), timedelta(minutes=30))
    assert "from 2025-05-03 23:45Z" in across_midnight.describe()
    assert format_time(datetime(2025, 5, 4, 5, 0, 7, tzinfo=PLUS2)) == "2025-05-04 05:00:07+02:00"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        may_start(datetime(2025, 5, 4, 1), utc(3), timedelta(0))
