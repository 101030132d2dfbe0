"""One test for every golden case of the zypper parsers (tests/golden/zypper/<probe>/<case>).

``needs_rebooting`` cases are named ``rc<N>-...``. ``install`` cases have a ``.targets`` file:
``patch NAME`` or ``name arch version`` per line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetpatch.facts import HostFacts
from fleetpatch.platforms.detect import detect_from_frames
from fleetpatch.platforms.framing import parse_frames
from fleetpatch.platforms.rpm.install import PackageTarget
from fleetpatch.platforms.rpm.parsers import parse_repomd, parse_rpm_installed, parse_rpm_kernels
from fleetpatch.platforms.zypper.install import parse_zypper_install
from fleetpatch.platforms.zypper.parsers import (
    parse_applied_patches,
    parse_list_patches,
    parse_list_updates,
    parse_needs_rebooting,
    parse_patch_info,
    parse_zypper_repos,
)
from fleetpatch.platforms.zypper.platform import parse_zypper_scan

from .golden import GOLDEN_ROOT, Golden, golden_value
from .test_dnf_golden import rc_of

COLLECTED_AT = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def parse_scan_transcript(text: str) -> HostFacts:
    frames = parse_frames(text)
    return parse_zypper_scan(
        frames, host="golden", os=detect_from_frames(frames), collected_at=COLLECTED_AT
    )


def parse_install(text: str, case: Path) -> object:
    rows = [line.split() for line in case.with_suffix(".targets").read_text().splitlines()]
    patches = [r[1] for r in rows if r[0] == "patch"]
    packages = [PackageTarget(name=r[0], arch=r[1], version=r[2]) for r in rows if r[0] != "patch"]
    return parse_zypper_install(text, patches=patches, packages=packages)


PROBES: dict[str, Callable[[str, Path], object]] = {
    "installed": lambda text, _: parse_rpm_installed(text, "zypper.installed"),
    "repos": lambda text, _: parse_zypper_repos(text),
    "updates": lambda text, _: parse_list_updates(text),
    "patches": lambda text, _: parse_list_patches(text),
    "patch_info": lambda text, _: parse_patch_info(text),
    "applied": lambda text, _: parse_applied_patches(text),
    "kernels": lambda text, _: parse_rpm_kernels(text, "zypper.kernels"),
    "needs_rebooting": lambda text, case: parse_needs_rebooting(text, rc_of(case)),
    "repomd": lambda text, _: parse_repomd(text, "zypper.repomd"),
    "scan": lambda text, _: parse_scan_transcript(text),
    "install": parse_install,
}

CASES = sorted(GOLDEN_ROOT.glob("zypper/*/*.txt"))


def _id(path: Path) -> str:
    return str(path.relative_to(GOLDEN_ROOT).with_suffix(""))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_zypper_golden(case: Path, golden: Golden) -> None:
    parser = PROBES[case.parent.name]
    text = case.read_text(encoding="utf-8")
    golden.check(case.with_suffix(".json"), golden_value(lambda: parser(text, case)))


def test_every_zypper_probe_folder_has_a_parser_and_cases() -> None:
    folders = {p.name for p in (GOLDEN_ROOT / "zypper").iterdir() if p.is_dir()}
    assert folders == set(PROBES)
