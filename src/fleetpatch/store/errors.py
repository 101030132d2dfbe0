"""Errors raised by the compliance store."""

from __future__ import annotations

from fleetpatch.errors import FleetpatchError


class StoreError(FleetpatchError):
    """The store cannot do what was asked (bad data, missing run, unusable database)."""


class StoreSchemaTooNew(StoreError):
    """The database was migrated by a newer fleetpatch than this one; it is left untouched."""

    def __init__(self, where: str, found: int, supported: int):
        self.found = found
        self.supported = supported
        super().__init__(
            f"{where}: store schema version {found} is newer than this fleetpatch supports "
            f"({supported}); upgrade fleetpatch, or point FLEETPATCH_STORE at another store"
        )


class RunNotFound(StoreError):
    """No run with this id is in the store."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        super().__init__(f"no run {run_id!r} in the store")
