"""DnfInstaller / ZypperInstaller: rendering (POSIX syntax, exact NEVRAs, hostile names), the
transaction-table and simulation parsers, and the golden transcripts captured in the lab
(tests/golden/{dnf,zypper}/install/installer/<case>.txt + <case>.request.json; the expected
InstallOutcome in <case>.json; `pytest --update-golden` rewrites it)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fleetpatch.errors import InputError, ParseError
from fleetpatch.platforms.dnf.installer import DnfInstaller, YumInstaller
from fleetpatch.platforms.dnf.transaction import parse_dnf_transaction
from fleetpatch.platforms.installers import installer_for
from fleetpatch.platforms.zypper.installer import ZypperInstaller
from fleetpatch.platforms.zypper.simulate import parse_patch_search, parse_zypper_simulation
from fleetpatch.results import PlannedPackage

from .golden import GOLDEN_ROOT, Golden, golden_value

HAS_DASH = shutil.which("dash") is not None
CASES = sorted(
    [
        *(GOLDEN_ROOT / "dnf" / "install" / "installer").glob("*.txt"),
        *(GOLDEN_ROOT / "zypper" / "install" / "installer").glob("*.txt"),
    ]
)


def pkg(name: str, arch: str, version: str, installed: str | None = None) -> PlannedPackage:
    return PlannedPackage(name=name, arch=arch, version=version, installed_version=installed)


DNF_SET = [
    pkg("fp-crit", "x86_64", "1.1-1.el9", "1.0-1.el9"),
    pkg("fp-epoch", "x86_64", "2:1.1-1.el9", "2:1.0-1.el9"),
    pkg("fp-bug", "noarch", "1.1-1.el9"),
]
ZYPPER_SET = [
    pkg("SUSE-SLE-Module-Basesystem-15-SP6-2026-1", "noarch", "1"),
    pkg("fp-plain", "x86_64", "1.1-1.150600.1.1", "1.0-1.150600.1.1"),
]


# ---------------------------------------------------------------------------------------------
# Registry


def test_rpm_families_are_registered() -> None:
    dnf, yum, zypper = installer_for("dnf"), installer_for("yum"), installer_for("zypper")
    assert isinstance(dnf, DnfInstaller) and dnf.tool == "dnf"
    assert isinstance(yum, YumInstaller) and yum.tool == "yum"
    assert isinstance(zypper, ZypperInstaller)
    with pytest.raises(InputError):
        DnfInstaller("apt")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Rendering


def _scripts() -> list[str]:
    return [
        DnfInstaller().render(DNF_SET, dry_run=True),
        DnfInstaller().render(DNF_SET, dry_run=False),
        YumInstaller().render(DNF_SET, dry_run=True),
        YumInstaller().render(DNF_SET, dry_run=False),
        ZypperInstaller().render(ZYPPER_SET, dry_run=True),
        ZypperInstaller().render(ZYPPER_SET, dry_run=False),
    ]


@pytest.mark.skipif(not HAS_DASH, reason="needs dash")
@pytest.mark.parametrize("index", range(6))
def test_installer_scripts_are_valid_dash(index: int) -> None:
    result = subprocess.run(["dash", "-n"], input=_scripts()[index], text=True, capture_output=True)
    assert result.returncode == 0, result.stderr


def test_dnf_requests_exact_nevras_with_the_epoch_spelled() -> None:
    real = DnfInstaller().render(DNF_SET, dry_run=False)
    nevras = "fp-crit-0:1.1-1.el9.x86_64 fp-epoch-2:1.1-1.el9.x86_64 fp-bug-0:1.1-1.el9.noarch"
    assert f"dnf -y --setopt=exit_on_lock=True upgrade {nevras} 2>&1" in real
    assert "fp_section dnf.install " in real and "dnf.simulate" not in real
    dry = DnfInstaller().render(DNF_SET, dry_run=True)
    assert f"dnf -C --assumeno upgrade {nevras} 2>&1" in dry
    assert "fp_section dnf.simulate " in dry and "fp_section dnf.install " not in dry
    assert " -y " not in dry  # the dry run never says yes
    for script in (real, dry):
        assert "fp_section dnf.needs_restarting" in script and "fp_section dnf.kernels" in script
    assert "yum -C --assumeno upgrade" in YumInstaller().render(DNF_SET, dry_run=True)


def test_zypper_lets_the_host_decide_patch_or_package() -> None:
    dry = ZypperInstaller().render(ZYPPER_SET, dry_run=True)
    assert "search -t patch --match-exact SUSE-SLE-Module-Basesystem-15-SP6-2026-1 fp-plain" in dry
    assert '"patch:SUSE-SLE-Module-Basesystem-15-SP6-2026-1' in dry.replace("'", '"')
    assert "fp-plain.x86_64=1.1-1.150600.1.1" in dry
    assert "install --dry-run --auto-agree-with-licenses $fp_zyp_args" in dry
    assert "--non-interactive-include-reboot-patches" in dry
    assert "fp_section zypper.install " not in dry
    real = ZypperInstaller().render(ZYPPER_SET, dry_run=False)
    assert "fp_section zypper.simulate" in real and "fp_section zypper.install " in real
    assert "-eq 103" in real and "-eq 7" in real  # lock retries and update-stack rerun kept
    assert "fp_section zypper.needs_rebooting" in real


HOSTILE = [
    "-y",
    "--setopt=tsflags=test",
    "fp;id",
    "fp$(id)",
    "fp`id`",
    "fp name",
    "fp'x",
    'fp"x',
    "fp\nid",
    "fp*",
    "",
]


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("installer", [DnfInstaller(), YumInstaller(), ZypperInstaller()])
@pytest.mark.parametrize("dry_run", [True, False])
def test_hostile_names_are_refused(name: str, installer: object, dry_run: bool) -> None:
    with pytest.raises(InputError):
        installer.render([pkg(name, "x86_64", "1.0-1")], dry_run=dry_run)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("arch", "version"),
    [
        ("x86_64", "1.0-1 $(id)"),
        ("x86_64", "1.0-1;id"),
        ("x86_64", "-1.0-1"),
        ("x86_64", "a:1.0-1"),
        ("x86 64", "1.0-1"),
        ("$(id)", "1.0-1"),
    ],
)
def test_hostile_versions_and_arches_are_refused(arch: str, version: str) -> None:
    for installer in (DnfInstaller(), ZypperInstaller()):
        with pytest.raises(InputError):
            installer.render([pkg("fp-crit", arch, version)], dry_run=True)


def test_dnf_needs_version_release_and_one_version_per_name_arch() -> None:
    with pytest.raises(InputError, match="version-release"):
        DnfInstaller().render([pkg("fp-crit", "x86_64", "1.1")], dry_run=True)
    with pytest.raises(InputError, match="two versions"):
        DnfInstaller().render(
            [pkg("fp-crit", "x86_64", "1.1-1"), pkg("fp-crit", "x86_64", "1.2-1")], dry_run=True
        )
    with pytest.raises(InputError):
        DnfInstaller().render([], dry_run=False)
    with pytest.raises(InputError):
        ZypperInstaller().render([], dry_run=False)
    # a patch's edition has no release: fine for zypper
    assert "patch:P-1" in ZypperInstaller().render([pkg("P-1", "noarch", "1")], dry_run=True)


# ---------------------------------------------------------------------------------------------
# dnf transaction table

WRAPPED = """\
Dependencies resolved.
================================================================================
 Package                         Arch     Version                 Repo     Size
