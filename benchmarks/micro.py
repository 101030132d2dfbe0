"""Where a host's controller CPU goes, stage by stage, without any network.

    .venv/bin/python benchmarks/micro.py --hosts 200            # per-host ms of each stage
    .venv/bin/python benchmarks/micro.py --hosts 200 --patch all # the same with patches.py

Feeds the recorded scan output (recorded/debian12-scan.out) through the same library calls the
scan pipeline and the CLI make after the SSH round trip: parse_scan_output, the baseline choice
and evaluate_baseline, HostResult, the store's batched save_host_results (fresh SQLite), the
JSON report (run_to_report + json.dumps as ``fleetpatch scan --format json`` does) and the table
report. Each stage is timed with process CPU time over all hosts; the sum is the controller's
per-host cost minus SSH (see the raw client in bench.py for that part).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleet import RECORDED


def cpu() -> float:
    return time.process_time()


class Stages:
    def __init__(self, hosts: int):
        self.hosts = hosts
        self.ms: dict[str, float] = {}

    def time(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = cpu()
        value = fn(*args, **kwargs)
        self.ms[name] = self.ms.get(name, 0.0) + (cpu() - started) * 1000
        return value

    def report(self) -> str:
        total = sum(self.ms.values())
        lines = [f"{'stage':<28} {'ms/host':>8} {'share':>6}"]
        for name, ms in self.ms.items():
            lines.append(f"{name:<28} {ms / self.hosts:>8.2f} {ms / total:>6.0%}")
        lines.append(f"{'total':<28} {total / self.hosts:>8.2f}")
        return "\n".join(lines)


def run(hosts: int, table: bool) -> tuple[Stages, dict[str, Any]]:
    from fleetpatch.baseline.evaluate import evaluate_baseline
    from fleetpatch.engine.context import load_baseline_choice
    from fleetpatch.engine.pipeline import utcnow
    from fleetpatch.engine.scan_run import BufferedRecorder, make_run
    from fleetpatch.inventory.model import Host
    from fleetpatch.platforms.scan import parse_scan_output
    from fleetpatch.report.json_report import run_to_report
    from fleetpatch.results import HostOutcome, HostResult
    from fleetpatch.store import new_run_id, open_store

    text = RECORDED.read_text()
    st = Stages(hosts)
    choose = load_baseline_choice(patch_groups=None)
    tmp = Path(tempfile.mkdtemp(prefix="fleetpatch-micro-"))
    db = open_store(f"sqlite:///{tmp / 'store.db'}")
    run_id = new_run_id()
    started = utcnow()
    db.begin_run(run_id=run_id, operation="scan", started_at=started)

    class Sink:
        def save(self, results: Any) -> None:
            st.time("store (batched save)", lambda: db.save_host_results(run_id, results))

    recorder = BufferedRecorder(Sink())
    results = []
    for i in range(1, hosts + 1):
        name = f"h{i:05d}"
        host = Host(name=name, address=f"127.0.0.{i % 250 + 1}")
        t0 = utcnow()
        facts = st.time("parse_scan_output", parse_scan_output, text, host=name,
                        collected_at=utcnow())
        baseline = st.time("choose baseline", choose, host, facts.os)
        compliance = st.time("evaluate_baseline", evaluate_baseline, facts, baseline,
                             now=utcnow())
        result = st.time("HostResult", HostResult, host=name, address=host.address,
                         outcome=HostOutcome.OK, facts=facts, compliance=compliance,
                         started_at=t0, finished_at=utcnow())
        recorder.add(result)
        results.append(result)
    recorder.flush()
    runres = make_run(run_id=run_id, operation="scan", started_at=started, inventory=[],
                      targets=[], hosts=results, cancelled=False)
    st.time("store finish", lambda: db.finish_run(run_id, finished_at=runres.finished_at))
    doc = st.time("report model (run_to_report)", lambda: run_to_report(runres))
    body = st.time("report json.dumps(indent=2)", lambda: json.dumps(doc, indent=2))
    extra: dict[str, Any] = {"report_bytes": len(body)}
    if table:
        from rich.console import Console

        from fleetpatch.report.table import render_run_table

        with open(tmp / "table.txt", "w") as fh:
            st.time("table report (rich)", lambda: render_run_table(
                runres, Console(file=fh, no_color=True, width=140), verbose=False))
    extra["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db.close()
    return st, extra


def main() -> int:
    parser = argparse.ArgumentParser(description="per-stage controller CPU per host, no network")
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--patch", default="", help="fixes from patches.py (comma list or all)")
    parser.add_argument("--table", action="store_true", help="also time the rich table report")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.patch:
        import patches

        print(f"patched: {', '.join(patches.apply(args.patch))}", file=sys.stderr)
    run(min(args.hosts, 20), args.table)  # warm caches (compiled baseline, imports)
    st, extra = run(args.hosts, args.table)
    if args.json:
        print(json.dumps({"ms_per_host": {k: v / args.hosts for k, v in st.ms.items()}, **extra}))
    else:
        print(st.report())
        print(" ".join(f"{k}={v:.1f}" for k, v in extra.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
