"""Version ordering: known cases, properties, and dpkg's own answer on this host."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetpatch.errors import ParseError
from fleetpatch.platforms.versions import (
    compare_dpkg,
    compare_rpm_evr,
    dpkg_sort_key,
    rpmvercmp,
    split_dpkg,
)

DPKG_CASES = [  # (a, b, sign of compare(a, b))
    ("1.0", "1.0", 0),
    ("1.0", "1.0-0", 0),
    ("1.0", "1.1", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~~", "1.0~", -1),
    ("1.0~", "1.0", -1),
    ("1.0", "1.0+b1", -1),
    ("1.0", "1.0a", -1),
    ("1.0a", "1.0+", -1),  # letters sort before non-letters
    ("1:0.1", "9.9", 1),
    ("0:1.0", "1.0", 0),
    ("1.0-1", "1.0-1ubuntu1", -1),
    ("2.36-9+deb12u9", "2.36-9+deb12u10", -1),
    ("1:9.2p1-2+deb12u6", "1:9.2p1-2+deb12u10", -1),
    ("3.0.20-1~deb12u2", "3.0.22-1~deb12u2", -1),
    ("5.15.0.91.88", "5.15.0.92.89", -1),
    ("010", "10", 0),
    ("1.2.3-1-2", "1.2.3-1-10", -1),  # revision = after the last hyphen
    ("8:6.9.10.23+dfsg-2.1ubuntu11.9", "8:6.9.10.23+dfsg-2.1ubuntu11.10+esm1", -1),
]

RPM_CASES = [  # (a, b, rpmvercmp(a, b)), from rpm's own test-suite semantics
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p1", "5.5p10", -1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10", "xyz10.1", -1),
    ("1.0aa", "1.0a", 1),
    ("10.0001", "10.1", 0),
    ("20101122", "20101121", 1),
    ("2_0", "2.0", 0),
    ("2.0", "2_0", 0),
    ("a", "1", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0", 1),
    ("1.0^git1", "1.01", -1),
    ("1.0^20160101", "1.0.1", -1),
    ("1.0^git1~pre", "1.0^git1", -1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0^git1", "1.0^git2", -1),
    ("1.0", "1.0.", 0),
]


@pytest.mark.parametrize(("a", "b", "expected"), DPKG_CASES)
def test_dpkg_known_cases(a: str, b: str, expected: int) -> None:
    assert _sign(compare_dpkg(a, b)) == expected
    assert _sign(compare_dpkg(b, a)) == -expected


@pytest.mark.parametrize(("a", "b", "expected"), RPM_CASES)
def test_rpm_known_cases(a: str, b: str, expected: int) -> None:
    assert rpmvercmp(a, b) == expected
    assert rpmvercmp(b, a) == -expected


def test_rpm_evr_epoch_and_release() -> None:
    assert compare_rpm_evr((1, "1.0", "1"), (0, "9.9", "9")) == 1
    assert compare_rpm_evr(("(none)", "1.0", "1.el9"), (None, "1.0", "2.el9")) == -1
    assert compare_rpm_evr(("0", "1.0", "1.el9_4"), (0, "1.0", "1.el9_4")) == 0
    assert compare_rpm_evr((0, "1.0", None), (0, "1.0", "7")) == 0


def test_bad_versions_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="epoch"):
        split_dpkg("x:1.0")
    with pytest.raises(ParseError, match="upstream"):
        split_dpkg("1:-1")
    with pytest.raises(ParseError, match="epoch"):
        compare_rpm_evr(("one", "1", "1"), (0, "1", "1"))


# Generated versions: small alphabets so that interesting collisions (~, +, leading zeros) occur.
_DPKG_PART = st.text(alphabet="0129ab~+.", min_size=0, max_size=6)
dpkg_versions = st.builds(
    lambda epoch, first, up, rev: (
        (f"{epoch}:" if epoch is not None else "") + first + up + (f"-{rev}" if rev else "")
    ),
    st.one_of(st.none(), st.integers(0, 2)),
    st.sampled_from("0123456789"),
    _DPKG_PART,
    st.text(alphabet="0129ab~+.", min_size=0, max_size=4).filter(lambda r: r == "" or r[0] != "~"),
)
rpm_versions = st.text(alphabet="0129ab~^._", min_size=1, max_size=8)


@given(dpkg_versions, dpkg_versions)
def test_dpkg_antisymmetric(a: str, b: str) -> None:
    assert _sign(compare_dpkg(a, b)) == -_sign(compare_dpkg(b, a))


@given(dpkg_versions, dpkg_versions, dpkg_versions)
def test_dpkg_transitive(a: str, b: str, c: str) -> None:
    ordered = sorted([a, b, c], key=dpkg_sort_key)
    assert compare_dpkg(ordered[0], ordered[1]) <= 0
    assert compare_dpkg(ordered[1], ordered[2]) <= 0
    assert compare_dpkg(ordered[0], ordered[2]) <= 0


@given(rpm_versions, rpm_versions)
def test_rpm_antisymmetric(a: str, b: str) -> None:
    assert rpmvercmp(a, b) == -rpmvercmp(b, a)


@given(rpm_versions, rpm_versions, rpm_versions)
def test_rpm_transitive(a: str, b: str, c: str) -> None:
    ab, bc, ac = rpmvercmp(a, b), rpmvercmp(b, c), rpmvercmp(a, c)
    if ab <= 0 and bc <= 0:
        assert ac <= 0
    if ab >= 0 and bc >= 0:
        assert ac >= 0


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs the real dpkg")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dpkg_versions, dpkg_versions)
def test_dpkg_agrees_with_real_dpkg(a: str, b: str) -> None:
    mine = _sign(compare_dpkg(a, b))
    real = {"lt": -1, "eq": 0, "gt": 1}
    answers = [
        op
        for op in real
        if subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0
    ]
    assert len(answers) == 1, (a, b, answers)
    assert mine == real[answers[0]], (a, b)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _reference_verrevcmp(a: str, b: str) -> int:
    """dpkg's verrevcmp, character by character as dpkg's C code walks it: the oracle for the
    key-based comparison fleetpatch uses (``dpkg_key``)."""

    def order(c: str) -> int:
        if c == "~":
            return -1
        if c.isdigit():
            return 0
        if c.isascii() and c.isalpha():
            return ord(c)
        return ord(c) + 256

    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = order(a[i]) if i < len(a) else 0
            bc = order(b[j]) if j < len(b) else 0
            if ac != bc:
                return _sign(ac - bc)
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return _sign(first_diff)
    return 0


def _reference_compare(a: str, b: str) -> int:
    ea, ua, ra = split_dpkg(a)
    eb, ub, rb = split_dpkg(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _reference_verrevcmp(ua, ub) or _reference_verrevcmp(ra, rb)


_ANY_PART = st.text(alphabet="0019aZ~+.:-", min_size=0, max_size=8)


@settings(max_examples=2000)
@given(
    dpkg_versions | _ANY_PART.map(lambda s: "1" + s),
    dpkg_versions | _ANY_PART.map(lambda s: "1" + s),
)
def test_dpkg_key_order_equals_the_character_walk(a: str, b: str) -> None:
    try:
        expected = _reference_compare(a, b)
    except ParseError:
        with pytest.raises(ParseError):
            compare_dpkg(a, b)
        return
    assert compare_dpkg(a, b) == expected, (a, b)


@pytest.mark.parametrize(("a", "b", "expected"), DPKG_CASES)
def test_reference_walk_agrees_with_known_cases(a: str, b: str, expected: int) -> None:
    assert _reference_compare(a, b) == expected