================================================================================
Upgrading:
 python3-a-very-long-package-name-indeed
                                 noarch   1:2.3.4-5.el9_4.1       appstream
                                                                           1.2 M
     replacing  python3-old-name.noarch 1.0-1.el9
Installing dependencies:
 libfoo                          x86_64   1.0-1.el9               baseos   10 k
Removing:
 kernel-core                     x86_64   5.14.0-1.el9            @System  60 M
Skipping packages with conflicts:
(add '--best --allowerasing' to command line to force their upgrade):
 bar                             x86_64   2.0-1.el9               appstream 9 k
Enabling module streams:
 nodejs                                   18

Transaction Summary
================================================================================
Install  1 Package
Upgrade  1 Package
Remove   1 Package
Skip     1 Package

Total download size: 1.2 M
"""

YUM = """\
Resolving Dependencies
Dependencies Resolved

================================================================================
 Package            Arch         Version                   Repository     Size
================================================================================
Updating:
 openssl-libs       x86_64       1:1.0.2k-26.el7_9         updates       1.2 M
Installing for dependencies:
 make               x86_64       1:3.82-24.el7             base          421 k
Updating for dependencies:
 openssl            x86_64       1:1.0.2k-26.el7_9         updates       494 k

Transaction Summary
================================================================================
Install             ( 1 Dependent package)
Upgrade  1 Package (+1 Dependent package)

