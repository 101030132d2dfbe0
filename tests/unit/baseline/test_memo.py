"""The run's interning memo (fleetpatch.memo) never changes a result.

The apt parser and the evaluation always intern (without a memo, through one of their own for
that call), so their results with a run's shared memo are compared with a fresh one per host,
and the golden files and baseline cases pin what both must be. The store encodings and report
entries have plain paths too, and are compared with them. Inputs: the apt golden scans, fleets
of varied hosts derived from the recorded scan (hypothesis), the table-driven baseline cases
(predefined and hand-written baselines, approved and rejected lists, NOT_APPLICABLE entries,
dated rules judged at another time). A shared memo is reused across hosts so that the second
host of each kind is served from it; small whole-host tables make them renew mid-run.
"""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetpatch.baseline import evaluate_baseline, get_predefined
from fleetpatch.baseline.loader import parse_baseline
from fleetpatch.errors import ParseError
from fleetpatch.facts import HostFacts
from fleetpatch.memo import IdentityTable, MemoTable, RunMemo
from fleetpatch.platforms.scan import parse_scan_output
from fleetpatch.report.json_report import host_entry_json
from fleetpatch.results import HostOutcome, HostResult
from fleetpatch.store.codec import (
    decode_facts,
    decode_other_items,
    encode_facts,
    encode_other_items,
)

from .helpers import NOW
from .test_cases import _load as load_cases
from .test_cases import case_inputs

ROOT = Path(__file__).resolve().parents[2]
APT_SCANS = sorted((ROOT / "golden" / "apt" / "scan").glob("*.txt"))
RECORDED = ROOT.parent / "benchmarks" / "recorded" / "debian12-scan.out"
COLLECTED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

LISTS_BASELINE = """
name: lists
operating_system: DEBIAN
approval_rules:
  - filters: [{key: PRIORITY, values: [Required, Important]}]
    enable_non_security: true
approved_patches: [bash, "libc6", "no-such-package"]
rejected_patches: [openssl, libssl3]
rejected_patches_action: BLOCK
"""


def _parse(text: str, memo: RunMemo | None, host: str = "h1") -> HostFacts | str:
    try:
        return parse_scan_output(text, host=host, collected_at=COLLECTED, memo=memo)
    except ParseError as exc:  # the same error with or without the memo
        return f"ParseError: {exc}"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def test_memo_table_stops_growing_at_its_limit() -> None:
    table: MemoTable[int, str] = MemoTable(limit=3)
    for n in range(5):
        assert table.put(n, str(n)) == str(n)
    assert sorted(table) == [0, 1, 2]
    assert table.get(4) is None


def test_whole_host_tables_start_afresh_when_full() -> None:
    memo = RunMemo(limit=100, host_limit=2)
    table = memo.table("t", per_host=True)
    for n in range(3):
        table.put(n, n)
    assert dict(table) == {2: 2}  # renewed at the third entry, never above its limit
    objects = [[n] for n in range(3)]
    identity = memo.identity("i", per_host=True)
    for obj in objects:
        identity.put(obj, "v")
    assert len(identity) == 1 and identity.get(objects[2]) == "v"
    assert identity.get(objects[0]) is None


def test_identity_table_keys_by_object_not_by_value() -> None:
    table: IdentityTable[list[int], str] = IdentityTable(limit=10)
    a, b = [1], [1]
    table.put(a, "a")
    assert table.get(a) == "a"
    assert table.get(b) is None  # equal, but another object
    full: IdentityTable[list[int], str] = IdentityTable(limit=0)
    assert full.put(a, "x") == "x" and full.get(a) is None and len(full) == 0


@pytest.mark.parametrize("path", APT_SCANS, ids=lambda p: p.stem)
def test_apt_scan_parse_is_the_same_with_a_memo(path: Path) -> None:
    text = path.read_text()
    memo = RunMemo()
    plain = _parse(text, None)
    assert _parse(text, memo) == plain  # filling the memo
    assert _parse(text, memo) == plain  # served from it
    if isinstance(plain, HostFacts):
        again = _parse(text, memo)
        assert isinstance(again, HostFacts) and again.installed
        assert again.installed[0] is plain.installed[0] or memo.sizes()["apt.installed.row"]


