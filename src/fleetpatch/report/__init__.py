"""Reports of a run: terminal table, versioned JSON (+ JSON Schema), CSV, exit codes."""

from fleetpatch.report.csv_report import CSV_COLUMNS, run_to_csv, write_run_csv
from fleetpatch.report.exit_codes import ExitCode, exit_code_for
from fleetpatch.report.json_report import report_json_schema, run_to_report
from fleetpatch.report.status import HostStatus, host_status
from fleetpatch.report.table import render_run_table

__all__ = [
    "CSV_COLUMNS",
    "ExitCode",
    "HostStatus",
    "exit_code_for",
    "host_status",
    "render_run_table",
    "report_json_schema",
    "run_to_csv",
    "run_to_report",
    "write_run_csv",
]
