"""Version ordering for picking the latest approved version: rpm (yum/dnf/zypper) and dpkg.

Small, self-contained implementations of rpm's ``rpmvercmp`` (with ``~`` and ``^``) and dpkg's
``verrevcmp``. Pure functions; return -1, 0 or 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_RPM_SEG = re.compile(r"(\d+|[A-Za-z]+|~|\^)")


def split_evr(evr: str) -> tuple[int, str, str]:
    """``[epoch:]version[-release]`` -> (epoch, version, release); a missing epoch is 0."""
    epoch = 0
    if ":" in evr:
        head, _, evr = evr.partition(":")
        epoch = int(head) if head.isdigit() else 0
    version, _, release = evr.rpartition("-") if "-" in evr else (evr, "", "")
    return epoch, version, release


def _cmp(a: int | str, b: int | str) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]


def rpmvercmp(a: str, b: str) -> int:
    """Compare two rpm version (or release) strings like rpm does."""
    if a == b:
        return 0
    sa = [s for s in re.split(r"[^A-Za-z0-9~^]+", a) if s]
    sb = [s for s in re.split(r"[^A-Za-z0-9~^]+", b) if s]
    ta = [t for s in sa for t in _RPM_SEG.findall(s)]
    tb = [t for s in sb for t in _RPM_SEG.findall(s)]
    i = 0
    while True:
        xa = ta[i] if i < len(ta) else None
        xb = tb[i] if i < len(tb) else None
        if xa == "~" or xb == "~":
            if xa != xb:
                return -1 if xa == "~" else 1
        elif xa == "^" or xb == "^":
            if xa != xb:
                if xa is None:
                    return -1
                if xb is None:
                    return 1
                return -1 if xa == "^" else 1
        elif xa is None or xb is None:
            if xa is None and xb is None:
                return 0
            return -1 if xa is None else 1
        else:
            da, db = xa.isdigit(), xb.isdigit()
            if da != db:
                return 1 if da else -1
            c = _cmp(int(xa), int(xb)) if da else _cmp(xa, xb)
            if c:
                return c
        i += 1


def rpm_evr_cmp(a: str, b: str) -> int:
    """Compare two ``[epoch:]version-release`` strings."""
    ea, va, ra = split_evr(a)
    eb, vb, rb = split_evr(b)
    return _cmp(ea, eb) or rpmvercmp(va, vb) or rpmvercmp(ra, rb)


def _dpkg_order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < len(a) else 0
            bc = _dpkg_order(b[j]) if j < len(b) else 0
            if ac != bc:
                return 1 if ac > bc else -1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = _cmp(a[i], b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def dpkg_version_cmp(a: str, b: str) -> int:
    """Compare two Debian versions ``[epoch:]upstream[-revision]``."""
    ea, _, ra = a.partition(":") if ":" in a else ("0", "", a)
    eb, _, rb = b.partition(":") if ":" in b else ("0", "", b)
    c = _cmp(int(ea or 0), int(eb or 0))
    if c:
        return c
    ua, _, va = ra.rpartition("-") if "-" in ra else (ra, "", "")
    ub, _, vb = rb.rpartition("-") if "-" in rb else (rb, "", "")
    return _verrevcmp(ua, ub) or _verrevcmp(va, vb)


def plain_cmp(a: str, b: str) -> int:
    """Fallback ordering (Windows revisions, macOS): numeric when both are numbers."""
    if a.isdigit() and b.isdigit():
        return _cmp(int(a), int(b))
    return rpmvercmp(a, b)


def version_cmp_for(family: str) -> Callable[[str, str], int]:
    """The comparison function for a name family (``apt``, ``yum``, ``zypper`` ...)."""
    if family == "apt":
        return dpkg_version_cmp
    if family in ("yum", "zypper"):
        return rpm_evr_cmp
    return plain_cmp
