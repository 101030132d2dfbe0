"""Profile one fleetpatch scan in-process, optionally with candidate fixes monkeypatched in.

    .venv/bin/python benchmarks/profile_scan.py --hosts 200                 # cProfile, top 30
    .venv/bin/python benchmarks/profile_scan.py --hosts 200 --no-profile --patch all --reps 3
    .venv/bin/python benchmarks/profile_scan.py --hosts 1000 --simulator    # asyncssh simulator

It starts a fleet (the benchmark sshd, or the simulator), writes the inventory the harness
writes, and calls the CLI's own entry point (``fleetpatch scan … --format json -o FILE``) in
this process, so the profile covers exactly the CLI's path. ``--patch`` applies the candidate
fixes of ``patches.py`` first (never touching ``src/``): compare wall, CPU and RSS with and
without to measure a fix's gain. Run without ``--patch`` and with it in alternation (``--ab``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fleet import SshdFleet, make_keys, write_known_hosts
from tools import Fleetpatch, Setup


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_cli(argv: list[str]) -> int:
    from fleetpatch.cli.main import main as cli_main

    try:
        cli_main(argv) if _takes_args(cli_main) else _run_with_argv(cli_main, argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _takes_args(fn: object) -> bool:
    import inspect

    try:
        return bool(inspect.signature(fn).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _run_with_argv(fn: object, argv: list[str]) -> None:
    saved = sys.argv
    sys.argv = ["fleetpatch", *argv]
    try:
        fn()  # type: ignore[operator]
    finally:
        sys.argv = saved


def scan_once(tool: Fleetpatch, run: int, profile: bool, top: int, sort: str) -> dict[str, float]:
    inv = tool.invocation(run)
    os.environ.update({k: v for k, v in inv.env.items() if k.startswith("FLEETPATCH")})
    argv = inv.argv[1:]
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    profiler = cProfile.Profile(time.process_time) if profile else None  # CPU, not wall
    if profiler:
        profiler.enable()
    saved_out = sys.stdout
    sys.stdout = io.StringIO()
    try:
        code = run_cli(argv)
    finally:
        sys.stdout = saved_out
        if profiler:
            profiler.disable()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    problem = tool.check(inv, code)
    if problem:
        raise SystemExit(f"scan failed: {problem}")
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats(sort).print_stats(top)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "cpu_ms_per_host": cpu / tool.s.count * 1000,
            "peak_rss_mb": _rss_mb(), "report_bytes": tool.report.stat().st_size}


def main() -> int:
    parser = argparse.ArgumentParser(description="profile one in-process fleetpatch scan")
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--patch", default="", help="comma-separated fixes from patches.py, or all")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--simulator", action="store_true", help="asyncssh simulator, not sshd")
    parser.add_argument("--warmup", action="store_true", help="one unmeasured scan first")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.patch:
        import patches

        applied = patches.apply(args.patch)
        print(f"patched: {', '.join(applied)}", file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="fleetpatch-profile-"))
    try:
        keys = make_keys(workdir / "keys")
        script = workdir / "scan.sh"
        from fleetpatch.platforms.render import scan_script

        script.write_text(scan_script())
        if args.simulator:
            from simulator import SimulatorFleet

            fleet = SimulatorFleet(workdir / "sim", keys)
        else:
            (workdir / "sshd").mkdir()
            fleet = SshdFleet(workdir / "sshd", keys)
        known = write_known_hosts(workdir / "known_hosts", args.hosts, fleet.port, keys.host_pub)
        setup = Setup(workdir, args.hosts, fleet.port, keys.client_key, known, script,
                      args.concurrency)
        tool = Fleetpatch(setup)
        with fleet:
            if args.warmup:
                scan_once(tool, 100, False, 0, args.sort)
            results = [
                scan_once(tool, rep, not args.no_profile and rep == 0, args.top, args.sort)
                for rep in range(args.reps)
            ]
        for r in results:
            print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in r.items()), file=sys.stderr)
        if len(results) > 1:
            med = {k: statistics.median(r[k] for r in results) for k in results[0]}
            print("median " + " ".join(f"{k}={v:.3f}" for k, v in med.items()), file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