Total download size: 2.1 M
Exiting on user command
"""


def test_transaction_rows_wrap_obsolete_skip_and_module_sections() -> None:
    t = parse_dnf_transaction(WRAPPED)
    got = [(r.action, r.name, r.arch, r.version, r.repo, r.dependency_section) for r in t.rows]
    assert got == [
        (
            "upgrade",
            "python3-a-very-long-package-name-indeed",
            "noarch",
            "1:2.3.4-5.el9_4.1",
            "appstream",
            False,
        ),
        ("install", "libfoo", "x86_64", "1.0-1.el9", "baseos", True),
        ("remove", "kernel-core", "x86_64", "5.14.0-1.el9", "@System", False),
        ("skip", "bar", "x86_64", "2.0-1.el9", "appstream", False),
    ]
    assert t.rows[0].size == "1.2 M"
    assert t.rows[0].replacing == ("python3-old-name.noarch 1.0-1.el9",)
    assert [r.name for r in t.changes] == ["python3-a-very-long-package-name-indeed", "libfoo"]
    assert t.summary == {"Install": 1, "Upgrade": 1, "Remove": 1, "Skip": 1}


def test_transaction_yum_layout_and_dependent_counts() -> None:
    t = parse_dnf_transaction(YUM)
    assert [(r.action, r.name, r.dependency_section) for r in t.rows] == [
        ("upgrade", "openssl-libs", False),
        ("install", "make", True),
        ("upgrade", "openssl", True),
    ]
    assert t.summary == {"Install": 1, "Upgrade": 2}


def test_transaction_disagreeing_with_its_summary_is_refused() -> None:
    with pytest.raises(ParseError, match="summary says 2"):
        parse_dnf_transaction(WRAPPED.replace("Upgrade  1 Package", "Upgrade  2 Packages"))
    with pytest.raises(ParseError, match="Transaction Summary"):
        parse_dnf_transaction(WRAPPED.split("Transaction Summary")[0])
    with pytest.raises(ParseError, match="expected 'name arch version"):
        parse_dnf_transaction(
            WRAPPED.replace(
                " libfoo                          x86_64   1.0-1.el9               baseos   10 k",
                " libfoo",
            )
        )


def test_no_table_is_an_empty_transaction() -> None:
    assert parse_dnf_transaction("Dependencies resolved.\nNothing to do.\nComplete!\n").rows == ()


# ---------------------------------------------------------------------------------------------
# zypper simulation


def test_zypper_simulation_refuses_a_dtd_and_cross_checks_the_count() -> None:
    with pytest.raises(ParseError, match="DOCTYPE"):
        parse_zypper_simulation('<!DOCTYPE x [<!ENTITY a "b">]><stream/>')
    bad = (
        '<stream><install-summary packages-to-change="3"><to-upgrade>'
        '<solvable type="package" name="a" edition="2-1" arch="x86_64"/>'
        "</to-upgrade></install-summary></stream>"
    )
    with pytest.raises(ParseError, match="packages-to-change=3"):
        parse_zypper_simulation(bad)
    assert (
        parse_patch_search(
            '<stream><message type="info">No matching items found.</message></stream>'
        )
        == frozenset()
    )


# ---------------------------------------------------------------------------------------------
# Golden transcripts


def _id(path: Path) -> str:
    return str(path.relative_to(GOLDEN_ROOT).with_suffix(""))


def test_golden_cases_exist() -> None:
    families = {c.relative_to(GOLDEN_ROOT).parts[0] for c in CASES}
    assert families == {"dnf", "zypper"}
    assert any(c.stem.endswith("-dry") for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_rpm_installer_golden(case: Path, golden: Golden) -> None:
    request = json.loads(case.with_suffix(".request.json").read_text(encoding="utf-8"))
    installer = installer_for(request["family"])
    assert installer is not None
    packages = [PlannedPackage(**p) for p in request["packages"]]
    text = case.read_text(encoding="utf-8")
    golden.check(
        case.with_suffix(".json"),
        golden_value(
            lambda: dataclasses.asdict(installer.parse(text, packages, dry_run=request["dry_run"]))
        ),
    )
