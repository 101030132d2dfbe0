"""Predefined baselines, defaults, resolving, patch groups, facts files, install outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetpatch.baseline import (
    OperatingSystem,
    apply_install_outcome,
    default_baseline_for,
    evaluate_baseline,
    get_predefined,
    list_predefined,
    load_baseline,
    load_facts,
    load_patch_group_map,
    resolve_baseline,
    select_baseline,
)
from fleetpatch.compliance import ComplianceLevel, ComplianceStatus, PatchState
from fleetpatch.errors import InputError

from .helpers import NOW, facts, os_info

ROOT = Path(__file__).parents[3]


def test_every_os_has_a_default() -> None:
    for os in OperatingSystem:
        assert default_baseline_for(os).operating_system is os
    assert default_baseline_for("WINDOWS").name == "AWS-DefaultPatchBaseline"
    assert default_baseline_for(os_info("DEBIAN")).name == "AWS-DebianDefaultPatchBaseline"


def test_predefined_catalogue() -> None:
    names = set(list_predefined())
    assert len(names) == 17
    assert {"AWS-AlmaLinuxDefaultPatchBaseline", "AWS-WindowsPredefinedPatchBaseline-OS"} <= names
    assert all(get_predefined(n).predefined for n in names)
    with pytest.raises(InputError, match="unknown predefined baseline 'AWS-Nope'"):
        get_predefined("AWS-Nope")


def test_predefined_reports_unspecified_even_if_rules_say_otherwise() -> None:
    b = get_predefined("AWS-DebianDefaultPatchBaseline")
    rule = b.approval_rules[0].model_copy(update={"compliance_level": ComplianceLevel.CRITICAL})
    b = b.model_copy(update={"approval_rules": (rule,)})
    host = facts(
        "DEBIAN",
        [{"name": "a", "arch": "amd64", "version": "1"}],
        [
            {
                "name": "a",
                "arch": "amd64",
                "candidate_version": "2",
                "security": True,
                "priority": "optional",
            }
        ],
    )
    result = evaluate_baseline(host, b, now=NOW)
    assert result.items[0].compliance_level is ComplianceLevel.UNSPECIFIED


def test_resolve(tmp_path: Path) -> None:
    assert resolve_baseline("AWS-SuseDefaultPatchBaseline").name == "AWS-SuseDefaultPatchBaseline"
    assert resolve_baseline(ROOT / "baselines/web-security.yaml").name == "web-security-debian"
    assert resolve_baseline("rhel-web", search_dirs=[ROOT / "baselines"]).name == "rhel-web"
    with pytest.raises(InputError, match="neither a file nor a predefined baseline"):
        resolve_baseline("nothing-here")
    with pytest.raises(InputError, match="file not found"):
        resolve_baseline(str(tmp_path / "x.yaml"))


def test_patch_groups() -> None:
    mapping = load_patch_group_map(ROOT / "baselines/patch-groups.yaml")
    debian, rhel, suse = os_info("DEBIAN"), os_info("REDHAT_ENTERPRISE_LINUX"), os_info("SUSE")
    assert select_baseline("web", rhel, mapping).name == "rhel-web"
    assert select_baseline("db", rhel, mapping).name == "AWS-RedHatDefaultPatchBaseline"
    assert select_baseline("db", debian, mapping).name == "web-security-debian"  # user default
    assert select_baseline("nope", suse, mapping).name == "AWS-SuseDefaultPatchBaseline"
    assert select_baseline(None, suse, None).name == "AWS-SuseDefaultPatchBaseline"
    override = load_baseline(ROOT / "baselines/rhel-web.yaml")
    assert select_baseline("db", rhel, mapping, override=override) is override
    with pytest.raises(InputError, match="is for REDHAT_ENTERPRISE_LINUX, not DEBIAN"):
        select_baseline("web", debian, mapping, override=override)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "patch_groups:\n  web:\n    PLAN9: AWS-DefaultPatchBaseline\n",
            "unknown operating system",
        ),
        (
            "patch_groups:\n  web:\n    DEBIAN: AWS-RedHatDefaultPatchBaseline\n",
            "is for REDHAT_ENTERPRISE_LINUX, not DEBIAN",
        ),
        ("groups: {}\n", "unknown key 'groups'; accepted: patch_groups, defaults"),
        ("patch_groups:\n  web:\n    DEBIAN: missing.yaml\n", "file not found"),
    ],
)
def test_patch_group_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_patch_group_map(path)


def test_load_facts(tmp_path: Path) -> None:
    host = facts("DEBIAN", [{"name": "a", "arch": "amd64", "version": "1"}])
    path = tmp_path / "facts.json"
    path.write_text(host.model_dump_json())
    assert load_facts(path) == host
    data = json.loads(host.model_dump_json())
    del data["os"]["product"]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"facts.json:os.product: required key 'product'"):
        load_facts(path)
    path.write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        load_facts(path)


def test_os_mismatch_is_an_input_error() -> None:
    with pytest.raises(
        InputError, match="is for REDHAT_ENTERPRISE_LINUX, but host 'host1' runs DEBIAN"
    ):
        evaluate_baseline(
            facts("DEBIAN"), get_predefined("AWS-RedHatDefaultPatchBaseline"), now=NOW
        )


def test_apply_install_outcome() -> None:
    host = facts(
        "DEBIAN",
        [
            {"name": "a", "arch": "amd64", "version": "1"},
            {"name": "b", "arch": "amd64", "version": "1"},
        ],
        [
            {
                "name": n,
                "arch": "amd64",
                "candidate_version": "2",
                "security": True,
                "priority": "optional",
            }
            for n in ("a", "b")
        ],
    )
    before = evaluate_baseline(host, get_predefined("AWS-DebianDefaultPatchBaseline"), now=NOW)
    after = apply_install_outcome(before, {"a.amd64": "dpkg: error processing"}, {"b"})
    states = {i.id: i for i in after.items}
    assert states["a"].state is PatchState.FAILED
    assert states["a"].message == "dpkg: error processing"
    assert states["b"].state is PatchState.INSTALLED_PENDING_REBOOT
    assert after.counts.failed == 1 and after.counts.installed_pending_reboot == 1
    assert after.counts.missing == 0
    assert after.status is ComplianceStatus.NON_COMPLIANT
    done = apply_install_outcome(
        evaluate_baseline(
            facts("DEBIAN"), get_predefined("AWS-DebianDefaultPatchBaseline"), now=NOW
        ),
        {},
        set(),
    )
    assert done.status is ComplianceStatus.COMPLIANT and done.overall_severity is None


def test_apply_install_outcome_keeps_asu_status() -> None:
    b = load_baseline(ROOT / "baselines/windows-servers.yaml")
    host = facts(
        "WINDOWS",
        [],
        [
            {
                "name": "KB1",
                "kind": "update",
                "candidate_version": "1",
                "classification": "SecurityUpdates",
                "severity": "Critical",
                "security": True,
                "release_date": "2024-04-30T00:00:00Z",
            },
        ],
    )
    before = evaluate_baseline(host, b, now=NOW)
    assert before.status is ComplianceStatus.NON_COMPLIANT
    assert apply_install_outcome(before, {}, set()) == before
