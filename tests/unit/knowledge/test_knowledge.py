"""Knowledge behind a verdict, from real scan transcripts (tests/golden/*/scan): missing
sources, stale metadata and broken packages never give COMPLIANT (docs/reliability.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetpatch.baseline import get_predefined
from fleetpatch.baseline.evaluate import evaluate_baseline
from fleetpatch.compliance import ComplianceStatus, PatchState
from fleetpatch.facts import HostFacts
from fleetpatch.knowledge import (
    DEFAULT_MAX_METADATA_AGE,
    format_age,
    host_max_age,
    knowledge_failure,
    package_problem,
    parse_max_age,
)
from fleetpatch.platforms.scan import parse_scan_output

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
DEBIAN = "AWS-DebianDefaultPatchBaseline"


def _facts(case: str) -> HostFacts:
    text = (GOLDEN / case).read_text(encoding="utf-8")
    return parse_scan_output(text, host="h", collected_at=NOW)


def _verdict(facts: HostFacts, baseline: str, max_age: int | None = DEFAULT_MAX_METADATA_AGE):
    compliance = evaluate_baseline(facts, get_predefined(baseline), now=NOW)
    return compliance, knowledge_failure(facts, compliance, max_age)


def test_a_missing_security_source_is_unknown_not_compliant() -> None:
    # the security source points at a dead address: apt has no Release file for it
    facts = _facts("apt/scan/lab-repo-security-unreachable.txt")
    compliance, failure = _verdict(facts, DEBIAN)
    assert failure is not None and failure.kind == "no_metadata"
    assert "http://127.0.0.1:9/repo local-security" in failure.message
    assert "--refresh" in failure.message
    assert compliance.status is ComplianceStatus.COMPLIANT  # what was read says so: not enough


def test_a_refresh_that_could_not_reach_a_source_names_it() -> None:
    facts = _facts("apt/scan/lab-repo-security-unreachable-refresh.txt")
    _, failure = _verdict(facts, DEBIAN)
    assert failure is not None and failure.kind == "no_metadata"
    assert "Connection refused" in failure.message
    assert "local-security" in failure.message


def test_an_offline_refresh_leaves_every_source_unknown() -> None:
    facts = _facts("apt/scan/lab-debian12-refresh-offline.txt")
    assert len(facts.metadata_missing) == 3
    _, failure = _verdict(facts, DEBIAN)
    assert failure is not None and failure.kind == "no_metadata"


@pytest.mark.parametrize(
    ("case", "baseline", "name"),
    [
        ("dnf/scan/lab-rocky9-repo-no-cache.txt", "AWS-RockyLinuxDefaultPatchBaseline", "fp-extra"),
        ("zypper/scan/lab-sles15-repo-unreadable.txt", "AWS-SuseDefaultPatchBaseline", "fp-extra"),
    ],
)
def test_an_rpm_repository_without_metadata_is_unknown(case: str, baseline: str, name: str) -> None:
    facts = _facts(case)
    _, failure = _verdict(facts, baseline)
    assert failure is not None and failure.kind == "no_metadata"
    assert repr(name) in failure.message


@pytest.mark.parametrize(
    "case",
    [
        "apt/scan/lab-debian12-repo.txt",
        "dnf/scan/lab-rocky9.txt",
        "zypper/scan/lab-sles15.txt",
    ],
)
def test_every_source_read_leaves_the_verdict_alone(case: str) -> None:
    facts = _facts(case)
    assert facts.metadata_missing == ()
    assert knowledge_failure(facts, None, None) is None


def test_stale_metadata_cannot_make_a_host_compliant() -> None:
    facts = _facts("apt/scan/lab-repo-security-unreachable.txt").model_copy(
        update={"metadata_missing": (), "metadata_age_seconds": 186_000_000}
    )
    compliance, failure = _verdict(facts, DEBIAN)
    assert compliance.status is ComplianceStatus.COMPLIANT
    assert failure is not None and failure.kind == "stale_metadata"
    assert "5y" not in failure.message and "2152d old" in failure.message
    assert "maximum 7d" in failure.message and "--refresh" in failure.message
    assert _verdict(facts, DEBIAN, max_age=None)[1] is None  # off
    assert _verdict(facts, DEBIAN, max_age=186_000_001)[1] is None


def test_a_non_compliant_verdict_from_stale_metadata_stands() -> None:
    facts = _facts("apt/scan/lab-debian12-repo.txt").model_copy(
        update={"metadata_age_seconds": 30 * 86400}
    )
    compliance, failure = _verdict(facts, DEBIAN)
    assert compliance.status is ComplianceStatus.NON_COMPLIANT
    assert failure is None
    # an install plans from it all the same: no (knowledge_failure without a verdict)
    blocked = knowledge_failure(facts, None, DEFAULT_MAX_METADATA_AGE)
    assert blocked is not None and blocked.kind == "stale_metadata"


def test_metadata_of_unknown_age_is_older_than_any_maximum() -> None:
    facts = _facts("apt/scan/lab-debian12-repo.txt").model_copy(
        update={"metadata_age_seconds": None, "updates": ()}
    )
    failure = knowledge_failure(facts, None, 86400)
    assert failure is not None and "unknown age" in failure.message
    assert knowledge_failure(facts, None, None) is None


def test_broken_packages_are_failed_with_their_dpkg_state_and_a_repair() -> None:
    facts = _facts("apt/scan/lab-repo-broken-states.txt")
    compliance = evaluate_baseline(facts, get_predefined(DEBIAN), now=NOW)
    failed = {i.id: i for i in compliance.items if i.state is PatchState.FAILED}
    truth = {
        "fp-beta": "iU",
        "fp-broken": "iF",
        "fp-halfinst": "iHR",
        "fp-reinst": "iU",
        "fp-trig-activate": "iW",
        "fp-trig-interest": "it",
    }
    assert {name: facts_status(facts, name) for name in truth} == truth
    assert set(failed) == set(truth)
    for name, state in truth.items():
        assert f"dpkg state {state}" in failed[name].message
    assert "dpkg --configure -a" in failed["fp-broken"].message
    assert "apt-get install --reinstall fp-halfinst" in failed["fp-halfinst"].message
    assert compliance.status is ComplianceStatus.NON_COMPLIANT
    assert compliance.counts.failed == len(truth)
    # apt-get -s refused to run: pending updates are unknown too
    failure = knowledge_failure(facts, compliance, None)
    assert failure is not None and failure.kind == "no_metadata"
    assert "fp-halfinst" in failure.message


def facts_status(facts: HostFacts, name: str) -> str:
    return next(p.status for p in facts.installed if p.name == name)


def test_a_broken_package_with_a_pending_update_is_failed_not_missing() -> None:
    facts = _facts("apt/scan/lab-debian12-repo.txt")
    alpha = next(p for p in facts.installed if p.name == "fp-alpha")
    broken = alpha.model_copy(update={"status": "iF"})
    facts = facts.model_copy(
        update={"installed": tuple(broken if p is alpha else p for p in facts.installed)}
    )
    items = evaluate_baseline(facts, get_predefined(DEBIAN), now=NOW).items
    alpha_items = [i for i in items if i.id == "fp-alpha"]
    assert [i.state for i in alpha_items] == [PatchState.FAILED]
    assert alpha_items[0].candidate_version == "1.1-1"
    assert "half-configured" in alpha_items[0].message


@pytest.mark.parametrize(
    ("status", "broken"),
    [
        ("ii", False),
        ("hi", False),
        ("rc", False),
        ("installed", False),
        ("", False),
        ("iU", True),
        ("iF", True),
        ("iH", True),
        ("iW", True),
        ("it", True),
        ("iiR", True),
        ("hF", True),
        ("iHR", True),
    ],
)
def test_package_problem(status: str, broken: bool) -> None:
    assert (package_problem("p", status) is not None) is broken


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 7 * 86400),
        ("36h", 36 * 3600),
        ("90m", 5400),
        ("2w", 14 * 86400),
        ("10s", 10),
        ("off", None),
        ("OFF", None),
        (" 1d ", 86400),
    ],
)
def test_parse_max_age(text: str, seconds: int | None) -> None:
    assert parse_max_age(text) == seconds


@pytest.mark.parametrize("text", ["7", "7 days", "-1d", "1.5d", "", "1y", "7dd"])
def test_parse_max_age_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 7d or 36h"):
        parse_max_age(text)


def test_host_max_age_precedence() -> None:
    assert host_max_age({}, 100, run_value_given=False) == 100
    assert host_max_age({"max_metadata_age": "1d"}, 100, run_value_given=False) == 86400
    assert host_max_age({"max_metadata_age": "off"}, 100, run_value_given=False) is None
    assert host_max_age({"max_metadata_age": "1d"}, 100, run_value_given=True) == 100


def test_format_age() -> None:
    assert [format_age(s) for s in (42, 5400, 93600, 12 * 86400 + 7200)] == [
        "42s",
        "1h 30m",
        "1d 2h",
        "12d",
    ]


RPM_QA_WITH_A_DUPLICATE = (  # rpm -qa --qf of the rocky9 lab after rpm -i --justdb of fp-crit 1.1
    "fp-crit\t0\t1.0\t1.el9\tx86_64\t1796297511\tfp-crit-1.0-1.el9.src.rpm\n"
    "fp-crit\t0\t1.1\t1.el9\tx86_64\t1796297600\tfp-crit-1.1-1.el9.src.rpm\n"
    "fp-crit\t0\t1.0\t1.el9\ti686\t1796297511\tfp-crit-1.0-1.el9.src.rpm\n"
    "kernel-core\t0\t5.14.0\t1.el9\tx86_64\t1796297511\tkernel-5.14.0-1.el9.src.rpm\n"
    "kernel-core\t0\t5.14.1\t1.el9\tx86_64\t1796297511\tkernel-5.14.1-1.el9.src.rpm\n"
    "gpg-pubkey\t0\t1\t2\t(none)\t1796297511\t(none)\n"
    "gpg-pubkey\t0\t3\t4\t(none)\t1796297511\t(none)\n"
)


@pytest.mark.parametrize(
    ("tool", "repair"),
    [
        ("dnf", "dnf remove --duplicates"),
        ("yum", "package-cleanup --cleandupes"),
        ("zypper", "rpm -e --justdb --nodeps fp-crit-1.0-1.el9"),
    ],
)
def test_an_rpm_duplicate_is_broken_with_both_versions(tool: str, repair: str) -> None:
    """Two versions of one name.arch: the newest row is marked, its problem names both
    versions and the family's repair; kernels, other arches and gpg-pubkey are left alone."""
    from fleetpatch.platforms.rpm.parsers import mark_rpm_duplicates, parse_rpm_installed

    rows = mark_rpm_duplicates(parse_rpm_installed(RPM_QA_WITH_A_DUPLICATE), tool)
    problems = {(p.name, p.arch, p.version): package_problem(p.name, p.status) for p in rows}
    broken = {key: text for key, text in problems.items() if text}
    [(key, text)] = broken.items()
    assert key == ("fp-crit", "x86_64", "1.1-1.el9")
    assert "2 versions of fp-crit (1.0-1.el9, 1.1-1.el9)" in text and "interrupted" in text
    assert repair in text
