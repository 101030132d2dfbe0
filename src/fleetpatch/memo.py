"""Per-run interning: what the hosts of one fleet share is parsed, judged and rendered once.

Hosts built from one image and fed by the same mirrors print the same lines: the same dpkg
rows, the same ``Inst`` lines, the same candidate and security-pocket lines. A scan of a fleet
therefore parses the same line, builds the same frozen package model, judges the same package
against the same baseline rule and renders the same report fragment over and over. A
:class:`RunMemo` belongs to one run (it lives in the run's context, never in a module) and
remembers those results:

* parsers key their tables by the text they read (a line, or a whole section), so a hit is
  exactly the result the parser would have returned for that text;
* later stages key theirs by the *identity* of the frozen models the parsers returned
  (:class:`IdentityTable`), which costs no hashing of the model's fields; the table holds the
  model, so its id cannot be reused while the entry exists.

What a memo returns is always what the uncached path computes (the tests compare the two on
every golden file and on varied fleets). Every table is bounded. A table of small entries (a
line, a package, an item) stops growing when full: misses are then computed as if there were
no memo, so a fleet with nothing in common costs one dictionary look-up per line more than no
memo at all. A table of whole-host entries (a host's sections, package list, report text: up
to ~100 KB each) holds :data:`HOST_LIMIT` entries and starts afresh when full, so a fleet of
thousands of different hosts holds a few MB of them, not one entry per host.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

DEFAULT_LIMIT = 20_000
"""Entries per table of small entries. A Debian host has ~200-3,000 packages; 20,000 distinct
rows cover the common lines of a large varied fleet in a few tens of MB (docs/benchmarks.md)."""

HOST_LIMIT = 64
"""Entries per table of whole-host entries: identical hosts come in groups (one image, one
patch level), a handful per fleet. The varied 10,000-host simulator run peaked at 250 MB with
256 entries and at 204 MB with 64 (docs/benchmarks.md)."""


class MemoTable(dict[K, V]):
    """A dict bounded to ``limit`` entries (``get`` stays the built-in one): when full it
    stops growing, or with ``renew`` starts afresh."""

    __slots__ = ("limit", "renew")

    def __init__(self, limit: int = DEFAULT_LIMIT, *, renew: bool = False) -> None:
        super().__init__()
        self.limit = limit
        self.renew = renew

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` under ``key`` while there is room; return ``value``."""
        if len(self) >= self.limit:
            if not self.renew or self.limit <= 0:
                return value
            self.clear()
        self[key] = value
        return value


class IdentityTable(Generic[T, V]):
    """Values derived from objects, keyed by the object's identity.

    The table keeps each object it was given alive, so an id in it always names that object.
    Meant for immutable (frozen) objects: a value computed from one stays valid."""

    __slots__ = ("_entries", "limit", "renew")

    def __init__(self, limit: int = DEFAULT_LIMIT, *, renew: bool = False) -> None:
        self._entries: dict[int, tuple[T, V]] = {}
        self.limit = limit
        self.renew = renew

    def get(self, obj: T) -> V | None:
        hit = self._entries.get(id(obj))
        if hit is None or hit[0] is not obj:
            return None
        return hit[1]

    def put(self, obj: T, value: V) -> V:
        if len(self._entries) >= self.limit:
            if not self.renew or self.limit <= 0:
                return value
            self._entries.clear()  # the objects it held may now go, and their ids with them
        self._entries[id(obj)] = (obj, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)


class RunMemo:
    """The interning tables of one run, by name (a parser or stage picks its own names)."""

    __slots__ = ("_identity", "_tables", "host_limit", "limit")

    def __init__(self, limit: int = DEFAULT_LIMIT, host_limit: int = HOST_LIMIT) -> None:
        self.limit = limit
        self.host_limit = host_limit
        self._tables: dict[str, MemoTable[Any, Any]] = {}
        self._identity: dict[str, IdentityTable[Any, Any]] = {}

    def table(self, name: str, *, per_host: bool = False) -> MemoTable[Any, Any]:
        """The value-keyed table ``name`` (created empty on first use); ``per_host``: its
        entries are whole-host sized (see the module docstring)."""
        found = self._tables.get(name)
        if found is None:
            found = self._tables[name] = (
                MemoTable(self.host_limit, renew=True) if per_host else MemoTable(self.limit)
            )
        return found

    def identity(self, name: str, *, per_host: bool = False) -> IdentityTable[Any, Any]:
        """The identity-keyed table ``name`` (created empty on first use); ``per_host`` as
        for :meth:`table`."""
        found = self._identity.get(name)
        if found is None:
            found = self._identity[name] = (
                IdentityTable(self.host_limit, renew=True)
                if per_host
                else IdentityTable(self.limit)
            )
        return found

    def sizes(self) -> dict[str, int]:
        """Entries per table (for the benchmarks' memory figures)."""
        return {
            **{n: len(t) for n, t in self._tables.items()},
            **{n: len(t) for n, t in self._identity.items()},
        }
