"""Target selection, with SSM's semantics: several targets are ANDed, the comma-separated
values inside one target are ORed.

Grammar of one target expression::

    tag:KEY=VALUE[,VALUE...]     the tag KEY (may contain spaces) has one of the values
    tag-key:KEY[,KEY...]         the host has one of the tag keys, whatever the value
    group:NAME[,NAME...]         the host belongs to one of the groups (directly or via children)
    instanceids:ID[,ID...]       the host's ``instance_id`` fact is one of the ids
    name:GLOB[,GLOB...]          the host name matches one of the fnmatch globs
    GLOB[,GLOB...]               the same, without the prefix
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from fleetpatch.errors import InputError
from fleetpatch.inventory.model import Host, Inventory

TargetKind = Literal["tag", "tag-key", "group", "instanceids", "name"]
_KINDS: tuple[TargetKind, ...] = ("tag", "tag-key", "group", "instanceids", "name")
_PREFIX = re.compile(r"^(?P<kind>[a-z][a-z-]*):")
_GRAMMAR = "use tag:Key=Value, tag-key:Key, group:NAME, instanceids:ID, or a host-name glob"
_LISTED = 12


@dataclass(frozen=True)
class Target:
    """One parsed target expression. ``key`` is the tag key for ``tag``, else None."""

    kind: TargetKind
    values: tuple[str, ...]
    key: str | None = None
    expression: str = ""

    def matches(self, host: Host) -> bool:
        """Whether ``host`` matches any of the values."""
        if self.kind == "tag":
            value = host.tags.get(self.key or "")
            return value is not None and value in self.values
        if self.kind == "tag-key":
            return any(key in host.tags for key in self.values)
        if self.kind == "group":
            return any(group in host.groups for group in self.values)
        if self.kind == "instanceids":
            return host.facts.get("instance_id") in self.values
        return any(fnmatchcase(host.name, glob) for glob in self.values)


def parse_target(expression: str) -> Target:
    """Parse one ``--target`` expression. Raises InputError if it is malformed."""
    text = expression.strip()
    if not text:
        raise InputError(f"empty target; {_GRAMMAR}")
    match = _PREFIX.match(text)
    if match is None:
        return Target(kind="name", values=_values(text, expression), expression=expression)
    kind = next((known for known in _KINDS if known == match["kind"]), None)
    body = text[match.end() :]
    if kind is None:
        raise InputError(f"target {expression!r}: unknown kind {match[0]!r}; {_GRAMMAR}")
    if kind == "tag":
        key, sep, rest = body.partition("=")
        if not key.strip():
            raise InputError(f"target {expression!r}: expected tag:Key=Value, the key is missing")
        if not sep:
            raise InputError(
                f"target {expression!r}: expected tag:Key=Value (to select on the key alone, "
                f"use tag-key:{key.strip()})"
            )
        return Target("tag", _values(rest, expression), key=key.strip(), expression=expression)
    return Target(kind, _values(body, expression), expression=expression)


def _values(text: str, expression: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in text.split(","))
    if not values or any(not value for value in values):
        raise InputError(f"target {expression!r}: a value is empty; {_GRAMMAR}")
    return values


def select_hosts(inventory: Inventory, targets: Sequence[str]) -> tuple[Host, ...]:
    """The hosts matching every target (in inventory order); all hosts if there are none.

    Raises InputError if a target is malformed, if one matches no host at all (the message
    lists what is known, e.g. the tag keys) or if the targets together match no host.
    """
    parsed = [parse_target(expression) for expression in targets]
    for target in parsed:
        if not any(target.matches(host) for host in inventory.hosts):
            raise InputError(
                f"target {target.expression!r} matches no host; {_known(inventory, target)}"
            )
    selected = tuple(h for h in inventory.hosts if all(t.matches(h) for t in parsed))
    if not selected:
        joined = " AND ".join(repr(t.expression) for t in parsed)
        raise InputError(f"targets {joined} match no host together")
    return selected


def _known(inventory: Inventory, target: Target) -> str:
    hosts = inventory.hosts
    values = {h.tags[target.key] for h in hosts if target.key and target.key in h.tags}
    if target.kind == "tag" and values:
        return f"known values of tag {target.key!r}: {_listing(values)}"
    if target.kind in ("tag", "tag-key"):
        return f"known tag keys: {_listing({key for h in hosts for key in h.tags})}"
    if target.kind == "group":
        return f"known groups: {_listing({group for h in hosts for group in h.groups})}"
    if target.kind == "instanceids":
        ids = {h.facts["instance_id"] for h in hosts if "instance_id" in h.facts}
        return f"known instance ids: {_listing(ids)}"
    names = [h.name for h in hosts]
    more = ", ..." if len(names) > _LISTED else ""
    return f"{len(names)} host(s), e.g. {', '.join(names[:_LISTED])}{more}"


def _listing(items: set[str]) -> str:
    if not items:
        return "none"
    ordered = sorted(items)
    more = f", ... ({len(ordered)} in all)" if len(ordered) > _LISTED else ""
    return ", ".join(repr(item) for item in ordered[:_LISTED]) + more
