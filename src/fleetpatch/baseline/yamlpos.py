"""Read a YAML or JSON document and remember the line of every key and list item.

Used by every loader in this package so that an error can say ``file:key.path (line N)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from fleetpatch.errors import InputError

Positions = dict[tuple[str | int, ...], int]


def _walk(node: yaml.Node, here: tuple[str | int, ...], out: Positions, path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            loc = (*here, key)
            if key in seen:
                raise InputError(
                    f"key {key!r} appears twice (line {key_node.start_mark.line + 1})",
                    path=path,
                    location=_fmt(loc),
                )
            seen.add(key)
            out[loc] = key_node.start_mark.line + 1
            _walk(value_node, loc, out, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*here, i)] = item.start_mark.line + 1
            _walk(item, (*here, i), out, path)


def _fmt(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_text(text: str, path: str) -> tuple[Any, Positions]:
    """Parse ``text`` (YAML, or JSON when ``path`` ends in .json) -> (data, positions)."""
    if path.endswith(".json"):
        try:
            return json.loads(text), {}
        except json.JSONDecodeError as exc:
            raise InputError(
                f"not valid JSON: {exc.msg}", path=path, location=f"line {exc.lineno}"
            ) from None
    try:
        return _parse_yaml(text, path, _FAST_LOADER)
    except yaml.YAMLError:  # libyaml words errors its own way: say it as the pure parser does
        pass
    try:
        return _parse_yaml(text, path, yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise InputError(
            f"not valid YAML: {exc.problem or exc}",
            path=path,
            location=f"line {line}" if line else None,
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", path=path) from None


_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (the 17 predefined baselines: ~25 ms less start-up)."""


def _parse_yaml(text: str, path: str, loader_class: type[yaml.SafeLoader]) -> tuple[Any, Positions]:
    """(data, positions). Raises yaml.YAMLError for malformed YAML."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        positions: Positions = {}
        _walk(node, (), positions, path)
        return loader.construct_document(node), positions
    finally:
        loader.dispose()


def read_document(path: str | Path) -> tuple[Any, Positions]:
    """Read and parse a file; a missing or unreadable file is an :class:`InputError`."""
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", path=p) from None
    return parse_text(text, p)


def located(loc: tuple[str | int, ...], positions: Positions) -> str:
    """``key.path (line N)`` using the nearest enclosing key that has a known line."""
    text = _fmt(loc)
    for n in range(len(loc), 0, -1):
        line = positions.get(loc[:n])
        if line is not None:
            return f"{text} (line {line})" if text else f"line {line}"
    return text
