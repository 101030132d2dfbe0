"""The AWS predefined baselines (data files) and resolving a baseline by name or path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from fleetpatch.baseline.loader import load_baseline, parse_baseline
from fleetpatch.baseline.model import Baseline
from fleetpatch.baseline.oses import OS_NAMES, OperatingSystem
from fleetpatch.baseline.yamlpos import parse_text
from fleetpatch.errors import InputError
from fleetpatch.facts import OsInfo

_DATA = "data"
_SUFFIXES = (".yaml", ".yml", ".json")


def _data_dir() -> resources.abc.Traversable:
    return resources.files("fleetpatch.baseline").joinpath(_DATA)


@cache
def _predefined() -> dict[str, Baseline]:
    out: dict[str, Baseline] = {}
    folder = _data_dir().joinpath("predefined")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        where = f"fleetpatch/baseline/data/predefined/{entry.name}"
        data, positions = parse_text(entry.read_text(encoding="utf-8"), where)
        data["predefined"] = True
        baseline = parse_baseline(data, path=where, positions=positions)
        out[baseline.name] = baseline
    return out


@cache
def _default_names() -> dict[OperatingSystem, str]:
    raw = yaml.safe_load(_data_dir().joinpath("defaults.yaml").read_text(encoding="utf-8"))
    return {OperatingSystem(k): v for k, v in raw["defaults"].items()}


def list_predefined() -> tuple[str, ...]:
    """Names of every predefined baseline, sorted."""
    return tuple(sorted(_predefined()))


def get_predefined(name: str) -> Baseline:
    """A predefined baseline by its SSM name (``AWS-RedHatDefaultPatchBaseline``)."""
    try:
        return _predefined()[name]
    except KeyError:
        raise InputError(
            f"unknown predefined baseline {name!r}; accepted: {', '.join(list_predefined())}"
        ) from None


def to_os(os: OsInfo | OperatingSystem | str) -> OperatingSystem:
    value = os.operating_system if isinstance(os, OsInfo) else str(os)
    try:
        return OperatingSystem(value)
    except ValueError:
        raise InputError(
            f"unknown operating system {value!r}; accepted: {', '.join(OS_NAMES)}"
        ) from None


def default_baseline_for(
    os: OsInfo | OperatingSystem | str,
    *,
    defaults: Mapping[OperatingSystem, Baseline] | None = None,
) -> Baseline:
    """The default baseline for an OS: the user's replacement in ``defaults`` (see
    :func:`fleetpatch.baseline.groups.load_patch_group_map`) or AWS's predefined one."""
    key = to_os(os)
    if defaults and key in defaults:
        return defaults[key]
    return get_predefined(_default_names()[key])


def resolve_baseline(name_or_path: str | Path, *, search_dirs: Iterable[Path] = ()) -> Baseline:
    """A baseline given on the command line: an existing file, a predefined name, or
    ``<name>.yaml|.yml|.json`` in one of ``search_dirs`` (e.g. the repo's ``baselines/``)."""
    text = str(name_or_path)
    path = Path(text)
    if path.is_file():
        return load_baseline(path)
    if text in _predefined():
        return _predefined()[text]
    for folder in search_dirs:
        for suffix in ("", *_SUFFIXES):
            candidate = Path(folder) / f"{text}{suffix}"
            if candidate.is_file():
                return load_baseline(candidate)
    if text.endswith(_SUFFIXES) or "/" in text:
        raise InputError("file not found", path=text)
    raise InputError(
        f"{text!r} is neither a file nor a predefined baseline; predefined: "
        f"{', '.join(list_predefined())}"
    )
