"""Evaluate one host's facts against one baseline: a pure function (ssm-semantics.md §1-§3).

Order, as SSM: install override list -> global filters -> approval rules (with the implicit
security-only rule) -> approved list -> rejected list -> latest approved version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fleetpatch.baseline.advisories import installed_views, shown_ids, update_views
from fleetpatch.baseline.compiled import (
    Approval,
    CompiledBaseline,
    as_utc,
    compile_baseline,
    more_severe,
)
from fleetpatch.baseline.filters import Props, installed_props, is_security, update_props
from fleetpatch.baseline.model import Baseline
from fleetpatch.baseline.names import NameMatcher
from fleetpatch.baseline.oses import OperatingSystem
from fleetpatch.baseline.override import InstallOverrideList
from fleetpatch.compliance import (
    NON_COMPLIANT_STATES,
    ComplianceLevel,
    ComplianceStatus,
    HostCompliance,
    PatchItem,
    PatchState,
    StateCounts,
    summarize_items,
)
from fleetpatch.errors import InputError
from fleetpatch.facts import AvailableUpdate, HostFacts, InstalledPackage
from fleetpatch.knowledge import HEALTHY_STATUSES, package_problem
from fleetpatch.memo import IdentityTable, RunMemo

_U = ComplianceLevel.UNSPECIFIED


@dataclass(frozen=True)
class _Verdict:
    approved: bool
    level: ComplianceLevel
    reason: str
    rejected: bool = False


_J = TypeVar("_J", AvailableUpdate, InstalledPackage)
_Judged = tuple[_Verdict, str | None, bool]
"""A verdict, the approved-list (or override-list) entry it used, and whether it holds on any
host of the run (no install override, no release date)."""


class _Evaluator:
    """Per-host state for one evaluation (memoised rule outcomes, matched list entries).

    ``shared`` (from the run's memo, see :func:`_shared_verdicts`) holds verdicts that do not
    depend on the host, so a package or update seen on another host is not judged again: the
    verdict and the approved-list entry it used are replayed."""

    def __init__(
        self,
        cb: CompiledBaseline,
        facts: HostFacts,
        now: datetime,
        override: NameMatcher | None,
        shared: IdentityTable[object, _Judged] | None = None,
    ):
        self.cb = cb
        self.now = as_utc(now)
        self.products = (facts.os.product,)
        self.override = override
        self.memo: dict[Props, Approval] = {}
        self.installed_memo: dict[tuple[bool, str, str], tuple[Props, Approval, _Verdict]] = {}
        self.used_entries: set[str] = set()
        self.shared = shared if override is None else None
        self.shareable = True
        """no verdict so far depended on the evaluation time or an install override"""

    def rules(self, props: Props) -> Approval:
        hit = self.memo.get(props)
        if hit is None:
            hit = self.cb.rule_approval(props, self.now, self.products)
            self.memo[props] = hit
        return hit

    def _lists(
        self,
        by_rules: Approval,
        props: Props,
        approved_entry: str | None,
        rejected_entry: str | None,
    ) -> _Verdict:
        cb = self.cb
        if rejected_entry is not None:
            action = "BLOCK" if cb.block else "ALLOW_AS_DEPENDENCY"
            return _Verdict(False, _U, f"rejected_patches: {rejected_entry!r} ({action})", True)
        verdict = _Verdict(by_rules.approved, by_rules.level, by_rules.reason)
        if approved_entry is not None:
            if cb.approved_non_security or props.security_source:
                if not verdict.approved or more_severe(cb.approved_level, verdict.level):
                    return _Verdict(
                        True, cb.approved_level, f"approved_patches: {approved_entry!r}"
                    )
            elif not verdict.approved:
                return _Verdict(
                    False,
                    _U,
                    f"approved_patches: {approved_entry!r} but not from a security source and "
                    "approved_patches_enable_non_security is false",
                )
        return verdict

    def update(self, u: AvailableUpdate) -> _Verdict:
        """The verdict on update ``u``; the list entry it used counts as used."""
        return self._judged(u, self._update)

    def installed(self, p: InstalledPackage) -> _Verdict:
        """The verdict on installed package ``p``; the list entry it used counts as used."""
        return self._judged(p, self._installed)

    def _judged(self, obj: _J, judge: Callable[[_J], _Judged]) -> _Verdict:
        """``judge(obj)``, or the run's shared verdict on ``obj``; records the entry used."""
        shared = self.shared
        hit = shared.get(obj) if shared is not None else None
        if hit is None:
            hit = judge(obj)
            if shared is not None and hit[2]:
                shared.put(obj, hit)
            self.shareable = self.shareable and hit[2]
        if hit[1] is not None:
            self.used_entries.add(hit[1])
        return hit[0]

    def _update(self, u: AvailableUpdate) -> _Judged:
        cb = self.cb
        if self.override is not None:
            entry = self.override.match_update(u)
            if entry is None:
                return _Verdict(False, _U, "not in the install override list"), None, False
            return _Verdict(True, _U, f"install_override_list: {entry!r}"), entry, False
        props = update_props(u, cb.os)
        entry = cb.approved.match_update(u)
        verdict = self._lists(self.rules(props), props, entry, cb.rejected.match_update(u))
        # a dated update's verdict depends on the evaluation time: never shared across hosts
        return verdict, entry, props.date is None

    def _installed(self, p: InstalledPackage) -> _Judged:
        cb = self.cb
        if self.override is not None:
            return (
                _Verdict(False, _U, "install override list in use: baseline rules not applied"),
                None,
                False,
            )
        key = (p.security_origin, p.priority, p.section)
        hit = self.installed_memo.get(key)
        if hit is None:
            props = installed_props(p)
            by_rules = self.rules(props)
            hit = (props, by_rules, _Verdict(by_rules.approved, by_rules.level, by_rules.reason))
            self.installed_memo[key] = hit
        props, by_rules, plain = hit
        if not cb.approved and not cb.rejected:
            verdict, entry = plain, None
        else:
            entry = cb.approved.match_installed(p)
            verdict = self._lists(by_rules, props, entry, cb.rejected.match_installed(p))
        if p.advisories and not verdict.approved and not verdict.rejected:
            return self._by_installed_advisory(p, verdict, entry)
        return verdict, entry, True

    def _by_installed_advisory(
        self, p: InstalledPackage, verdict: _Verdict, entry: str | None
    ) -> _Judged:
        """The verdict of the most severe approved advisory ``p``'s version satisfies, else
        ``verdict``: what is installed is what the baseline approves (INSTALLED)."""
        best: tuple[_Verdict, str | None] | None = None
        for view in installed_views(p):
            v, e, _ = self._update(view)
            if v.approved and (best is None or more_severe(v.level, best[0].level)):
                best = (_Verdict(True, v.level, f"{v.reason}; by {view.advisory_ids[0]}"), e)
        shareable = all(a.updated is None and a.issued is None for a in p.advisories)
        if best is None:
            return verdict, entry, shareable
        return best[0], best[1], shareable


def _arch_ok(a: str, b: str) -> bool:
    return not a or not b or a == b


def evaluate_baseline(
    facts: HostFacts,
    baseline: Baseline,
    *,
    now: datetime,
    install_override: InstallOverrideList | None = None,
    memo: RunMemo | None = None,
) -> HostCompliance:
    """The compliance of ``facts`` against ``baseline`` at time ``now`` (UTC if naive).

    ``memo`` (the run's, see :mod:`fleetpatch.memo`) shares work between the hosts of a run:
    a package or update object already judged against this baseline for a host with the same
    product is not judged again (unless its verdict depends on the time: a release date), and
    equal items are the same PatchItem objects. Without one, a memo of this host alone is used:
    the result is the same.

    Raises InputError when the baseline is for another operating system than the host.
    """
    cb = compile_baseline(baseline)
    if facts.os.operating_system != cb.os.value:
        raise InputError(
            f"baseline {baseline.name!r} is for {cb.os.value}, but host {facts.host!r} runs "
            f"{facts.os.operating_system or 'an unknown OS'}"
        )
    override = NameMatcher.compile(install_override.ids, cb.family) if install_override else None
    memo = memo if memo is not None else RunMemo()
    shared = _shared(memo, cb, facts.os.product) if not override else None
    if shared is not None:
        # a host with the very package and update objects of an earlier host (the same lines,
        # interned by the parser) has that host's result, when nothing in it depends on time
        seen = shared.hosts.get(facts.installed)
        hit = seen.get(id(facts.updates)) if seen is not None else None
        if hit is not None and hit[0] is facts.updates:
            return hit[1]
    ev = _Evaluator(cb, facts, now, override, shared.verdicts if shared is not None else None)
    items = _Items(memo)
    cmp = cb.version_cmp
    per_item = cb.family in ("windows", "macos")

    installed_by_name: dict[str, list[InstalledPackage]] = defaultdict(list)
    for p in facts.installed:
        installed_by_name[p.name].append(p)
    # broken packages (dpkg half-installed, half-configured, ...) are FAILED whatever the rules
    # say: one set lookup per package when none is (knowledge.py)
    broken = {
        id(p): problem
        for p in facts.installed
        if p.status not in HEALTHY_STATUSES and (problem := package_problem(p.name, p.status))
    }

    # Approved candidates per (name, arch); non-approved Windows security updates.
    # Each advisory of an update is judged on its own (baseline/advisories.py): the newest
    # approved version wins, at the most severe level among equal versions.
    best: dict[tuple[str, str], tuple[AvailableUpdate, _Verdict, AvailableUpdate]] = {}
    pending: dict[str, str] = {}  # name -> why its pending update is not approved
    views_of = memo.identity("eval.views")
    for origin in facts.updates:
        views = views_of.get(origin) if origin.advisories else (origin,)
        if views is None:
            views = views_of.put(origin, update_views(origin))
        key = (origin.name, origin.arch)
        for u in views:
            verdict = ev.update(u)
            if not verdict.approved:
                pending[u.name] = f"pending {u.candidate_version} not approved: {verdict.reason}"
            if verdict.approved:
                have = best.get(key)
                order = 1 if have is None else cmp(u.candidate_version, have[0].candidate_version)
                if (
                    have is None
                    or (not per_item and order > 0)
                    or (
                        order == 0 and u is not origin and more_severe(verdict.level, have[1].level)
                    )
                ):
                    best[key] = (u, verdict, origin)
            elif (
                cb.os is OperatingSystem.WINDOWS and not verdict.rejected and is_security(u, cb.os)
            ):
                items.update(u, None, PatchState.AVAILABLE_SECURITY_UPDATE, verdict, cb.os)

    consumed: set[int] = set()
    for (name, arch), (u, verdict, origin) in best.items():
        mine = [p for p in installed_by_name.get(name, ()) if _arch_ok(arch, p.arch)]
        newest: InstalledPackage | None = None
        for p in mine:
            if newest is None or cmp(p.version, newest.version) > 0:
                newest = p
        if newest is not None and u.kind == "package":
            consumed.add(id(newest))
            if broken and id(newest) in broken:
                items.failed_update(u, newest, verdict, cb.os, broken[id(newest)])
                continue
        if (
            newest is not None
            and u.kind == "package"
            and cmp(newest.version, u.candidate_version) >= 0
        ):
            items.installed(newest, PatchState.INSTALLED, verdict)
        else:
            installed_version = (
                newest.version if newest is not None and u.kind == "package" else None
            )
            items.update(u, installed_version, PatchState.MISSING, verdict, cb.os, origin)

    for p in facts.installed:
        if id(p) in consumed:
            continue
        verdict = ev.installed(p)
        if broken and id(p) in broken:
            items.installed(p, PatchState.FAILED, verdict, broken[id(p)])
            continue
        if verdict.rejected and cb.block:
            state = PatchState.INSTALLED_REJECTED
        elif verdict.approved:
            state = PatchState.INSTALLED
        else:
            state = PatchState.INSTALLED_OTHER
        if p.name in pending and not verdict.rejected:
            verdict = _Verdict(
                verdict.approved, verdict.level, f"{verdict.reason}; {pending[p.name]}"
            )
        items.installed(p, state, verdict)

    not_applicable = 0
    if override is None:
        for entry in cb.approved.explicit_entries():
            if entry in ev.used_entries:
                continue
            not_applicable += 1
            if per_item:
                items.other(
                    {
                        "id": entry,
                        "state": PatchState.NOT_APPLICABLE,
                        "reason": f"approved_patches: {entry!r} matches no installed or "
                        "available update",
                    }
                )
    result = rollup(
        baseline.name,
        items.finish(),
        not_applicable=not_applicable,
        asu_non_compliant=cb.asu_non_compliant,
    )
    if shared is not None and ev.shareable:
        seen = shared.hosts.get(facts.installed)
        if seen is None:
            seen = shared.hosts.put(facts.installed, {})
        seen[id(facts.updates)] = (facts.updates, result)  # holds the tuple: its id stays its
    return result


@dataclass
class _Shared:
    """What the run's memo keeps for one compiled baseline and one host product: verdicts per
    package or update object, and whole results per (installed, updates) tuples."""

    verdicts: IdentityTable[object, _Judged]
    hosts: IdentityTable[object, dict[int, tuple[object, HostCompliance]]]


def _shared(memo: RunMemo, cb: CompiledBaseline, product: str) -> _Shared:
    """The run's shared results for baseline ``cb`` on hosts of ``product`` (the only host
    fact filters see besides the packages)."""
    per_baseline = memo.identity("eval.baseline")
    by_product: dict[str, _Shared] | None = per_baseline.get(cb)
    if by_product is None:
        by_product = per_baseline.put(cb, {})
    found = by_product.get(product)
    if found is None:
        found = by_product[product] = _Shared(
            IdentityTable(memo.limit), IdentityTable(memo.host_limit, renew=True)
        )
    return found


class _Items:
    """A host's patch items in the making: PatchItem objects shared, through the run's memo, by
    every host with the same package (or update), state and verdict."""

    def __init__(self, memo: RunMemo) -> None:
        self.table = memo.identity("eval.item")
        self.made: list[PatchItem] = []

    def _interned(self, source: object, key: tuple[Any, ...]) -> PatchItem | None:
        per_source: dict[tuple[Any, ...], PatchItem] | None = self.table.get(source)
        return None if per_source is None else per_source.get(key)

    def _intern(self, source: object, key: tuple[Any, ...], fields: dict[str, Any]) -> None:
        per_source: dict[tuple[Any, ...], PatchItem] | None = self.table.get(source)
        if per_source is None:
            per_source = self.table.put(source, {})
        item = per_source[key] = PatchItem.model_validate(fields)
        self.made.append(item)

    def installed(
        self, p: InstalledPackage, state: PatchState, v: _Verdict, message: str = ""
    ) -> None:
        key = (state, v)  # the message is a function of ``p`` (its status)
        item = self._interned(p, key)
        if item is None:
            self._intern(p, key, {**_installed_item(p, state, v), "message": message})
        else:
            self.made.append(item)

    def failed_update(
        self,
        u: AvailableUpdate,
        broken: InstalledPackage,
        v: _Verdict,
        os: OperatingSystem,
        message: str,
    ) -> None:
        """A pending update of a broken installed package: FAILED, with what is wrong."""
        key = (broken.version, PatchState.FAILED, v, os, message)
        item = self._interned(u, key)
        if item is None:
            fields = _update_item(u, broken.version, PatchState.FAILED, v, os)
            self._intern(u, key, {**fields, "message": message})
        else:
            self.made.append(item)

    def update(
        self,
        u: AvailableUpdate,
        installed_version: str | None,
        state: PatchState,
        v: _Verdict,
        os: OperatingSystem,
        origin: AvailableUpdate | None = None,
    ) -> None:
        key = (installed_version, state, v, os)
        item = self._interned(u, key)
        if item is None:
            fields = _update_item(u, installed_version, state, v, os)
            if origin is not None and origin is not u:
                # one advisory's version: name it, and still list every id and CVE
                fields["advisory_ids"] = shown_ids(u, origin)
                fields["cves"] = origin.cves
                if u.advisory_ids:
                    fields["reason"] = f"{v.reason}; by {u.advisory_ids[0]}"
            self._intern(u, key, fields)
        else:
            self.made.append(item)

    def other(self, fields: dict[str, Any]) -> None:
        self.made.append(PatchItem.model_validate(fields))

    def finish(self) -> tuple[PatchItem, ...]:
        """The items in report order (id, arch, installed version, state)."""
        self.made.sort(key=_patch_order)
        return tuple(self.made)


def _patch_order(item: PatchItem) -> tuple[str, str, str, str]:
    """Report order: id, arch, installed version, state (a str enum: it sorts as its value)."""
    return (item.id, item.arch, item.installed_version or "", item.state)


def _update_item(
    u: AvailableUpdate,
    installed_version: str | None,
    state: PatchState,
    v: _Verdict,
    os: OperatingSystem,
) -> dict[str, Any]:
    return {
        "id": u.name,
        "arch": u.arch,
        "title": u.title,
        "installed_version": installed_version,
        "candidate_version": u.candidate_version,
        "state": state,
        "classification": u.classification,
        "severity": u.severity or u.priority,
        "compliance_level": v.level if v.approved else _U,
        "security": is_security(u, os),
        "cves": u.cves,
        "advisory_ids": u.advisory_ids,
        "reason": v.reason,
    }


def _installed_item(p: InstalledPackage, state: PatchState, v: _Verdict) -> dict[str, Any]:
    return {
        "id": p.name,
        "arch": p.arch,
        "installed_version": p.version,
        "state": state,
        "severity": p.priority or None,
        "compliance_level": v.level if v.approved else _U,
        "security": p.security_origin,
        "reason": v.reason,
    }


def _non_compliant(item: PatchItem, asu_non_compliant: bool) -> bool:
    if item.state is PatchState.AVAILABLE_SECURITY_UPDATE:
        return asu_non_compliant
    return item.state in NON_COMPLIANT_STATES


def rollup(
    baseline_name: str,
    items: Iterable[PatchItem],
    *,
    not_applicable: int = 0,
    asu_non_compliant: bool = False,
) -> HostCompliance:
    """Counts, status and overall severity of a host from its items (SSM's rollup)."""
    items = tuple(items)
    counts = StateCounts(not_applicable=not_applicable)
    tally: dict[str, int] = defaultdict(int)
    overall: ComplianceLevel | None = None
    for item in items:
        if item.state is not PatchState.NOT_APPLICABLE:
            tally[_COUNT_FIELD[item.state]] += 1
        if not _non_compliant(item, asu_non_compliant):
            continue
        if item.compliance_level is ComplianceLevel.CRITICAL:
            tally["critical_non_compliant"] += 1
        tally["security_non_compliant" if item.security else "other_non_compliant"] += 1
        if overall is None or more_severe(item.compliance_level, overall):
            overall = item.compliance_level
    counts = counts.model_copy(update=dict(tally))
    status = ComplianceStatus.COMPLIANT if overall is None else ComplianceStatus.NON_COMPLIANT
    by_level, missing = summarize_items(items)
    return HostCompliance(
        baseline=baseline_name,
        status=status,
        overall_severity=overall,
        counts=counts,
        items=items,
        non_compliant_by_level=by_level,
        missing_security=missing,
    )


_COUNT_FIELD = {state: state.value.lower() for state in PatchState}


def apply_install_outcome(
    compliance: HostCompliance, failed: dict[str, str], pending_reboot: set[str]
) -> HostCompliance:
    """Mark what an Install run did: ``failed`` maps a patch (``id`` or ``id.arch``) to the
    package manager's message -> FAILED; ``pending_reboot`` patches -> INSTALLED_PENDING_REBOOT.

    Only MISSING items can fail. A patch this install put in place is pending a reboot whatever
    the rescan now calls it (MISSING, INSTALLED, or INSTALLED_OTHER: an installed rpm carries no
    advisory, so rules no longer see it); a pending patch the rescan no longer lists at all (an
    applied zypper patch) gets an item of its own."""
    c = compliance.counts
    asu_nc = (
        c.available_security_update > 0
        and c.security_non_compliant + c.other_non_compliant
        > sum(1 for i in compliance.items if i.state in NON_COMPLIANT_STATES)
    )
    pending_states = (PatchState.MISSING, PatchState.INSTALLED, PatchState.INSTALLED_OTHER)
    out: list[PatchItem] = []
    seen: set[str] = set()
    for item in compliance.items:
        keys = (item.id, f"{item.id}.{item.arch}") if item.arch else (item.id,)
        fail = next((failed[k] for k in keys if k in failed), None)
        if fail is not None and item.state is PatchState.MISSING:
            item = item.model_copy(update={"state": PatchState.FAILED, "message": fail})
        elif any(k in pending_reboot for k in keys) and item.state in pending_states:
            seen.update(k for k in keys if k in pending_reboot)
            item = item.model_copy(
                update={
                    "state": PatchState.INSTALLED_PENDING_REBOOT,
                    "installed_version": item.candidate_version or item.installed_version,
                    "reason": item.reason or "installed by this run; reboot pending",
                }
            )
        out.append(item)
    for patch in sorted(pending_reboot - seen):
        out.append(
            PatchItem(
                id=patch,
                state=PatchState.INSTALLED_PENDING_REBOOT,
                reason="installed by this run; reboot pending",
            )
        )
    return rollup(
        compliance.baseline, out, not_applicable=c.not_applicable, asu_non_compliant=asu_nc
    )
