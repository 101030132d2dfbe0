"""The rendered dnf/yum/zypper scripts: POSIX syntax, quoting/validation of what names a
package, and the pieces the parsers rely on."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fleetpatch.errors import InputError
from fleetpatch.platforms.dnf.install import dnf_install_script
from fleetpatch.platforms.render import scan_script
from fleetpatch.platforms.rpm.install import PackageTarget
from fleetpatch.platforms.rpm.parsers import KERNEL_NAMES, kernel_release_names, parse_nevra
from fleetpatch.platforms.zypper.install import zypper_install_script

HAS_DASH = shutil.which("dash") is not None
TARGET = PackageTarget(name="fp-epoch", arch="x86_64", version="2:1.1-1.el9")


def _scripts() -> list[str]:
    return [
        scan_script(refresh=False),
        scan_script(refresh=True),
        dnf_install_script([TARGET]),
        dnf_install_script([TARGET], advisories=["RLSA-2026:0008"], tool="yum"),
        zypper_install_script(patches=["SUSE-SLE-Module-Basesystem-15-SP6-2026-1"]),
        zypper_install_script(packages=[TARGET]),
    ]


@pytest.mark.skipif(not HAS_DASH, reason="needs dash")
@pytest.mark.parametrize("index", range(6))
def test_scripts_are_valid_dash(index: int) -> None:
    result = subprocess.run(["dash", "-n"], input=_scripts()[index], text=True, capture_output=True)
    assert result.returncode == 0, result.stderr


def test_scan_script_dispatches_rpm_families() -> None:
    script = scan_script()
    assert 'dnf|yum) fp_scan_dnf "$fp_family"' in script
    assert "zypper) fp_scan_zypper" in script
    assert script.count("fp_rpm_installed() {") == 1  # helpers included once
    for name in KERNEL_NAMES:
        assert f" {name} " in script or f" {name}\\" in script, name
    assert "-C" in script and "--no-refresh" in script  # no metadata refresh unless asked
    refresh = scan_script(refresh=True)
    assert "makecache" in refresh and "zypper -n -q --no-color refresh" in refresh


def test_dnf_install_uses_exact_nevras_with_epoch() -> None:
    script = dnf_install_script([TARGET])
    assert "upgrade fp-epoch-2:1.1-1.el9.x86_64" in script
    assert "--advisory=RLSA-2026:0008" in dnf_install_script(
        [TARGET], advisories=["RLSA-2026:0008"]
    )
    assert "-lt 6 ]" in script and "sleep 10" in script  # bounded lock retries


def test_zypper_install_handles_locks_and_update_stack() -> None:
    script = zypper_install_script(patches=["P-1"])
    assert "ZYPP_LOCK_TIMEOUT=30" in script
    assert "--non-interactive-include-reboot-patches" in script
    assert "install --auto-agree-with-licenses -t patch P-1" in script
    assert "-eq 103" in script and "-eq 7" in script


@pytest.mark.parametrize(
    "bad",
    [
        PackageTarget(name="fp;rm -rf /", arch="x86_64", version="1-1"),
        PackageTarget(name="fp", arch="x86_64", version="1-1 $(id)"),
    ],
)
def test_install_refuses_names_outside_the_rpm_grammar(bad: PackageTarget) -> None:
    with pytest.raises(InputError):
        dnf_install_script([bad])
    with pytest.raises(InputError):
        zypper_install_script(packages=[bad])


def test_install_needs_something() -> None:
    with pytest.raises(InputError):
        dnf_install_script([])
    with pytest.raises(InputError):
        zypper_install_script()
    with pytest.raises(InputError):
        zypper_install_script(patches=["P 1"])


@pytest.mark.parametrize(
    ("name", "version", "release", "arch", "running"),
    [
        ("kernel-core", "5.14.0", "427.13.1.el9_4", "x86_64", "5.14.0-427.13.1.el9_4.x86_64"),
        ("kernel", "6.1.79", "99.164.amzn2023", "x86_64", "6.1.79-99.164.amzn2023.x86_64"),
        ("kernel-default", "5.14.21", "150500.55.19.1", "x86_64", "5.14.21-150500.55.19-default"),
        ("kernel", "3.10.0", "1160.119.1.el7", "x86_64", "3.10.0-1160.119.1.el7.x86_64"),
    ],
)
def test_kernel_release_names(
    name: str, version: str, release: str, arch: str, running: str
) -> None:
    assert running in kernel_release_names(name, version, release, arch)


def test_nevra_with_epoch_and_dashes() -> None:
    n = parse_nevra("python3-dnf-plugin-versionlock-1:4.3.0-13.el9.noarch")
    assert (n.name, n.epoch, n.version, n.release, n.arch) == (
        "python3-dnf-plugin-versionlock",
        1,
        "4.3.0",
        "13.el9",
        "noarch",
    )
    assert str(n) == "python3-dnf-plugin-versionlock-1:4.3.0-13.el9.noarch"
