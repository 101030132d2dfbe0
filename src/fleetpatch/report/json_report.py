"""The versioned JSON report of a run and its JSON Schema (docs/report-schema.md)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import TypeAdapter

from fleetpatch.compliance import ComplianceLevel, HostCompliance, PatchItem, PatchState
from fleetpatch.memo import RunMemo
from fleetpatch.report import models as m
from fleetpatch.report.exit_codes import exit_code_for
from fleetpatch.report.status import (
    HostStatus,
    host_status,
    missing_security,
    non_compliant_by_level,
)
from fleetpatch.results import HostResult, RunResult

if TYPE_CHECKING:
    from fleetpatch.report.spool import ReportSpool

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REPORT_SCHEMA_ID = "urn:fleetpatch:report:1"


def run_to_report(run: RunResult, *, include_installed_other: bool = False) -> dict[str, Any]:
    """The report document of ``run`` as JSON-ready data (validates against
    :func:`report_json_schema`)."""
    return build_report(run, include_installed_other=include_installed_other).model_dump(
        mode="json"
    )


def report_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the report document, generated from its models."""
    schema = m.ReportDocument.model_json_schema(mode="serialization")
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": REPORT_SCHEMA_ID, **schema}


def build_report(run: RunResult, *, include_installed_other: bool = False) -> m.ReportDocument:
    hosts = [_host(h, include_installed_other) for h in run.hosts]
    return _document(run, hosts)


def write_report_json(
    run: RunResult,
    out: TextIO,
    *,
    include_installed_other: bool = False,
    spool: ReportSpool | None = None,
) -> None:
    """Write the report document of ``run`` to ``out``, one host at a time: the same document
    :func:`build_report` gives, without holding every host's report model at once (a
    10,000-host report is ~300 MB of JSON). Host entries already rendered into ``spool`` while
    the run went are copied from it (the run's own results may no longer carry their patches)."""
    head = _document(run, []).model_dump_json(indent=2)
    closing = '"hosts": []\n}'
    if not head.endswith(closing):  # pragma: no cover - the model's last field is hosts
        raise AssertionError("report document layout changed: hosts must come last")
    out.write(head[: -len(closing)] + '"hosts": [')
    for index, result in enumerate(run.hosts):
        text = spool.entry(result.host) if spool is not None else None
        if text is None:
            text = host_entry_json(result, include_installed_other)
        out.write(("," if index else "") + text)
    out.write("\n  ]\n}\n" if run.hosts else "]\n}\n")


def host_entry_json(
    result: HostResult, include_installed_other: bool = False, memo: RunMemo | None = None
) -> str:
    """One host's entry in the ``hosts`` array, indented as :func:`write_report_json` writes
    it (a leading newline, four spaces).

    With a ``memo`` (the run's, see :mod:`fleetpatch.memo`) each patch item object is rendered
    once and its text reused for every host that has it; the entry is the same text."""
    if memo is None:
        text = _host(result, include_installed_other).model_dump_json(indent=2)
        return "\n    " + _indent(text)
    text = _host(result, include_installed_other, with_patches=False).model_dump_json(indent=2)
    compliance = result.compliance
    if compliance is None or not compliance.items:
        return "\n    " + _indent(text)
    lists = memo.identity(
        "report.patches.all" if include_installed_other else "report.patches", per_host=True
    )
    patches: str | None = lists.get(compliance.items)
    if patches is None:  # the first host with this (interned) items tuple
        items = _reported_items(compliance, include_installed_other)
        patches = lists.put(compliance.items, _patches_text(items, memo) if items else "")
    if not patches:
        return "\n    " + _indent(text)
    head, empty, tail = text.rpartition(_NO_PATCHES)
    if not empty:  # pragma: no cover - ReportHost always renders its patches
        raise AssertionError("report host layout changed: no patches list")
    return "\n    " + _indent(head) + patches + _indent(tail)


def _patches_text(items: list[PatchItem], memo: RunMemo) -> str:
    """A host's ``"patches": [...]`` member, indented as it stands in the written entry."""
    fragments = memo.identity("report.patch")
    parts = []
    for item in items:
        fragment = fragments.get(item)
        if fragment is None:
            fragment = fragments.put(item, _patch_fragment(item))
        parts.append(fragment)
    return _indent('"patches": [\n' + ",\n".join(parts) + "\n  ]")


_NO_PATCHES = '"patches": []'


def _indent(text: str) -> str:
    """``text`` with every line after the first indented by four more spaces (a document
    rendered alone, placed one level deeper in the report)."""
    return text.replace("\n", "\n    ")


def _patch_fragment(item: PatchItem) -> str:
    """One report patch as it stands inside a host's ``patches`` list (indent 4)."""
    text = _PATCH.validate_python(item, from_attributes=True).model_dump_json(indent=2)
    return "    " + _indent(text)


