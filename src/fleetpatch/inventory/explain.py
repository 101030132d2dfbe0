"""Turn pydantic validation errors into messages a person fixing an inventory file can act on.

``hosts.web-1.port: expected an integer 1-65535, got 'abc'`` at the line where it was written,
and for a misspelt key the list of allowed keys with a suggestion.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from fleetpatch.errors import InputError
from fleetpatch.inventory.yamlpos import PositionedYaml


def format_key_path(path: Sequence[Any]) -> str:
    """``('hosts', 'web-1', 'tags', 'Patch Group')`` -> ``hosts.web-1.tags."Patch Group"``."""
    parts = []
    for part in path:
        text = str(part)
        if isinstance(part, int):
            text = f"[{part}]"
        elif not text or any(ch in text for ch in ' ."'):
            text = '"' + text.replace('"', '\\"') + '"'
        parts.append(text)
    return ".".join(parts).replace(".[", "[")


def explain_validation_error(
    exc: ValidationError, doc: PositionedYaml, root: type[BaseModel]
) -> InputError:
    """One InputError for all problems in ``exc``, located at the first one (in line order)."""
    problems = sorted(
        ((doc.line_of(err["loc"]), _describe(err, root)) for err in exc.errors()),
        key=lambda item: item[0],
    )
    first_line, first_message = problems[0]
    message = first_message
    for line, text in problems[1:]:
        message += f"\n  also {doc.source}:{line}: {text}"
    return InputError(message, path=doc.source, location=str(first_line))


def _describe(err: ErrorDetails, root: type[BaseModel]) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    where = format_key_path(loc)
    if kind == "extra_forbidden":
        return _unknown_key(loc, root)
    if kind == "missing":
        return f"{where}: required key is missing"
    expected = _expected(kind, err, _field_at(root, loc))
    return f"{where}: {expected}, got {_show(err['input'])}"


def _unknown_key(loc: tuple[Any, ...], root: type[BaseModel]) -> str:
    parent, key = loc[:-1], str(loc[-1])
    model = _model_at(root, parent)
    allowed = sorted(model.model_fields) if model is not None else []
    where = format_key_path(parent) if parent else "the top level"
    message = f"unknown key {key!r} in {where}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    if allowed:
        message += "; allowed keys: " + ", ".join(allowed)
    return message


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}
_NUMERIC = {"int_type", "int_parsing", "int_from_float", "float_type", "float_parsing"}
_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _expected(kind: str, err: ErrorDetails, info: FieldInfo | None) -> str:
    if kind == "value_error":  # our own validators say what they expected
        return str(err.get("ctx", {}).get("error", err["msg"]))
    if kind == "literal_error":
        return f"expected one of {err.get('ctx', {}).get('expected', '?')}"
    if kind in _NUMERIC or kind in _BOUNDS:
        noun = "an integer" if info is not None and _is_int(info) else "a number"
        return f"expected {noun}{_range_text(info)}"
    if kind == "string_type" and isinstance(err["input"], bool | int | float):
        return "expected a string (quote the value)"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}"
    return err["msg"][0].lower() + err["msg"][1:]


def _range_text(info: FieldInfo | None) -> str:
    if info is None:
        return ""
    low = high = None
    words = []
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.Gt):
            words.append(f"greater than {item.gt}")
    if low is not None and high is not None:
        return f" {low}-{high}"
    if low is not None:
        words.append(f">= {low}")
    if high is not None:
        words.append(f"<= {high}")
    return (" " + " and ".join(words)) if words else ""


def _is_int(info: FieldInfo) -> bool:
    return any(arg is int for arg in (info.annotation, *get_args(info.annotation)))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_at(root: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    """The pydantic field that ``loc`` ends in, if ``loc`` ends in a model field."""
    model = _model_at(root, loc[:-1])
    if model is None or not loc:
        return None
    return model.model_fields.get(str(loc[-1]))


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow ``loc`` through fields, dict values and list items to the model it points into."""
    current: Any = root
    remaining = list(loc)
    while remaining:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(remaining.pop(0)))
            if info is None:
                return None
            current = info.annotation
        elif get_origin(current) in (dict, list):
            remaining.pop(0)
            current = get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation
