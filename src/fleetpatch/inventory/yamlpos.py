"""YAML loading that remembers on which line every key and list item was written.

PyYAML's ``safe_load`` throws the positions away, so we compose the node graph ourselves and
build plain Python values from it while recording a line number per key path. Duplicate keys in
one mapping are rejected (PyYAML silently keeps the last one). Ansible's ``!vault`` values become
:class:`VaultValue` markers (their ciphertext is not kept) and ``!unsafe`` values plain strings.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleetpatch.errors import InputError

KeyPath = tuple[Any, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class VaultValue:
    """Stands for an Ansible ``!vault`` encrypted value: a secret we never read or keep."""


@dataclass(frozen=True)
class PositionedYaml:
    """A parsed YAML document plus the 1-based line of every mapping key and list item."""

    data: Any
    source: str
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: Sequence[Any]) -> int:
        """Line of ``path``, or of its nearest ancestor that has one (1 for the document)."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def error(self, message: str, path: Sequence[Any]) -> InputError:
        """An :class:`InputError` about ``path``, located at its line."""
        return InputError(message, path=self.source, location=str(self.line_of(path)))


class _Loader(yaml.SafeLoader):
    """SafeLoader that also understands Ansible's ``!vault`` and ``!unsafe`` tags."""


def _construct_vault(loader: yaml.SafeLoader, node: Node) -> VaultValue:
    return VaultValue()


def _construct_unsafe(loader: yaml.SafeLoader, node: Node) -> str:
    if not isinstance(node, ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!unsafe must tag a plain string", node.start_mark
        )
    return str(node.value)


_Loader.add_constructor("!vault", _construct_vault)
_Loader.add_constructor("!unsafe", _construct_unsafe)


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same loader on libyaml's C parser when PyYAML has it (10x faster on a 200-host
    inventory: 2.7 ms instead of 26). Node marks carry the same lines; only its messages for
    malformed YAML differ, so a document it rejects is parsed again by :class:`_Loader`."""


_FastLoader.add_constructor("!vault", _construct_vault)
_FastLoader.add_constructor("!unsafe", _construct_unsafe)


def read_text_file(path: Path, source: str, *, kind: str = "inventory") -> str:
    """Read a ``kind`` file (inventory, playbook, ...) as UTF-8.

    Raises:
        InputError: it is missing, a directory, not UTF-8 or unreadable.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{kind} file not found", path=source) from None
    except IsADirectoryError:
        raise InputError(
            f"is a directory, expected {_article(kind)} {kind} file", path=source
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=source
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=source) from None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def load_yaml(text: str, source: str) -> PositionedYaml:
    """Parse one YAML document. Raises InputError for malformed YAML or duplicate keys."""
    if _FastLoader is not _Loader:
        try:
            return _load_yaml(text, source, _FastLoader)
        except InputError as exc:
            if not exc.detail.startswith("malformed YAML"):
                raise  # our own checks (duplicate keys, ...): the same with either parser
    return _load_yaml(text, source, _Loader)


def _load_yaml(text: str, source: str, loader_class: type[_Loader]) -> PositionedYaml:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        data = None if root is None else _build(loader, root, (), lines, source)
    except yaml.MarkedYAMLError as exc:
        raise _malformed(exc, source) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks nearly everything
        raise InputError(f"malformed YAML: {exc}", path=source) from None
    finally:
        loader.dispose()
    if root is not None:
        lines[()] = root.start_mark.line + 1
    return PositionedYaml(data=data, source=source, lines=lines)


def _malformed(exc: yaml.MarkedYAMLError, source: str) -> InputError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "cannot parse"
    message = f"malformed YAML: {problem}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} on line {exc.context_mark.line + 1})"
    location = f"{mark.line + 1}" if mark is not None else None
    return InputError(message, path=source, location=location)


def _build(
    loader: yaml.SafeLoader, node: Node, path: KeyPath, lines: dict[KeyPath, int], source: str
) -> Any:
    if isinstance(node, MappingNode):
        return _build_mapping(loader, node, path, lines, source)
    if isinstance(node, SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            items.append(_build(loader, item, (*path, index), lines, source))
        return items
    return loader.construct_object(node, deep=True)


def _build_mapping(
    loader: yaml.SafeLoader,
    node: MappingNode,
    path: KeyPath,
    lines: dict[KeyPath, int],
    source: str,
) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, Hashable):
            raise InputError("a mapping key must be a plain value", path=source, location=str(line))
        if key in seen:
            raise InputError(
                f"duplicate key {key!r} (first written on line {seen[key]})",
                path=source,
                location=str(line),
            )
        seen[key] = line
    loader.flatten_mapping(node)  # resolves "<<: *anchor" merges; own keys come last and win
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        child = (*path, key)
        lines[child] = key_node.start_mark.line + 1
        result[key] = _build(loader, value_node, child, lines, source)
    return result