def _reported_items(
    compliance: HostCompliance | None, include_installed_other: bool
) -> list[PatchItem]:
    return [
        item
        for item in (compliance.items if compliance else ())
        if include_installed_other or item.state is not PatchState.INSTALLED_OTHER
    ]


def _document(run: RunResult, hosts: list[m.ReportHost]) -> m.ReportDocument:
    return m.ReportDocument(
        schema_version=m.REPORT_SCHEMA_VERSION,
        run=m.ReportRun(
            run_id=run.run_id,
            operation=run.operation,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_seconds=(run.finished_at - run.started_at).total_seconds(),
            inventory=list(run.inventory),
            targets=list(run.targets),
            cancelled=run.cancelled,
            status=run.status,
            targeted_hosts=run.targeted_hosts,
        ),
        summary=_summary(run),
        hosts=hosts,
    )


def severity_summary(by_level: dict[ComplianceLevel, int]) -> m.SeveritySummary:
    return m.SeveritySummary(
        CriticalCount=by_level.get(ComplianceLevel.CRITICAL, 0),
        HighCount=by_level.get(ComplianceLevel.HIGH, 0),
        MediumCount=by_level.get(ComplianceLevel.MEDIUM, 0),
        LowCount=by_level.get(ComplianceLevel.LOW, 0),
        InformationalCount=by_level.get(ComplianceLevel.INFORMATIONAL, 0),
        UnspecifiedCount=by_level.get(ComplianceLevel.UNSPECIFIED, 0),
    )


def _summary(run: RunResult) -> m.ReportSummary:
    statuses = Counter(host_status(h) for h in run.hosts)
    failures = Counter(h.failure.kind for h in run.hosts if h.failure is not None)
    fleet_levels: Counter[ComplianceLevel] = Counter()
    for h in run.hosts:
        fleet_levels.update(non_compliant_by_level(h))
    return m.ReportSummary(
        hosts=len(run.hosts),
        compliant=statuses[HostStatus.COMPLIANT],
        non_compliant=statuses[HostStatus.NON_COMPLIANT],
        failed=statuses[HostStatus.FAILED],
        unsupported=statuses[HostStatus.UNSUPPORTED],
        skipped=statuses[HostStatus.SKIPPED],
        cancelled=statuses[HostStatus.CANCELLED],
        not_evaluated=statuses[HostStatus.NOT_EVALUATED],
        failures_by_kind=dict(sorted(failures.items())),
        missing_security_patches=sum(missing_security(h) for h in run.hosts),
        security_non_compliant=sum(
            h.compliance.counts.security_non_compliant for h in run.hosts if h.compliance
        ),
        non_compliant_by_severity=severity_summary(dict(fleet_levels)),
        exit_code=exit_code_for(run),
    )


def _host(
    result: HostResult, include_installed_other: bool, *, with_patches: bool = True
) -> m.ReportHost:
    facts = result.facts
    compliance = result.compliance
    return m.ReportHost(
        host=result.host,
        address=result.address,
        patch_group=result.patch_group,
        outcome=result.outcome,
        status=host_status(result),
        failure=(
            m.ReportFailure(**result.failure.model_dump()) if result.failure is not None else None
        ),
        platform=m.ReportPlatform(**facts.os.model_dump(exclude={"pretty_name", "codename"}))
        if facts is not None
        else None,
        baseline=compliance.baseline if compliance else None,
        overall_severity=compliance.overall_severity if compliance else None,
        counts=_counts(compliance) if compliance else None,
        non_compliant_by_severity=severity_summary(non_compliant_by_level(result)),
        reboot_required=facts.reboot_required if facts else None,
        metadata_age_seconds=facts.metadata_age_seconds if facts else None,
        started_at=result.started_at,
        finished_at=result.finished_at,
        duration_seconds=result.duration,
        patches=_PATCHES.validate_python(
            _reported_items(compliance, include_installed_other) if with_patches else [],
            from_attributes=True,
        ),
        install=result.install,
    )


def _counts(compliance: HostCompliance) -> m.StateCounts:
    c = compliance.counts
    return m.StateCounts(
        InstalledCount=c.installed,
        InstalledOtherCount=c.installed_other,
        InstalledPendingRebootCount=c.installed_pending_reboot,
        InstalledRejectedCount=c.installed_rejected,
        MissingCount=c.missing,
        FailedCount=c.failed,
        NotApplicableCount=c.not_applicable,
        AvailableSecurityUpdateCount=c.available_security_update,
        CriticalNonCompliantCount=c.critical_non_compliant,
        SecurityNonCompliantCount=c.security_non_compliant,
        OtherNonCompliantCount=c.other_non_compliant,
    )


_PATCH: TypeAdapter[m.ReportPatch] = TypeAdapter(m.ReportPatch)
_PATCHES: TypeAdapter[list[m.ReportPatch]] = TypeAdapter(list[m.ReportPatch])
"""A host's patch items become report patches in one validation, read from the items'
attributes (the fields have the same names), not one model per item."""
