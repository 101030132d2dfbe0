"""Reports of a run: terminal table, versioned JSON (+ JSON Schema), CSV, exit codes.

The names below are imported from their module on first use, so that importing one report
module (``scan --format json`` needs neither the table nor rich's tables) does not load the
others: start-up CPU counts per host (docs/benchmarks.md).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetpatch.report.csv_report import CSV_COLUMNS, run_to_csv, write_run_csv
    from fleetpatch.report.exit_codes import ExitCode, exit_code_for
    from fleetpatch.report.json_report import report_json_schema, run_to_report
    from fleetpatch.report.status import HostStatus, host_status
    from fleetpatch.report.table import render_run_table

_MODULE_OF = {
    "CSV_COLUMNS": "csv_report",
    "run_to_csv": "csv_report",
    "write_run_csv": "csv_report",
    "ExitCode": "exit_codes",
    "exit_code_for": "exit_codes",
    "report_json_schema": "json_report",
    "run_to_report": "json_report",
    "HostStatus": "status",
    "host_status": "status",
    "render_run_table": "table",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
