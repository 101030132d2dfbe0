"""Rendering of the install, reboot, boot identity and hook scripts: syntax (dash -n), quoting,
refusal of hostile input; and the small parsers of reboot.py on real captured output."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fleetpatch.errors import InputError, ParseError, RemoteCommandError
from fleetpatch.platforms.apt.install import (
    AptInstaller,
    apt_install_script,
    parse_apt_install,
    parse_apt_request,
)
from fleetpatch.platforms.framing import parse_frames
from fleetpatch.platforms.installers import installer_for
from fleetpatch.platforms.reboot import (
    boot_identity_script,
    hook_script,
    parse_boot_identity,
    parse_hook,
    parse_reboot_scheduled,
    reboot_script,
    rebooted,
)
from fleetpatch.platforms.scan import boot_identity
from fleetpatch.results import PlannedPackage

from .golden import GOLDEN_ROOT

DASH = shutil.which("dash") or shutil.which("sh")
PAIRS = [("fp-alpha", "1.1-1"), ("fp-epoch", "1:1.1-1"), ("openssl", "3.0.22-1~deb12u2")]


def syntax_ok(script: str) -> None:
    assert DASH is not None
    proc = subprocess.run([DASH, "-n"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("dry_run", [False, True])
def test_install_script_parses_with_dash(dry_run: bool) -> None:
    syntax_ok(apt_install_script(PAIRS, dry_run=dry_run))


def test_every_generic_script_parses_with_dash() -> None:
    for script in (
        reboot_script(),
        boot_identity_script(),
        hook_script("echo 'a' \"$x\" ; exit 3"),
    ):
        syntax_ok(script)


def test_install_script_sections_and_options() -> None:
    script = apt_install_script(PAIRS, lock_timeout=42)
    assert "export DEBIAN_FRONTEND=noninteractive" in script
    assert "export LC_ALL=C" in script
    for section in (
        "apt.request",
        "apt.dpkg_recover",
        "apt.simulate_install",
        "apt.install",
        "apt.install_status",
        "apt.verify",
        "apt.reboot",
    ):
        assert f"fp_section {section} " in script
    assert "-o DPkg::Lock::Timeout=42" in script
    assert "--force-confdef" in script and "--force-confold" in script
    assert script.count("APT::Get::Always-Include-Phased-Updates=true") == 2
    assert script.count("APT::Cmd::Pattern-Only=true") == 2
    words = " fp-alpha=1.1-1 fp-epoch=1:1.1-1 'openssl=3.0.22-1~deb12u2'"
    assert script.count(f"install --only-upgrade{words} ") == 2  # simulation and install
    assert "-- fp-alpha fp-epoch openssl 2>&1" in script  # dpkg-query of the names
    assert script.rstrip().endswith("exit 0")


def test_dry_run_never_installs() -> None:
    script = apt_install_script(PAIRS, dry_run=True)
    assert "fp_section apt.install" not in script
    assert "apt.verify" not in script
    assert "apt-get -q -y" not in script
    assert "--configure -a" not in script  # an interrupted dpkg is only reported
    assert "apt-get -s " in script


@pytest.mark.parametrize(
    "pair",
    [
        ("fp-alpha; rm -rf /", "1.0"),
        ("$(id)", "1.0"),
        ("`id`", "1.0"),
        ("-oDir=/tmp", "1.0"),
        ("Upper", "1.0"),
        ("a b", "1.0"),
        ("", "1.0"),
        ("fp-alpha", ""),
        ("fp-alpha", "1.0;id"),
        ("fp-alpha", "1.0 2.0"),
        ("fp-alpha", "$(reboot)"),
        ("fp-alpha", "1.0'"),
        ("fp-alpha\n", "1.0"),
        ("fp-alpha", "1.0\nreboot"),
        ("fp-*", "1.0"),
    ],
)
def test_hostile_names_and_versions_are_refused(pair: tuple[str, str]) -> None:
    with pytest.raises(InputError):
        apt_install_script([pair])


def test_bad_requests_are_refused() -> None:
    with pytest.raises(InputError):
        apt_install_script([])
    with pytest.raises(InputError):
        apt_install_script([("fp-alpha", "1.0"), ("fp-alpha", "1.1")])
    with pytest.raises(InputError):
        apt_install_script("fp-alpha=1.0")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        apt_install_script(PAIRS, lock_timeout=-1)
    with pytest.raises(InputError):
        reboot_script(delay=0)
    with pytest.raises(InputError):
        hook_script("   ")
    with pytest.raises(InputError):
        hook_script("echo \x00")


def test_arch_qualified_names_are_allowed() -> None:
    script = apt_install_script([("libc6:i386", "2.36-9+deb12u14")])
    assert " libc6:i386=2.36-9+deb12u14 " in script
    syntax_ok(script)


def test_request_section_guards_against_mixed_transcripts() -> None:
    text = (GOLDEN_ROOT / "apt/install/lab-repo-alpha-epoch.txt").read_text()
    frames = parse_frames(text)
    assert parse_apt_request(frames) == [("fp-alpha", "1.1-1"), ("fp-epoch", "1:1.1-1")]
    with pytest.raises(ParseError, match="rendered for"):
        parse_apt_install(frames, [("fp-alpha", "1.1-1")])


# --------------------------------------------------------------------------- hooks, run locally


def run_local(script: str) -> str:
    proc = subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_hook_quotes_the_command_as_one_word(tmp_path: Path) -> None:
    marker = tmp_path / "not-created"
    command = f"printf '%s|' \"a'b\" '$(touch {marker})' \"$((6 * 7))\"; echo oops >&2; exit 7"
    result = parse_hook(parse_frames(run_local(hook_script(command))))
    assert result.rc == 7 and not result.ok
    assert result.output == f"a'b|$(touch {marker})|42|oops"
    assert not marker.exists()


def test_hook_stdin_is_closed() -> None:
    result = parse_hook(parse_frames(run_local(hook_script("cat; echo done"))))
    assert (result.rc, result.output) == (0, "done")


# --------------------------------------------------------------------------- boot identity

CAPTURED_REBOOT = (  # REAL: reboot_script() in fleetpatch-lab/debian12-repo, 2026-11-22
    "@@FP@@ BEGIN boot\n"
    "f68c82aa-8484-45a1-b0df-68a21e5390d6\n159510\n1795322507\n\n"
    "@@FP@@ END boot 0\n"
    "@@FP@@ BEGIN reboot.schedule\n"
    "scheduled\t2\t207\t/var/tmp/fleetpatch-reboot.log\n\n"
    "@@FP@@ END reboot.schedule 0\n"
    "@@FP@@ EXIT done 0\n"
)
CAPTURED_NOT_ROOT = (  # REAL: the same as user fleet (no sudo)
    "@@FP@@ BEGIN boot\n"
    "f68c82aa-8484-45a1-b0df-68a21e5390d6\n159510\n1795322507\n\n"
    "@@FP@@ END boot 0\n"
    "@@FP@@ BEGIN reboot.schedule\n"
    "not-root\t1000\n\n"
    "@@FP@@ END reboot.schedule 1\n"
    "@@FP@@ EXIT done 0\n"
)


def test_boot_identity_of_this_machine_matches_the_scan_format() -> None:
    frames = parse_frames(run_local(boot_identity_script()))
    identity = parse_boot_identity(frames)
    assert identity == boot_identity(frames)
    _boot_id, pid1, btime = identity.split(":")
    assert pid1.isdigit() and btime.isdigit()
    assert identity == parse_boot_identity(parse_frames(run_local(boot_identity_script())))


@pytest.mark.parametrize("case", ["lab-debian12", "lab-debian12-repo", "debian12-host"])
def test_boot_identity_reads_scan_transcripts(case: str) -> None:
    frames = parse_frames((GOLDEN_ROOT / "apt/scan" / f"{case}.txt").read_text())
    assert parse_boot_identity(frames) == boot_identity(frames)


def test_reboot_scheduled_and_not_root() -> None:
    scheduled = parse_reboot_scheduled(parse_frames(CAPTURED_REBOOT))
    assert scheduled.boot_identity == "f68c82aa-8484-45a1-b0df-68a21e5390d6:159510:1795322507"
    assert (scheduled.delay, scheduled.pid) == (2, 207)
    with pytest.raises(RemoteCommandError, match="needs root"):
        parse_reboot_scheduled(parse_frames(CAPTURED_NOT_ROOT))
    after = "f68c82aa-8484-45a1-b0df-68a21e5390d6:174848:1795322507"  # REAL, after the restart
    assert rebooted(scheduled.boot_identity, after)
    assert not rebooted(scheduled.boot_identity, scheduled.boot_identity)


def test_boot_identity_refuses_garbage() -> None:
    bad = "@@FP@@ BEGIN boot\nx\nnot-a-number\n1\n@@FP@@ END boot 0\n@@FP@@ EXIT done 0\n"
    with pytest.raises(ParseError, match="PID 1 start time"):
        parse_boot_identity(parse_frames(bad))
    empty = "@@FP@@ BEGIN boot\n\n\n\n@@FP@@ END boot 0\n@@FP@@ EXIT done 0\n"
    with pytest.raises(ParseError, match="neither"):
        parse_boot_identity(parse_frames(empty))
    with pytest.raises(ParseError):
        parse_boot_identity(parse_frames("@@FP@@ EXIT start 1\n"))


# --------------------------------------------------------------------------- engine adapter


def _planned(name: str, version: str, arch: str = "amd64") -> PlannedPackage:
    return PlannedPackage(name=name, arch=arch, version=version, reason="baseline")


def test_apt_installer_is_what_the_engine_loads() -> None:
    installer = installer_for("apt")
    assert isinstance(installer, AptInstaller)
    packages = [_planned("libc6", "2.36-9", "amd64"), _planned("libc6", "2.36-9", "i386")]
    packages.append(_planned("fp-beta", "2.0-1", "all"))
    assert installer.requests(packages) == [
        ("libc6:amd64", "2.36-9"),
        ("libc6:i386", "2.36-9"),
        ("fp-beta", "2.0-1"),
    ]
    syntax_ok(installer.render(packages, dry_run=False))


def test_apt_installer_parse_real_transcripts() -> None:
    installer = AptInstaller()
    broken = [_planned("fp-alpha", "1.1-1"), _planned("fp-broken", "1.1-1")]
    broken.append(_planned("fp-beta", "2.0-1", "all"))
    text = (GOLDEN_ROOT / "apt/install/lab-repo-broken.txt").read_text()
    outcome = installer.parse(text, broken, dry_run=False)
    assert outcome.installed == ("fp-alpha", "fp-beta")
    assert list(outcome.failed) == ["fp-broken"]
    assert "post-installation script" in outcome.failed["fp-broken"]
    assert outcome.error == "E: Sub-process /usr/bin/dpkg returned an error code (1)"

    ssl = [_planned("openssl", "3.0.22-1~deb12u2")]
    text = (GOLDEN_ROOT / "apt/install/lab-debian12-openssl-deps-dry.txt").read_text()
    plan = installer.parse(text, ssl, dry_run=True)
    assert plan.installed == () and plan.failed == {}
    assert [(p.name, p.dependency, p.reason) for p in plan.planned] == [
        ("libssl3", True, ""),
        ("openssl", False, "baseline"),
    ]

    refused = installer.parse(
        (GOLDEN_ROOT / "apt/install/lab-repo-errors-dry.txt").read_text(),
        [
            _planned("fp-alpha", "9.9"),
            _planned("fp-nosuch", "1"),
            _planned("fp-zeta", "1.0-1"),
            _planned("fp-gamma", "1.0-1"),
            _planned("fp-epoch", "1:1.1-1"),
        ],
        dry_run=True,
    )
    assert refused.failed["fp-alpha"] == "E: Version '9.9' for 'fp-alpha' was not found"
    assert refused.failed["fp-epoch"].startswith("apt refused: ")
    assert set(refused.failed) == {"fp-alpha", "fp-nosuch", "fp-zeta", "fp-gamma", "fp-epoch"}
