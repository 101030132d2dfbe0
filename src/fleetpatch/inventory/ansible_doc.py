"""What an Ansible inventory says, before any variable is interpreted: groups, hosts and vars,
each variable with the line it was written on. Built by the INI and YAML parsers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Var:
    """One variable value and the line that set it."""

    value: Any
    line: int


@dataclass
class GroupDef:
    """A group as written: direct hosts, child groups and group vars, in file order."""

    name: str
    line: int
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Var] = field(default_factory=dict)


@dataclass
class HostDef:
    """A host as written (after range expansion), with its own vars."""

    name: str
    line: int
    vars: dict[str, Var] = field(default_factory=dict)


@dataclass
class AnsibleDoc:
    """A parsed Ansible inventory file."""

    source: str
    groups: dict[str, GroupDef] = field(default_factory=dict)
    hosts: dict[str, HostDef] = field(default_factory=dict)

    def group(self, name: str, line: int) -> GroupDef:
        """The group called ``name``, created (at ``line``) on first mention."""
        if name not in self.groups:
            self.groups[name] = GroupDef(name=name, line=line)
        return self.groups[name]

    def add_host(self, group: str, name: str, line: int, variables: dict[str, Var]) -> None:
        """Record that ``group`` lists host ``name``; vars of repeated mentions merge."""
        host = self.hosts.setdefault(name, HostDef(name=name, line=line))
        host.vars.update(variables)
        members = self.group(group, line).hosts
        if name not in members:
            members.append(name)

    def add_child(self, parent: str, child: str, line: int) -> None:
        """Record that ``parent`` lists ``child`` among its children."""
        self.group(child, line)
        kids = self.group(parent, line).children
        if child not in kids:
            kids.append(child)
