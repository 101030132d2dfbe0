"""Package version ordering, as the package managers themselves define it. Pure functions.

* :func:`compare_dpkg` follows dpkg's ``verrevcmp`` (``dpkg --compare-versions``): epoch, then
  upstream version, then Debian revision; within a part, alternating non-digit runs (compared
  character by character: ``~`` before end of string before letters before other characters)
  and digit runs (compared as numbers).
* :func:`compare_rpm_evr` follows rpm's ``rpmvercmp`` (rpm >= 4.15, with ``^``) on epoch,
  version and release.

Both return a negative number, zero or a positive number, like ``cmp``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from fleetpatch.errors import ParseError

_DIGITS = frozenset("0123456789")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_EPOCH = re.compile(r"^[0-9]+$")


def split_dpkg(version: str) -> tuple[int, str, str]:
    """Split a Debian version into (epoch, upstream, revision); revision "" when absent.

    Raises:
        ParseError: the epoch is not a number or the upstream part is empty.
    """
    epoch = 0
    rest = version.strip()
    if ":" in rest:
        head, rest = rest.split(":", 1)
        if not _EPOCH.match(head):
            raise ParseError(
                f"expected a numeric epoch in Debian version {version!r}, got {head!r}"
            )
        epoch = int(head)
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        upstream, revision = rest, ""
    if not upstream:
        raise ParseError(f"expected an upstream version in Debian version {version!r}, got none")
    return epoch, upstream, revision


def _dpkg_order(char: str) -> int:
    if char == "~":
        return -1
    if char in _DIGITS:
        return 0
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


_RUNS = re.compile(r"(\D*)(\d*)")
_END: tuple[tuple[int, ...], int] = ((0,), 0)
"""What dpkg compares against once a version part has run out: an empty non-digit run and
the number 0."""

PartKey = tuple[tuple[tuple[int, ...], int], ...]


def _part_key(part: str) -> PartKey:
    """One version part as (non-digit run, number) pairs, ready for :func:`_compare_parts`.

    A non-digit run becomes its characters' dpkg orders followed by 0, the end of the run (no
    character has order 0: ``~`` is -1 and sorts before the end, everything else after it), so
    tuple order on two runs is dpkg's character walk; a digit run becomes its number.
    """
    return tuple(
        ((*(_dpkg_order(c) for c in letters), 0), int(digits) if digits else 0)
        for letters, digits in _RUNS.findall(part)
    )


def _compare_parts(a: PartKey, b: PartKey) -> int:
    """dpkg's ``verrevcmp`` on two keys: pair by pair, a part that ran out going on with
    ``_END`` pairs (so ``1.0~`` sorts before ``1.0``, and ``1.0`` before ``1.0a``)."""
    for k in range(max(len(a), len(b))):
        pa = a[k] if k < len(a) else _END
        pb = b[k] if k < len(b) else _END
        if pa != pb:
            return 1 if pa > pb else -1
    return 0


@functools.lru_cache(maxsize=65536)
def dpkg_key(version: str) -> tuple[int, PartKey, PartKey]:
    """``(epoch, upstream key, revision key)`` of a Debian version, for :func:`compare_dpkg`.
    Cached: a fleet repeats the same versions on every host.

    Raises:
        ParseError: as :func:`split_dpkg`.
    """
    epoch, upstream, revision = split_dpkg(version)
    return epoch, _part_key(upstream), _part_key(revision)


def compare_dpkg(a: str, b: str) -> int:
    """Compare two Debian versions like ``dpkg --compare-versions`` (-1, 0 or 1).

    Raises:
        ParseError: either version has a non-numeric epoch or an empty upstream part.
    """
    ea, ua, ra = dpkg_key(a)
    if a == b:
        return 0
    eb, ub, rb = dpkg_key(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_parts(ua, ub) or _compare_parts(ra, rb)


def rpmvercmp(a: str, b: str) -> int:
    """rpm's segment comparison of one version or release string (returns -1, 0 or 1)."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and a[i] not in _ALNUM and a[i] not in "~^":
            i += 1
        while j < len(b) and b[j] not in _ALNUM and b[j] not in "~^":
            j += 1
        ca = a[i] if i < len(a) else ""
        cb = b[j] if j < len(b) else ""
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i += 1
            j += 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (ca and cb):
            break
        numeric = ca in _DIGITS
        in_segment: Callable[[str], bool] = (
            (lambda c: c in _DIGITS) if numeric else (lambda c: c.isascii() and c.isalpha())
        )
        si = i
        while i < len(a) and in_segment(a[i]):
            i += 1
        sj = j
        while j < len(b) and in_segment(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            return 1 if numeric else -1
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= len(a) and j >= len(b):
        return 0
    return 1 if i < len(a) else -1


Evr = tuple[int | str | None, str, str | None]


def compare_rpm_evr(a: Evr, b: Evr) -> int:
    """Compare (epoch, version, release) triples like rpm.

    A missing epoch (None, "" or "(none)") is 0. A release of None or "" on either side is not
    compared (rpm's rule for dependency ranges such as ``>= 1.2``).

    Raises:
        ParseError: an epoch is not a number.
    """
    ea, eb = _rpm_epoch(a[0]), _rpm_epoch(b[0])
    if ea != eb:
        return -1 if ea < eb else 1
    result = rpmvercmp(a[1], b[1])
    if result or not a[2] or not b[2]:
        return result
    return rpmvercmp(a[2], b[2])


def _rpm_epoch(value: int | str | None) -> int:
    if value is None or value in ("", "(none)"):
        return 0
    if isinstance(value, int):
        return value
    if not _EPOCH.match(value):
        raise ParseError(f"expected a numeric rpm epoch, got {value!r}")
    return int(value)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


dpkg_sort_key = functools.cmp_to_key(compare_dpkg)
"""``sorted(versions, key=dpkg_sort_key)`` sorts Debian versions oldest first."""
