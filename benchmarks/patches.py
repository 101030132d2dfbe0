"""Candidate fixes for fleetpatch's hot spots, applied by monkeypatching in a benchmark process.

``src/`` is never modified: ``apply("a,b")`` (or ``"all"``) replaces functions in the imported
modules, so a benchmark can measure a fix's gain before the owner of the code applies it for
real. Each fix documents the change it stands for; docs/benchmarks.md has the measured gains.

* ``security_versions`` — ``parse_security_versions`` (platforms/apt/parsers.py): same result,
  but sorts only names that have more than one version (most have one: 3,000 ``sorted()`` calls
  with a ``cmp_to_key`` wrapper per host otherwise) and splits with ``str.partition``.
* ``report_json`` — ``fleetpatch scan --format json`` (cli/scan.py ``emit_report``): serialise
  the report model with pydantic's ``model_dump_json(indent=2)`` instead of
  ``json.dumps(run_to_report(run), indent=2)`` (``model_dump(mode="json")`` builds a dict tree,
  then the pure-Python indenting encoder walks it).
* ``slim_results`` — the scan keeps every HostResult (facts with all installed packages and the
  INSTALLED_OTHER compliance items) until the report: per host what the report needs is kept
  once the store has the full result (facts without ``installed``, compliance without
  INSTALLED_OTHER items; counts unchanged). engine/scan_run.py ``scan_hosts``.
* ``remote_security_filter`` — a scan-script change, not a controller change: the
  ``apt.security_versions`` section lists every version published by the security pockets
  (3,000 lines, 110 KB of the 140 KB a Debian 12 host sends); only installed names matter
  (``security_origin`` of installed packages and the security rule for pending updates, both
  keyed by installed names). :func:`filter_security_script` rewrites the rendered script so
  awk keeps only installed names; recorded output: ``recorded/debian12-scan.filtered.out``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

FIXES: dict[str, Callable[[], None]] = {}


def fix(fn: Callable[[], None]) -> Callable[[], None]:
    FIXES[fn.__name__] = fn
    return fn


def apply(names: str) -> list[str]:
    wanted = list(FIXES) if names.strip() == "all" else [n for n in names.split(",") if n]
    for name in wanted:
        if name not in FIXES:
            raise SystemExit(f"unknown patch {name!r}; known: {', '.join(FIXES)}")
        FIXES[name]()
    return wanted


@fix
def security_versions() -> None:
    from fleetpatch.errors import ParseError
    from fleetpatch.platforms.apt import parsers, platform
    from fleetpatch.platforms.versions import dpkg_sort_key

    def parse_security_versions(text: str) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line:
                continue
            name, _, version = line.partition("\t")
            if not name or not version or "\t" in version:
                raise ParseError(
                    f"apt.security_versions line {lineno}: expected 'name<TAB>version', "
                    f"got {line!r}"
                )
            have = found.get(name)
            if have is None:
                found[name] = (version,)
            elif version not in have:
                found[name] = (*have, version)
        return {
            name: v if len(v) == 1 else tuple(sorted(v, key=dpkg_sort_key))
            for name, v in sorted(found.items())
        }

    parsers.parse_security_versions = parse_security_versions
    platform.parse_security_versions = parse_security_versions


@fix
def report_json() -> None:
    from fleetpatch.cli import scan as cli_scan
    from fleetpatch.report.json_report import build_report

    original = cli_scan.emit_report

    def emit_report(run: Any, *, output_format: str, output: Any, verbose: bool) -> None:
        if output_format != "json":
            return original(run, output_format=output_format, output=output, verbose=verbose)
        text = build_report(run).model_dump_json(indent=2)
        if output is not None:
            output.write_text(text + "\n")
        else:
            print(text)
        return None

    cli_scan.emit_report = emit_report


@fix
def slim_results() -> None:
    import asyncio

    from fleetpatch.cli import scan as cli_scan
    from fleetpatch.compliance import PatchState
    from fleetpatch.engine import scan_run
    from fleetpatch.engine.pipeline import scan_host, utcnow
    from fleetpatch.engine.runner import run_hosts

    def slim(result: Any) -> Any:
        update: dict[str, Any] = {}
        if result.facts is not None and result.facts.installed:
            update["facts"] = result.facts.model_copy(update={"installed": ()})
        c = result.compliance
        if c is not None:
            kept = tuple(i for i in c.items if i.state is not PatchState.INSTALLED_OTHER)
            if len(kept) != len(c.items):
                update["compliance"] = c.model_copy(update={"items": kept})
        return result.model_copy(update=update) if update else result

    async def scan_hosts(
        hosts: Sequence[Any], ctx: Any, *, concurrency: int, on_result: Callable[[Any], None]
    ) -> tuple[list[Any], bool]:
        finished: dict[str, Any] = {}

        def collect(result: Any) -> None:
            on_result(result)  # the store gets the full result (buffered, then saved)
            finished[result.host] = slim(result)

        cancelled = False
        started = utcnow()
        try:
            await run_hosts(
                hosts, lambda h: scan_host(h, ctx), concurrency=concurrency, on_result=collect
            )
        except asyncio.CancelledError:
            cancelled = True
        ordered = []
        for host in hosts:
            result = finished.get(host.name)
            if result is None:
                result = scan_run.cancelled_result(host, started)
                on_result(result)
            ordered.append(result)
        return ordered, cancelled

    scan_run.scan_hosts = scan_hosts
    cli_scan.scan_hosts = scan_hosts


@fix
def gc_tuning() -> None:
    """The scan keeps every result until the report, so the heap grows by ~0.7 MB of small
    objects per host and each full collection of the cyclic GC walks all of it: per-host
    parse/evaluate time doubles by 200 hosts. Freeze what start-up allocated and collect the
    young generation less often (cli/scan.py, before the run: gc.freeze(); gc.set_threshold)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


# ------------------------------------------------------------------- the scan-script change

_SECURITY_AWK = re.compile(
    r"""\| fp_apt_cat_lists \| awk '
    /\^Package: / \{ p = \$2 \} /\^Version: / \{ v = \$2 \}
    /\^\$/ \{ if \(p != ""\) print p "\\t" v; p = v = "" \}' \| sort -u"""
)

_FILTERED_AWK = """| { dpkg-query -W -f='${Package}\\n' 2>/dev/null; echo '@@FP-INSTALLED-END@@'
    fp_apt_cat_lists; } | awk '
    !listing { if ($0 == "@@FP-INSTALLED-END@@") listing = 1; else installed[$0] = 1; next }
    /^Package: / { p = $2 } /^Version: / { v = $2 }
    /^$/ { if (p in installed) print p "\\t" v; p = v = "" }' | sort -u"""


def filter_security_script(script: str) -> str:
    """The rendered scan script with apt.security_versions limited to installed names."""
    changed, count = _SECURITY_AWK.subn(lambda _m: _FILTERED_AWK, script)
    if count != 1:
        raise ValueError("apt.security_versions pipeline not found in the scan script")
    return changed
