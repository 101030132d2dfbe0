"""Hypothesis properties of evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetpatch.baseline import evaluate_baseline
from fleetpatch.compliance import PatchState

from .helpers import NOW, baseline, facts

NAMES = ["openssl", "curl", "bash", "vim", "telnet", "glibc", "kernel", "dbus"]
APPROVED = {PatchState.MISSING, PatchState.INSTALLED}

packages = st.lists(st.sampled_from(NAMES), unique=True, max_size=6)


@st.composite
def rhel_host(draw: st.DrawFn) -> dict[str, Any]:
    installed = draw(packages)
    updates = []
    for name in draw(packages):
        days = draw(st.one_of(st.none(), st.integers(0, 60)))
        updates.append(
            {
                "name": name,
                "arch": "x86_64",
                "candidate_version": f"2.{draw(st.integers(0, 3))}-1.el9",
                "security": draw(st.booleans()),
                "classification": draw(st.sampled_from([None, "Security", "Bugfix"])),
                "severity": draw(st.sampled_from([None, "Critical", "Important", "Low"])),
                "release_date": None if days is None else NOW - timedelta(days=days),
            }
        )
    return {
        "installed": [{"name": n, "arch": "x86_64", "version": "1.0-1.el9"} for n in installed],
        "updates": updates,
    }


def _rules(**dates: Any) -> dict[str, Any]:
    return {
        "approval_rules": [
            {
                "filters": [{"key": "CLASSIFICATION", "values": ["Security", "Bugfix"]}],
                "compliance_level": "HIGH",
                **dates,
            }
        ],
        "approved_patches": ["curl", "kern*"],
    }


def _approved(spec: dict[str, Any], host: dict[str, Any], now: datetime = NOW) -> set[str]:
    result = evaluate_baseline(
        facts("REDHAT_ENTERPRISE_LINUX", host["installed"], host["updates"]),
        baseline(spec, "REDHAT_ENTERPRISE_LINUX"),
        now=now,
    )
    return {i.id for i in result.items if i.state in APPROVED}


@settings(max_examples=150, deadline=None)
@given(host=rhel_host(), rejected=st.lists(st.sampled_from(NAMES), unique=True, max_size=3))
def test_block_rejected_is_never_approved(host: dict[str, Any], rejected: list[str]) -> None:
    spec = {
        **_rules(approve_after_days=0),
        "rejected_patches": rejected,
        "rejected_patches_action": "BLOCK",
    }
    result = evaluate_baseline(
        facts("REDHAT_ENTERPRISE_LINUX", host["installed"], host["updates"]),
        baseline(spec, "REDHAT_ENTERPRISE_LINUX"),
        now=NOW,
    )
    for item in result.items:
        if item.id in rejected:
            assert item.state not in APPROVED
            if item.installed_version is not None:
                assert item.state is PatchState.INSTALLED_REJECTED


@settings(max_examples=150, deadline=None)
@given(
    host=rhel_host(),
    rejected=st.lists(st.sampled_from(NAMES), unique=True, max_size=3),
    extra=st.sampled_from(NAMES),
    action=st.sampled_from(["BLOCK", "ALLOW_AS_DEPENDENCY"]),
)
def test_rejecting_more_never_approves_more(
    host: dict[str, Any], rejected: list[str], extra: str, action: str
) -> None:
    base = {**_rules(approve_after_days=7), "rejected_patches_action": action}
    before = _approved({**base, "rejected_patches": rejected}, host)
    after = _approved({**base, "rejected_patches": sorted({*rejected, extra})}, host)
    assert after <= before


@settings(max_examples=150, deadline=None)
@given(host=rhel_host())
def test_zero_delay_equals_past_until_date(host: dict[str, Any]) -> None:
    past = (NOW + timedelta(days=1)).date().isoformat()  # every release so far is <= this day
    assert _approved(_rules(approve_after_days=0), host) == _approved(
        _rules(approve_until_date=past), host
    )


@settings(max_examples=100, deadline=None)
@given(host=rhel_host(), offset=st.integers(-30, 30))
def test_deterministic_for_fixed_now(host: dict[str, Any], offset: int) -> None:
    now = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(days=offset)
    spec = _rules(approve_after_days=7)
    h = facts("REDHAT_ENTERPRISE_LINUX", host["installed"], host["updates"])
    b = baseline(spec, "REDHAT_ENTERPRISE_LINUX")
    first = evaluate_baseline(h, b, now=now)
    second = evaluate_baseline(h, b, now=now)
    reversed_host = h.model_copy(
        update={"updates": h.updates[::-1], "installed": h.installed[::-1]}
    )
    third = evaluate_baseline(reversed_host, b, now=now)
    assert first == second
    assert first.model_dump() == third.model_dump()
