"""The apt install, reboot and hook scripts against real lab containers.

Each rendered script is fed to `docker exec -i CONTAINER sh -s` (what fleetpatch does over SSH:
the script on stdin); the verdicts are compared with dpkg's own view inside the container.
Every test starts its own containers (prefix `apti<pid>-<n>`) and removes them.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fleetpatch.platforms.apt.install import (
    AptInstallOutcome,
    Verdict,
    apt_install_script,
    parse_apt_install,
)
from fleetpatch.platforms.framing import Frames, parse_frames
from fleetpatch.platforms.reboot import (
    boot_identity_script,
    hook_script,
    parse_boot_identity,
    parse_hook,
    parse_reboot_scheduled,
    reboot_script,
)
from tests.lab import fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

_COUNTER = itertools.count(1)


@contextmanager
def lab_host(image: str, *, restart_policy: str | None = None) -> Iterator[LabHost]:
    ok, reason = fleet.docker_available()
    if not ok:
        pytest.skip(f"lab needs Docker: {reason}")
    try:
        fleet.require_image(image)
    except fleet.ImageMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    prefix = f"apti{os.getpid()}-{next(_COUNTER)}"
    hosts = fleet.start_fleet(image, 1, prefix, restart_policy=restart_policy)
    try:
        yield hosts[0]
    finally:
        fleet.stop_fleet(hosts)


def run_script(host: LabHost, script: str, *, timeout: float = 600) -> Frames:
    proc = subprocess.run(
        ["docker", "exec", "-i", host.container, "sh", "-s"],
        input=script,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return parse_frames(proc.stdout)


def install(host: LabHost, pairs: list[tuple[str, str]], **kw: object) -> AptInstallOutcome:
    return parse_apt_install(run_script(host, apt_install_script(pairs, **kw)), pairs)  # type: ignore[arg-type]


def dpkg_state(host: LabHost) -> dict[str, tuple[str, str]]:
    rc, out = fleet.exec_in(
        host, ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\t${Version}\n"]
    )
    assert rc == 0, out
    rows = (line.split("\t") for line in out.splitlines() if line)
    return {name: (status.strip(), version) for name, status, version in rows}


def candidate(host: LabHost, name: str) -> str:
    rc, out = fleet.exec_in(host, ["apt-cache", "policy", name])
    assert rc == 0, out
    return next(line.split()[1] for line in out.splitlines() if "Candidate:" in line)


def test_install_security_and_epoch_updates() -> None:
    with lab_host(fleet.IMAGE_DEBIAN12_REPO) as host:
        pairs = [("fp-alpha", "1.1-1"), ("fp-epoch", "1:1.1-1")]
        outcome = install(host, pairs)
        assert outcome.ok and outcome.apt_rc == 0
        assert [(p.name, p.verdict) for p in outcome.packages] == [
            ("fp-alpha", Verdict.INSTALLED),
            ("fp-epoch", Verdict.INSTALLED),
        ]
        state = dpkg_state(host)
        assert state["fp-alpha"] == ("ii", "1.1-1")
        assert state["fp-epoch"] == ("ii", "1:1.1-1")
        assert state["fp-beta"] == ("ii", "1.0-1")  # not requested: untouched
        assert not outcome.dependencies and not outcome.reboot_required


def test_failing_postinst_fails_only_that_package() -> None:
    with lab_host(fleet.IMAGE_DEBIAN12_REPO) as host:
        pairs = [("fp-alpha", "1.1-1"), ("fp-broken", "1.1-1"), ("fp-beta", "2.0-1")]
        outcome = install(host, pairs)
        verdicts = {p.name: p for p in outcome.packages}
        assert outcome.apt_rc == 100 and not outcome.ok
        broken = verdicts["fp-broken"]
        assert broken.verdict is Verdict.FAILED and broken.dpkg_status == "iF"
        assert "dpkg: error processing package fp-broken (--configure)" in broken.message
        assert "post-installation script subprocess returned error exit status 1" in broken.message
        # one apt-get run, but dpkg configures each package on its own: the others are in
        assert verdicts["fp-alpha"].verdict is Verdict.INSTALLED
        assert verdicts["fp-beta"].verdict is Verdict.INSTALLED
        state = dpkg_state(host)
        assert state["fp-broken"] == ("iF", "1.1-1")
        assert state["fp-alpha"] == ("ii", "1.1-1") and state["fp-beta"] == ("ii", "2.0-1")

        # the next run finds dpkg unfinished, tries to repair it, still installs what it can
        again = install(host, [("fp-delta", "1.3-1")])
        assert again.recovery.interrupted and again.recovery.rc == 1
        assert again.packages[0].verdict is Verdict.INSTALLED
        assert any("fp-broken" in e for e in again.errors)


def test_dry_run_changes_nothing_and_its_plan_is_what_happens() -> None:
    with lab_host(fleet.IMAGE_DEBIAN12) as host:
        pairs = [("openssl", candidate(host, "openssl"))]
        before = dpkg_state(host)
        dry = install(host, pairs, dry_run=True)
        assert dpkg_state(host) == before
        assert dry.dry_run and all(p.verdict is Verdict.NOT_ATTEMPTED for p in dry.packages)
        plan = {p.name: p.version for p in dry.plan.packages}
        assert "openssl" in plan
        assert {d.name for d in dry.dependencies} == set(plan) - {"openssl"}
        assert dry.dependencies, "openssl's update should pull in libssl3"

        real = install(host, pairs)
        assert real.ok
        after = dpkg_state(host)
        changed = {name: ver for name, (_, ver) in after.items() if before.get(name) != after[name]}
        assert changed == plan


def test_real_security_updates_offline_from_the_cache() -> None:
    with lab_host(fleet.IMAGE_DEBIAN12) as host:
        pairs = [(name, candidate(host, name)) for name in ("zip", "unzip")]
        frames = run_script(host, apt_install_script(pairs))
        outcome = parse_apt_install(frames, pairs)
        assert outcome.ok, outcome.packages
        assert "Need to get 0 B" in frames.require("apt.install").body  # all from the cache
        state = dpkg_state(host)
        for name, version in pairs:
            assert state[name] == ("ii", version)


def test_interrupted_dpkg_is_recovered_first() -> None:
    with lab_host(fleet.IMAGE_DEBIAN12_REPO) as host:
        rc, out = fleet.exec_in(
            host,
            [
                "sh",
                "-c",
                "dpkg --unpack /srv/repo/pool/local/fp-beta_2.0-1_all.deb && awk -v RS= "
                "'/^Package: fp-gamma\\n/' /var/lib/dpkg/status > /var/lib/dpkg/updates/0000",
            ],
        )
        assert rc == 0, out
        assert dpkg_state(host)["fp-beta"] == ("iU", "2.0-1")
        rc, out = fleet.exec_in(host, ["apt-get", "-y", "install", "--only-upgrade", "fp-epoch"])
        assert rc == 100 and "dpkg was interrupted" in out  # what apt alone would do

        outcome = install(host, [("fp-epoch", "1:1.1-1")])
        assert outcome.recovery.interrupted and outcome.recovery.action == "configure"
        assert outcome.recovery.ok and outcome.recovery.pending == ("0000",)
        assert outcome.ok
        state = dpkg_state(host)
        assert state["fp-beta"] == ("ii", "2.0-1") and state["fp-epoch"] == ("ii", "1:1.1-1")
        rc, out = fleet.exec_in(host, ["sh", "-c", "ls -A /var/lib/dpkg/updates | wc -l"])
        assert out.strip() == "0"


def _ssh_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.settimeout(2)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _identity(host: LabHost) -> str | None:
    try:
        return parse_boot_identity(run_script(host, boot_identity_script(), timeout=10))
    except (AssertionError, subprocess.SubprocessError, OSError):
        return None  # the container is down or restarting


def test_reboot_changes_the_identity_and_the_host_comes_back() -> None:
    with lab_host(fleet.IMAGE_DEBIAN12_REPO, restart_policy="unless-stopped") as host:
        before = parse_boot_identity(run_script(host, boot_identity_script()))
        started = time.monotonic()
        scheduled = parse_reboot_scheduled(run_script(host, reboot_script(), timeout=30))
        returned = time.monotonic() - started
        assert scheduled.boot_identity == before
        assert returned < scheduled.delay, "the command must return before the reboot"
        deadline = started + 60
        after = None
        while time.monotonic() < deadline:
            after = _identity(host)
            if after is not None and after != before:
                break
            time.sleep(0.2)
        changed = time.monotonic() - started
        assert after is not None and after != before
        while not _ssh_banner(host.port):
            assert time.monotonic() < deadline, "sshd did not come back"
            time.sleep(0.1)
        banner = time.monotonic() - started
        print(
            f"reboot: returned {returned:.2f}s, identity changed {changed:.2f}s, ssh {banner:.2f}s"
        )
        assert before.split(":")[0] == after.split(":")[0]  # containers keep boot_id ...
        assert before.split(":")[1] != after.split(":")[1]  # ... PID 1 start time tells


def test_hook_runs_on_the_host() -> None:
    with lab_host(fleet.IMAGE_DEBIAN12_REPO) as host:
        result = parse_hook(
            run_script(host, hook_script("hostname; id -un; echo 'it''s' >&2; exit 7"))
        )
        assert result.rc == 7
        assert result.output.splitlines() == [host.name, "root", "its"]
