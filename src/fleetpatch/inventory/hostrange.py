"""Ansible host patterns: ``web[01:03].example.com``, ``db-[a:c]``, ``host:2222``."""

from __future__ import annotations

import re
import string

_RANGE = re.compile(r"\[([^\[\]]*)\]")
_PORT = re.compile(r"^(?P<name>[^:]+):(?P<port>[0-9]+)$")


def expand_host_pattern(pattern: str) -> list[tuple[str, int | None]]:
    """Expand ranges (``[1:3]``, ``[01:10:2]``, ``[a:f]``; several multiply) and split off a
    ``:port`` suffix. Raises ValueError with a readable message for a malformed range."""
    result: list[tuple[str, int | None]] = []
    for name in _expand_ranges(pattern):
        match = _PORT.match(name)
        if match:
            port = int(match["port"])
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} in {pattern!r} is not in 1-65535")
            result.append((match["name"], port))
        else:
            result.append((name, None))
    return result


def _expand_ranges(pattern: str) -> list[str]:
    match = _RANGE.search(pattern)
    if match is None:
        if "[" in pattern or "]" in pattern:
            raise ValueError(f"unbalanced bracket in host pattern {pattern!r}")
        return [pattern]
    values = _range_values(match.group(1), pattern)
    prefix = pattern[: match.start()]
    if "[" in prefix or "]" in prefix:
        raise ValueError(f"unbalanced bracket in host pattern {pattern!r}")
    tails = _expand_ranges(pattern[match.end() :])
    return [prefix + value + tail for value in values for tail in tails]


def _range_values(inner: str, pattern: str) -> list[str]:
    parts = inner.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(
            f"bad range [{inner}] in {pattern!r}: expected [start:end] or [start:end:step]"
        )
    start, end = parts[0] or "0", parts[1]
    step_text = parts[2] if len(parts) == 3 else "1"
    if not step_text.isdigit() or int(step_text) == 0:
        raise ValueError(f"bad range [{inner}] in {pattern!r}: step must be a positive integer")
    step = int(step_text)
    if start.isdigit() and end.isdigit():
        if int(start) > int(end):
            raise ValueError(f"bad range [{inner}] in {pattern!r}: start is after end")
        width = len(start) if start.startswith("0") and len(start) > 1 else 0
        return [str(number).zfill(width) for number in range(int(start), int(end) + 1, step)]
    for letters in (string.ascii_lowercase, string.ascii_uppercase):
        if start in letters and end in letters and len(start) == len(end) == 1:
            first, last = letters.index(start), letters.index(end)
            if first > last:
                raise ValueError(f"bad range [{inner}] in {pattern!r}: start is after end")
            return list(letters[first : last + 1 : step])
    raise ValueError(
        f"bad range [{inner}] in {pattern!r}: expected two numbers or two letters of one case"
    )
