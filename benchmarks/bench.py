"""fleetpatch speed benchmark: fleetpatch vs a raw asyncssh client, pyinfra and Ansible, on one
OpenSSH sshd serving N loopback hosts that replay a recorded Debian 12 scan (see fleet.py).

    python benchmarks/bench.py                       # N = 50 and 200, 3 repetitions, all tools
    python benchmarks/bench.py --sizes 3 --reps 1 --tools fleetpatch,raw   # smoke
    python benchmarks/bench.py --fleet varied        # every host answers its own output

Runs alternate (fleetpatch, raw, pyinfra, ansible, fleetpatch, raw, …) after one unmeasured
warm-up run of each tool per size; each figure is the median over the repetitions. Prints a
comparison table and writes ``benchmarks/results/latest.json`` (``--out``). The budget
(issue 7) is reported, never asserted. Standard library only; run with fleetpatch's venv python.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fleet import (
    FLEETS,
    RECORDED,
    REPO,
    SshdFleet,
    check_tools,
    make_keys,
    write_known_hosts,
)
from measure import run_measured
from tools import TOOLS, Setup, Tool, available, fleetpatch_path

BUDGET_WALL_RATIO = 1.15  # fleetpatch wall / raw wall at 200 hosts
BUDGET_CPU_MS_PER_HOST = 8.0  # controller CPU per host at 200 hosts
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def render_script(setup: Setup) -> Path:
    code = "from fleetpatch.platforms.render import scan_script; print(scan_script(), end='')"
    env = {**os.environ, **fleetpatch_path(setup)}
    done = subprocess.run([str(setup.fleetpatch_python), "-c", code], check=True,
                          capture_output=True, text=True, env=env)
    setup.script.write_text(done.stdout)
    return setup.script


def snapshot_head(dest: Path, ref: str = "HEAD") -> Path:
    """``git archive REF src`` into ``dest``: measure a commit, not a working tree that other
    people are editing (``--snapshot``: HEAD; ``--base-ref``: the before of a before/after)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def machine_info(setup: Setup) -> dict[str, object]:
    """Where and with what the figures were measured."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    py = str(setup.fleetpatch_python)
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"],
                           capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "kernel": platform.release(),
        "os": _os_release(),
        "python": _version([py, "--version"]),
        "asyncssh": _version([py, "-c", "import asyncssh; print(asyncssh.__version__)"]),
        "openssh": _version(["ssh", "-V"]),
        "pyinfra": _version([str(setup.bench_bin / "pyinfra"), "--version"]),
        "ansible": _version([str(setup.bench_bin / "ansible"), "--version"]),
        "fleetpatch_commit": git.stdout.strip() + (
            " (HEAD snapshot)" if setup.fleetpatch_src and "snapshot" in str(setup.fleetpatch_src)
            else " (working tree, src modified)" if dirty.stdout else ""),
        "fleetpatch_src": str(setup.fleetpatch_src or REPO / "src"),
        "loadavg_at_start": os.getloadavg(),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def measure_size(
    names: list[str], setup: Setup, reps: int, warmup: bool, log: callable
) -> dict[str, object]:
    tools: dict[str, Tool] = {n: TOOLS[n](setup) for n in names}
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    errors: dict[str, str] = {}
    schedule = ([-1] if warmup else []) + list(range(reps))
    for rep in schedule:
        for name, tool in tools.items():
            if name in errors:
                continue
            inv = tool.invocation(rep if rep >= 0 else 999)
            m = run_measured(inv.argv, env=inv.env, cwd=inv.cwd, stdout=inv.stdout,
                             stderr=inv.stderr)
            problem = tool.check(inv, m.returncode)
            tag = "warm-up" if rep < 0 else f"rep {rep + 1}/{reps}"
            if problem:
                errors[name] = problem
                log(f"  {name:<10} {tag}: FAILED {problem[:600]}")
                continue
            log(f"  {name:<10} {tag}: wall {m.wall:6.2f} s  cpu {m.cpu:6.2f} s  "
                f"rss {m.maxrss_mb:6.0f} MB  tree {m.tree_rss_mb:6.0f} MB")
            if rep >= 0:
                run = m.as_dict()
                if hasattr(tool, "report_bytes"):
                    run["report_bytes"] = tool.report_bytes
                runs[name].append(run)
            time.sleep(0.5)  # let sshd reap the previous run's sessions
    medians: dict[str, dict[str, float]] = {}
    for name, measured in runs.items():
        if not measured:
            continue
        med = {k: statistics.median(r[k] for r in measured)
               for k in ("wall", "cpu", "user", "system", "maxrss_mb", "tree_rss_mb")}
        med["cpu_ms_per_host"] = med["cpu"] / setup.count * 1000
        med["wall_min"] = min(r["wall"] for r in measured)
        med["wall_max"] = max(r["wall"] for r in measured)
        medians[name] = med
    if "raw" in medians:
        for name, med in medians.items():
            med["wall_ratio_to_raw"] = med["wall"] / medians["raw"]["wall"]
            med["cpu_ratio_to_raw"] = med["cpu"] / medians["raw"]["cpu"]
            paired = paired_ratio(runs[name], runs["raw"])
            if paired is not None:
                med["wall_ratio_paired"] = paired
    return {"hosts": setup.count, "concurrency": setup.concurrency, "runs": runs,
            "medians": medians, "errors": errors}


def paired_ratio(tool: list[dict[str, float]], raw: list[dict[str, float]]) -> float | None:
    """Median over repetitions of (the tool's wall time / the raw client's in the same
    repetition). Runs alternate, so the two runs of a repetition are seconds apart and see the
    same machine speed: this cancels the drift a VM's speed has between repetitions, which the
    ratio of the two medians does not (docs/benchmarks.md). None unless every repetition of
    both succeeded."""
    if not tool or len(tool) != len(raw):
        return None
    return statistics.median(t["wall"] / r["wall"] for t, r in zip(tool, raw, strict=True))


def variant_stats(fleet: SshdFleet) -> dict[str, object]:
    """What the varied fleet answered: seed, host files, their mean size."""
    sizes = [p.stat().st_size for p in fleet.variants.glob("*.out")]
    return {"fleet_seed": fleet.seed, "fleet_variants": len(sizes),
            "fleet_output_bytes_mean": round(sum(sizes) / len(sizes)) if sizes else None}


def resolved_patches(spec: str) -> list[str]:
    import patches  # standard library at import time; fixes import fleetpatch when applied

    return list(patches.FIXES) if spec.strip() == "all" else [p for p in spec.split(",") if p]


def budget(results: list[dict[str, object]]) -> dict[str, object]:
    at = next((r for r in results if r["hosts"] == 200), None)
    if at is None:
        return {"note": "no 200-host measurement in this run"}
    med = at["medians"]
    if "fleetpatch" not in med or "raw" not in med:
        return {"note": "fleetpatch or raw missing at 200 hosts"}
    ratio = med["fleetpatch"]["wall"] / med["raw"]["wall"]
    cpu = med["fleetpatch"]["cpu_ms_per_host"]
    paired = med["fleetpatch"].get("wall_ratio_paired")
    return {
        "wall_ratio_to_raw": round(ratio, 3),
        "wall_ratio_paired": round(paired, 3) if paired is not None else None,
        "wall_ratio_budget": BUDGET_WALL_RATIO,
        "wall_ratio_ok": ratio <= BUDGET_WALL_RATIO,
        "cpu_ms_per_host": round(cpu, 2),
        "cpu_ms_per_host_budget": BUDGET_CPU_MS_PER_HOST,
        "cpu_ok": cpu <= BUDGET_CPU_MS_PER_HOST,
    }


def fleet_label(fleet: SshdFleet) -> str:
    if fleet.fleet == "varied":
        return (f"varied fleet: every host answers its own variant of {fleet.recorded.name} "
                f"(seed {fleet.seed})")
    return f"uniform fleet: every host answers {fleet.recorded.name}"


def table(results: list[dict[str, object]], title: str = "") -> str:
    head = (f"{'hosts':>5}  {'tool':<22} {'wall s':>7} {'(min-max)':>13} {'x raw':>6} "
            f"{'paired':>6} "
            f"{'CPU s':>7} {'CPU ms/host':>11} {'x raw':>6} {'RSS MB':>7} {'tree MB':>8}")
    lines = ([title] if title else []) + [head, "-" * len(head)]
    for r in results:
        for name, med in r["medians"].items():
            lines.append(
                f"{r['hosts']:>5}  {TOOLS[name].label:<22} {med['wall']:>7.2f} "
                f"{med['wall_min']:>6.2f}-{med['wall_max']:<6.2f} "
                f"{med.get('wall_ratio_to_raw', float('nan')):>6.2f} "
                f"{med.get('wall_ratio_paired', float('nan')):>6.2f} {med['cpu']:>7.2f} "
                f"{med['cpu_ms_per_host']:>11.1f} "
                f"{med.get('cpu_ratio_to_raw', float('nan')):>6.2f} "
                f"{med['maxrss_mb']:>7.0f} {med['tree_rss_mb']:>8.0f}"
            )
        for name, err in r["errors"].items():
            lines.append(f"{r['hosts']:>5}  {TOOLS[name].label:<22} FAILED: {err[:120]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fleetpatch vs raw asyncssh, pyinfra, Ansible")
    parser.add_argument("--sizes", default="50,200", help="fleet sizes, comma-separated")
    parser.add_argument("--reps", type=int, default=3, help="measured runs per tool and size")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--tools", default="fleetpatch,raw,pyinfra,ansible")
    parser.add_argument("--skip-missing", action="store_true",
                        help="skip tools whose venv is absent instead of failing")
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument("--patch", default="all",
                        help="fixes (patches.py) for the fleetpatch-patched tool: list or all")
    parser.add_argument("--recorded", type=Path, default=RECORDED,
                        help="scan output the fleet replays (default recorded/debian12-scan.out)")
    parser.add_argument("--fleet", choices=FLEETS, default="uniform",
                        help="uniform: every host answers the recording; varied: every host its "
                             "own variant of it (variants.py)")
    parser.add_argument("--fleet-seed", type=int, default=0,
                        help="seed of the varied fleet's variants")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument("--fleetpatch-src", type=Path,
                        help="import fleetpatch from this directory (default: the working tree)")
    parser.add_argument("--snapshot", action="store_true",
                        help="measure the last commit (git archive HEAD src), not the working tree")
    parser.add_argument("--base-ref", default="",
                        help="also measure this commit as tool fleetpatch-base, alternating with "
                             "the others: a before/after in one run")
    args = parser.parse_args(argv)

    missing = check_tools()
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",")]
    names = [n.strip() for n in args.tools.split(",") if n.strip()]
    unknown = [n for n in names if n not in TOOLS]
    if unknown:
        parser.error(f"unknown tools {unknown}; known: {sorted(TOOLS)}")
    nofile = raise_nofile()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop sshd and clean up
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fleetpatch-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(msg, flush=True)

    try:
        keys = make_keys(workdir / "keys")
        (workdir / "sshd").mkdir(exist_ok=True)
        fleet = SshdFleet(workdir / "sshd", keys, recorded=args.recorded.resolve(),
                          fleet=args.fleet, hosts=max(sizes), seed=args.fleet_seed)
        TOOLS["fleetpatch-patched"].patches = args.patch  # type: ignore[attr-defined]
        src = args.fleetpatch_src
        if args.snapshot:
            src = snapshot_head(workdir / "snapshot")
        base = None
        if args.base_ref:
            base = snapshot_head(workdir / "base", args.base_ref)
            if "fleetpatch-base" not in names:
                names.insert(1, "fleetpatch-base")
            TOOLS["fleetpatch-base"].label = f"fleetpatch @{args.base_ref[:10]}"
        probe = Setup(workdir, 0, fleet.port, keys.client_key, workdir / "known_hosts",
                      workdir / "scan.sh", args.concurrency, fleetpatch_src=src, base_src=base,
                      fleet=args.fleet)
        for name in list(names):
            why = available(name, probe)
            if why:
                if not args.skip_missing:
                    print(f"{name}: {why}", file=sys.stderr)
                    return 2
                log(f"skipping {name}: {why}")
                names.remove(name)
        render_script(probe)
        write_known_hosts(probe.known_hosts, max(sizes), fleet.port, keys.host_pub)
        info = machine_info(probe)
        log(f"fleetpatch benchmark: {info['cpu']}, {info['cores']} cores, "
            f"{info['memory_gib']} GiB; sshd on port {fleet.port}; RLIMIT_NOFILE {nofile}; "
            f"workdir {workdir}")
        log(fleet_label(fleet))
        results = []
        with fleet:
            for size in sizes:
                log(f"{size} hosts, concurrency {args.concurrency}, {args.reps} repetitions:")
                setup = Setup(workdir / f"n{size}", size, fleet.port, keys.client_key,
                              probe.known_hosts, probe.script, args.concurrency,
                              fleetpatch_src=src, base_src=base, fleet=args.fleet)
                results.append(measure_size(names, setup, args.reps, not args.no_warmup, log))
        summary = budget(results)
        print()
        print(table(results, fleet_label(fleet)))
        print()
        if "note" in summary:
            print(f"budget: {summary['note']}")
        else:
            paired = summary["wall_ratio_paired"]
            print(f"budget at 200 hosts: wall {summary['wall_ratio_to_raw']:.2f}x raw "
                  f"(budget {BUDGET_WALL_RATIO}x: {'ok' if summary['wall_ratio_ok'] else 'OVER'};"
                  f" paired per repetition {paired if paired is None else f'{paired:.2f}x'}),"
                  f" CPU {summary['cpu_ms_per_host']:.1f} ms/host (budget "
                  f"{BUDGET_CPU_MS_PER_HOST}: {'ok' if summary['cpu_ok'] else 'OVER'})")
        document = {
            "kind": "fleetpatch-bench/sshd",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": info,
            "config": {"sizes": sizes, "reps": args.reps, "concurrency": args.concurrency,
                       "tools": names, "warmup": not args.no_warmup,
                       "recorded": str(args.recorded),
                       "recorded_output_bytes": args.recorded.stat().st_size,
                       "fleet": args.fleet,
                       **(variant_stats(fleet) if args.fleet == "varied" else {}),
                       "patch": resolved_patches(args.patch) if "fleetpatch-patched" in names
                       else None,
                       "script_bytes": probe.script.stat().st_size},
            "results": results,
            "budget": summary,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.out}")
        failed = any(r["errors"] for r in results)
        return 1 if failed else 0
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
