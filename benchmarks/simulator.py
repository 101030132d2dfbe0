"""Fleet simulator: thousands of SSH "hosts" on loopback, answered by asyncssh server processes.

An sshd forks a process per connection, which caps the sshd fleet at a few hundred hosts on a
small machine. Here ``--processes`` asyncssh servers (default: one per core) share one port
with SO_REUSEPORT; host ``i`` is the address 127.0.b.c (``fleet.host_address``), so 10,000 hosts
are 10,000 distinct destinations (no ephemeral-port exhaustion: a source port can be reused per
destination). Each connection authenticates by public key and is checked against one host key,
as with sshd; a session whose command is ``sh -s`` has its stdin read to the end, then gets the
recorded scan output (``recorded/debian12-scan.out``) and exit status 0, like the sshd fleet.

``--fleet varied`` gives every host its own output (``variants.py``): before the servers start,
``--variants`` K (default 1,000) variants are written once to ``WORKDIR/variants/`` (one file per
host address 127.0.0.1 ... of hosts 1..K, 32 KB each); a server answers the connection made to
address A with host ``((host_index(A) - 1) mod K) + 1``'s file, read from disk (the page cache)
per session, so a server process holds no variant in memory. Up to K hosts every host differs;
beyond, host ``i`` and host ``i + K`` answer alike.

    .venv/bin/python benchmarks/simulator.py                 # scan 1,000 and 10,000 hosts
    .venv/bin/python benchmarks/simulator.py --sizes 1000 --reps 3
    .venv/bin/python benchmarks/simulator.py --sizes 1000 --fleet varied --variants 1000
    .venv/bin/python benchmarks/simulator.py serve --port P --keys DIR   # just serve

The scale run measures the real CLI (``fleetpatch scan``, JSON report to a file, fresh SQLite
store) as ``bench.py`` does, prints wall, CPU per host and peak RSS per size and the per-host
growth from the smallest to the largest size, and writes ``results/simulator.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import resource
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
    Keys,
    free_port,
    host_address,
    host_index,
    make_keys,
    write_known_hosts,
)

HERE = Path(__file__).resolve().parent
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
DEFAULT_VARIANTS = 1000


# ------------------------------------------------------------------------------- the server


def serve(port: int, keys_dir: Path, recorded: Path, ready_fd: int | None = None,
          variants_dir: Path | None = None, variants: int = 0) -> None:
    import asyncssh

    answer = recorded.read_bytes()

    def answer_for(address: str) -> bytes:
        """The varied fleet's answer for the connection's local address (see the docstring)."""
        host = (host_index(address) - 1) % variants + 1
        return (variants_dir / f"{host_address(host)}.out").read_bytes()  # type: ignore[operator]

    class Server(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            peer = conn.get_extra_info("peername")
            if peer and ipaddress.ip_address(peer[0]) not in LOOPBACK:
                conn.close()

        def begin_auth(self, username: str) -> bool:
            return True

    async def session(process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command or ""
        if command == "sh -s" or command.endswith(" -- sh -s"):
            while await process.stdin.read(65536):
                pass
        if variants_dir is not None:
            process.stdout.write(answer_for(process.get_extra_info("sockname")[0]))
        else:
            process.stdout.write(answer)
        await process.stdout.drain()
        process.exit(0)

    async def main() -> None:
        server = await asyncssh.listen(
            "0.0.0.0", port,
            server_factory=Server,
            server_host_keys=[str(keys_dir / "ssh_host_ed25519_key")],
            authorized_client_keys=str(keys_dir / "id_ed25519.pub"),
            process_factory=session,
            encoding=None,
            reuse_port=True,
            backlog=4096,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=120,
        )
        if ready_fd is not None:
            os.write(ready_fd, b"ok")
            os.close(ready_fd)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


class SimulatorFleet:
    """``processes`` simulator servers on one port (SO_REUSEPORT), started as child processes."""

    def __init__(self, workdir: Path, keys: Keys, *, processes: int | None = None,
                 port: int | None = None, recorded: Path = RECORDED,
                 python: str = sys.executable, fleet: str = "uniform", hosts: int = 0,
                 variants: int = DEFAULT_VARIANTS, seed: int = 0):
        if fleet not in FLEETS:
            raise ValueError(f"fleet must be one of {FLEETS}, got {fleet!r}")
        self.workdir = workdir
        self.keys = keys
        self.processes = processes or os.cpu_count() or 1
        self.port = port or free_port()
        self.recorded = recorded
        self.python = python
        self.fleet = fleet
        # distinct answers of a varied fleet: K, or fewer when the fleet is smaller
        self.variants = min(variants, hosts) if hosts > 0 else variants
        self.seed = seed
        self.variants_dir = workdir / "variants"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, timeout: float = 30) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        varied: list[str] = []
        if self.fleet == "varied":
            from variants import write_variants

            if self.variants < 1:
                raise ValueError("a varied simulator fleet needs at least one variant")
            write_variants(self.variants_dir, self.variants, self.recorded, self.seed)
            varied = ["--variants-dir", str(self.variants_dir), "--variants", str(self.variants)]
        log = (self.workdir / "simulator.log").open("ab")
        for _ in range(self.processes):
            r, w = os.pipe()
            proc = subprocess.Popen(
                [self.python, str(HERE / "simulator.py"), "serve", "--port", str(self.port),
                 "--keys", str(self.keys.client_key.parent), "--recorded", str(self.recorded),
                 *varied, "--ready-fd", str(w)],
                pass_fds=(w,), stdout=log, stderr=log, start_new_session=True,
            )
            os.close(w)
            self.procs.append(proc)
            with os.fdopen(r, "rb") as ready:
                got = b""
                deadline = time.monotonic() + timeout
                while not got and time.monotonic() < deadline:
                    got = ready.read(2)
                if got != b"ok":
                    self.stop()
                    raise RuntimeError(f"simulator did not start; see {log.name}")
        log.close()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []

    def cpu_seconds(self) -> float:
        """CPU used so far by the simulator processes (from /proc)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for proc in self.procs:
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total

    def __enter__(self) -> SimulatorFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------- scale runs


