"""One CSV row per host, with the columns of SSM's fleet patch summary export."""

from __future__ import annotations

import csv
import io
from typing import TextIO

from fleetpatch.compliance import LEVEL_ORDER
from fleetpatch.report.status import host_status, non_compliant_by_level
from fleetpatch.results import HostResult, RunResult

CSV_COLUMNS = (
    "host",
    "address",
    "platform_name",
    "platform_version",
    "baseline",
    "patch_group",
    "compliance_status",
    "overall_severity",
    "critical_non_compliant",
    "high_non_compliant",
    "medium_non_compliant",
    "low_non_compliant",
    "informational_non_compliant",
    "unspecified_non_compliant",
    "failure_kind",
    "operation",
    "finished_at",
)


def write_run_csv(run: RunResult, out: TextIO) -> None:
    """Write the header and one row per host of ``run`` to ``out``."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_row(run, host) for host in run.hosts)


def run_to_csv(run: RunResult) -> str:
    buffer = io.StringIO()
    write_run_csv(run, buffer)
    return buffer.getvalue()


def _row(run: RunResult, host: HostResult) -> list[str | int]:
    facts, compliance = host.facts, host.compliance
    by_level = non_compliant_by_level(host)
    return [
        host.host,
        host.address,
        facts.os.distro if facts else "",
        facts.os.version_id if facts else "",
        compliance.baseline if compliance else "",
        host.patch_group or "",
        host_status(host).value,
        compliance.overall_severity.value if compliance and compliance.overall_severity else "",
        *(by_level[level] for level in LEVEL_ORDER),
        host.failure.kind if host.failure else "",
        run.operation,
        host.finished_at.isoformat(),
    ]
