"""bench.paired_ratio: the median of per-repetition wall ratios (drift between repetitions
cancels). No network, no sshd."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench  # noqa: E402


def runs(*walls: float) -> list[dict[str, float]]:
    return [{"wall": w} for w in walls]


def test_drift_between_repetitions_cancels() -> None:
    # the machine halves its speed after two repetitions; the tool is 1.1x the raw client
    raw = runs(1.0, 1.0, 2.0, 2.0, 2.0)
    tool = runs(1.1, 1.1, 2.2, 2.2, 2.2)
    assert abs(bench.paired_ratio(tool, raw) - 1.1) < 1e-9  # type: ignore[operator]
    assert bench.paired_ratio(runs(3.0, 1.2), runs(2.0, 1.0)) == (1.5 + 1.2) / 2


def test_missing_repetitions_give_no_paired_ratio() -> None:
    assert bench.paired_ratio(runs(1.0, 2.0), runs(1.0)) is None
    assert bench.paired_ratio([], []) is None
