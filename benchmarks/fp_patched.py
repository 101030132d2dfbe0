"""``fleetpatch`` with fixes from patches.py applied first (the benchmark's "fleetpatch-patched").

    python benchmarks/fp_patched.py --patch all scan -i INVENTORY ...
"""

from __future__ import annotations

import sys

import patches

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "--patch":
        raise SystemExit("usage: fp_patched.py --patch FIXES fleetpatch-arguments...")
    patches.apply(sys.argv[2])
    from fleetpatch.cli.main import main

    sys.argv = ["fleetpatch", *sys.argv[3:]]
    main()
