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


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and a[i] not in _DIGITS) or (j < len(b) and b[j] not in _DIGITS):
            ac = _dpkg_order(a[i]) if i < len(a) else 0
            bc = _dpkg_order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i] in _DIGITS and j < len(b) and b[j] in _DIGITS:
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i] in _DIGITS:
            return 1
        if j < len(b) and b[j] in _DIGITS:
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_dpkg(a: str, b: str) -> int:
    """Compare two Debian versions like ``dpkg --compare-versions``.

    Raises:
        ParseError: either version has a non-numeric epoch or an empty upstream part.
    """
    ea, ua, ra = split_dpkg(a)
    eb, ub, rb = split_dpkg(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _sign(_verrevcmp(ua, ub)) or _sign(_verrevcmp(ra, rb))


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