def scale(args: argparse.Namespace) -> int:
    from measure import run_measured
    from tools import TOOLS, Setup, fleetpatch_path

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="fleetpatch-sim-"))
    keys = make_keys(workdir / "keys")
    fleet = SimulatorFleet(workdir / "sim", keys, processes=args.processes,
                           recorded=Path(args.recorded).resolve(), fleet=args.fleet,
                           hosts=max(sizes), variants=args.variants, seed=args.fleet_seed)
    known = write_known_hosts(workdir / "known_hosts", max(sizes), fleet.port, keys.host_pub)
    script = workdir / "scan.sh"
    src = Path(args.fleetpatch_src) if args.fleetpatch_src else None
    probe = Setup(workdir, 0, fleet.port, keys.client_key, known, script, args.concurrency,
                  fleetpatch_src=src)
    env = {**os.environ, **fleetpatch_path(probe)}
    code = "from fleetpatch.platforms.render import scan_script; print(scan_script(), end='')"
    script.write_text(subprocess.run([str(probe.fleetpatch_python), "-c", code], env=env,
                                     check=True, capture_output=True, text=True).stdout)
    names = args.tools.split(",")
    TOOLS["fleetpatch-patched"].patches = args.patch or "all"  # type: ignore[attr-defined]
    results = []
    print(f"simulator: {fleet.processes} server process(es) on port {fleet.port}; "
          f"{fleet_label(fleet)}; RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}; "
          f"workdir {workdir}", flush=True)
    try:
        with fleet:
            for size in sizes:
                setup = Setup(workdir / f"n{size}", size, fleet.port, keys.client_key, known,
                              script, args.concurrency, fleetpatch_src=src, fleet=args.fleet)
                tools = {n: TOOLS[n](setup) for n in names}
                runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
                for rep in range(args.reps):
                    for name, tool in tools.items():
                        inv = tool.invocation(rep)
                        sim_before = fleet.cpu_seconds()
                        m = run_measured(inv.argv, env=inv.env, cwd=inv.cwd, stdout=inv.stdout,
                                         stderr=inv.stderr, timeout=3600, sample_interval=1.0)
                        problem = tool.check(inv, m.returncode)
                        if problem:
                            print(f"  {size} {name}: FAILED {problem[:800]}", flush=True)
                            return 1
                        run = {**m.as_dict(), "simulator_cpu": fleet.cpu_seconds() - sim_before}
                        if hasattr(tool, "report_bytes"):
                            run["report_bytes"] = tool.report_bytes
                        runs[name].append(run)
                        print(f"  {size:>6} {name:<10} rep {rep + 1}: wall {m.wall:7.2f} s  "
                              f"cpu {m.cpu:7.2f} s ({m.cpu / size * 1000:5.2f} ms/host)  "
                              f"rss {m.maxrss_mb:6.0f} MB  simulator cpu "
                              f"{run['simulator_cpu']:6.1f} s", flush=True)
                        for p in inv.cwd.glob("store-*.db*"):
                            p.unlink()
                medians = {}
                for name, measured in runs.items():
                    med = {k: statistics.median(r[k] for r in measured)
                           for k in ("wall", "cpu", "maxrss_mb", "simulator_cpu")}
                    med["cpu_ms_per_host"] = med["cpu"] / size * 1000
                    med["wall_ms_per_host"] = med["wall"] / size * 1000
                    if "report_bytes" in measured[0]:
                        med["report_bytes"] = measured[0]["report_bytes"]
                    medians[name] = med
                results.append({"hosts": size, "runs": runs, "medians": medians})
    finally:
        fleet.stop()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    print()
    print(f"fleet: {fleet_label(fleet)}")
    print(f"{'hosts':>6}  {'tool':<18} {'wall s':>8} {'ms/host':>8} {'CPU s':>8} "
          f"{'CPU ms/host':>11} {'RSS MB':>7} {'report MB':>9}")
    for r in results:
        for name, med in r["medians"].items():
            rep_mb = med.get("report_bytes", 0) / 2**20
            print(f"{r['hosts']:>6}  {name:<18} {med['wall']:>8.2f} "
                  f"{med['wall_ms_per_host']:>8.2f} "
                  f"{med['cpu']:>8.2f} {med['cpu_ms_per_host']:>11.2f} {med['maxrss_mb']:>7.0f} "
                  f"{rep_mb:>9.1f}")
    growth = {}
    if len(results) > 1:
        small, large = results[0], results[-1]
        for name in names:
            a, b = small["medians"][name], large["medians"][name]
            growth[name] = {
                "cpu_per_host_ratio": b["cpu_ms_per_host"] / a["cpu_ms_per_host"],
                "wall_per_host_ratio": b["wall_ms_per_host"] / a["wall_ms_per_host"],
                "rss_ratio": b["maxrss_mb"] / a["maxrss_mb"],
            }
            print(f"growth {small['hosts']} -> {large['hosts']} hosts, {name}: CPU/host x"
                  f"{growth[name]['cpu_per_host_ratio']:.2f}, wall/host x"
                  f"{growth[name]['wall_per_host_ratio']:.2f}, "
                  f"RSS x{growth[name]['rss_ratio']:.2f}")
    budget = None
    big = next((r for r in results if r["hosts"] >= 10000), None)
    if big and "fleetpatch" in big["medians"]:
        rss = big["medians"]["fleetpatch"]["maxrss_mb"]
        budget = {"hosts": big["hosts"], "rss_mb": rss, "rss_budget_mb": 300, "ok": rss <= 300}
        print(f"budget at {big['hosts']} hosts: RSS {rss:.0f} MB (budget 300 MB: "
              f"{'ok' if rss <= 300 else 'OVER'})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "kind": "fleetpatch-bench/simulator",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {"sizes": sizes, "reps": args.reps, "concurrency": args.concurrency,
                   "processes": fleet.processes, "tools": names, "patch": args.patch,
                   "recorded": args.recorded, "fleet": args.fleet,
                   "fleet_seed": args.fleet_seed if args.fleet == "varied" else None,
                   "variants": fleet.variants if args.fleet == "varied" else None,
                   "cores": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "results": results, "growth": growth, "budget": budget,
    }, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def fleet_label(fleet: SimulatorFleet) -> str:
    if fleet.fleet == "varied":
        return (f"varied fleet ({fleet.variants} distinct host outputs, seed {fleet.seed}; "
                f"host i answers variant ((i - 1) mod {fleet.variants}) + 1)")
    return "uniform fleet (every host answers the recording)"


