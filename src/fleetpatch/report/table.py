"""The terminal report: one row per host, then a fleet summary (rich; plain text when the
console has no terminal or colour)."""

from __future__ import annotations

from collections import Counter

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fleetpatch.compliance import LEVEL_ORDER, NON_COMPLIANT_STATES, PatchItem
from fleetpatch.knowledge import DEFAULT_MAX_METADATA_AGE, format_age, is_stale
from fleetpatch.report.exit_codes import exit_code_for
from fleetpatch.report.safe_text import cell
from fleetpatch.report.status import (
    HostStatus,
    host_status,
    missing_security,
    non_compliant_by_level,
    platform_product,
    reboot_required,
)
from fleetpatch.results import HostResult, RunResult

_STATUS_STYLE = {
    HostStatus.COMPLIANT: "green",
    HostStatus.NON_COMPLIANT: "bold yellow",
    HostStatus.FAILED: "bold red",
    HostStatus.UNSUPPORTED: "magenta",
}
LEVEL_LEGEND = "C/H/M/L/I/U = CRITICAL/HIGH/MEDIUM/LOW/INFORMATIONAL/UNSPECIFIED"


def render_run_table(
    run: RunResult,
    console: Console,
    *,
    verbose: bool = False,
    max_metadata_age: int | None = DEFAULT_MAX_METADATA_AGE,
) -> None:
    """Print the host table and the fleet summary; with ``verbose``, every non-compliant
    patch item of every host too. A ``Metadata`` column shows the age of each host's package
    metadata when it is older than ``max_metadata_age`` (or of unknown age), and only then.
    Text from hosts and inventories is shown as it is, never as markup, control characters
    escaped (fleetpatch.report.safe_text)."""
    console.print(_hosts_table(run, max_metadata_age))
    failed = [host for host in run.hosts if host.failure is not None]
    if failed:
        console.print(_failures_table(failed))
    if verbose:
        for host in run.hosts:
            items = _non_compliant_items(host)
            if items:
                console.print(_patches_table(host, items))
    console.print(_summary_table(run))


def _stale_age(host: HostResult, max_age: int | None) -> str:
    """The host's metadata age when beyond ``max_age`` ("unknown" if unknown), else ""."""
    if host.facts is None or not is_stale(host.facts.metadata_age_seconds, max_age):
        return ""
    age = host.facts.metadata_age_seconds
    return "unknown" if age is None else format_age(age)


def _hosts_table(run: RunResult, max_age: int | None) -> Table:
    shown = "" if run.status == "finished" else f" ({run.status})"
    table = Table(
        title=cell(f"{run.operation} {run.run_id}{shown}"),
        caption=(
            "Non-compliant patches: Sec/Other = security/other, "
            f"{LEVEL_LEGEND}; Pending = installed, pending reboot"
        ),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("Host", no_wrap=True)
    table.add_column("Platform", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Baseline", overflow="fold")
    table.add_column("Sec/Other", justify="right", no_wrap=True)
    table.add_column("C/H/M/L/I/U", justify="right", no_wrap=True)
    table.add_column("Pending", justify="right", no_wrap=True)
    table.add_column("Reboot", no_wrap=True)
    table.add_column("Error", no_wrap=True)
    ages = [_stale_age(host, max_age) for host in run.hosts]
    if any(ages):
        table.add_column("Metadata", no_wrap=True)
    for host, age in zip(run.hosts, ages, strict=True):
        cells = _host_cells(host)
        if any(ages):
            cells.append(Text(age, style="yellow") if age else "")
        table.add_row(*cells)
    return table


def _host_cells(host: HostResult) -> list[str | Text]:
    status = host_status(host)
    compliance = host.compliance
    by_level = non_compliant_by_level(host)
    reboot = reboot_required(host)
    counted = compliance is not None
    return [
        cell(host.host),
        cell(platform_product(host) or "-"),
        Text(status.value, style=_STATUS_STYLE.get(status, "")),
        cell(compliance.baseline if compliance else "-"),
        (
            f"{compliance.counts.security_non_compliant}/{compliance.counts.other_non_compliant}"
            if compliance
            else "-"
        ),
        "/".join(str(by_level[level]) for level in LEVEL_ORDER) if counted else "-",
        str(compliance.counts.installed_pending_reboot) if compliance else "-",
        "-" if reboot is None else ("yes" if reboot else "no"),
        cell(host.failure.kind if host.failure is not None else ""),
    ]


def _non_compliant_items(host: HostResult) -> list[PatchItem]:
    if host.compliance is None:
        return []
    return [item for item in host.compliance.items if item.state in NON_COMPLIANT_STATES]


def _patches_table(host: HostResult, items: list[PatchItem]) -> Table:
    table = Table(
        title=cell(f"{host.host}: non-compliant patches"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in ("Patch", "State", "Level", "Sec"):
        table.add_column(header, no_wrap=True)
    table.add_column("Installed -> candidate", overflow="fold")
    table.add_column("Severity / class", overflow="fold")
    table.add_column("Reason", overflow="fold", ratio=1)
    for item in items:
        table.add_row(
            cell(f"{item.id}:{item.arch}" if item.arch else item.id),
            item.state.value,
            item.compliance_level.value,
            "yes" if item.security else "no",
            cell(f"{item.installed_version or '-'} -> {item.candidate_version or '-'}"),
            cell(f"{item.severity or '-'} / {item.classification or '-'}"),
            cell(item.reason or item.message),
        )
    return table


def _failures_table(hosts: list[HostResult]) -> Table:
    table = Table(title="Errors", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Host", no_wrap=True)
    table.add_column("Kind", no_wrap=True)
    table.add_column("Step", no_wrap=True)
    table.add_column("Message", overflow="fold", ratio=1)
    for host in hosts:
        assert host.failure is not None
        table.add_row(
            cell(host.host),
            cell(host.failure.kind),
            cell(host.failure.step or "-"),
            cell(host.failure.message),
        )
    return table


def _summary_table(run: RunResult) -> Table:
    statuses = Counter(host_status(h) for h in run.hosts)
    failures = Counter(h.failure.kind for h in run.hosts if h.failure is not None)
    table = Table(title="Fleet summary", show_header=False, title_justify="left", box=box.SIMPLE)
    table.add_column("what")
    table.add_column("count", justify="right")
    if run.status != "finished":
        table.add_row("run status", run.status)
    stored = str(len(run.hosts))
    if not run.finished and run.targeted_hosts is not None:
        stored += f" of {run.targeted_hosts} targeted"
    table.add_row("hosts", stored)
    for status in HostStatus:
        if statuses[status] or status in (
            HostStatus.COMPLIANT,
            HostStatus.NON_COMPLIANT,
            HostStatus.FAILED,
        ):
            table.add_row(status.value.lower().replace("_", "-"), str(statuses[status]))
    for kind, count in sorted(failures.items()):
        table.add_row(cell(f"  failure kind {kind}"), str(count))
    table.add_row("missing security patches", str(sum(missing_security(h) for h in run.hosts)))
    table.add_row("exit code", str(exit_code_for(run)))
    return table
