"""Approved/rejected entry formats and matching per family; version ordering."""

from __future__ import annotations

import pytest

from fleetpatch.baseline.names import NameMatcher, check_patch_name, yum_package_forms
from fleetpatch.baseline.versions import dpkg_version_cmp, rpm_evr_cmp
from fleetpatch.facts import AvailableUpdate, InstalledPackage

YUM_OK = [
    "1234567",
    "CVE-2018-1234567",
    "RHSA-2017:0864",
    "ALAS-2018-123",
    "ALAS2023-2023-123",
    "dbus",
    "dbus.x86_64",
    "dbus-1.12.28",
    "dbus-1.12.28-1.amzn2023.0.1",
    "dbus-1.12.28-1.amzn2023.0.1.x86_64",
    "1.12.28",
    "1.12.28-1.amzn2023.0.1",
    "1:1.12.28-1.amzn2023.0.1",
    "dbus-1:1.12.28-1.amzn2023.0.1",
    "dbus-1:1.12.28-1.amzn2023.0.1.x86_64",
    "1:dbus-1.12.28-1.amzn2023.0.1.x86_64",
    "dbus.x86_64:1:1.12.28-1.amzn2023.0.1",
    "dbus*",
    "*-devel",
]
YUM_BAD = ["foo bar", "a*b*", "foo/bar", "x:y", "a,b", "", "pkg?"]


@pytest.mark.parametrize("entry", YUM_OK)
def test_yum_approved_accepts(entry: str) -> None:
    assert check_patch_name(entry, "yum", rejected=False) is None


@pytest.mark.parametrize("entry", YUM_BAD)
def test_yum_rejects(entry: str) -> None:
    assert check_patch_name(entry, "yum", rejected=False) is not None


@pytest.mark.parametrize("entry", ["CVE-2018-1234567", "RHSA-2017:0864", "1234567"])
def test_yum_rejected_list_takes_no_ids(entry: str) -> None:
    assert "approved_patches" in (check_patch_name(entry, "yum", rejected=True) or "")


@pytest.mark.parametrize(
    ("family", "entry", "ok"),
    [
        ("apt", "ExamplePkg33", True),
        ("apt", "libssl3", True),
        ("apt", "libssl3:amd64", False),
        ("apt", "libssl*", False),
        ("zypper", "SUSE-SLE-Example-Package-12-2018-123", True),
        ("zypper", "pkg-2018.11.4-46.17.1.x86_64.rpm", True),
        ("zypper", "SUSE-SLE-*", True),
        ("zypper", "pkg", False),
        ("windows", "KB2032276", True),
        ("windows", "MS10-048", True),
        ("windows", "2032276", False),
        ("macos", "Safari 17.4", True),
        ("macos", "Safari*", False),
    ],
)
def test_other_families(family: str, entry: str, ok: bool) -> None:
    assert (check_patch_name(entry, family, rejected=False) is None) is ok  # type: ignore[arg-type]


def _u(name: str, version: str, arch: str = "x86_64", **kw: object) -> AvailableUpdate:
    return AvailableUpdate(name=name, arch=arch, candidate_version=version, security=True, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entry", "hit"),
    [
        ("dbus", True),
        ("dbus.x86_64", True),
        ("dbus.i686", False),
        ("dbus-1.12.28", True),
        ("dbus-1.12.28-1.amzn2023.0.1.x86_64", True),
        ("dbus-1:1.12.28-1.amzn2023.0.1.x86_64", True),
        ("dbus-2:1.12.28-1.amzn2023.0.1.x86_64", False),
        ("1:dbus-1.12.28-1.amzn2023.0.1.x86_64", True),
        ("dbus.x86_64:1:1.12.28-1.amzn2023.0.1", True),
        ("1.12.28-1.amzn2023.0.1", True),
        ("1:1.12.28-1.amzn2023.0.1", True),
        ("db*", True),
        ("*.x86_64", True),
        ("dbus-1.13*", False),
        ("dbu", False),
    ],
)
def test_yum_matching(entry: str, hit: bool) -> None:
    m = NameMatcher.compile([entry], "yum")
    assert (m.match_update(_u("dbus", "1:1.12.28-1.amzn2023.0.1")) == entry) is hit


def test_yum_forms_without_epoch_use_zero() -> None:
    assert "0:1.0-1" in yum_package_forms("a", "noarch", "1.0-1").splitlines()


def test_installed_matching_and_windows_case() -> None:
    m = NameMatcher.compile(["kb5034441"], "windows")
    assert m.match_installed(InstalledPackage(name="KB5034441", arch="", version="")) == "kb5034441"
    apt = NameMatcher.compile(["telnet"], "apt")
    assert apt.match_installed(InstalledPackage(name="telnet", arch="amd64", version="1")) == (
        "telnet"
    )
    assert apt.match_installed(InstalledPackage(name="telnetd", arch="amd64", version="1")) is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0-1", "1.0-2", -1),
        ("1:1.0-1", "2.0-1", 1),
        ("1.0~rc1-1", "1.0-1", -1),
        ("1.0^git1-1", "1.0-1", 1),
        ("1.10-1", "1.9-1", 1),
        ("1.0a-1", "1.0-1", 1),
        ("2.34-100.el9", "2.34-83.el9", 1),
    ],
)
def test_rpm_order(a: str, b: str, expected: int) -> None:
    assert rpm_evr_cmp(a, b) == expected
    assert rpm_evr_cmp(b, a) == -expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("3.0.11-1~deb12u1", "3.0.11-1", -1),
        ("3.0.13-1~deb12u1", "3.0.11-1~deb12u2", 1),
        ("2:9.0-1", "9.1-1", 1),
        ("1.0+b1", "1.0", 1),
        ("1.0", "1.0", 0),
        ("1.0a", "1.0+", -1),
    ],
)
def test_dpkg_order(a: str, b: str, expected: int) -> None:
    assert dpkg_version_cmp(a, b) == expected
    assert dpkg_version_cmp(b, a) == -expected
