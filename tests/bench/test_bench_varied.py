"""The benchmark harness with a varied fleet (``bench.py --fleet varied``): 3 hosts, each
answering its own variant of the recording; no timing assertions. Needs root and sshd."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.test_bench_smoke import BENCH, REPO, _skip_reason

pytestmark = pytest.mark.lab


def test_harness_scans_a_varied_fleet(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "latest.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench.py"),
            "--sizes",
            "3",
            "--reps",
            "1",
            "--no-warmup",
            "--tools",
            "fleetpatch,raw",
            "--fleet",
            "varied",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["config"]["fleet"] == "varied"
    assert doc["config"]["fleet_variants"] == 3
    (result,) = doc["results"]
    assert result["errors"] == {}  # fleetpatch's check: every host scanned, ages differ
    assert "varied fleet" in done.stdout
    files = sorted(p.name for p in (tmp_path / "work" / "sshd" / "variants").iterdir())
    assert files == ["127.0.0.1.out", "127.0.0.2.out", "127.0.0.3.out"]
