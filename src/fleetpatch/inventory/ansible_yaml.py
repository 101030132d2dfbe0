"""Parser for Ansible's YAML inventory format: nested groups with ``hosts``, ``children`` and
``vars`` (usually under a top-level ``all:``)."""

from __future__ import annotations

from typing import Any

from fleetpatch.inventory.ansible_doc import AnsibleDoc, Var
from fleetpatch.inventory.hostrange import expand_host_pattern
from fleetpatch.inventory.yamlpos import PositionedYaml

_GROUP_KEYS = ("children", "hosts", "vars")
_OUR_KEYS = {"defaults", "hosts", "groups"}


def looks_like_ansible_yaml(data: Any) -> bool:
    """A top-level ``all:``, or only group-shaped entries and none of our own top-level keys."""
    if not isinstance(data, dict) or not data:
        return False
    if "all" in data:
        return True
    return not (_OUR_KEYS & set(data)) and all(
        value is None or (isinstance(value, dict) and set(value) <= set(_GROUP_KEYS))
        for value in data.values()
    )


def parse_ansible_yaml(doc: PositionedYaml) -> AnsibleDoc:
    """Read the group tree. Raises InputError (file and line) for a malformed structure."""
    if not isinstance(doc.data, dict) or not doc.data:
        raise doc.error("expected a mapping of groups (usually 'all:') at the top level", ())
    out = AnsibleDoc(source=doc.source)
    for name, body in doc.data.items():
        _group(out, doc, str(name), body, (name,))
    return out


def _group(
    out: AnsibleDoc, doc: PositionedYaml, name: str, body: Any, loc: tuple[Any, ...]
) -> None:
    out.group(name, doc.line_of(loc))
    if body is None:
        return
    if not isinstance(body, dict):
        raise doc.error(
            f"group {name!r}: expected a mapping with {', '.join(_GROUP_KEYS)}, "
            f"got {type(body).__name__}",
            loc,
        )
    for key in body:
        if key not in _GROUP_KEYS:
            raise doc.error(
                f"unknown key {key!r} in group {name!r}; allowed keys: {', '.join(_GROUP_KEYS)}",
                (*loc, key),
            )
    out.group(name, doc.line_of(loc)).vars.update(_vars(doc, body.get("vars"), (*loc, "vars")))
    hosts = _mapping(doc, body.get("hosts"), (*loc, "hosts"), "hosts", "host name to vars")
    for pattern, host_vars in hosts.items():
        host_loc = (*loc, "hosts", pattern)
        own = _vars(doc, host_vars, host_loc)
        try:
            expanded = expand_host_pattern(str(pattern))
        except ValueError as exc:
            raise doc.error(str(exc), host_loc) from None
        line = doc.line_of(host_loc)
        for host, port in expanded:
            variables = dict(own)
            if port is not None and "ansible_port" not in variables:
                variables["ansible_port"] = Var(port, line)
            out.add_host(name, host, line, variables)
    children = _mapping(doc, body.get("children"), (*loc, "children"), "children", "group names")
    for child, child_body in children.items():
        child_loc = (*loc, "children", child)
        out.add_child(name, str(child), doc.line_of(child_loc))
        _group(out, doc, str(child), child_body, child_loc)


def _vars(doc: PositionedYaml, value: Any, loc: tuple[Any, ...]) -> dict[str, Var]:
    variables = _mapping(doc, value, loc, str(loc[-1]), "variable names to values")
    return {str(key): Var(item, doc.line_of((*loc, key))) for key, item in variables.items()}


def _mapping(
    doc: PositionedYaml, value: Any, loc: tuple[Any, ...], what: str, shape: str
) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(f"{what}: expected a mapping of {shape}, got {type(value).__name__}", loc)
    return value
