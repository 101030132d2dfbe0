"""One test for every golden case of the dnf/yum parsers (tests/golden/dnf/<probe>/<case>).

``needs_restarting`` cases are named ``rc<N>-...``: the exit code is part of the input.
``install`` cases have a ``.targets`` file beside them: ``name arch version`` per line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetpatch.facts import HostFacts
from fleetpatch.platforms.detect import detect_from_frames
from fleetpatch.platforms.dnf.install import parse_dnf_install
from fleetpatch.platforms.dnf.parsers import (
    parse_check_update,
    parse_needs_restarting,
    parse_repoquery_upgrades,
    parse_updateinfo_info,
    parse_updateinfo_list,
)
from fleetpatch.platforms.dnf.platform import parse_dnf_scan
from fleetpatch.platforms.framing import parse_frames
from fleetpatch.platforms.rpm.install import PackageTarget
from fleetpatch.platforms.rpm.parsers import parse_repomd, parse_rpm_installed, parse_rpm_kernels
from fleetpatch.platforms.rpm.repostate import parse_dnf_repos

from .golden import GOLDEN_ROOT, Golden, golden_value

COLLECTED_AT = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def parse_scan_transcript(text: str) -> HostFacts:
    frames = parse_frames(text)
    return parse_dnf_scan(
        frames, host="golden", os=detect_from_frames(frames), collected_at=COLLECTED_AT
    )


def rc_of(case: Path) -> int:
    head = case.stem.split("-", 1)[0]
    assert head.startswith("rc") and head[2:].isdigit(), f"{case.name}: name it rc<N>-..."
    return int(head[2:])


def targets_of(case: Path) -> list[PackageTarget]:
    rows = [line.split() for line in case.with_suffix(".targets").read_text().splitlines()]
    return [PackageTarget(name=n, arch=a, version=v) for n, a, v in rows if n != "patch"]


PROBES: dict[str, Callable[[str, Path], object]] = {
    "installed": lambda text, _: parse_rpm_installed(text, "dnf.installed"),
    "upgrades": lambda text, _: parse_repoquery_upgrades(text),
    "check_update": lambda text, _: parse_check_update(text),
    "updateinfo_list": lambda text, _: parse_updateinfo_list(text),
    "updateinfo_installed": lambda text, _: parse_updateinfo_list(text, verbose=True),
    "updateinfo_info": lambda text, _: parse_updateinfo_info(text),
    "kernels": lambda text, _: parse_rpm_kernels(text, "dnf.kernels"),
    "needs_restarting": lambda text, case: parse_needs_restarting(text, rc_of(case)),
    "repomd": lambda text, _: parse_repomd(text, "dnf.repomd"),
    "repos": lambda text, case: parse_dnf_repos(text).missing(
        "yum" if "-yum-" in case.name else "dnf"
    ),
    "scan": lambda text, _: parse_scan_transcript(text),
    "install": lambda text, case: parse_dnf_install(text, targets_of(case)),
}

CASES = sorted(GOLDEN_ROOT.glob("dnf/*/*.txt"))


def _id(path: Path) -> str:
    return str(path.relative_to(GOLDEN_ROOT).with_suffix(""))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_dnf_golden(case: Path, golden: Golden) -> None:
    parser = PROBES[case.parent.name]
    text = case.read_text(encoding="utf-8")
    golden.check(case.with_suffix(".json"), golden_value(lambda: parser(text, case)))


def test_every_dnf_probe_folder_has_a_parser_and_cases() -> None:
    folders = {p.name for p in (GOLDEN_ROOT / "dnf").iterdir() if p.is_dir()}
    assert folders == set(PROBES)
    for folder in folders:
        assert list((GOLDEN_ROOT / "dnf" / folder).glob("*.txt")), folder
