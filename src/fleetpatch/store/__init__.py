"""The compliance store (SQLite by default, any SQLAlchemy URL for teams).

See docs/store.md for the tables, history semantics, migrations and URLs.

The names below are loaded on first use (PEP 562), so importing a light submodule
(``fleetpatch.store.ids``, ``fleetpatch.store.sqlite_scan``) does not import SQLAlchemy:
its import alone costs ~0.15 s of CPU, which a scan into a SQLite file does without.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetpatch.store.engine import STORE_ENV as STORE_ENV
    from fleetpatch.store.engine import default_store_url as default_store_url
    from fleetpatch.store.errors import RunNotFound as RunNotFound
    from fleetpatch.store.errors import StoreError as StoreError
    from fleetpatch.store.errors import StoreSchemaTooNew as StoreSchemaTooNew
    from fleetpatch.store.ids import new_run_id as new_run_id
    from fleetpatch.store.models import HostHistoryEntry as HostHistoryEntry
    from fleetpatch.store.models import RunStatus as RunStatus
    from fleetpatch.store.models import RunSummary as RunSummary
    from fleetpatch.store.store import Store as Store
    from fleetpatch.store.store import open_store as open_store
    from fleetpatch.store.store import open_store_for_reading as open_store_for_reading

_WHERE = {
    "STORE_ENV": "fleetpatch.store.engine",
    "default_store_url": "fleetpatch.store.engine",
    "RunNotFound": "fleetpatch.store.errors",
    "StoreError": "fleetpatch.store.errors",
    "StoreSchemaTooNew": "fleetpatch.store.errors",
    "new_run_id": "fleetpatch.store.ids",
    "HostHistoryEntry": "fleetpatch.store.models",
    "RunStatus": "fleetpatch.store.models",
    "RunSummary": "fleetpatch.store.models",
    "Store": "fleetpatch.store.store",
    "open_store": "fleetpatch.store.store",
    "open_store_for_reading": "fleetpatch.store.store",
}

__all__ = [
    "STORE_ENV",
    "HostHistoryEntry",
    "RunNotFound",
    "RunStatus",
    "RunSummary",
    "Store",
    "StoreError",
    "StoreSchemaTooNew",
    "default_store_url",
    "new_run_id",
    "open_store",
    "open_store_for_reading",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'fleetpatch.store' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
