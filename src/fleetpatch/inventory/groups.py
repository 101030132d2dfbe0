"""Group graphs shared by the YAML and Ansible loaders: cycles, depth and membership.

A graph is a mapping ``group -> children`` (every group is a key, possibly with no children).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def find_cycle(children: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as a path that starts and ends with the same group, or None if there is none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    stack: list[str] = []

    def visit(group: str) -> list[str] | None:
        state[group] = 1
        stack.append(group)
        for child in children.get(group, ()):
            if state.get(child) == 1:
                return [*stack[stack.index(child) :], child]
            if child not in state:
                found = visit(child)
                if found:
                    return found
        stack.pop()
        state[group] = 2
        return None

    for group in children:
        if group not in state:
            found = visit(group)
            if found:
                return found
    return None


def group_depths(children: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Longest distance of every group from a root group (one that is nobody's child).

    A child is therefore always deeper than each of its parents. The graph must be acyclic.
    """
    order = _topological(children)
    depth = dict.fromkeys(order, 0)
    for group in order:
        for child in children.get(group, ()):
            depth[child] = max(depth.get(child, 0), depth.get(group, 0) + 1)
    return depth


def parents_of(children: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The inverse graph: ``group -> groups that list it as a child``."""
    parents: dict[str, list[str]] = {group: [] for group in children}
    for group, kids in children.items():
        for child in kids:
            parents.setdefault(child, []).append(group)
    return parents


def enclosing_groups(children: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """For every group, itself plus every group that contains it directly or via children."""
    parents = parents_of(children)
    result: dict[str, frozenset[str]] = {}
    for group in _topological(children):
        above: set[str] = {group}
        for parent in parents.get(group, ()):
            above |= result[parent]
        result[group] = frozenset(above)
    return result


def host_memberships(
    members: Mapping[str, Iterable[str]], children: Mapping[str, Sequence[str]]
) -> dict[str, frozenset[str]]:
    """``host -> all groups containing it``, from ``group -> direct hosts`` and the graph."""
    enclosing = enclosing_groups(children)
    result: dict[str, set[str]] = {}
    for group, hosts in members.items():
        for host in hosts:
            result.setdefault(host, set()).update(enclosing.get(group, {group}))
    return {host: frozenset(groups) for host, groups in result.items()}


def _topological(children: Mapping[str, Sequence[str]]) -> list[str]:
    """Groups ordered so that every parent comes before its children (graph must be acyclic)."""
    parents = parents_of(children)
    waiting = {group: len(ps) for group, ps in parents.items()}
    ready = [group for group, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        group = ready.pop(0)
        order.append(group)
        for child in children.get(group, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return order
