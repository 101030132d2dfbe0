"""Ansible inventories (INI or YAML) resolved into fleetpatch hosts.

Variable precedence follows Ansible: ``all`` < parent groups < child groups (groups at the same
depth by name) < host vars. Connection variables (``ansible_host``, ``ansible_port``,
``ansible_user``, ``ansible_ssh_private_key_file``, ``ansible_become``, ``ansible_connection``)
become host settings, ``fp_*`` variables carry fleetpatch settings, secrets are dropped with a
warning, and every other variable is kept as a string in ``Host.facts``.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from fleetpatch.errors import InputError
from fleetpatch.inventory.ansible_doc import AnsibleDoc, Var
from fleetpatch.inventory.ansible_ini import parse_ansible_ini, sniff_ini
from fleetpatch.inventory.ansible_vars import FP_VARS, HostVars
from fleetpatch.inventory.ansible_yaml import looks_like_ansible_yaml, parse_ansible_yaml
from fleetpatch.inventory.groups import find_cycle, group_depths, host_memberships, parents_of
from fleetpatch.inventory.model import Inventory
from fleetpatch.inventory.resolve import LoadedFile, combine_files, validate_host_name
from fleetpatch.inventory.yamlpos import PositionedYaml, load_yaml, read_text_file

__all__ = ["load_ansible_file", "load_ansible_inventory", "looks_like_ansible_yaml", "sniff_ini"]

_log = logging.getLogger(__name__)
_IMPLICIT = ("all", "ungrouped")


def load_ansible_inventory(path: str | Path) -> Inventory:
    """Load one Ansible inventory, INI or YAML (by suffix, else by content).

    Raises InputError (file and line) for malformed files, bad values and inventories without
    hosts. Dropped secrets and skipped hosts are reported in ``Inventory.warnings``.
    """
    return combine_files([load_ansible_file(Path(path), source=str(path))])


def load_ansible_file(
    path: Path, *, source: str, text: str | None = None, doc: PositionedYaml | None = None
) -> LoadedFile:
    """Load an Ansible inventory from ``path`` (or the already read ``text`` / parsed ``doc``)."""
    base_dir = path.absolute().parent
    if doc is None:
        if text is None:
            text = read_text_file(path, source)
        suffix = path.suffix.lower()
        if suffix in (".ini", ".cfg") or (
            suffix not in (".yaml", ".yml", ".json") and sniff_ini(text)
        ):
            return resolve_ansible(parse_ansible_ini(text, source), base_dir)
        doc = load_yaml(text, source)
    return resolve_ansible(parse_ansible_yaml(doc), base_dir)


def resolve_ansible(doc: AnsibleDoc, base_dir: Path) -> LoadedFile:
    """Apply group inheritance and variable mapping to every host of ``doc``."""
    _check_fp_vars(doc)
    graph = {name: list(group.children) for name, group in doc.groups.items()}
    for name in _IMPLICIT:
        graph.setdefault(name, [])
    parents = parents_of(graph)
    graph["all"] = [*graph["all"], *(g for g in graph if g != "all" and not parents.get(g))]
    cycle = find_cycle(graph)
    if cycle:
        line = doc.groups[cycle[0]].line if cycle[0] in doc.groups else 1
        raise InputError(
            "groups form a cycle through 'children': " + " -> ".join(cycle),
            path=doc.source,
            location=str(line),
        )
    if not doc.hosts:
        raise InputError("the Ansible inventory defines no hosts", path=doc.source, location="1")
    depths = group_depths(graph)
    memberships = host_memberships({n: g.hosts for n, g in doc.groups.items()}, graph)
    warnings: dict[str, None] = {}
    hosts = []
    for host in doc.hosts.values():
        validate_host_name(host.name, partial(_fail_at, doc.source, host.line, ""))
        member_of = memberships.get(host.name, frozenset()) | {"all"}
        ordered = sorted(member_of, key=lambda g: (depths[g], g))
        levels = [doc.groups[g].vars for g in ordered if g in doc.groups]
        resolved = HostVars(doc.source, base_dir, [*levels, host.vars], warnings).to_host(
            host.name,
            groups=member_of - set(_IMPLICIT),
            fail=partial(_fail_at, doc.source, host.line, f"host {host.name!r}: "),
        )
        if resolved is not None:
            hosts.append(resolved)
    for warning in warnings:
        _log.warning("%s", warning)
    all_vars = doc.groups["all"].vars if "all" in doc.groups else {}
    known = HostVars(doc.source, base_dir, [all_vars], {}).known_hosts()
    return LoadedFile(
        source=doc.source,
        hosts=tuple(hosts),
        host_lines={host.name: host.line for host in doc.hosts.values()},
        known_hosts=known,
        warnings=tuple(warnings),
    )


def _fail_at(source: str, line: int, prefix: str, message: str) -> InputError:
    return InputError(prefix + message, path=source, location=str(line))


def _check_fp_vars(doc: AnsibleDoc) -> None:
    levels: list[dict[str, Var]] = [g.vars for g in doc.groups.values()]
    levels += [h.vars for h in doc.hosts.values()]
    for variables in levels:
        for name, var in variables.items():
            if name.startswith("fp_") and name not in FP_VARS:
                raise InputError(
                    f"unknown fleetpatch variable {name!r}; allowed: {', '.join(sorted(FP_VARS))}",
                    path=doc.source,
                    location=str(var.line),
                )
