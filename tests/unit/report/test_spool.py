"""A run keeps slim results (no patch items, no package lists); the JSON report written from
them and the host entries spooled while the run went is the report of the whole results."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from result_builders import mixed_run, run_results

from fleetpatch.compliance import PatchState
from fleetpatch.engine.scan_run import keep_no_items, keep_non_compliant, slim_result
from fleetpatch.report import run_to_report
from fleetpatch.report.json_report import write_report_json
from fleetpatch.report.spool import ReportSpool
from fleetpatch.results import RunResult


def _report_via_spool(run: RunResult) -> dict[str, object]:
    with ReportSpool() as spool:
        for host in run.hosts:
            spool.add(host)
        slim = run.model_copy(update={"hosts": tuple(slim_result(h) for h in run.hosts)})
        out = io.StringIO()
        write_report_json(slim, out, spool=spool)
    document: dict[str, object] = json.loads(out.getvalue())
    return document


def test_slim_results_hold_no_items_but_keep_every_figure_the_report_needs() -> None:
    run = mixed_run()
    slim = [slim_result(h) for h in run.hosts]
    assert all(not h.compliance.items for h in slim if h.compliance is not None)
    web2 = next(h for h in slim if h.host == "web-2")
    assert web2.compliance is not None
    assert web2.compliance.missing_security == 2
    assert sum(web2.compliance.non_compliant_by_level.values()) == 4
    assert _report_via_spool(run) == run_to_report(run)


def test_verbose_table_keeps_only_non_compliant_items() -> None:
    web2 = next(h for h in mixed_run().hosts if h.host == "web-2")
    kept = slim_result(web2, keep_non_compliant).compliance
    assert kept is not None
    assert {i.state for i in kept.items} == {
        PatchState.MISSING,
        PatchState.INSTALLED_PENDING_REBOOT,
    }
    assert slim_result(web2, keep_no_items).compliance.items == ()  # type: ignore[union-attr]


def test_a_host_missing_from_the_spool_is_rendered_from_its_result() -> None:
    run = mixed_run()
    out = io.StringIO()
    with ReportSpool() as spool:
        spool.add(run.hosts[0])
        write_report_json(run, out, spool=spool)
    assert json.loads(out.getvalue()) == run_to_report(run)


@settings(max_examples=60, deadline=None)
@given(run_results())
def test_spooled_report_equals_the_report_of_the_whole_results(run: RunResult) -> None:
    hosts = {h.host: h for h in run.hosts}  # host names are unique within a run
    run = run.model_copy(update={"hosts": tuple(hosts.values())})
    assert _report_via_spool(run) == run_to_report(run)
