"""Run ids: unique, and sorting them as strings sorts runs by start time."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def new_run_id(now: datetime | None = None) -> str:
    """Return an id like ``20260509T073525123Z-8f3ab2c1d4`` (UTC start time to the
    millisecond, then 40 random bits)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    millis = when.microsecond // 1000
    return f"{when:%Y%m%dT%H%M%S}{millis:03d}Z-{secrets.token_hex(5)}"
