"""Version ordering for picking the latest approved version, per name family.

The orderings themselves live in :mod:`fleetpatch.platforms.versions` (dpkg's ``verrevcmp``,
rpm's ``rpmvercmp``); this module adapts them to the version strings baselines and facts carry
(``[epoch:]version[-release]``) and returns -1, 0 or 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fleetpatch.errors import ParseError
from fleetpatch.platforms.versions import compare_dpkg, compare_rpm_evr, rpmvercmp


def split_evr(evr: str) -> tuple[int, str, str]:
    """``[epoch:]version[-release]`` -> (epoch, version, release); a missing epoch is 0."""
    epoch = 0
    if ":" in evr:
        head, _, evr = evr.partition(":")
        epoch = int(head) if head.isdigit() else 0
    version, _, release = evr.rpartition("-") if "-" in evr else (evr, "", "")
    return epoch, version, release


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


@functools.lru_cache(maxsize=65536)
def rpm_evr_cmp(a: str, b: str) -> int:
    """Compare two ``[epoch:]version-release`` strings like rpm (cached: a fleet compares the
    same pairs on every host)."""
    return _sign(compare_rpm_evr(split_evr(a), split_evr(b)))


def dpkg_version_cmp(a: str, b: str) -> int:
    """Compare two Debian versions ``[epoch:]upstream[-revision]`` like dpkg; a malformed one
    (which no package manager prints) falls back to rpm-style segment ordering."""
    try:
        return _sign(compare_dpkg(a, b))
    except ParseError:
        return _sign(rpmvercmp(a, b))


def plain_cmp(a: str, b: str) -> int:
    """Fallback ordering (Windows revisions, macOS): numeric when both are numbers."""
    if a.isdigit() and b.isdigit():
        return _sign(int(a) - int(b))
    return _sign(rpmvercmp(a, b))


def version_cmp_for(family: str) -> Callable[[str, str], int]:
    """The comparison function for a name family (``apt``, ``yum``, ``zypper`` ...)."""
    if family == "apt":
        return dpkg_version_cmp
    if family in ("yum", "zypper"):
        return rpm_evr_cmp
    return plain_cmp
