"""Golden cases of the apt install parsers: ``tests/golden/apt/install/<case>.txt`` is a whole
framed transcript of the install script (REAL ones re-captured by ``capture.py`` beside them);
``<case>.json`` holds the request (read from the transcript's ``apt.request`` section), the dry-run
plan and the outcome. ``pytest --update-golden`` rewrites the expected files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetpatch.platforms.apt.install import (
    parse_apt_install,
    parse_apt_request,
    parse_apt_simulate_install,
)
from fleetpatch.platforms.framing import parse_frames

from .golden import GOLDEN_ROOT, Golden, golden_value

INSTALL_CASES = sorted((GOLDEN_ROOT / "apt" / "install").glob("*.txt"))


def install_golden_value(text: str) -> dict[str, Any]:
    frames = parse_frames(text)
    requested = parse_apt_request(frames)
    return {
        "request": [f"{name}={version}" for name, version in requested],
        "plan": golden_value(lambda: parse_apt_simulate_install(frames, requested)),
        "outcome": golden_value(lambda: parse_apt_install(frames, requested)),
    }


def _id(path: Path) -> str:
    return path.stem


@pytest.mark.parametrize("case", INSTALL_CASES, ids=_id)
def test_apt_install_golden(case: Path, golden: Golden) -> None:
    golden.check(case.with_suffix(".json"), install_golden_value(case.read_text(encoding="utf-8")))


def test_install_golden_cases_are_there() -> None:
    names = {p.stem for p in INSTALL_CASES}
    assert {"lab-repo-broken", "lab-debian12-zip-unzip", "lab-repo-interrupted"} <= names
    assert len(INSTALL_CASES) >= 15
