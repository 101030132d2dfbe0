"""Keep the benchmark harness working: 3 hosts, 1 repetition, no timing assertions.

Runs benchmarks/bench.py for real (its own OpenSSH sshd on a high loopback port, the recorded
scan replayed, the fleetpatch CLI and the raw asyncssh client; pyinfra and Ansible too when
.bench/venv has them) and checks that every tool scanned every host and that the results file
has the expected shape. Needs root and /usr/sbin/sshd, hence the ``lab`` marker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"

pytestmark = pytest.mark.lab


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the benchmark sshd runs as root (it logs in as root)"
    if not Path("/usr/sbin/sshd").exists():
        return "/usr/sbin/sshd missing: apt-get install -y openssh-server (benchmarks/run.sh)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen missing"
    return None


def test_harness_scans_three_hosts(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    bench_venv = REPO / ".bench" / "venv" / "bin"
    tools = ["fleetpatch", "raw"]
    # pyinfra/Ansible start-up is slow; include them only when asked to and installed.
    if os.environ.get("BENCH_SMOKE_PEERS") and (bench_venv / "ansible-playbook").exists():
        tools += ["pyinfra", "ansible"]
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
            ",".join(tools),
            "--skip-missing",
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
    assert doc["kind"] == "fleetpatch-bench/sshd"
    (result,) = doc["results"]
    assert result["hosts"] == 3
    assert result["errors"] == {}
    for tool in tools:
        med = result["medians"][tool]
        assert med["wall"] > 0 and med["cpu"] > 0 and med["maxrss_mb"] > 0
        assert med["wall_ratio_to_raw"] > 0
    assert "wall" in done.stdout  # the comparison table was printed
    assert not list((tmp_path / "work").glob("sshd/sshd.pid")) or _sshd_stopped(tmp_path)


def _sshd_stopped(tmp_path: Path) -> bool:
    pid_file = tmp_path / "work" / "sshd" / "sshd.pid"
    if not pid_file.exists():
        return True
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (ProcessLookupError, ValueError):
        return True
    return False
