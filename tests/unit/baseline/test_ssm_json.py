"""SSM JSON import/export: lossless round trips and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetpatch.baseline import (
    export_ssm,
    get_predefined,
    import_ssm,
    list_predefined,
    load_baseline,
)
from fleetpatch.baseline.loader import baseline_to_yaml, loads_baseline
from fleetpatch.errors import InputError

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(DATA.glob("get-patch-baseline-*.json"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_round_trip_is_exact(path: Path) -> None:
    text = path.read_text()
    baseline = import_ssm(text, path=str(path))
    assert export_ssm(baseline) == json.loads(text)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_round_trip_through_our_yaml(path: Path) -> None:
    baseline = import_ssm(path.read_text())
    again = loads_baseline(baseline_to_yaml(baseline))
    assert again == baseline
    assert export_ssm(again) == json.loads(path.read_text())


def test_fields_are_mapped() -> None:
    b = import_ssm((DATA / "get-patch-baseline-rhel.json").read_text())
    assert b.baseline_id == "pb-0c10e65780EXAMPLE"
    assert b.approval_rules[1].approve_until_date is not None
    assert b.approval_rules[1].enable_non_security is True
    assert b.sources[0].configuration.startswith("[internal-baseos]\n")
    assert b.patch_groups == ("web", "web-canary")
    assert b.rejected_patches_action.value == "BLOCK"
    assert not b.predefined


def test_load_baseline_accepts_ssm_json() -> None:
    b = load_baseline(DATA / "get-patch-baseline-windows.json")
    assert b.available_security_updates_compliance_status == "NON_COMPLIANT"


def test_export_for_create_drops_get_only_keys() -> None:
    b = import_ssm((DATA / "get-patch-baseline-rhel.json").read_text())
    out = export_ssm(b, for_create=True)
    for key in ("BaselineId", "PatchGroups", "CreatedDate", "ModifiedDate"):
        assert key not in out
    assert out["Name"] == "rhel-web-prod"


@pytest.mark.parametrize("name", list_predefined())
def test_predefined_round_trip(name: str) -> None:
    b = get_predefined(name)
    again = import_ssm(json.dumps(export_ssm(b)))
    assert again.model_dump(exclude={"predefined"}) == b.model_dump(exclude={"predefined"})
    assert again.predefined


def test_apt_zero_delay_is_dropped_but_other_delays_fail() -> None:
    doc = {
        "Name": "ubuntu-x",
        "OperatingSystem": "UBUNTU",
        "ApprovalRules": {
            "PatchRules": [
                {
                    "PatchFilterGroup": {"PatchFilters": [{"Key": "PRIORITY", "Values": ["*"]}]},
                    "ApproveAfterDays": 0,
                }
            ]
        },
    }
    assert import_ssm(json.dumps(doc)).approval_rules[0].approve_after_days is None
    doc["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] = 3  # type: ignore[index]
    with pytest.raises(InputError) as info:
        import_ssm(json.dumps(doc), path="x.json")
    assert "x.json:ApprovalRules.PatchRules[0].ApproveAfterDays" in str(info.value)


def test_errors_use_ssm_key_paths() -> None:
    doc = json.loads((DATA / "get-patch-baseline-rhel.json").read_text())
    doc["ApprovalRules"]["PatchRules"][0]["PatchFilterGroup"]["PatchFilters"][1]["Values"][1] = (
        "Severe"
    )
    with pytest.raises(InputError) as info:
        import_ssm(json.dumps(doc), path="rhel.json")
    message = str(info.value)
    assert "rhel.json:ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[1].Values[1]" in (
        message
    )
    assert "Critical, Important, Medium, Moderate, Low" in message


def test_unknown_ssm_key() -> None:
    with pytest.raises(InputError, match="unknown key 'Colour'; accepted: BaselineId, Name"):
        import_ssm('{"Name": "abc", "Colour": 1}')


def test_bad_json() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        import_ssm("{", path="x.json")
