"""Parser for Ansible's INI inventory format.

Sections are ``[group]`` (host lines: ``pattern [key=value ...]``), ``[group:children]`` (one
group name per line) and ``[group:vars]`` (``key=value`` lines). Host lines before any section
belong to ``ungrouped``. Comments start with ``#`` or ``;``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from fleetpatch.errors import InputError
from fleetpatch.inventory.ansible_doc import AnsibleDoc, Var
from fleetpatch.inventory.hostrange import expand_host_pattern

_HEADER = re.compile(r"^\[(?P<group>[^\]\s:]+)(?::(?P<kind>[^\]\s]*))?\]\s*(?:[#;].*)?$")
_KINDS = ("hosts", "children", "vars")
_Fail = Callable[[str], InputError]


def sniff_ini(text: str) -> bool:
    """Whether ``text`` looks like an INI inventory rather than YAML (first significant line)."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if _HEADER.match(line):
            return True
        return not (line.startswith("---") or line.endswith(":") or ": " in line)
    return False


def parse_ansible_ini(text: str, source: str) -> AnsibleDoc:
    """Parse INI text. Raises InputError (file and line) for malformed lines."""
    doc = AnsibleDoc(source=source)
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue

        def fail(message: str, number: int = number) -> InputError:
            return InputError(message, path=source, location=str(number))

        if line.startswith("["):
            header = _HEADER.match(line)
            if header is None:
                raise fail(
                    f"malformed section header {line!r}; expected [group], "
                    "[group:children] or [group:vars]"
                )
            group, kind = header["group"], header["kind"] or "hosts"
            if kind not in _KINDS:
                raise fail(
                    f"unknown section type ':{kind}' in {line!r}; expected [group], "
                    "[group:children] or [group:vars]"
                )
            doc.group(group, number)
        elif kind == "hosts":
            _host_line(doc, group, line, number, fail)
        elif kind == "children":
            _child_line(doc, group, line, number, fail)
        else:
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise fail(f"expected key=value in [{group}:vars], got {line!r}")
            doc.group(group, number).vars[key.strip()] = Var(_unquote(value.strip()), number)
    return doc


def _host_line(doc: AnsibleDoc, group: str, line: str, number: int, fail: _Fail) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise fail(f"cannot parse host line: {exc}") from None
    if not tokens:
        return
    variables: dict[str, Var] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise fail(f"expected key=value after the host pattern, got {token!r}")
        variables[key] = Var(value, number)
    try:
        expanded = expand_host_pattern(tokens[0])
    except ValueError as exc:
        raise fail(str(exc)) from None
    for name, port in expanded:
        own = dict(variables)
        if port is not None and "ansible_port" not in own:
            own["ansible_port"] = Var(str(port), number)
        doc.add_host(group, name, number, own)


def _child_line(doc: AnsibleDoc, group: str, line: str, number: int, fail: _Fail) -> None:
    name = re.split(r"\s+[#;]", line, maxsplit=1)[0].strip()
    if not name or any(ch.isspace() for ch in name):
        raise fail(f"expected one group name per line in [{group}:children], got {line!r}")
    doc.add_child(group, name, number)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
