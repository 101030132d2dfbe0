"""Load inventory files: fleetpatch's own YAML format, or Ansible inventories (dispatched).

Precedence inside one file: ``defaults`` < group ``vars`` (a parent before its children, groups
at the same depth in file order) < the host's own settings. Tags, connection settings and
``vars`` merge key by key. Paths are expanded and made absolute relative to the file's directory.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleetpatch.errors import InputError
from fleetpatch.inventory.ansible_ini import sniff_ini
from fleetpatch.inventory.ansible_yaml import looks_like_ansible_yaml
from fleetpatch.inventory.explain import explain_validation_error, format_key_path
from fleetpatch.inventory.groups import find_cycle, group_depths, host_memberships
from fleetpatch.inventory.model import Inventory
from fleetpatch.inventory.resolve import (
    Layer,
    LoadedFile,
    build_host,
    combine_files,
    existing_ca_bundle,
    existing_key_file,
    fact_text,
    merge_layers,
    resolve_path,
    validate_host_name,
)
from fleetpatch.inventory.spec import GroupSpec, HostSpec, InventoryFileSpec, SettingsSpec
from fleetpatch.inventory.yamlpos import PositionedYaml, load_yaml, read_text_file

_TOP_KEYS = "'hosts:' or 'sources:' (and optionally 'defaults:' and 'groups:')"


def load_inventory(paths: Sequence[str | Path], refresh_inventory: bool = False) -> Inventory:
    """Load and merge inventory files, each in our YAML format or an Ansible format.

    Dynamic ``sources:`` (EC2) are answered from the on-disk cache while it is fresh;
    ``refresh_inventory=True`` asks them again (and refreshes the cache).

    Raises InputError (naming file and line) for any problem, including a host name defined
    in two files and an inventory without hosts.
    """
    if not paths:
        raise InputError("no inventory file given")
    seen: set[Path] = set()
    for path in paths:
        key = Path(path).absolute()
        if key in seen:
            raise InputError("inventory file given twice", path=str(path))
        seen.add(key)
    return combine_files(
        load_inventory_file(path, refresh_inventory=refresh_inventory) for path in paths
    )


def load_inventory_file(path: str | Path, *, refresh_inventory: bool = False) -> LoadedFile:
    """Load one file, choosing the format: ``.ini`` (or INI-looking text without a YAML
    suffix) and YAML with a top-level ``all:`` are Ansible inventories, other YAML is ours."""
    source = str(path)
    file_path = Path(path)
    text = read_text_file(file_path, source)
    suffix = file_path.suffix.lower()
    # the Ansible loader and the EC2 source are imported only by files that use them
    # (start-up CPU counts per host, docs/benchmarks.md)
    if suffix in (".ini", ".cfg") or (suffix not in (".yaml", ".yml", ".json") and sniff_ini(text)):
        from fleetpatch.inventory.ansible import load_ansible_file

        return load_ansible_file(file_path, source=source, text=text)
    doc = load_yaml(text, source)
    if looks_like_ansible_yaml(doc.data):
        from fleetpatch.inventory.ansible import load_ansible_file

        return load_ansible_file(file_path, source=source, doc=doc)
    return load_fleetpatch_yaml(
        doc, file_path.absolute().parent, refresh_inventory=refresh_inventory
    )


def load_fleetpatch_yaml(
    doc: PositionedYaml, base_dir: Path, *, refresh_inventory: bool = False
) -> LoadedFile:
    """Resolve one parsed fleetpatch YAML inventory into hosts (static, then discovered)."""
    if doc.data is None:
        raise doc.error(f"the inventory file is empty; expected {_TOP_KEYS}", ())
    if not isinstance(doc.data, dict):
        raise doc.error(f"expected a mapping with {_TOP_KEYS}, got {type(doc.data).__name__}", ())
    doc, matches = _pop_host_matches(doc)
    try:
        spec = InventoryFileSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise explain_validation_error(exc, doc, InventoryFileSpec) from None
    if spec.sources:  # EC2 discovery; its modules load only for files that use it
        from fleetpatch.inventory.ec2.source import (
            StaticOverride,
            names_an_instance,
            resolve_sources,
        )
    hosts: dict[str, HostSpec | None] = spec.hosts or {}
    if not hosts and not spec.sources:
        raise doc.error(f"no hosts defined; expected {_TOP_KEYS}", ("hosts",))
    for name in hosts:
        validate_host_name(name, partial(_fail_at, doc, ("hosts", name)))
    groups: dict[str, GroupSpec] = {
        name: group or GroupSpec() for name, group in (spec.groups or {}).items()
    }
    children = _check_groups(doc, groups, hosts)
    layers = _Layers(doc, base_dir)
    defaults = layers.of(spec.defaults, ("defaults",))
    group_layers = {name: layers.of(g.vars, ("groups", name, "vars")) for name, g in groups.items()}
    memberships = host_memberships({n: g.hosts or () for n, g in groups.items()}, children)
    depths = group_depths(children)
    position = {name: index for index, name in enumerate(groups)}
    resolved = []
    overrides: list[StaticOverride] = []
    for name, host_spec in hosts.items():
        member_of = memberships.get(name, frozenset())
        ordered = sorted(member_of, key=lambda g: (depths[g], position[g]))
        own = [*(group_layers[g] for g in ordered), layers.of(host_spec, ("hosts", name))]
        has_address = host_spec is not None and host_spec.address is not None
        if spec.sources and names_an_instance(name, name in matches, has_address):
            instance_id = matches.get(name, name)
            line = doc.line_of(("hosts", name))
            overrides.append(StaticOverride(name, instance_id, merge_layers(own), member_of, line))
            continue
        merged = merge_layers([defaults, *own])
        resolved.append(
            build_host(
                name,
                merged,
                groups=member_of,
                source=doc.source,
                fail=partial(_host_fail, doc, name),
            )
        )
    host_lines = {host.name: doc.line_of(("hosts", host.name)) for host in resolved}
    warnings: tuple[str, ...] = ()
    if spec.sources:
        found = resolve_sources(
            doc,
            spec.sources,
            defaults=defaults,
            layer_of=layers.of,
            static_names=[host.name for host in resolved],
            overrides=overrides,
            refresh=refresh_inventory,
        )
        resolved += found.hosts
        host_lines.update(found.host_lines)
        warnings = found.warnings
    known_hosts = defaults.connection.get("known_hosts")
    return LoadedFile(
        source=doc.source,
        hosts=tuple(resolved),
        host_lines=host_lines,
        known_hosts=known_hosts if isinstance(known_hosts, str) else None,
        warnings=warnings,
    )


def _pop_host_matches(doc: PositionedYaml) -> tuple[PositionedYaml, dict[str, str]]:
    """:func:`fleetpatch.inventory.ec2.spec.pop_host_matches`, imported only when some host
    has a ``match:`` key (it returns the document unchanged otherwise)."""
    hosts = doc.data.get("hosts") if isinstance(doc.data, dict) else None
    if isinstance(hosts, dict) and any(
        isinstance(entry, dict) and "match" in entry for entry in hosts.values()
    ):
        from fleetpatch.inventory.ec2.spec import pop_host_matches

        return pop_host_matches(doc)
    return doc, {}


def _check_groups(
    doc: PositionedYaml, groups: Mapping[str, GroupSpec], hosts: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Validate group references and return the ``group -> children`` graph."""
    children: dict[str, list[str]] = {}
    for name, group in groups.items():
        if "," in name or not name.strip():
            raise doc.error(
                f"group name {name!r} must not be empty or contain commas", ("groups", name)
            )
        for index, host in enumerate(group.hosts or ()):
            if host not in hosts:
                raise doc.error(
                    f"group {name!r} lists unknown host {host!r}" + _known(host, hosts, "hosts"),
                    ("groups", name, "hosts", index),
                )
        for index, child in enumerate(group.children or ()):
            if child not in groups:
                raise doc.error(
                    f"group {name!r} lists unknown child group {child!r}"
                    + _known(child, groups, "groups"),
                    ("groups", name, "children", index),
                )
        children[name] = list(group.children or ())
    cycle = find_cycle(children)
    if cycle:
        raise doc.error(
            "groups form a cycle through 'children': " + " -> ".join(cycle), ("groups", cycle[0])
        )
    return children


