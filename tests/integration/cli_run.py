"""Run the real `fleetpatch` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def cli_env(store: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the tests run `fleetpatch` in: the store given, HOME beside it."""
    full_env = dict(os.environ)
    full_env["FLEETPATCH_STORE"] = f"sqlite:///{store}"
    full_env.setdefault("FLEETPATCH_KNOWN_HOSTS", str(store.parent / "fp_known_hosts"))
    full_env["HOME"] = str(store.parent)  # keep the user's ~/.ssh out of the tests
    full_env["COLUMNS"] = "200"
    full_env.update(env or {})
    return full_env


def fleetpatch(
    args: Sequence[str | Path],
    *,
    store: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``fleetpatch ARGS`` (``prefix`` runs it through another command, e.g. as another user)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "fleetpatch", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(store, env),
        timeout=timeout,
    )


def fleetpatch_started(
    args: Sequence[str | Path], *, store: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``fleetpatch ARGS`` started in the background (the caller waits or kills it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "fleetpatch", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(store, env),
    )
