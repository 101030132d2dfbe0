"""The fleet CSV: one row per host."""

from __future__ import annotations

import csv
import io

from result_builders import mixed_run

from fleetpatch.report import CSV_COLUMNS, run_to_csv


def test_one_row_per_host_with_ssm_summary_columns() -> None:
    rows = list(csv.DictReader(io.StringIO(run_to_csv(mixed_run()))))
    assert [r["host"] for r in rows] == ["web-1", "web-2", "db-1", "win-1"]
    assert tuple(rows[0]) == CSV_COLUMNS
    web2 = rows[1]
    assert (web2["platform_name"], web2["platform_version"]) == ("debian", "12")
    assert web2["compliance_status"] == "NON_COMPLIANT"
    assert web2["overall_severity"] == "CRITICAL"
    assert [web2[f"{lvl}_non_compliant"] for lvl in ("critical", "high", "medium", "low")] == [
        "1",
        "1",
        "1",
        "1",
    ]
    assert rows[2]["compliance_status"] == "FAILED"
    assert rows[2]["failure_kind"] == "unreachable"
