"""Load baselines from YAML/JSON files and write them back as YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from fleetpatch.baseline.model import (
    Baseline,
    BaselineProblem,
    PatchFilter,
    PatchRule,
    PatchSource,
)
from fleetpatch.baseline.yamlpos import Positions, located, parse_text, read_document
from fleetpatch.errors import InputError

_MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): Baseline,
    ("global_filters",): PatchFilter,
    ("approval_rules",): PatchRule,
    ("approval_rules", "filters"): PatchFilter,
    ("sources",): PatchSource,
}


def _model_for(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    return _MODEL_AT.get(tuple(p for p in loc if isinstance(p, str)))


def _accepted_keys(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def validation_to_input_error(
    exc: ValidationError, *, path: str | None, positions: Positions
) -> InputError:
    """The first pydantic error as an InputError with key path, line and accepted keys."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _model_for(loc[:-1])
        accepted = f"; accepted keys: {_accepted_keys(parent)}" if parent else ""
        message = f"unknown key {loc[-1]!r}{accepted}"
    elif kind == "missing":
        message = f"required key {loc[-1]!r} is missing"
    else:
        text = str(err["msg"]).removeprefix("Value error, ")
        message = f"{text} (got {err.get('input')!r})"
    return InputError(message, path=path, location=located(loc, positions) or None)


def parse_baseline(
    data: Any, *, path: str | None = None, positions: Positions | None = None
) -> Baseline:
    """Build a :class:`Baseline` from parsed YAML/JSON data; errors are InputErrors."""
    positions = positions or {}
    if not isinstance(data, dict):
        raise InputError(
            f"a baseline must be a mapping of keys, got {type(data).__name__}", path=path
        )
    if _looks_like_ssm(data):
        from fleetpatch.baseline.ssm_json import import_ssm_data

        return import_ssm_data(data, path=path)
    try:
        return Baseline.model_validate(data)
    except ValidationError as exc:
        raise validation_to_input_error(exc, path=path, positions=positions) from None
    except BaselineProblem as exc:
        raise InputError(exc.detail, path=path, location=located(exc.loc, positions)) from None


def _looks_like_ssm(data: dict[str, Any]) -> bool:
    return any(k in data for k in ("OperatingSystem", "ApprovalRules", "BaselineId", "Name"))


def load_baseline(path: str | Path) -> Baseline:
    """Load a baseline from a YAML file (our snake_case format) or a JSON file (ours, or the
    output of ``aws ssm get-patch-baseline``). Raises InputError naming file, key path and line."""
    data, positions = read_document(path)
    return parse_baseline(data, path=str(path), positions=positions)


def loads_baseline(text: str, *, path: str = "<string>.yaml") -> Baseline:
    data, positions = parse_text(text, path)
    return parse_baseline(data, path=path, positions=positions)


def baseline_to_data(baseline: Baseline) -> dict[str, Any]:
    """Plain data in our YAML format: defaults left out, key order as in the docs."""
    data = baseline.model_dump(mode="json", exclude_defaults=True)
    data.pop("predefined", None)
    data["operating_system"] = baseline.operating_system.value
    for rule in data.get("approval_rules", []):
        rule.setdefault("filters", [])
    ordered = {k: data[k] for k in Baseline.model_fields if k in data}
    return ordered


class _Dumper(yaml.SafeDumper):
    pass


def _str_rep(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_rep)


def baseline_to_yaml(baseline: Baseline) -> str:
    return yaml.dump(
        baseline_to_data(baseline), Dumper=_Dumper, sort_keys=False, allow_unicode=True
    )
