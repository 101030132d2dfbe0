"""The compliance store (SQLite by default, any SQLAlchemy URL for teams).

See docs/store.md for the tables, history semantics, migrations and URLs.
"""

from fleetpatch.store.engine import STORE_ENV, default_store_url
from fleetpatch.store.errors import RunNotFound, StoreError, StoreSchemaTooNew
from fleetpatch.store.ids import new_run_id
from fleetpatch.store.models import HostHistoryEntry, RunStatus, RunSummary
from fleetpatch.store.store import Store, open_store

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
]
