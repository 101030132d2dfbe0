"""The JSON report validates against its own JSON Schema and carries the right numbers."""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import given, settings
from result_builders import mixed_run, run_results

from fleetpatch.compliance import PatchState
from fleetpatch.report import report_json_schema, run_to_report
from fleetpatch.results import RunResult

_VALIDATOR = jsonschema.Draft202012Validator(
    report_json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


def _validate(document: dict[str, Any]) -> None:
    errors = sorted(_VALIDATOR.iter_errors(document), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = report_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_realistic_report_validates_and_has_the_right_numbers() -> None:
    report = run_to_report(mixed_run())
    _validate(report)
    assert report["schema_version"] == 1
    summary = report["summary"]
    assert (summary["hosts"], summary["compliant"], summary["non_compliant"]) == (4, 1, 1)
    assert (summary["failed"], summary["unsupported"]) == (1, 1)
    assert summary["failures_by_kind"] == {"unreachable": 1, "unsupported": 1}
    assert summary["missing_security_patches"] == 2
    assert summary["security_non_compliant"] == 3
    assert summary["non_compliant_by_severity"]["CriticalCount"] == 1
    assert summary["exit_code"] == 3
    web2 = report["hosts"][1]
    assert web2["status"] == "NON_COMPLIANT"
    assert web2["platform"]["product"] == "Debian12"
    assert web2["counts"]["MissingCount"] == 3
    assert web2["counts"]["InstalledPendingRebootCount"] == 1
    assert web2["counts"]["SecurityNonCompliantCount"] == 3
    assert web2["overall_severity"] == "CRITICAL"
    assert web2["reboot_required"] is True
    assert web2["metadata_age_seconds"] == 3600
    db1 = report["hosts"][2]
    assert db1["failure"]["kind"] == "unreachable" and db1["counts"] is None


def test_counts_use_ssm_names() -> None:
    counts = run_to_report(mixed_run())["hosts"][0]["counts"]
    assert set(counts) == {
        "InstalledCount",
        "InstalledOtherCount",
        "InstalledPendingRebootCount",
        "InstalledRejectedCount",
        "MissingCount",
        "FailedCount",
        "NotApplicableCount",
        "AvailableSecurityUpdateCount",
        "CriticalNonCompliantCount",
        "SecurityNonCompliantCount",
        "OtherNonCompliantCount",
    }


def test_installed_other_items_only_when_asked() -> None:
    run = mixed_run()
    default = {p["state"] for p in run_to_report(run)["hosts"][1]["patches"]}
    assert PatchState.INSTALLED_OTHER.value not in default
    everything = run_to_report(run, include_installed_other=True)["hosts"][1]["patches"]
    assert PatchState.INSTALLED_OTHER.value in {p["state"] for p in everything}


def test_unknown_fields_are_rejected_by_the_schema() -> None:
    report = run_to_report(mixed_run())
    report["hosts"][0]["surprise"] = 1
    assert not _VALIDATOR.is_valid(report)


@settings(max_examples=60, deadline=None)
@given(run=run_results())
def test_every_report_validates(run: RunResult) -> None:
    _validate(run_to_report(run, include_installed_other=True))


@settings(max_examples=30, deadline=None)
@given(run_results())
def test_streamed_report_is_the_same_document(run: RunResult) -> None:
    import io
    import json

    from fleetpatch.report.json_report import write_report_json

    out = io.StringIO()
    write_report_json(run, out)
    assert json.loads(out.getvalue()) == run_to_report(run)


def test_streamed_report_of_a_realistic_run() -> None:
    import io
    import json

    from fleetpatch.report.json_report import write_report_json

    run = mixed_run()
    out = io.StringIO()
    write_report_json(run, out)
    document = json.loads(out.getvalue())
    assert document == run_to_report(run)
    _validate(document)
