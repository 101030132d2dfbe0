"""Terminal output of install runs: the dry-run plan, and per-batch / per-host outcomes. Text
from hosts and inventories is shown as it is (fleetpatch.report.safe_text)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from fleetpatch.report.safe_text import cell, printable
from fleetpatch.results import HostOutcome, HostResult


def render_plan(
    plan: Sequence[Sequence[str]],
    results: Sequence[HostResult],
    console: Console,
    *,
    header: str,
) -> None:
    """The full dry-run plan: batches, hosts, the exact packages each would get and why, and
    the reboots expected."""
    by_host = {r.host: r for r in results}
    console.print(printable(header), highlight=False, markup=False)
    for number, batch in enumerate(plan, start=1):
        console.print(
            printable(f"\nbatch {number}: {', '.join(batch)}"), highlight=False, markup=False
        )
        for name in batch:
            result = by_host.get(name)
            if result is None:
                console.print(printable(f"  {name}: not planned"), highlight=False, markup=False)
                continue
            _plan_host(result, console)


def _plan_host(result: HostResult, console: Console) -> None:
    install = result.install
    platform = result.facts.os.product if result.facts else "?"
    baseline = result.compliance.baseline if result.compliance else "-"
    if result.outcome is not HostOutcome.OK and (install is None or not install.planned):
        reason = result.failure.message if result.failure else result.outcome.value
        console.print(
            printable(f"  {result.host} ({platform}): cannot plan: {reason}"), markup=False
        )
        return
    assert install is not None
    requested = [p for p in install.planned if not p.dependency]
    deps = [p for p in install.planned if p.dependency]
    console.print(
        printable(
            f"  {result.host} ({platform}, baseline {baseline}): {len(requested)} package(s)"
            f"{f' + {len(deps)} dependencies' if deps else ''}, reboot {install.reboot}"
        ),
        highlight=False,
        markup=False,
    )
    table = Table(show_header=True, box=None, padding=(0, 2), pad_edge=False)
    for col in ("package", "installed", "->", "version", "why"):
        table.add_column(col, overflow="fold")
    for p in install.planned:
        why = "dependency" if p.dependency else p.reason
        label = f"{p.name}:{p.arch}" if p.arch and p.arch != "all" else p.name
        table.add_row(
            cell(label), cell(p.installed_version or "(new)"), "->", cell(p.version), cell(why)
        )
    if install.planned:
        console.print(table)
    for name, message in install.failed.items():
        console.print(
            printable(f"    would fail: {name}: {message}"), highlight=False, markup=False
        )


def render_outcome(
    plan: Sequence[Sequence[str]],
    results: Sequence[HostResult],
    decisions: Sequence[str],
    console: Console,
) -> None:
    """Per batch and per host: what happened, then the rollout's decisions."""
    by_host = {r.host: r for r in results}
    table = Table(title="install", show_lines=False)
    for col in ("batch", "host", "outcome", "installed", "failed", "reboot", "detail"):
        table.add_column(col, overflow="fold")
    for number, batch in enumerate(plan, start=1):
        for name in batch:
            r = by_host.get(name)
            if r is None:
                table.add_row(str(number), cell(name), "-", "", "", "", "")
                continue
            install = r.install
            detail = r.failure.message if r.failure else (install.message if install else "")
            table.add_row(
                str(number),
                cell(name),
                r.outcome.value,
                str(len(install.installed)) if install else "",
                str(len(install.failed)) if install else "",
                (
                    install.reboot
                    + (f" ({install.reboot_seconds:.0f}s)" if install.reboot_seconds else "")
                )
                if install
                else "",
                cell(detail + _failed_hook_output(r)),
            )
    console.print(table)
    for line in decisions:
        console.print(printable(f"  - {line}"), highlight=False, markup=False)


def _failed_hook_output(result: HostResult) -> str:
    """The last line of output of each hook that failed on the host (``; pre_install said:
    ...``), for the detail column."""
    if result.install is None:
        return ""
    said = ""
    for hook in result.install.hooks:
        lines = [line for line in hook.output.splitlines() if line.strip()]
        if hook.exit_code != 0 and lines:
            said += f"; {hook.name} (exit {hook.exit_code}) said: {lines[-1].strip()}"
    return said
