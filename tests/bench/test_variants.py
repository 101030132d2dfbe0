"""The varied benchmark fleet (benchmarks/variants.py): every host's output differs, parses and
evaluates, and stays consistent with what the parser cross-checks. No network, no sshd."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import fleet  # noqa: E402
import variants  # noqa: E402

from fleetpatch.baseline.evaluate import evaluate_baseline  # noqa: E402
from fleetpatch.engine.context import load_baseline_choice  # noqa: E402
from fleetpatch.inventory.model import Host  # noqa: E402
from fleetpatch.platforms.scan import parse_scan_output  # noqa: E402
from fleetpatch.platforms.versions import compare_dpkg  # noqa: E402

TEXT = variants.RECORDED.read_text()
HOSTS = 20


@pytest.fixture(scope="module")
def recording() -> variants.Recording:
    return variants.Recording(TEXT)


def test_every_host_differs_and_parses(recording: variants.Recording) -> None:
    choose = load_baseline_choice(patch_groups=None)
    now = datetime.now(UTC)
    recorded_rows = set(variants._lines(recording.sections["apt.installed"]))
    outputs = set()
    for i in range(1, HOSTS + 1):
        text, info = recording.generate(i)
        assert text == variants.variant(TEXT, i)  # deterministic, module-level cache alike
        outputs.add(text)
        facts = parse_scan_output(text, host=f"h{i}", collected_at=now)
        assert len(facts.installed) == info["installed"] < len(recording.rows)
        assert len(facts.updates) == info["updates"]
        compliance = evaluate_baseline(
            facts, choose(Host(name=f"h{i}", address="127.0.0.1"), facts.os), now=now
        )
        assert compliance.items
        rows = variants._lines(variants.Recording(text).sections["apt.installed"])
        shared = sum(row in recorded_rows for row in rows) / len(rows)
        assert 0.85 <= shared < 1.0  # most rows shared with the image, not all
    assert TEXT not in outputs
    assert len(outputs) == HOSTS


def test_unchanged_simulation_is_the_recording(recording: variants.Recording) -> None:
    # the name lists and the summary line are rebuilt the way apt prints them
    assert recording._simulate(set(), {}, [], [])[0] == recording.sections["apt.simulate"]


def test_older_versions_sort_lower_for_fleetpatch(recording: variants.Recording) -> None:
    for row in recording.rows:
        version = row.fields[1]
        for steps in (1, 2):
            older = variants.older_by(version, steps)
            assert compare_dpkg(older, version) < 0, (version, older)
            assert variants.compare_dpkg(older, version) < 0


def test_host_index_inverts_host_address() -> None:
    for i in (1, 2, 254, 255, 508, 509, 10_000, 65_024):
        assert fleet.host_index(fleet.host_address(i)) == i
    with pytest.raises(ValueError):
        fleet.host_index("127.0.0.0")
