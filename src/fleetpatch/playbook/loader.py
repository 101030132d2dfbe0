"""Load a playbook file: YAML with line numbers, key and value checks (model.py), the rules that
relate several keys, then paths resolved against the playbook's directory.

Every problem is an :class:`~fleetpatch.errors.InputError` located at the line of the key that
is wrong: ``rolling.yaml:12: rollout.batches[1]: a batch must hold at least 1 host; ...``.
When several rules are broken they are all listed, the first one locating the error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleetpatch.baseline.override import load_install_override
from fleetpatch.baseline.predefined import list_predefined
from fleetpatch.errors import InputError
from fleetpatch.inventory.explain import explain_validation_error, format_key_path
from fleetpatch.inventory.yamlpos import KeyPath, PositionedYaml, load_yaml, read_text_file
from fleetpatch.playbook.model import Playbook, PlaybookFile

_REQUIRED = "name, inventory, operation (and for an install, targets)"
_BASELINE_SUFFIXES = (".yaml", ".yml", ".json")
_INSTALL_ONLY: dict[str, str] = {
    "rollout": "a scan runs every host at once up to 'concurrency'",
    "reboot": "a scan never installs or reboots",
    "hooks": "hooks run around an install",
    "install_override_list": (
        "SSM's Scan ignores the override list and reports against the baseline"
    ),
    "window": "a scan changes nothing on the hosts",
}

_INSTALL_ONLY_TIMEOUTS: dict[str, str] = {
    "reboot": "a scan never reboots",
    "lock": "a scan takes no package manager lock",
    "reconnect": "a scan is simply scanned again; an install goes on on the host",
}

Problem = tuple[KeyPath, str]


def load_playbook(path: str | Path) -> Playbook:
    """Read, validate and resolve one playbook file.

    Raises:
        InputError: the file is missing or unreadable, is not valid YAML, has an unknown key,
            a value of the wrong form, breaks a rule between keys, or names a file that does
            not exist. The error names the playbook, the line and the key path. An error inside
            the install override list names that file instead.
    """
    source = str(path)
    file_path = Path(path)
    doc = load_yaml(_read(file_path, source), source)
    if doc.data is None:
        raise doc.error(f"the playbook is empty; expected the keys {_REQUIRED}", ())
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__
        raise doc.error(f"expected a mapping with the keys {_REQUIRED}, got a {kind}", ())
    try:
        spec = PlaybookFile.model_validate(doc.data)
    except ValidationError as exc:
        raise explain_validation_error(exc, doc, PlaybookFile) from None
    _raise_first(doc, rule_problems(spec))
    base = file_path.absolute().parent
    values, problems = _resolve_paths(spec, base)
    _raise_first(doc, problems)
    override_path = values.get("install_override_list")
    override = load_install_override(override_path) if override_path is not None else None
    fields = {name: getattr(spec, name) for name in PlaybookFile.model_fields}
    return Playbook.model_validate(
        {
            **fields,
            **values,
            "source": Path(os.path.normpath(file_path.absolute())),
            "install_override": override,
        }
    )


def rule_problems(spec: PlaybookFile) -> list[Problem]:
    """The rules between keys that ``spec`` breaks, each with the key path to blame."""
    written = spec.model_fields_set
    problems: list[Problem] = []
    if spec.baseline is not None and spec.patch_groups is not None:
        problems.append(
            (
                ("patch_groups",),
                "give either baseline (one baseline for every host) or patch_groups (a "
                "baseline per patch group), not both",
            )
        )
    if spec.operation == "scan":
        for key, why in _INSTALL_ONLY.items():
            if key in written:
                problems.append(((key,), f"applies only to operation: install ({why})"))
        if "timeouts" not in written:
            return problems
        for key, why in _INSTALL_ONLY_TIMEOUTS.items():
            if key in spec.timeouts.model_fields_set:
                problems.append((("timeouts", key), f"applies only to operation: install ({why})"))
        return problems
    if "concurrency" in written:
        problems.append(
            (
                ("concurrency",),
                "applies to scans; for an install set rollout.max_concurrency",
            )
        )
    if not spec.targets:
        problems.append(
            (
                ("targets",),
                "required for operation: install, so that a whole inventory is never patched "
                "by omission (write targets: ['*'] to patch every host)",
            )
        )
    rollout = spec.rollout
    if rollout.canary and not rollout.batches:
        problems.append(
            (
                ("rollout", "canary"),
                "needs rollout.batches: the first batch is the canary (e.g. batches: [1, '25%'])",
            )
        )
    if (
        rollout.on_failure == "halt"
        and "max_errors" in rollout.model_fields_set
        and rollout.max_errors.value != 0
    ):
        problems.append(
            (
                ("rollout", "max_errors"),
                f"{rollout.max_errors} has no effect with on_failure: halt "
                "(any failure stops the rollout); remove one of them",
            )
        )
    return problems


def _resolve_paths(spec: PlaybookFile, base: Path) -> tuple[dict[str, Any], list[Problem]]:
    """Absolute paths for every path key, and a problem for every file that is missing."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    inventory = []
    for index, item in enumerate(spec.inventory):
        resolved = _normal(base, item)
        if not resolved.is_file():
            problems.append((("inventory", index), f"inventory file not found: {resolved}"))
        inventory.append(resolved)
    values["inventory"] = tuple(inventory)
    for key in ("patch_groups", "install_override_list"):
        given: Path | None = getattr(spec, key)
        if given is None:
            continue
        resolved = _normal(base, given)
        if not resolved.is_file():
            problems.append(((key,), f"file not found: {resolved}"))
        values[key] = resolved
    if spec.baseline is not None:
        baseline, problem = _resolve_baseline(spec.baseline, base)
        values["baseline"] = baseline
        if problem:
            problems.append((("baseline",), problem))
    return values, problems


def _resolve_baseline(text: str, base: Path) -> tuple[str, str | None]:
    """A file relative to the playbook wins over a predefined name of the same spelling."""
    candidate = _normal(base, Path(text).expanduser())
    if candidate.is_file():
        return str(candidate), None
    if text in list_predefined():
        return text, None
    if "/" in text or text.endswith(_BASELINE_SUFFIXES):
        return text, f"baseline file not found: {candidate}"
    return text, (
        f"{text!r} is neither a file (no {candidate}) nor a predefined baseline; "
        f"predefined: {', '.join(list_predefined())}"
    )


def _normal(base: Path, path: Path) -> Path:
    return Path(os.path.normpath(base / path))


def _raise_first(doc: PositionedYaml, problems: list[Problem]) -> None:
    """One InputError for all ``problems``, located at the first one in line order."""
    if not problems:
        return
    ordered = sorted(
        ((doc.line_of(where), format_key_path(where), text) for where, text in problems),
        key=lambda item: item[0],
    )
    line, where, text = ordered[0]
    message = f"{where}: {text}"
    for other_line, other_where, other_text in ordered[1:]:
        message += f"\n  also {doc.source}:{other_line}: {other_where}: {other_text}"
    raise InputError(message, path=doc.source, location=str(line))


def _read(path: Path, source: str) -> str:
    return read_text_file(path, source, kind="playbook")
