"""The lower bound: a bare asyncssh client doing only what fleetpatch's scan does on the wire.

One connection per host, the same command (``sh -s``) and the same stdin (fleetpatch's rendered
scan script), the same host-key check (known_hosts) and client key, at most ``--concurrency``
hosts at a time; it reads the whole output and throws it away: no parsing, no evaluation, no
store, no report.

    python benchmarks/raw_client.py --hosts hosts.txt --port P --key K --known-hosts KH \\
        --script scan.sh --concurrency 50

``hosts.txt`` has one address per line. Prints one JSON line: hosts, ok, failed, bytes.
Exit status 1 if any host failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import asyncssh


async def scan_one(
    address: str,
    port: int,
    options: asyncssh.SSHClientConnectionOptions,
    script: bytes,
    slots: asyncio.Semaphore,
) -> int:
    async with slots, asyncssh.connect(address, port, options=options) as conn:
        result = await conn.run("sh -s", input=script, check=False, encoding=None)
    if result.exit_status != 0:
        raise RuntimeError(f"{address}: exit status {result.exit_status}")
    return len(result.stdout or b"")


async def scan_all(args: argparse.Namespace) -> dict[str, int]:
    addresses = [line.strip() for line in Path(args.hosts).read_text().splitlines() if line.strip()]
    script = Path(args.script).read_bytes()
    options = asyncssh.SSHClientConnectionOptions(
        username="root",
        client_keys=asyncssh.load_keypairs([args.key]),  # read once, as fleetpatch does
        agent_path=None,
        known_hosts=asyncssh.read_known_hosts(args.known_hosts),  # parsed once, as fleetpatch
        config=[],
        connect_timeout=args.connect_timeout,
        encryption_algs=args.encryption_algs or (),  # () = asyncssh's defaults
    )
    slots = asyncio.Semaphore(args.concurrency)
    outcomes = await asyncio.gather(
        *(scan_one(a, args.port, options, script, slots) for a in addresses),
        return_exceptions=True,
    )
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    for exc in failed[:5]:
        print(f"raw_client: {type(exc).__name__}: {exc}", file=sys.stderr)
    return {
        "hosts": len(addresses),
        "ok": len(addresses) - len(failed),
        "failed": len(failed),
        "bytes": sum(o for o in outcomes if isinstance(o, int)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("--script", required=True)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--connect-timeout", type=float, default=30)
    parser.add_argument("--encryption-algs", default="",
                        help="cipher preference (OpenSSH syntax); the harness passes fleetpatch's")
    args = parser.parse_args()
    summary = asyncio.run(scan_all(args))
    print(json.dumps(summary))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
