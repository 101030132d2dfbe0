"""Ansible host patterns."""

from __future__ import annotations

import pytest

from fleetpatch.inventory.hostrange import expand_host_pattern


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("plain.example.com", [("plain.example.com", None)]),
        ("web[1:3]", [("web1", None), ("web2", None), ("web3", None)]),
        ("web[01:03].x", [("web01.x", None), ("web02.x", None), ("web03.x", None)]),
        ("n[:2]", [("n0", None), ("n1", None), ("n2", None)]),
        ("n[0:10:5]", [("n0", None), ("n5", None), ("n10", None)]),
        ("db-[a:c]", [("db-a", None), ("db-b", None), ("db-c", None)]),
        ("D[X:Y]", [("DX", None), ("DY", None)]),
        ("h[1:2][a:b]", [("h1a", None), ("h1b", None), ("h2a", None), ("h2b", None)]),
        ("h:2222", [("h", 2222)]),
        ("h[1:2]:2222", [("h1", 2222), ("h2", 2222)]),
        ("fe80::1", [("fe80::1", None)]),
    ],
)
def test_expand(pattern: str, expected: list[tuple[str, int | None]]) -> None:
    assert expand_host_pattern(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("h[3:1]", "start is after end"),
        ("h[c:a]", "start is after end"),
        ("h[a:3]", "two numbers or two letters"),
        ("h[a:C]", "two numbers or two letters"),
        ("h[1]", "expected [start:end]"),
        ("h[1:2:0]", "step must be a positive integer"),
        ("h[1:2", "unbalanced bracket"),
        ("h1:70000", "not in 1-65535"),
    ],
)
def test_bad_patterns(pattern: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        expand_host_pattern(pattern)
    assert fragment in str(caught.value)
