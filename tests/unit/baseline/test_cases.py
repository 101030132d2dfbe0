"""Table-driven evaluation cases: one YAML file per family under cases/."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetpatch.baseline import Baseline, InstallOverrideList, evaluate_baseline
from fleetpatch.compliance import HostCompliance, PatchItem
from fleetpatch.facts import HostFacts

from .helpers import NOW, baseline, facts

CASES = Path(__file__).parent / "cases"


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for case in doc["cases"]:
            params.append(pytest.param(doc["os"], case, id=f"{path.stem}: {case['name']}"))
    return params


def _by_key(result: HostCompliance) -> dict[str, PatchItem]:
    out: dict[str, PatchItem] = {}
    for item in result.items:
        out.setdefault(item.id, item)
        out[f"{item.id}.{item.arch}"] = item
    return out


def case_inputs(os: str, case: dict[str, Any]) -> tuple[HostFacts, Baseline, dict[str, Any]]:
    """A case's host facts, baseline and the keyword arguments of evaluate_baseline."""
    os = case.get("os", os)
    now = case.get("now", NOW)
    if isinstance(now, str):
        now = datetime.fromisoformat(now)
    override = case.get("install_override")
    return (
        facts(os, case.get("installed"), case.get("updates")),
        baseline(case["baseline"], os),
        {
            "now": now,
            "install_override": InstallOverrideList.model_validate(override) if override else None,
        },
    )


@pytest.mark.parametrize(("os", "case"), _load())
def test_case(os: str, case: dict[str, Any]) -> None:
    host, base, kwargs = case_inputs(os, case)
    result = evaluate_baseline(host, base, **kwargs)
    expect = case["expect"]
    items = _by_key(result)
    for key, state in expect.get("items", {}).items():
        assert key in items, f"{key} not reported; items: {sorted(items)}"
        assert items[key].state.value == state, f"{key}: {items[key]}"
    for key in expect.get("absent", []):
        assert key not in items, f"{key} should not be reported: {items[key]}"
    for key, text in expect.get("reasons", {}).items():
        assert text in items[key].reason, f"{key}: {items[key].reason!r}"
    for key, level in expect.get("levels", {}).items():
        assert items[key].compliance_level.value == level, f"{key}: {items[key]}"
    for key, version in expect.get("candidates", {}).items():
        assert items[key].candidate_version == version, f"{key}: {items[key]}"
    for key, ids in expect.get("advisory_ids", {}).items():
        assert list(items[key].advisory_ids) == ids, f"{key}: {items[key]}"
    for key, cves in expect.get("cves", {}).items():
        assert list(items[key].cves) == cves, f"{key}: {items[key]}"
    for key, severity in expect.get("severities", {}).items():
        assert items[key].severity == severity, f"{key}: {items[key]}"
    if "status" in expect:
        assert result.status.value == expect["status"]
    if "overall_severity" in expect:
        overall = result.overall_severity.value if result.overall_severity else None
        assert overall == expect["overall_severity"]
    for name, value in expect.get("counts", {}).items():
        assert getattr(result.counts, name) == value, f"{name}: {result.counts}"
