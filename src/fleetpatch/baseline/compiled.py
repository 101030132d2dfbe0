"""A baseline compiled once for fast evaluation against many hosts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from fleetpatch.baseline.filters import CompiledFilter, Props, first_failing
from fleetpatch.baseline.model import Baseline, PatchFilter, RejectedPatchesAction
from fleetpatch.baseline.names import NameMatcher
from fleetpatch.baseline.oses import NameFamily, OperatingSystem, os_row
from fleetpatch.baseline.versions import version_cmp_for
from fleetpatch.compliance import LEVEL_ORDER, ComplianceLevel

_RANK = {level: i for i, level in enumerate(LEVEL_ORDER)}


def as_utc(when: datetime) -> datetime:
    """Naive datetimes are taken to be UTC (every date in SSM is evaluated in UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def more_severe(a: ComplianceLevel, b: ComplianceLevel) -> bool:
    return _RANK[a] < _RANK[b]


@dataclass(frozen=True)
class Approval:
    """The outcome of global filters + approval rules for one candidate."""

    approved: bool
    level: ComplianceLevel
    reason: str


@dataclass(frozen=True)
class CompiledRule:
    index: int
    filters: tuple[CompiledFilter, ...]
    level: ComplianceLevel
    after_days: int | None
    until: date | None
    non_security: bool
    label: str

    def date_problem(self, released: datetime | None, now: datetime) -> str | None:
        """None when the rule's date condition holds. No date means a delay of 0."""
        if released is None:
            return None
        released = as_utc(released)
        if self.after_days is not None:
            due = released + timedelta(days=self.after_days)
            if now < due:
                return (
                    f"{self.label}: released {released:%Y-%m-%d}, approved after "
                    f"{self.after_days} days on {due:%Y-%m-%d}"
                )
        elif self.until is not None and released.date() > self.until:
            return (
                f"{self.label}: released {released:%Y-%m-%d}, after approve_until_date "
                f"{self.until.isoformat()}"
            )
        return None


def _rule_label(index: int, filters: tuple[PatchFilter, ...], rule_dates: str, ns: bool) -> str:
    parts = ", ".join(f"{f.key}={','.join(f.values)}" for f in filters) or "no filters"
    extra = f"; {rule_dates}" if rule_dates else ""
    if ns:
        extra += "; non-security enabled"
    return f"approval_rules[{index}] ({parts}{extra})"


@dataclass(frozen=True)
class CompiledBaseline:
    baseline: Baseline
    os: OperatingSystem
    family: NameFamily
    linux: bool
    global_filters: tuple[CompiledFilter, ...]
    rules: tuple[CompiledRule, ...]
    approved: NameMatcher
    rejected: NameMatcher
    block: bool
    approved_level: ComplianceLevel
    approved_non_security: bool
    asu_non_compliant: bool
    version_cmp: Callable[[str, str], int]

    def rule_approval(
        self, props: Props, now: datetime, host_products: tuple[str, ...]
    ) -> Approval:
        """Global filters, then every rule; the most severe approving rule decides."""
        unspecified = ComplianceLevel.UNSPECIFIED
        failed = first_failing(self.global_filters, props, host_products)
        if failed is not None:
            return Approval(False, unspecified, f"global_filters: {failed.label} excluded it")
        best: CompiledRule | None = None
        why_not = ""
        for rule in self.rules:
            if first_failing(rule.filters, props, host_products) is not None:
                continue
            if not rule.non_security and not props.security_source:
                why_not = why_not or (
                    f"implicit security-only rule: not from a security source; {rule.label}"
                )
                continue
            problem = rule.date_problem(props.date, now)
            if problem:
                why_not = why_not or problem
                continue
            if best is None or more_severe(rule.level, best.level):
                best = rule
        if best is not None:
            return Approval(True, best.level, best.label)
        if not self.rules:
            return Approval(False, unspecified, "no approval rules")
        return Approval(False, unspecified, why_not or "no approval rule matches")


def _compile(b: Baseline) -> CompiledBaseline:
    os = b.operating_system
    row = os_row(os)
    rules = []
    for i, rule in enumerate(b.approval_rules):
        filters = rule.filters
        if os is OperatingSystem.WINDOWS and not any(f.key == "PATCH_SET" for f in filters):
            # SSM: a Windows rule without PATCH_SET applies to OS patches only.
            filters = (*filters, PatchFilter(key="PATCH_SET", values=("OS",)))
        dates = ""
        if rule.approve_after_days is not None:
            dates = f"after {rule.approve_after_days} days"
        elif rule.approve_until_date is not None:
            dates = f"until {rule.approve_until_date.isoformat()}"
        level = ComplianceLevel.UNSPECIFIED if b.predefined else rule.compliance_level
        rules.append(
            CompiledRule(
                index=i,
                filters=tuple(CompiledFilter.compile(f, os) for f in filters),
                level=level,
                after_days=rule.approve_after_days,
                until=rule.approve_until_date,
                # The implicit security-only rule exists on Linux only.
                non_security=rule.enable_non_security or not row.linux,
                label=_rule_label(i, rule.filters, dates, rule.enable_non_security),
            )
        )
    return CompiledBaseline(
        baseline=b,
        os=os,
        family=row.names,
        linux=row.linux,
        global_filters=tuple(CompiledFilter.compile(f, os) for f in b.global_filters),
        rules=tuple(rules),
        approved=NameMatcher.compile(b.approved_patches, row.names),
        rejected=NameMatcher.compile(b.rejected_patches, row.names),
        block=b.rejected_patches_action is RejectedPatchesAction.BLOCK,
        approved_level=(
            ComplianceLevel.UNSPECIFIED if b.predefined else b.approved_patches_compliance_level
        ),
        approved_non_security=b.approved_patches_enable_non_security or not row.linux,
        asu_non_compliant=b.available_security_updates_compliance_status == "NON_COMPLIANT",
        version_cmp=version_cmp_for(row.names),
    )


@lru_cache(maxsize=128)
def compile_baseline(baseline: Baseline) -> CompiledBaseline:
    """Compile ``baseline`` once (cached by value: equal baselines share one compilation)."""
    return _compile(baseline)
