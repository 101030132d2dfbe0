"""Every bad input names the file, the location (key path and YAML line) and what is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetpatch.baseline import load_baseline
from fleetpatch.errors import InputError

HEAD = "name: bad-one\noperating_system: {os}\n"


def _write(tmp_path: Path, body: str, os: str = "REDHAT_ENTERPRISE_LINUX") -> Path:
    path = tmp_path / "b.yaml"
    path.write_text(HEAD.format(os=os) + body)
    return path


def _rule(filters: str, extra: str = "    approve_after_days: 7\n") -> str:
    return f"approval_rules:\n  - filters:\n{filters}{extra}"


CASES = [
    pytest.param(
        "colour: blue\n",
        "REDHAT_ENTERPRISE_LINUX",
        "colour (line 3)",
        ["unknown key 'colour'", "accepted keys: name, description, operating_system"],
        id="unknown top-level key",
    ),
    pytest.param(
        _rule("      - key: SEVERITY\n        values: [Critical, Urgent]\n"),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[0].filters[0].values[1] (line 6)",
        [
            "'Urgent' is not valid for REDHAT_ENTERPRISE_LINUX",
            "Critical, Important, Medium, Moderate, Low, *",
        ],
        id="bad SEVERITY value",
    ),
    pytest.param(
        _rule("      - key: PRIORITY\n        values: [Required]\n"),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[0].filters[0].key (line 5)",
        [
            "'PRIORITY' is not valid for REDHAT_ENTERPRISE_LINUX",
            "PRODUCT, CLASSIFICATION, SEVERITY",
        ],
        id="PRIORITY on RHEL",
    ),
    pytest.param(
        _rule("      - key: MSRC_SEVERITY\n        values: [Critical]\n", ""),
        "DEBIAN",
        "approval_rules[0].filters[0].key",
        ["'MSRC_SEVERITY' is not valid for DEBIAN", "PRODUCT, PRIORITY, SECTION"],
        id="MSRC_SEVERITY on Debian",
    ),
    pytest.param(
        _rule("      - key: CLASSIFICATION\n        values: [Bugfix]\n"),
        "SUSE",
        "approval_rules[0].filters[0].values[0]",
        ["Security, Recommended, Optional, Feature, Document, Yast, *"],
        id="CLASSIFICATION value per OS",
    ),
    pytest.param(
        _rule("      - key: CLASSIFICATION\n        values: [security]\n"),
        "REDHAT_ENTERPRISE_LINUX",
        "values[0]",
        ["did you mean 'Security'?"],
        id="case hint",
    ),
    pytest.param(
        _rule("      - key: PRIORITY\n        values: [Required]\n"),
        "DEBIAN",
        "approval_rules[0].approve_after_days (line 7)",
        ["approve_after_days is not supported for DEBIAN"],
        id="dates on Debian",
    ),
    pytest.param(
        _rule(
            "      - key: CLASSIFICATION\n        values: [Security]\n",
            "    approve_after_days: 7\n    approve_until_date: 2024-01-01\n",
        ),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[0] (line 4)",
        ["either approve_after_days or approve_until_date, not both"],
        id="both date keys",
    ),
    pytest.param(
        _rule("      - key: CLASSIFICATION\n        values: [Security]\n", ""),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[0]",
        ["one of approve_after_days (0-360) or approve_until_date (YYYY-MM-DD) is required"],
        id="no date key",
    ),
    pytest.param(
        _rule(
            "      - key: CLASSIFICATION\n        values: [Security]\n",
            "    approve_after_days: 400\n",
        ),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[0].approve_after_days (line 7)",
        ["between 0 and 360, got 400"],
        id="approve_after_days range",
    ),
    pytest.param(
        _rule(
            "      - key: CLASSIFICATION\n        values: [Security]\n",
            "    approve_until_date: 01/02/2024\n",
        ),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[0].approve_until_date (line 7)",
        ["YYYY-MM-DD"],
        id="bad until date",
    ),
    pytest.param(
        "approval_rules:\n"
        + "".join(
            "  - filters: [{key: CLASSIFICATION, values: [Security]}]\n    approve_after_days: 1\n"
            for _ in range(11)
        ),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[10] (line 24)",
        ["11 approval rules; at most 10"],
        id="more than 10 rules",
    ),
    pytest.param(
        _rule(
            "".join(
                f"      - key: {k}\n        values: ['*']\n"
                for k in ("PRODUCT", "CLASSIFICATION", "SEVERITY", "PRODUCT")
            )
            + "      - key: SEVERITY\n        values: ['*']\n"
        ),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[0].filters[4] (line 13)",
        ["5 filters; at most 4"],
        id="more than 4 filters",
    ),
    pytest.param(
        _rule(
            "      - key: CLASSIFICATION\n        values: [" + ", ".join(["Security"] * 21) + "]\n"
        ),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[0].filters[0].values (line 6)",
        ["21 values; between 1 and 20"],
        id="more than 20 values",
    ),
    pytest.param(
        "approved_patches: [openssl, 'foo bar']\n",
        "REDHAT_ENTERPRISE_LINUX",
        "approved_patches[1] (line 3)",
        ["'foo bar' is not a valid entry", "CVE id", "name.arch:epoch:version-release"],
        id="bad yum name",
    ),
    pytest.param(
        "approved_patches: ['a*b*']\n",
        "REDHAT_ENTERPRISE_LINUX",
        "approved_patches[0]",
        ["has 2 '*'; at most one"],
        id="two wildcards",
    ),
    pytest.param(
        "rejected_patches: [CVE-2024-1234]\n",
        "REDHAT_ENTERPRISE_LINUX",
        "rejected_patches[0]",
        ["accepted only in approved_patches"],
        id="CVE in a yum rejected list",
    ),
    pytest.param(
        "approved_patches: ['openssl=3.0.11-1']\n",
        "DEBIAN",
        "approved_patches[0]",
        ["a bare package name (ExamplePkg33), with no architecture, version or '*'"],
        id="apt name with version",
    ),
    pytest.param(
        "approved_patches: [Q123456]\n",
        "WINDOWS",
        "approved_patches[0]",
        ["KB id (KB2032276) or a security bulletin id (MS10-048)"],
        id="windows bad KB",
    ),
    pytest.param(
        "approved_patches: [openssl]\n",
        "SUSE",
        "approved_patches[0]",
        ["patch name (SUSE-SLE-Example-Package-12-2018-123)", "package file name"],
        id="suse bare name",
    ),
    pytest.param(
        "approved_patches: [" + ", ".join(f"pkg{i}" for i in range(51)) + "]\n",
        "DEBIAN",
        "approved_patches[50]",
        ["51 entries; at most 50"],
        id="more than 50 approved",
    ),
    pytest.param(
        "approved_patches: [" + "a" * 101 + "]\n",
        "DEBIAN",
        "approved_patches[0]",
        ["101 characters, at most 100"],
        id="entry too long",
    ),
    pytest.param(
        "rejected_patches_action: DENY\n",
        "DEBIAN",
        "rejected_patches_action (line 3)",
        ["'ALLOW_AS_DEPENDENCY' or 'BLOCK'"],
        id="bad action",
    ),
    pytest.param(
        "approved_patches_compliance_level: SEVERE\n",
        "DEBIAN",
        "approved_patches_compliance_level",
        ["'CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL' or 'UNSPECIFIED'"],
        id="bad compliance level",
    ),
    pytest.param(
        "available_security_updates_compliance_status: NON_COMPLIANT\n",
        "DEBIAN",
        "available_security_updates_compliance_status",
        ["Windows only"],
        id="ASU status off Windows",
    ),
    pytest.param(
        "sources:\n  - name: local\n    products: [Debian12]\n    configuration: deb x\n",
        "WINDOWS",
        "sources",
        ["Linux only"],
        id="sources on Windows",
    ),
    pytest.param(
        "sources:\n  - name: local-repo\n    products: [Debian12]\n    configuration: '"
        + "x" * 1025
        + "'\n",
        "DEBIAN",
        "sources[0].configuration",
        ["1 to 1024 characters"],
        id="source configuration too long",
    ),
    pytest.param(
        _rule("      - key: ARCH\n        values: [x86_64]\n"),
        "REDHAT_ENTERPRISE_LINUX",
        "filters[0].key",
        ["'ARCH' is not valid for REDHAT_ENTERPRISE_LINUX (unknown key)"],
        id="unsupported filter key",
    ),
    pytest.param(
        _rule("      - key: CLASSIFICATION\n        values: [Security]\n        extra: 1\n"),
        "REDHAT_ENTERPRISE_LINUX",
        "approval_rules[0].filters[0].extra (line 7)",
        ["unknown key 'extra'; accepted keys: key, values"],
        id="unknown filter key",
    ),
    pytest.param(
        "operating_system: DEBIAN\n",
        "DEBIAN",
        "",
        ["key 'operating_system' appears twice"],
        id="duplicate key",
    ),
    pytest.param(
        "",
        "PLAN9",
        "operating_system (line 2)",
        ["'WINDOWS', 'AMAZON_LINUX'"],
        id="unknown OS",
    ),
]


@pytest.mark.parametrize(("body", "os", "location", "texts"), CASES)
def test_bad_input(tmp_path: Path, body: str, os: str, location: str, texts: list[str]) -> None:
    path = _write(tmp_path, body, os)
    with pytest.raises(InputError) as info:
        load_baseline(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert location in message, message
    for text in texts:
        assert text in message, message


def test_missing_name(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("operating_system: DEBIAN\n")
    with pytest.raises(InputError, match="required key 'name' is missing"):
        load_baseline(path)


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(InputError, match=r"not valid YAML.*|line"):
        load_baseline(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_baseline(tmp_path / "nope.yaml")


def test_json_file_in_our_format(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"name": "j-1", "operating_system": "DEBIAN", "approved_patches": ["x y"]}')
    with pytest.raises(InputError) as info:
        load_baseline(path)
    assert "approved_patches[1]" not in str(info.value)
    assert "approved_patches[0]" in str(info.value)


def test_valid_examples_load() -> None:
    root = Path(__file__).parents[3] / "baselines"
    for path in root.glob("*.yaml"):
        if path.name != "patch-groups.yaml":
            load_baseline(path)
