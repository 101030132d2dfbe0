"""Run the real `fleetpatch` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def fleetpatch(
    args: Sequence[str | Path],
    *,
    store: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env["FLEETPATCH_STORE"] = f"sqlite:///{store}"
    full_env.setdefault("FLEETPATCH_KNOWN_HOSTS", str(store.parent / "fp_known_hosts"))
    full_env["HOME"] = str(store.parent)  # keep the user's ~/.ssh out of the tests
    full_env["COLUMNS"] = "200"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "fleetpatch", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