def main() -> int:
    parser = argparse.ArgumentParser(description="fleet simulator and scale benchmark")
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("serve", help="run one simulator server process")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--keys", type=Path, required=True,
                   help="dir with ssh_host_ed25519_key and id_ed25519.pub")
    s.add_argument("--recorded", type=Path, default=RECORDED)
    s.add_argument("--ready-fd", type=int)
    s.add_argument("--variants-dir", type=Path,
                   help="varied fleet: answer from VARIANTS_DIR/<host address>.out")
    s.add_argument("--variants", type=int, default=0,
                   help="varied fleet: how many host files VARIANTS_DIR has (hosts 1..N)")
    for p in (parser, sub.add_parser("scale", help="scan simulated fleets (default)")):
        p.add_argument("--sizes", default="1000,10000")
        p.add_argument("--reps", type=int, default=1)
        p.add_argument("--concurrency", type=int, default=100)
        p.add_argument("--processes", type=int, default=None)
        p.add_argument("--tools", default="fleetpatch,raw")
        p.add_argument("--fleetpatch-src", default=None)
        p.add_argument("--patch", default="all",
                       help="fixes (patches.py) for the fleetpatch-patched tool")
        p.add_argument("--recorded", default=str(RECORDED), help="scan output to replay")
        p.add_argument("--fleet", choices=FLEETS, default="uniform",
                       help="uniform: every host answers the recording; varied: every host "
                            "its own variant of it (variants.py)")
        p.add_argument("--variants", type=int, default=DEFAULT_VARIANTS,
                       help="varied fleet: distinct host outputs (host i answers variant "
                            "((i - 1) mod K) + 1)")
        p.add_argument("--fleet-seed", type=int, default=0, help="varied fleet: seed")
        p.add_argument("--out", default=str(HERE / "results" / "simulator.json"))
    args = parser.parse_args()
    if args.cmd == "serve":
        if args.variants_dir is not None and args.variants < 1:
            parser.error("--variants-dir needs --variants N (N >= 1)")
        serve(args.port, args.keys, Path(args.recorded), args.ready_fd, args.variants_dir,
              args.variants)
        return 0
    return scale(args)


if __name__ == "__main__":
    sys.exit(main())