def _fail_at(doc: PositionedYaml, loc: tuple[str, ...], message: str) -> InputError:
    return doc.error(message, loc)


def _host_fail(doc: PositionedYaml, name: str, message: str) -> InputError:
    """A problem of the resolved host ``name`` (``message`` starts with the setting's key)."""
    return doc.error(f"{format_key_path(('hosts', name))}.{message}", ("hosts", name))


def _known(name: str, known: Mapping[str, Any], what: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    names = list(known)
    listed = ", ".join(names[:15]) + (", ..." if len(names) > 15 else "")
    return f"{hint}; {what} in this file: {listed or 'none'}"


class _Layers:
    """Turns the settings written at one place of a file into a :class:`Layer`."""

    def __init__(self, doc: PositionedYaml, base_dir: Path) -> None:
        self.doc = doc
        self.base_dir = base_dir

    def of(self, spec: SettingsSpec | None, loc: tuple[str, ...]) -> Layer:
        if spec is None:
            return Layer()
        written = spec.model_fields_set
        fields: dict[str, Any] = {
            key: getattr(spec, key) for key in ("user", "port", "transport") if key in written
        }
        facts: dict[str, str] = {}
        if isinstance(spec, HostSpec):
            if spec.address is not None:
                fields["address"] = spec.address
            facts = {str(key): fact_text(value) for key, value in (spec.vars or {}).items()}
        connection = self._connection(spec, loc)
        return Layer(fields=fields, connection=connection, tags=spec.tags or {}, facts=facts)

    def _connection(self, spec: SettingsSpec, loc: tuple[str, ...]) -> dict[str, Any]:
        conn = spec.connection
        settings: dict[str, Any] = {}
        if conn is not None:
            settings = {key: getattr(conn, key) for key in conn.model_fields_set}
            here = (*loc, "connection")
            if conn.key_file is not None:
                settings["key_file"] = self._key_file(conn.key_file, (*here, "key_file"))
            if conn.known_hosts is not None:
                settings["known_hosts"] = resolve_path(conn.known_hosts, self.base_dir)
            if conn.winrm_ca_bundle is not None:
                settings["winrm_ca_bundle"] = existing_ca_bundle(
                    conn.winrm_ca_bundle,
                    self.base_dir,
                    lambda message: self.doc.error(message, (*here, "winrm_ca_bundle")),
                )
            jump = conn.jump_host
            if jump is not None and jump.key_file is not None:
                key_file = self._key_file(jump.key_file, (*here, "jump_host", "key_file"))
                settings["jump_host"] = jump.model_copy(update={"key_file": key_file})
        if "known_hosts" in spec.model_fields_set:
            if "known_hosts" in settings:
                raise self.doc.error(
                    "known_hosts is set twice (here and under connection:); keep one",
                    (*loc, "known_hosts"),
                )
            raw = spec.known_hosts
            settings["known_hosts"] = None if raw is None else resolve_path(raw, self.base_dir)
        return settings

    def _key_file(self, raw: str, loc: tuple[str, ...]) -> str:
        return existing_key_file(raw, self.base_dir, lambda message: self.doc.error(message, loc))
