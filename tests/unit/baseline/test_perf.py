"""Evaluation speed: one host with 3,000 installed packages and 100 pending updates."""

from __future__ import annotations

import time
from datetime import timedelta

from fleetpatch.baseline import compile_baseline, evaluate_baseline

from .helpers import NOW, baseline, facts


def _big_host(os: str, rpm: bool) -> object:
    installed = [
        {
            "name": f"pkg{i}",
            "arch": "x86_64" if rpm else "amd64",
            "version": f"1:{i % 7}.{i % 13}-{i % 5}.el9" if rpm else f"{i % 7}.{i % 13}-{i % 5}",
            "priority": "" if rpm else ["required", "important", "optional"][i % 3],
            "section": "" if rpm else ["libs", "net", "admin", "utils"][i % 4],
            "security_origin": i % 4 == 0,
        }
        for i in range(3000)
    ]
    updates = [
        {
            "name": f"pkg{i * 30}",
            "arch": "x86_64" if rpm else "amd64",
            "candidate_version": f"1:9.{i}-1.el9" if rpm else f"9.{i}-1",
            "security": i % 2 == 0,
            "classification": (["Security", "Bugfix", "Enhancement"][i % 3] if rpm else None),
            "severity": (["Critical", "Important", "Low"][i % 3] if rpm else None),
            "priority": None if rpm else "optional",
            "release_date": NOW - timedelta(days=i % 20),
            "advisory_ids": [f"RHSA-2024:{i:04d}"] if rpm else [],
        }
        for i in range(100)
    ]
    return facts(os, installed, updates)


RHEL_SPEC = {
    "approval_rules": [
        {
            "filters": [
                {"key": "CLASSIFICATION", "values": ["Security"]},
                {"key": "SEVERITY", "values": ["Critical", "Important"]},
            ],
            "approve_after_days": 7,
            "compliance_level": "CRITICAL",
        },
        {
            "filters": [{"key": "CLASSIFICATION", "values": ["Bugfix"]}],
            "approve_after_days": 14,
            "compliance_level": "LOW",
        },
    ],
    "approved_patches": ["pkg10", "pkg2*", "pkg31-1:3.5-1.el9.x86_64", "CVE-2024-1"],
    "rejected_patches": ["pkg99*", "pkg123.x86_64"],
    "rejected_patches_action": "BLOCK",
}


def _measure(host: object, b: object, rounds: int = 20) -> float:
    compile_baseline(b)  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(rounds):
        result = evaluate_baseline(host, b, now=NOW)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - start) / rounds
    assert len(result.items) >= 3000
    return elapsed


def test_evaluation_is_fast() -> None:
    rhel = _measure(
        _big_host("REDHAT_ENTERPRISE_LINUX", True), baseline(RHEL_SPEC, "REDHAT_ENTERPRISE_LINUX")
    )
    deb = _measure(_big_host("DEBIAN", False), baseline("AWS-DebianDefaultPatchBaseline", "DEBIAN"))
    print(
        f"\nevaluate 3000 installed + 100 updates: rhel {rhel * 1000:.1f} ms, "
        f"debian {deb * 1000:.1f} ms"
    )
    # Generous bound so slow CI machines pass; the report quotes the measured numbers.
    assert rhel < 0.5 and deb < 0.5
