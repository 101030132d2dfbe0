"""Run one tool as a child process and measure it: wall time, CPU, peak RSS.

* wall: from just before ``fork`` to ``wait4`` returning (interpreter start-up and imports
  included: that is what a user waits for);
* CPU: user + system seconds from ``wait4``'s rusage, which covers the child and every
  descendant it waited for (Ansible's forked workers and their ``ssh`` processes included);
* ``maxrss``: ``wait4``'s ``ru_maxrss``, the peak RSS of the largest single process of the tree;
* ``tree_rss``: the peak of the sum of RSS over the whole live process tree, sampled every
  ``sample_interval`` seconds (it counts pages shared between forks more than once, so it is an
  upper bound; it matters for tools that fork workers).

Standard library only.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measurement:
    wall: float
    user: float
    system: float
    maxrss_mb: float
    tree_rss_mb: float
    returncode: int

    @property
    def cpu(self) -> float:
        return self.user + self.system

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "cpu": self.cpu}


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except OSError:
            continue
        found.extend(int(c) for c in text.split())
    return found


def tree_rss(pid: int) -> int:
    """Sum of resident pages (bytes) of ``pid`` and all its descendants right now."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        todo.extend(_children(p))
    return total


def run_measured(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdout: Path | None = None,
    stderr: Path | None = None,
    timeout: float = 1800,
    sample_interval: float = 0.25,
) -> Measurement:
    """Run ``argv`` to completion and measure it (see the module docstring)."""
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    err = stderr.open("wb") if stderr else subprocess.DEVNULL
    peak = 0
    done = threading.Event()
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)

        def sample() -> None:
            nonlocal peak
            while not done.wait(sample_interval):
                peak = max(peak, tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        killer.cancel()
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    finally:
        for fh in (out, err):
            if hasattr(fh, "close"):
                fh.close()
    return Measurement(
        wall=wall,
        user=usage.ru_utime,
        system=usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,
        tree_rss_mb=max(peak, usage.ru_maxrss * 1024) / 2**20,
        returncode=proc.returncode,
    )
