"""A small on-disk cache for dynamic inventory sources: JSON files with a time to live.

Entries live under ``platformdirs.user_cache_dir("fleetpatch")/inventory`` (``$XDG_CACHE_HOME``
on Linux), one file per key, written atomically and readable by the owner only. The cache is
best effort: an unreadable, corrupt or foreign entry is a miss and a failed write is ignored,
so it can never make a load fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import platformdirs

_FORMAT = 1


def default_cache_dir() -> Path:
    """Where inventory cache entries are kept."""
    return Path(platformdirs.user_cache_dir("fleetpatch")) / "inventory"


def cache_key(*parts: Any) -> str:
    """A stable key for JSON-serialisable ``parts`` (order of dict keys does not matter)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


class JsonCache:
    """Key -> JSON value, each entry expiring ``max_age`` seconds after it was written."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else default_cache_dir()

    def path_of(self, key: str, prefix: str = "") -> Path:
        return self.directory / f"{prefix}{key}.json"

    def get(self, key: str, max_age: float, *, prefix: str = "") -> Any | None:
        """The value stored under ``key`` if it is younger than ``max_age`` seconds, else None."""
        if max_age <= 0:
            return None
        try:
            with self.path_of(key, prefix).open(encoding="utf-8") as handle:
                entry = json.load(handle)
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
            return None
        written = entry.get("written")
        if not isinstance(written, int | float) or not 0 <= time.time() - written < max_age:
            return None
        return entry.get("value")

    def put(self, key: str, value: Any, *, prefix: str = "") -> bool:
        """Store ``value``; False (and nothing raised) if the cache cannot be written."""
        entry = {"format": _FORMAT, "written": time.time(), "value": value}
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        except OSError:
            return False
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle, separators=(",", ":"))
            os.replace(tmp, self.path_of(key, prefix))
        except (OSError, TypeError, ValueError):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return False
        return True
