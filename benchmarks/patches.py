"""Candidate fixes for fleetpatch's hot spots, applied by monkeypatching in a benchmark process.

``src/`` is never modified: ``apply("a,b")`` (or ``"all"``) replaces functions in the imported
modules, so a benchmark can measure a fix's gain before it is applied for real (the
"fleetpatch-patched" tool of bench.py, ``micro.py --patch``, ``profile_scan.py --patch``).

The first batch of fixes measured here (smaller apt.security_versions output, faster
parse_security_versions, slim retained results, GC freeze, pydantic JSON serialisation) has been
applied in ``src/`` and removed from this file; docs/benchmarks.md keeps their measured gains.
Add the next candidates below with ``@fix``.
"""

from __future__ import annotations

from collections.abc import Callable

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
