"""The `fleetpatch baseline` typer app, through CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fleetpatch.cli.baseline import app

from .helpers import facts

ROOT = Path(__file__).parents[3]
DATA = Path(__file__).parent / "data"
runner = CliRunner()


def _facts_file(tmp_path: Path, security: bool) -> Path:
    host = facts(
        "DEBIAN",
        [{"name": "openssl", "arch": "amd64", "version": "3.0.11-1", "priority": "optional"}],
        [
            {
                "name": "openssl",
                "arch": "amd64",
                "candidate_version": "3.0.13-1",
                "security": security,
                "priority": "optional",
            }
        ],
    )
    path = tmp_path / "facts.json"
    path.write_text(host.model_dump_json())
    return path


def test_validate_ok() -> None:
    result = runner.invoke(app, ["validate", str(ROOT / "baselines/web-security.yaml")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK ")
    assert "web-security-debian (DEBIAN), 2 approval rules" in result.output


def test_validate_bad(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad-one\noperating_system: DEBIAN\napproved_patches: ['a b']\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "approved_patches[0] (line 3)" in result.stderr
    assert "bare package name" in result.stderr


def test_show_predefined_is_loadable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["show", "AWS-RedHatDefaultPatchBaseline"])
    assert result.exit_code == 0
    data = yaml.safe_load(result.stdout)
    assert data["operating_system"] == "REDHAT_ENTERPRISE_LINUX"
    assert "predefined" not in data


def test_show_unknown() -> None:
    result = runner.invoke(app, ["show", "AWS-Nope"])
    assert result.exit_code == 2
    assert "neither a file nor a predefined baseline" in result.stderr


def test_import_and_export(tmp_path: Path) -> None:
    out = tmp_path / "rhel.yaml"
    src = DATA / "get-patch-baseline-rhel.json"
    result = runner.invoke(app, ["import-ssm", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export-ssm", str(out)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(src.read_text())
    result = runner.invoke(app, ["export-ssm", str(out), "--create"])
    assert "BaselineId" not in json.loads(result.stdout)


def test_import_bad(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"Name": "abc", "OperatingSystem": "DEBIAN", "RejectedPatchesAction": "NO"}')
    result = runner.invoke(app, ["import-ssm", str(path)])
    assert result.exit_code == 2
    assert "RejectedPatchesAction" in result.stderr


@pytest.mark.parametrize(("security", "code"), [(True, 1), (False, 0)])
def test_evaluate_exit_codes(tmp_path: Path, security: bool, code: int) -> None:
    path = _facts_file(tmp_path, security)
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--baseline",
            "AWS-DebianDefaultPatchBaseline",
            "--facts",
            str(path),
            "--now",
            "2024-05-01T00:00:00Z",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == code, result.output
    doc = json.loads(result.stdout)
    assert doc["host"] == "host1"
    assert doc["status"] == ("NON_COMPLIANT" if security else "COMPLIANT")


def test_evaluate_table(tmp_path: Path) -> None:
    path = _facts_file(tmp_path, True)
    result = runner.invoke(
        app, ["evaluate", "-b", str(ROOT / "baselines/web-security.yaml"), "-f", str(path)]
    )
    assert result.exit_code == 1
    assert "MISSING" in result.stdout and "NON_COMPLIANT" in result.stdout


def test_evaluate_bad_input(tmp_path: Path) -> None:
    path = _facts_file(tmp_path, True)
    bad_now = runner.invoke(
        app, ["evaluate", "-b", "AWS-DebianDefaultPatchBaseline", "-f", str(path), "--now", "x"]
    )
    assert bad_now.exit_code == 2 and "ISO-8601" in bad_now.stderr
    wrong_os = runner.invoke(
        app, ["evaluate", "-b", "AWS-RedHatDefaultPatchBaseline", "-f", str(path)]
    )
    assert wrong_os.exit_code == 2 and "runs DEBIAN" in wrong_os.stderr
    missing = runner.invoke(
        app, ["evaluate", "-b", "AWS-DebianDefaultPatchBaseline", "-f", str(tmp_path / "no.json")]
    )
    assert missing.exit_code == 2 and "file not found" in missing.stderr


def test_evaluate_with_install_override(tmp_path: Path) -> None:
    path = _facts_file(tmp_path, False)
    override = tmp_path / "override.yaml"
    override.write_text("patches:\n  - id: openssl\n")
    result = runner.invoke(
        app,
        [
            "evaluate",
            "-b",
            "AWS-DebianDefaultPatchBaseline",
            "-f",
            str(path),
            "--install-override",
            str(override),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1
    assert "install_override_list" in result.stdout


def test_list() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert "AWS-DefaultPatchBaseline\tWINDOWS" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 17


@pytest.mark.parametrize(
    "command", ["validate", "show", "import-ssm", "export-ssm", "evaluate", "list"]
)
def test_help_has_examples(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.stdout


def test_evaluate_json_has_a_schema_and_the_scan_reports_names(tmp_path: Path) -> None:
    import jsonschema

    from fleetpatch.report.evaluation import evaluation_json_schema
    from fleetpatch.report.json_report import report_json_schema

    path = _facts_file(tmp_path, True)
    args = ["evaluate", "-b", "AWS-DebianDefaultPatchBaseline", "-f", str(path)]
    result = runner.invoke(app, [*args, "--now", "2024-05-01T00:00:00Z", "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    schema = evaluation_json_schema()
    jsonschema.validate(doc, schema)
    report = report_json_schema()["$defs"]
    # the same names as the scan report for the same things
    assert set(doc["counts"]) == set(report["StateCounts"]["properties"])
    assert set(doc["non_compliant_by_severity"]) == set(report["SeveritySummary"]["properties"])
    assert doc["patches"] and all(
        set(p) == set(report["ReportPatch"]["properties"]) for p in doc["patches"]
    )
    assert doc["counts"]["MissingCount"] == sum(p["state"] == "MISSING" for p in doc["patches"])
    assert {"host", "baseline", "status", "overall_severity"} <= set(doc)
