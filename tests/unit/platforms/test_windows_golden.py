"""Every golden case of the Windows scan parser (tests/golden/windows/scan/<case>.txt).

The transcripts are CONSTRUCTED, not captured: no Windows host can run here. Their format is
what ``templates/scan.ps1.j2`` prints (records.py), their values follow Microsoft's Windows
Update Agent API documentation; tests/golden/windows/SOURCES.md says where each comes from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetpatch.platforms.windows.parsers import parse_windows_scan

from .golden import GOLDEN_ROOT, Golden, golden_value

COLLECTED_AT = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
CASES = sorted((GOLDEN_ROOT / "windows" / "scan").glob("*.txt"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_windows_scan_golden(case: Path, golden: Golden) -> None:
    text = case.read_text(encoding="ascii")  # records are ASCII whatever the titles hold
    actual = golden_value(
        lambda: parse_windows_scan(text, host="golden", collected_at=COLLECTED_AT)
    )
    golden.check(case.with_suffix(".json"), actual)
    if case.stem.startswith("error-"):
        assert "error" in actual, f"{case.stem} should be refused"
    else:
        assert "error" not in actual, actual


def test_every_golden_case_is_documented() -> None:
    sources = (GOLDEN_ROOT / "windows" / "SOURCES.md").read_text()
    for case in CASES:
        assert f"`{case.stem}`" in sources, f"{case.stem}: say where it comes from"