def _vary(text: str, rng: random.Random) -> str:
    """A host like the recorded one: some dpkg rows gone, some with another version or
    priority. Inst lines and summaries stay as they are, so the parse stays valid."""
    head, rest = text.split("@@FP@@ BEGIN apt.installed\n", 1)
    rows, tail = rest.split("@@FP@@ END apt.installed", 1)
    kept = []
    for row in rows.splitlines():
        roll = rng.random()
        if row.count("\t") < 8:
            kept.append(row)
            continue
        if roll < 0.08:
            continue
        if roll < 0.16:
            fields = row.split("\t")
            fields[1] = fields[1] + "~old1"
            row = "\t".join(fields)
        elif roll < 0.20:
            fields = row.split("\t")
            fields[6] = "optional" if fields[6] != "optional" else "important"
            row = "\t".join(fields)
        kept.append(row)
    return (
        head
        + "@@FP@@ BEGIN apt.installed\n"
        + "\n".join(kept)
        + "\n@@FP@@ END apt.installed"
        + tail
    )


def _results(facts_list: list[HostFacts], base: Any, memo: RunMemo | None) -> list[HostResult]:
    out = []
    for f in facts_list:
        compliance = evaluate_baseline(f, base, now=NOW, memo=memo)
        out.append(
            HostResult(
                host=f.host,
                address="192.0.2.1",
                outcome=HostOutcome.OK,
                facts=f,
                compliance=compliance,
                started_at=COLLECTED,
                finished_at=COLLECTED + timedelta(seconds=1),
            )
        )
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), hosts=st.integers(2, 6))
def test_varied_hosts_parse_evaluate_store_and_report_the_same(seed: int, hosts: int) -> None:
    rng = random.Random(seed)
    texts = [_vary(RECORDED.read_text(), rng) for _ in range(hosts)]
    texts.append(texts[0])  # a host identical to another
    memo = RunMemo(host_limit=2)  # whole-host tables renew during the run
    baselines = [
        get_predefined("AWS-DebianDefaultPatchBaseline"),
        parse_baseline(yaml.safe_load(LISTS_BASELINE)),
    ]
    for base in baselines:
        plain_facts = [_parse(t, None, f"h{i}") for i, t in enumerate(texts)]
        memo_facts = [_parse(t, memo, f"h{i}") for i, t in enumerate(texts)]
        assert memo_facts == plain_facts
        assert all(isinstance(f, HostFacts) for f in memo_facts)
        plain = _results(plain_facts, base, None)  # type: ignore[arg-type]
        shared = _results(memo_facts, base, memo)  # type: ignore[arg-type]
        assert shared == plain
        report_memo = RunMemo(host_limit=2)
        store_memo = RunMemo(host_limit=2)
        for p, s in zip(plain, shared, strict=True):
            assert host_entry_json(s, memo=report_memo) == host_entry_json(p)
            assert host_entry_json(s, True, memo=report_memo) == host_entry_json(p, True)
            assert s.facts is not None and p.facts is not None
            encoded = encode_facts(s.facts, store_memo)
            reference = encode_facts(p.facts)
            assert encoded.installed == reference.installed
            decoded = decode_facts(encoded.rest, p.facts.installed)
            assert decoded == p.facts
            assert s.compliance is not None
            other = [(i, it) for i, it in enumerate(s.compliance.items) if i % 2]
            blob = encode_other_items(other, store_memo)
            assert decode_other_items(blob) == other
            assert zlib.decompress(blob or b"x\x9c\x03\x00\x00\x00\x00\x01") == zlib.decompress(
                encode_other_items(other) or b"x\x9c\x03\x00\x00\x00\x00\x01"
            )


SHARED_CASE_MEMO = RunMemo()  # shared by every case below: objects and baselines differ


@pytest.mark.parametrize(("os", "case"), load_cases())
def test_baseline_cases_evaluate_the_same_with_a_memo(os: str, case: dict[str, Any]) -> None:
    host, base, kwargs = case_inputs(os, case)
    plain = evaluate_baseline(host, base, **kwargs)
    for memo in (RunMemo(), SHARED_CASE_MEMO):
        assert evaluate_baseline(host, base, memo=memo, **kwargs) == plain
        assert evaluate_baseline(host, base, memo=memo, **kwargs) == plain
    # a dated rule judged at another time must not reuse the first verdict
    later = {**kwargs, "now": kwargs["now"] + timedelta(days=400)}
    assert evaluate_baseline(host, base, memo=SHARED_CASE_MEMO, **later) == evaluate_baseline(
        host, base, **later
    )
