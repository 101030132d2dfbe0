"""Builders for realistic results, and hypothesis strategies for arbitrary ones.

Shared with tests/unit/report (its conftest puts this directory on sys.path).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from hashlib import sha256
from typing import Any

from hypothesis import strategies as st

from fleetpatch.compliance import (
    NON_COMPLIANT_STATES,
    ComplianceLevel,
    ComplianceStatus,
    HostCompliance,
    PatchItem,
    PatchState,
    StateCounts,
)
from fleetpatch.facts import AvailableUpdate, HostFacts, InstalledPackage, OsInfo
from fleetpatch.results import (
    FAILURE_KINDS,
    CommandRecord,
    HostFailure,
    HostOutcome,
    HostResult,
    RunResult,
)

T0 = datetime(2026, 5, 9, 7, 0, tzinfo=UTC)


def installed_packages(count: int, *, seed: int = 0) -> tuple[InstalledPackage, ...]:
    """``count`` dpkg-like packages (deterministic for a seed)."""
    sections = ("libs", "utils", "admin", "net", "python", "perl", "fonts")
    return tuple(
        InstalledPackage(
            name=f"lib{seed}pkg{i:05d}" + ("-common" if i % 5 == 0 else ""),
            arch="all" if i % 7 == 0 else "amd64",
            version=f"{i % 3}:{i % 40}.{i % 17}.{i % 9}-{i % 11 + 1}+deb12u{i % 4}",
            source_name=f"lib{seed}pkg{i:05d}",
            source_version=f"{i % 40}.{i % 17}.{i % 9}-{i % 11 + 1}",
            status="ii ",
            priority=("optional", "important", "required", "standard")[i % 4],
            section=sections[i % len(sections)],
            security_origin=i % 10 == 0,
            install_time=T0 - timedelta(days=400) + timedelta(seconds=i * 37),
        )
        for i in range(count)
    )


def debian_facts(host: str, *, packages: int = 40, seed: int = 0) -> HostFacts:
    installed = installed_packages(packages, seed=seed)
    updates = tuple(
        AvailableUpdate(
            name=p.name,
            arch=p.arch,
            installed_version=p.version,
            candidate_version=p.version + "+sec1",
            origins=("Debian-Security:12/bookworm-security",),
            security=True,
            priority=p.priority,
            section=p.section,
            cves=(f"CVE-2026-{1000 + n}",),
        )
        for n, p in enumerate(installed[:3])
    )
    return HostFacts(
        host=host,
        collected_at=T0,
        os=OsInfo(
            family="apt",
            distro="debian",
            version_id="12",
            product="Debian12",
            operating_system="DEBIAN",
            kernel="6.1.0-18-amd64",
            arch="x86_64",
        ),
        installed=installed,
        updates=updates,
        reboot_required=True,
        reboot_required_packages=("linux-image-6.1.0-18-amd64",),
        metadata_age_seconds=3600,
    )


def patch_item(
    name: str,
    state: PatchState,
    *,
    level: ComplianceLevel = ComplianceLevel.UNSPECIFIED,
    security: bool = True,
) -> PatchItem:
    return PatchItem(
        id=name,
        arch="amd64",
        title=f"{name} update",
        installed_version="1.0-1",
        candidate_version="1.0-1+deb12u1" if state is not PatchState.INSTALLED_OTHER else None,
        state=state,
        classification="Security" if security else "Bugfix",
        severity="important" if security else "optional",
        compliance_level=level,
        security=security,
        cves=("CVE-2026-0001", "CVE-2026-0002") if security else (),
        advisory_ids=("DSA-5999-1",) if security else (),
        reason="rule 1: PRIORITY=Important" if state is not PatchState.INSTALLED_OTHER else "",
    )


def counts_for(items: Sequence[PatchItem]) -> StateCounts:
    """SSM counters computed from items (as the evaluator would)."""
    tally = {state: 0 for state in PatchState}
    for item in items:
        tally[item.state] += 1
    non_compliant = [i for i in items if i.state in NON_COMPLIANT_STATES]
    return StateCounts(
        installed=tally[PatchState.INSTALLED],
        installed_other=tally[PatchState.INSTALLED_OTHER],
        installed_pending_reboot=tally[PatchState.INSTALLED_PENDING_REBOOT],
        installed_rejected=tally[PatchState.INSTALLED_REJECTED],
        missing=tally[PatchState.MISSING],
        failed=tally[PatchState.FAILED],
        not_applicable=tally[PatchState.NOT_APPLICABLE],
        available_security_update=tally[PatchState.AVAILABLE_SECURITY_UPDATE],
        critical_non_compliant=sum(
            1 for i in non_compliant if i.compliance_level is ComplianceLevel.CRITICAL
        ),
        security_non_compliant=sum(1 for i in non_compliant if i.security),
        other_non_compliant=sum(1 for i in non_compliant if not i.security),
    )


def compliance_for(
    items: Sequence[PatchItem], baseline: str = "AWS-DebianDefaultPatchBaseline"
) -> HostCompliance:
    non_compliant = [i for i in items if i.state in NON_COMPLIANT_STATES]
    order = list(ComplianceLevel)
    severity = min((i.compliance_level for i in non_compliant), key=order.index, default=None)
    return HostCompliance(
        baseline=baseline,
        status=ComplianceStatus.NON_COMPLIANT if non_compliant else ComplianceStatus.COMPLIANT,
        overall_severity=severity,
        counts=counts_for(items),
        items=tuple(items),
    )


def command(operation: str, script: str, exit_code: int | None, at: datetime) -> CommandRecord:
    return CommandRecord(
        operation=operation,
        digest=sha256(script.encode()).hexdigest(),
        exit_code=exit_code,
        started_at=at,
        duration=1.25,
    )


def ok_host(
    host: str,
    items: Sequence[PatchItem] = (),
    *,
    at: datetime = T0,
    packages: int = 40,
    seed: int = 0,
    patch_group: str | None = "web",
) -> HostResult:
    return HostResult(
        host=host,
        address=f"10.0.0.{abs(hash(host)) % 250 + 1}",
        outcome=HostOutcome.OK,
        patch_group=patch_group,
        facts=debian_facts(host, packages=packages, seed=seed),
        compliance=compliance_for(items),
        commands=(command("scan", f"scan {host}", 0, at),),
        started_at=at,
        finished_at=at + timedelta(seconds=4),
    )


def failed_host(
    host: str, kind: str = "unreachable", *, at: datetime = T0, outcome: HostOutcome | None = None
) -> HostResult:
    return HostResult(
        host=host,
        address="192.0.2.9",
        outcome=outcome or HostOutcome.FAILED,
        failure=HostFailure(kind=kind, message=f"{kind}: connection refused", step="connect"),
        started_at=at,
        finished_at=at + timedelta(seconds=10),
    )


def run_of(
    hosts: Sequence[HostResult],
    *,
    run_id: str = "20260509T070000000Z-0000000001",
    operation: str = "scan",
    at: datetime = T0,
    cancelled: bool = False,
) -> RunResult:
    return RunResult(
        run_id=run_id,
        operation=operation,
        started_at=at,
        finished_at=at + timedelta(minutes=2),
        inventory=("inventory/prod.yaml",),
        targets=("tag:Env=prod",),
        hosts=tuple(hosts),
        cancelled=cancelled,
    )


def mixed_run(**kwargs: Any) -> RunResult:
    """web-1 compliant, web-2 non-compliant (2 security missing: 1 CRITICAL, 1 HIGH; 1 other
    LOW; 1 pending reboot MEDIUM), db-1 unreachable, win-1 unsupported."""
    web2_items = [
        patch_item("openssl", PatchState.MISSING, level=ComplianceLevel.CRITICAL),
        patch_item("libxml2", PatchState.MISSING, level=ComplianceLevel.HIGH),
        patch_item("tzdata", PatchState.MISSING, level=ComplianceLevel.LOW, security=False),
        patch_item(
            "linux-image-amd64", PatchState.INSTALLED_PENDING_REBOOT, level=ComplianceLevel.MEDIUM
        ),
        patch_item("bash", PatchState.INSTALLED),
        patch_item("vim", PatchState.INSTALLED_OTHER, security=False),
    ]
    hosts = [
        ok_host("web-1", [patch_item("bash", PatchState.INSTALLED)]),
        ok_host("web-2", web2_items),
        failed_host("db-1", "unreachable"),
        failed_host("win-1", "unsupported", outcome=HostOutcome.UNSUPPORTED),
    ]
    return run_of(hosts, **kwargs)


# -- hypothesis strategies ---------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=24
)
_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-+:~_", min_size=1, max_size=24)
_zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]
)
aware_datetimes = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=_zones
)
_int32 = st.integers(min_value=0, max_value=2**31 - 1)

patch_items = st.builds(
    PatchItem,
    id=_words,
    arch=st.sampled_from(["", "amd64", "x86_64", "noarch"]),
    title=_text,
    installed_version=st.none() | _words,
    candidate_version=st.none() | _words,
    state=st.sampled_from(list(PatchState)),
    classification=st.none() | _words,
    severity=st.none() | _words,
    compliance_level=st.sampled_from(list(ComplianceLevel)),
    security=st.booleans(),
    cves=st.lists(_words, max_size=3).map(tuple),
    advisory_ids=st.lists(_words, max_size=2).map(tuple),
    reason=_text,
    message=_text,
)

state_counts = st.builds(StateCounts, **{name: _int32 for name in StateCounts.model_fields})

host_compliances = st.builds(
    HostCompliance,
    baseline=_words,
    status=st.sampled_from(list(ComplianceStatus)),
    overall_severity=st.none() | st.sampled_from(list(ComplianceLevel)),
    counts=state_counts,
    items=st.lists(patch_items, max_size=6).map(tuple),
)

installed_lists = st.lists(
    st.builds(
        InstalledPackage,
        name=_words,
        arch=_words,
        version=_words,
        install_time=st.none() | aware_datetimes,
    ),
    max_size=4,
).map(tuple)

host_facts = st.builds(
    HostFacts,
    host=_words,
    collected_at=aware_datetimes,
    os=st.builds(
        OsInfo,
        family=st.sampled_from(["apt", "dnf", "yum", "zypper", "windows"]),
        distro=_words,
        version_id=_words,
        product=_words,
        operating_system=_words,
    ),
    installed=installed_lists,
    updates=st.lists(
        st.builds(AvailableUpdate, name=_words, candidate_version=_words, security=st.booleans()),
        max_size=3,
    ).map(tuple),
    reboot_required=st.booleans(),
    metadata_age_seconds=st.none() | _int32,
    warnings=st.lists(_text, max_size=2).map(tuple),
)

command_records = st.builds(
    CommandRecord,
    operation=_words,
    digest=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    exit_code=st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1),
    started_at=aware_datetimes,
    duration=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)


@st.composite
def host_results(draw: st.DrawFn) -> HostResult:
    started = draw(aware_datetimes)
    outcome = draw(st.sampled_from(list(HostOutcome)))
    return HostResult(
        host=draw(_words),
        address=draw(st.just("") | _words),
        outcome=outcome,
        failure=draw(
            st.none()
            | st.builds(
                HostFailure,
                kind=st.sampled_from(list(FAILURE_KINDS)),
                message=_text,
                step=st.just("") | _words,
            )
        ),
        patch_group=draw(st.none() | _words),
        facts=draw(st.none() | host_facts),
        compliance=draw(st.none() | host_compliances),
        commands=tuple(draw(st.lists(command_records, max_size=3))),
        started_at=started,
        finished_at=started
        + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=3))),
    )


@st.composite
def run_results(draw: st.DrawFn) -> RunResult:
    started = draw(aware_datetimes)
    return RunResult(
        run_id="placeholder",
        operation=draw(st.sampled_from(["scan", "install"])),
        started_at=started,
        finished_at=started
        + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1))),
        inventory=tuple(draw(st.lists(_words, max_size=2))),
        targets=tuple(draw(st.lists(_text, max_size=2))),
        hosts=tuple(draw(st.lists(host_results(), max_size=4))),
        cancelled=draw(st.booleans()),
    )
