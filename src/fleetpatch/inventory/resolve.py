"""Layered settings and their resolution into flat, frozen :class:`Host` values.

Both loaders describe what each level (defaults, group, host) wrote as a :class:`Layer`, merge
the layers in precedence order (later wins; tags, connection settings and facts key by key) and
build one :class:`Host` per name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleetpatch.errors import InputError
from fleetpatch.inventory.grammar import (
    WINRM_HTTP_PORT,
    WINRM_HTTPS_PORT,
    winrm_settings_problem,
)
from fleetpatch.inventory.model import ConnectionSettings, Host, Inventory


@dataclass(frozen=True)
class Layer:
    """What one level wrote: only keys present here override earlier layers."""

    fields: Mapping[str, Any] = field(default_factory=dict)  # address, port, user, transport
    connection: Mapping[str, Any] = field(default_factory=dict)  # ConnectionSettings keys
    tags: Mapping[str, str] = field(default_factory=dict)
    facts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedFile:
    """The hosts of one inventory file, with the line each host was defined on."""

    source: str
    hosts: tuple[Host, ...]
    host_lines: Mapping[str, int]
    known_hosts: str | None = None
    warnings: tuple[str, ...] = ()


def merge_layers(layers: Iterable[Layer]) -> Layer:
    """Merge in order; a later layer wins, key by key inside connection, tags and facts."""
    fields: dict[str, Any] = {}
    connection: dict[str, Any] = {}
    tags: dict[str, str] = {}
    facts: dict[str, str] = {}
    for layer in layers:
        fields.update(layer.fields)
        connection.update(layer.connection)
        tags.update(layer.tags)
        facts.update(layer.facts)
    return Layer(fields=fields, connection=connection, tags=tags, facts=facts)


def build_host(
    name: str,
    merged: Layer,
    *,
    groups: Iterable[str],
    source: str,
    fail: Callable[[str], InputError],
) -> Host:
    """A resolved host; its address defaults to its name.

    A WinRM host's port defaults to 5985 (5986 with ``winrm_scheme: https``). SSH-only
    settings (sudo, key_file, jump_host...) are kept as written: a WinRM host does not use
    them (a group's ``sudo: true`` may cover a mixed fleet).

    Raises:
        InputError: ``fail(message)`` for a value the host model rejects: an address or a
            user outside their grammar (:mod:`fleetpatch.inventory.grammar`) that no earlier
            check caught, e.g. the host's name as its address, or a value from EC2; or WinRM
            settings that do not go together (:func:`winrm_settings_problem`).
    """
    transport = merged.fields.get("transport", "ssh")
    connection = dict(merged.connection)
    default_port = 22
    if transport == "winrm":
        https = connection.get("winrm_scheme") == "https"
        default_port = WINRM_HTTPS_PORT if https else WINRM_HTTP_PORT
    try:
        host = Host(
            name=name,
            address=merged.fields.get("address") or name,
            port=merged.fields.get("port", default_port),
            user=merged.fields.get("user"),
            transport=transport,
            connection=ConnectionSettings(**connection),
            groups=tuple(sorted(groups)),
            tags=dict(merged.tags),
            facts=dict(merged.facts),
            source=source,
        )
    except ValidationError as exc:
        raise fail(_host_problem(exc, address_is_name="address" not in merged.fields)) from None
    if transport == "winrm":
        c = host.connection
        problem = winrm_settings_problem(
            scheme=host.winrm_scheme,
            auth=c.winrm_auth,
            ca_bundle=c.winrm_ca_bundle,
            insecure=c.winrm_insecure_skip_cert_validation,
        )
        if problem:
            raise fail(problem)
    return host


def _host_problem(exc: ValidationError, *, address_is_name: bool) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"])
    what = str(err.get("ctx", {}).get("error", err["msg"]))
    note = " (a host without 'address' is reached by its name)" if where == "address" else ""
    return f"{where}: {what}, got {err['input']!r}" + (note if address_is_name else "")


def resolve_path(raw: str, base_dir: Path) -> str:
    """Expand ``~`` and make ``raw`` absolute relative to ``base_dir`` (symlinks kept)."""
    expanded = Path(os.path.expanduser(raw))
    if not expanded.is_absolute():
        expanded = base_dir / expanded
    return os.path.normpath(expanded)


def existing_key_file(raw: str, base_dir: Path, fail: Callable[[str], InputError]) -> str:
    """Resolve a private key path; raise ``fail(message)`` if no such file exists."""
    resolved = resolve_path(raw, base_dir)
    if not os.path.isfile(resolved):
        what = "is not a file" if os.path.exists(resolved) else "does not exist"
        raise fail(f"key file {raw} (resolved {resolved}) {what}")
    return resolved


def existing_ca_bundle(raw: str, base_dir: Path, fail: Callable[[str], InputError]) -> str:
    """Resolve a CA bundle path (WinRM over HTTPS); raise ``fail(message)`` if no such file."""
    resolved = resolve_path(raw, base_dir)
    if not os.path.isfile(resolved):
        what = "is not a file" if os.path.exists(resolved) else "does not exist"
        raise fail(f"CA bundle {raw} (resolved {resolved}) {what}")
    return resolved


def fact_text(value: Any) -> str:
    """A variable value as the string kept in ``Host.facts`` (YAML-ish scalars, JSON else)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def validate_host_name(name: str, fail: Callable[[str], InputError]) -> None:
    """Host names are used in target globs: no blanks, whitespace or commas."""
    if not name.strip():
        raise fail("a host name must not be empty")
    if any(ch.isspace() for ch in name) or "," in name:
        raise fail(f"host name {name!r} must not contain whitespace or commas")


def combine_files(files: Iterable[LoadedFile]) -> Inventory:
    """One inventory from several loaded files; host names must be unique across them."""
    loaded = list(files)
    first_seen: dict[str, LoadedFile] = {}
    hosts: list[Host] = []
    for part in loaded:
        for host in part.hosts:
            earlier = first_seen.get(host.name)
            if earlier is not None:
                raise InputError(
                    f"host {host.name!r} is defined twice: here and at "
                    f"{earlier.source}:{earlier.host_lines.get(host.name, 1)}",
                    path=part.source,
                    location=str(part.host_lines.get(host.name, 1)),
                )
            first_seen[host.name] = part
            hosts.append(host)
    if not hosts:
        raise InputError("the inventory has no hosts")
    return Inventory(
        hosts=tuple(hosts),
        sources=tuple(part.source for part in loaded),
        known_hosts=next((part.known_hosts for part in loaded if part.known_hosts), None),
        warnings=tuple(warning for part in loaded for warning in part.warnings),
    )
