"""Garbage in host output (docs/reliability.md, "Knowledge behind a verdict"): every parser,
fed mutated real scan transcripts, gives facts or a HostError with a message, never another
exception. Seeded from the golden scans (tests/golden/*/scan/*.txt); the mutations work at
line and field level inside one section (drop, duplicate, truncate, swap fields, empty a
field, control characters, invalid UTF-8 as the SSH transport decodes it: U+FFFD) or on the
framing itself. Bounded and derandomised (same examples on every run): a few seconds per
family. A crash found here is a bug: fix it and keep the input as a golden case (none found
so far: 4,500 random examples per family, 2026-12-03)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetpatch.errors import HostError
from fleetpatch.facts import HostFacts
from fleetpatch.memo import RunMemo
from fleetpatch.platforms.framing import parse_frames
from fleetpatch.platforms.scan import parse_scan_output

from .golden import GOLDEN_ROOT

NOW = datetime(2026, 12, 3, tzinfo=UTC)
SEEDS = {
    family: sorted(
        p
        for p in (GOLDEN_ROOT / family / "scan").glob("*.txt")
        if "error" not in p.name  # seeds that parse: mutations then reach every section
    )
    for family in ("apt", "dnf", "zypper")
}
JUNK = ["\x00", "\x1b[31m", "\r", "\t", "\ufffd", "\x7f", "\u202e", "@@FP@@ ", "<", "&", "'"]


def _mutate(text: str, data: st.DataObject) -> str:
    """One to four line/field mutations inside one framed section (or of the framing)."""
    lines = text.split("\n")
    begins = [i for i, line in enumerate(lines) if line.startswith("@@FP@@ BEGIN ")]
    start = data.draw(st.sampled_from(begins), label="section")
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("@@FP@@ END ")),
        len(lines) - 1,
    )
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        lo = start + 1 if data.draw(st.integers(0, 9)) else start  # 1 in 10: the marker
        hi = max(lo, end - 1)
        at = data.draw(st.integers(lo, hi), label="line")
        line = lines[at]
        op = data.draw(
            st.sampled_from(
                ["drop", "dup", "truncate", "swap", "empty", "junk", "replace", "split"]
            ),
            label="op",
        )
        if op == "drop":
            del lines[at]
            end -= 1
        elif op == "dup":
            lines.insert(at, line)
            end += 1
        elif op == "truncate":
            lines[at] = line[: data.draw(st.integers(0, max(0, len(line))))]
        elif op == "swap" and "\t" in line:
            fields = line.split("\t")
            i, j = (data.draw(st.integers(0, len(fields) - 1)) for _ in range(2))
            fields[i], fields[j] = fields[j], fields[i]
            lines[at] = "\t".join(fields)
        elif op == "empty" and "\t" in line:
            fields = line.split("\t")
            fields[data.draw(st.integers(0, len(fields) - 1))] = ""
            lines[at] = "\t".join(fields)
        elif op == "junk":
            cut = data.draw(st.integers(0, len(line)))
            lines[at] = line[:cut] + data.draw(st.sampled_from(JUNK)) + line[cut:]
        elif op == "replace":
            lines[at] = data.draw(st.text(max_size=40), label="text")
        elif op == "split" and line:
            cut = data.draw(st.integers(0, len(line)))
            lines[at : at + 1] = [line[:cut], line[cut:]]
            end += 1
        if end <= start:
            break
    return "\n".join(lines)


def _parse_or_refuse(text: str) -> None:
    """The property: facts, or a HostError whose message says something."""
    try:
        facts = parse_scan_output(text, host="fuzz", collected_at=NOW, memo=RunMemo())
    except HostError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return
    assert isinstance(facts, HostFacts)


@pytest.mark.parametrize("family", sorted(SEEDS))
def test_mutated_scans_give_facts_or_a_parse_failure(family: str) -> None:
    seeds = [p.read_text(encoding="utf-8") for p in SEEDS[family]]
    assert seeds, family

    @settings(
        max_examples=120,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        seed = data.draw(st.sampled_from(seeds), label="seed")
        _parse_or_refuse(_mutate(seed, data))

    check()


def test_every_seed_parses() -> None:
    """The seeds themselves give facts (or the refusal their golden file expects)."""
    for paths in SEEDS.values():
        for path in paths:
            parse_frames(path.read_text(encoding="utf-8"))
