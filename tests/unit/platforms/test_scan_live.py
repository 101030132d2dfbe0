"""The rendered scan script: syntax under dash, a real run on this host compared with apt's
own answers, and the ``sh`` quoting filter."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetpatch.platforms.apt.parsers import apt_inst_lines, parse_apt_simulate
from fleetpatch.platforms.apt.platform import parse_apt_scan
from fleetpatch.platforms.detect import detect_from_frames
from fleetpatch.platforms.framing import parse_frames
from fleetpatch.platforms.render import environment, scan_script, sh_quote

HAS_DASH = shutil.which("dash") is not None
IS_APT_HOST = shutil.which("apt-get") is not None and shutil.which("dpkg-query") is not None
APT_ENV = {**os.environ, "LC_ALL": "C", "LANG": "C", "LANGUAGE": ""}
LIST_UPGRADABLE = re.compile(
    r"^(?P<name>[^/]+)/(?P<suites>\S+) (?P<new>\S+) (?P<arch>\S+) "
    r"\[upgradable from: (?P<old>[^\]]+)\]$"
)


@pytest.mark.skipif(not HAS_DASH, reason="needs dash")
@pytest.mark.parametrize("refresh", [False, True])
def test_scan_script_is_valid_dash(refresh: bool) -> None:
    script = scan_script(refresh=refresh)
    result = subprocess.run(["dash", "-n"], input=script, text=True, capture_output=True)
    assert result.returncode == 0, result.stderr
    assert ("apt-get update" in script) is refresh
    assert "fp_scan_apt" in script


def test_scan_script_has_no_bashisms() -> None:
    script = scan_script(refresh=True)
    for bashism in (
        r"\[\[",
        r"^\s*function\s+\w+\s*(\(\))?\s*\{",
        r"\blocal\s",
        r"\$'[^' ]",
        r"<\(",
        r"^\s*source\s",
        r"\bdeclare\s",
        r"\$\{\w+//",
    ):
        assert not re.search(bashism, script, re.MULTILINE), bashism


@pytest.mark.skipif(not (HAS_DASH and IS_APT_HOST), reason="needs a Debian/Ubuntu host")
def test_real_scan_agrees_with_apt_on_this_host() -> None:
    run = subprocess.run(
        ["dash", "-s"], input=scan_script(), text=True, capture_output=True, timeout=300
    )
    frames = parse_frames(run.stdout)
    assert frames.exit.step == "done" and frames.exit.rc == 0, run.stderr
    facts = parse_apt_scan(
        frames, host="localhost", os=detect_from_frames(frames), collected_at=datetime.now(UTC)
    )
    assert facts.os.family == "apt"
    assert facts.installed, "dpkg-query found no package"

    simulate = subprocess.run(
        [
            "apt-get",
            "-s",
            "-o",
            "Debug::NoLocking=1",
            "-o",
            "APT::Get::Always-Include-Phased-Updates=true",
            "dist-upgrade",
        ],
        text=True,
        capture_output=True,
        env=APT_ENV,
        check=True,
    )
    truth = {(i.name, i.arch, i.current, i.candidate) for i in apt_inst_lines(simulate.stdout)}
    mine = {(u.name, u.arch, u.installed_version, u.candidate_version) for u in facts.updates}
    assert mine == truth

    listed = subprocess.run(
        ["apt", "list", "--upgradable"], text=True, capture_output=True, env=APT_ENV
    )
    upgradable = {
        (m["name"], m["old"], m["new"])
        for m in map(LIST_UPGRADABLE.match, listed.stdout.splitlines())
        if m
    }
    upgrades = {
        (u.name, u.installed_version, u.candidate_version)
        for u in facts.updates
        if u.installed_version is not None
    }
    # apt list also shows held / kept-back packages, which dist-upgrade will not touch.
    kept = set(parse_apt_simulate(simulate.stdout).kept_back)
    assert upgrades == {u for u in upgradable if u[0] not in kept}
    for update in facts.updates:
        if any("Security" in origin or "-security" in origin for origin in update.origins):
            assert update.security, update


HOSTILE = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(HOSTILE)
def test_sh_quote_round_trips_through_sh(value: str) -> None:
    result = subprocess.run(
        ["sh", "-c", f"printf '%s' {sh_quote(value)}"], capture_output=True, check=True
    )
    assert result.stdout.decode("utf-8", "surrogateescape") == value


@given(HOSTILE)
def test_sh_filter_in_template_matches_sh_quote(value: str) -> None:
    template = environment().from_string("echo {{ v | sh }}")
    assert template.render(v=value) == f"echo {sh_quote(value)}"
