"""The apt security rule and OS detection from frames (beyond the golden files)."""

from __future__ import annotations

import pytest

from fleetpatch.errors import ParseError
from fleetpatch.platforms.apt.parsers import AptOrigin, SimulatedInst, is_security_marker
from fleetpatch.platforms.apt.platform import is_security_update
from fleetpatch.platforms.detect import detect_from_frames
from fleetpatch.platforms.framing import parse_frames

from .golden import GOLDEN_ROOT

UPDATES = AptOrigin(label="Debian", version="12.15", archive="oldstable")
SECURITY = AptOrigin(label="Debian-Security", version="12", archive="oldstable-security")


def inst(current: str | None, candidate: str, *origins: AptOrigin) -> SimulatedInst:
    return SimulatedInst(
        name="pkg", arch="amd64", current=current, candidate=candidate, origins=origins
    )


@pytest.mark.parametrize(
    ("update", "security_versions", "expected"),
    [
        (inst("1.0-1", "1.1-1", SECURITY), (), True),
        (inst("1.0-1", "1.3-1", UPDATES), ("1.2-1",), True),  # -updates carries the fix
        (inst("1.0-1", "1.3-1", UPDATES), ("1.3-1",), True),
        (inst("1.0-1", "1.3-1", UPDATES), ("1.0-1",), False),  # only the installed one
        (inst("1.0-1", "1.3-1", UPDATES), ("1.4-1",), False),  # the candidate lacks the fix
        (inst("1.0-1", "1.3-1", UPDATES), ("0.9-1",), False),
        (inst(None, "1.3-1", UPDATES), ("1.3-1",), False),  # new package: origins only
        (inst(None, "1.3-1", SECURITY), (), True),
    ],
)
def test_security_rule(
    update: SimulatedInst, security_versions: tuple[str, ...], expected: bool
) -> None:
    assert is_security_update(update, {"pkg": security_versions}) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Debian-Security", True),
        ("jammy-security", True),
        ("focal-apps-security", True),
        ("buster/updates", True),
        ("Debian", False),
        ("jammy-updates", False),
        ("", False),
    ],
)
def test_security_markers(value: str, expected: bool) -> None:
    assert is_security_marker(value) is expected


def _frames(os_release: str, family: str, system_release: str = "") -> str:
    def frame(name: str, body: str) -> str:
        return f"@@FP@@ BEGIN {name}\n{body}\n@@FP@@ END {name} 0\n"

    return (
        frame("os-release", os_release)
        + frame("system-release", system_release)
        + frame("uname", "5.14.0-427.el9.x86_64\nx86_64")
        + frame("family", family)
        + "@@FP@@ EXIT done 0\n"
    )


def test_detect_from_frames_of_a_real_scan() -> None:
    text = (GOLDEN_ROOT / "apt" / "scan" / "debian12-host.txt").read_text()
    info = detect_from_frames(parse_frames(text))
    assert (info.family, info.product, info.operating_system) == ("apt", "Debian12", "DEBIAN")
    assert info.kernel and info.arch


def test_detect_prefers_the_hosts_rpm_tool() -> None:
    rhel9 = (GOLDEN_ROOT / "detect" / "rhel94.os-release").read_text()
    assert detect_from_frames(parse_frames(_frames(rhel9, "dnf"))).family == "dnf"
    assert detect_from_frames(parse_frames(_frames(rhel9, "yum"))).family == "yum"
    assert detect_from_frames(parse_frames(_frames(rhel9, "unknown"))).family == "dnf"
    info = detect_from_frames(parse_frames(_frames(rhel9, "dnf")))
    assert (info.kernel, info.arch) == ("5.14.0-427.el9.x86_64", "x86_64")


def test_detect_needs_os_release() -> None:
    with pytest.raises(ParseError, match="os-release"):
        detect_from_frames(parse_frames("@@FP@@ EXIT os-release 1\n"))
