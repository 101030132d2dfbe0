"""One test for every golden case of the apt parsers and of OS detection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetpatch.facts import HostFacts
from fleetpatch.platforms.apt.parsers import (
    parse_apt_candidates,
    parse_apt_indexes,
    parse_apt_simulate,
    parse_dpkg_installed,
    parse_lists_age,
    parse_reboot,
    parse_security_versions,
)
from fleetpatch.platforms.apt.platform import parse_apt_scan
from fleetpatch.platforms.detect import detect_from_frames, parse_os_release
from fleetpatch.platforms.framing import parse_frames

from .golden import GOLDEN_ROOT, Golden, golden_value

COLLECTED_AT = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def parse_scan_transcript(text: str) -> HostFacts:
    frames = parse_frames(text)
    return parse_apt_scan(
        frames, host="golden", os=detect_from_frames(frames), collected_at=COLLECTED_AT
    )


APT_PROBES: dict[str, Callable[[str], object]] = {
    "installed": parse_dpkg_installed,
    "simulate": parse_apt_simulate,
    "indexes": parse_apt_indexes,
    "candidates": parse_apt_candidates,
    "security_versions": parse_security_versions,
    "reboot": parse_reboot,
    "lists": parse_lists_age,
    "scan": parse_scan_transcript,
}

# install/ transcripts have their own golden test (test_apt_install_golden.py)
APT_CASES = sorted(p for p in GOLDEN_ROOT.glob("apt/*/*.txt") if p.parent.name != "install")
DETECT_CASES = sorted(GOLDEN_ROOT.glob("detect/*.os-release"))


def _id(path: Path) -> str:
    return str(path.relative_to(GOLDEN_ROOT).with_suffix(""))


@pytest.mark.parametrize("case", APT_CASES, ids=_id)
def test_apt_golden(case: Path, golden: Golden) -> None:
    parser = APT_PROBES[case.parent.name]
    text = case.read_text(encoding="utf-8")
    golden.check(case.with_suffix(".json"), golden_value(lambda: parser(text)))


@pytest.mark.parametrize("case", DETECT_CASES, ids=_id)
def test_detect_golden(case: Path, golden: Golden) -> None:
    def sibling(suffix: str) -> str:
        path = case.with_suffix(suffix)
        return path.read_text(encoding="utf-8") if path.exists() else ""

    text = case.read_text(encoding="utf-8")
    golden.check(
        case.with_suffix(".json"),
        golden_value(
            lambda: parse_os_release(
                text, system_release=sibling(".system-release"), uname=sibling(".uname")
            )
        ),
    )


def test_every_probe_folder_has_a_parser_and_cases() -> None:
    folders = {p.name for p in (GOLDEN_ROOT / "apt").iterdir() if p.is_dir()} - {"install"}
    assert folders == set(APT_PROBES)
    assert len(DETECT_CASES) >= 10
