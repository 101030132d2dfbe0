"""yum (EL 7, AL 2) repository state: the scan's ``dnf.repos`` section for yum hosts, and what
the evaluation makes of it. There is no yum in the lab (Debian ships dnf, not yum), so yum's
output is CONSTRUCTED from its documented behaviour and its source (yum 3.4.3): ``yum -C
repolist enabled`` prints a table ``repo id / repo name / status`` whose ids are
``id/$releasever/$basearch``, ``!`` marks expired metadata, a ``repolist: N`` line closes it;
with ``skip_if_unavailable`` a repository whose cache is missing is disabled *silently*
(yum/repos.py ``populateSack``: no message), so it is simply absent from that table.

The shell function runs for real (dash) against a stand-in ``yum`` that prints that table,
and real repository files in a temporary directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fleetpatch.platforms.render import scan_script
from fleetpatch.platforms.rpm.repostate import parse_dnf_repos

YUM_REPOLIST = """\
Loaded plugins: fastestmirror
Loading mirror speeds from cached hostfile
 * base: mirror.example.org
repo id                            repo name                            status
base/7/x86_64                      CentOS-7 - Base                      10,072
!updates/7/x86_64                  CentOS-7 - Updates                    5,061
*epel/x86_64                       Extra Packages for Enterprise Linux  13,791
repolist: 28,924
"""

REPO_FILES = {
    "CentOS-Base.repo": (
        "[base]\nname=CentOS-$releasever - Base\nmirrorlist=http://mirrorlist.centos.org/\n"
        "gpgcheck=1\n\n[updates]\nname=CentOS-$releasever - Updates\n\n"
        "[centosplus]\nname=CentOS-$releasever - Plus\nenabled=0\n"
    ),
    "epel.repo": "[epel]\nname=Extra Packages\nenabled = 1\n\n[epel-debuginfo]\nenabled=0\n",
    "internal.repo": "[fp-extra]\nname=internal mirror\nbaseurl=file:///srv/extra\nenabled=True\n",
}


def _yum_repos_function() -> str:
    """The helpers and ``fp_yum_repos`` as the scan script defines them."""
    script = scan_script()
    parts = []
    for name in ("fp_rpm_run", "fp_rpm_begin", "fp_rpm_end", "fp_yum_repos"):
        match = re.search(rf"^{name}\(\) {{.*?^}}$", script, re.M | re.S)
        if match is None:  # one-line definitions
            match = re.search(rf"^{name}\(\) {{.*}}$", script, re.M)
        assert match is not None, name
        parts.append(match.group(0))
    return "\n".join(parts)


@pytest.mark.skipif(shutil.which("dash") is None, reason="needs dash")
def test_yum_repos_section_from_yum_config_and_repolist(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "yum"
    (tmp_path / "repolist.txt").write_text(YUM_REPOLIST)
    fake.write_text(f'#!/bin/sh\necho "$*" > {tmp_path}/args\ncat {tmp_path}/repolist.txt\n')
    fake.chmod(0o755)
    repos = tmp_path / "yum.repos.d"
    repos.mkdir()
    for name, text in REPO_FILES.items():
        (repos / name).write_text(text)
    (tmp_path / "yum.conf").write_text("[main]\ncachedir=/var/cache/yum\nenabled=0\n")
    program = (
        _yum_repos_function()
        + '\nfp_dnf_c="-C --setopt=skip_if_unavailable=True"'
        + f'\nfp_yum_repo_files="{tmp_path}/yum.conf {repos}/*.repo {tmp_path}/none/*.repo"'
        + "\nfp_rpm_begin\nfp_yum_repos\nfp_rpm_end\n"
    )
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    done = subprocess.run(["dash"], input=program, text=True, capture_output=True, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "args").read_text().split() == [
        "-C",
        "--setopt=skip_if_unavailable=True",
        "repolist",
        "enabled",
    ]
    state = parse_dnf_repos(done.stdout)
    assert state.enabled == ("base", "updates", "epel", "fp-extra")
    assert {"base", "updates", "epel"} <= set(state.loaded)
    [missing] = state.missing("yum")
    assert missing.startswith("yum repository 'fp-extra': its metadata did not load")
    assert "yum makecache" in missing


def test_yum_repos_golden_constructed() -> None:
    """The section as the function above prints it (CONSTRUCTED, see the module doc): the
    evaluation names the repository yum skipped."""
    text = (
        "enabled\tbase\nenabled\tupdates\nenabled\tfp-extra\n"
        "loaded\tLoading\nloaded\tbase\nloaded\tupdates\n"
    )
    assert parse_dnf_repos(text).missing("yum") == [
        "yum repository 'fp-extra': its metadata did not load (yum -C skips a repository "
        "without cached metadata silently; refresh with yum makecache)"
    ]


def test_a_yum_host_with_a_skipped_repository_is_no_metadata() -> None:
    """The whole scan, yum's way: the rocky9 lab transcript with an uncached repository
    (REAL), its dnf.upgrades section replaced by a yum check-update section and its dnf.repos
    section by what the yum function prints (CONSTRUCTED): the facts name the repository yum
    skipped, so the verdict is unknown (knowledge.py: no_metadata)."""
    from tests.unit.platforms.test_dnf_golden import parse_scan_transcript

    from fleetpatch.knowledge import knowledge_failure

    golden = Path(__file__).resolve().parents[2] / "golden" / "dnf" / "scan"
    text = (golden / "lab-rocky9-repo-no-cache.txt").read_text()
    text = re.sub(
        r"@@FP@@ BEGIN dnf.upgrades\n.*?@@FP@@ END dnf.upgrades 0\n",
        "@@FP@@ BEGIN dnf.check_update\n\n"
        "fp-crit.x86_64                          1.1-1.el9              fp\n"
        "@@FP@@ END dnf.check_update 100\n",
        text,
        flags=re.S,
    )
    text = re.sub(
        r"@@FP@@ BEGIN dnf.repos\n.*?@@FP@@ END dnf.repos 0\n",
        "@@FP@@ BEGIN dnf.repos\nenabled\tfp\nenabled\tfp-extra\nloaded\tfp\n"
        "loaded\trepolist:\n@@FP@@ END dnf.repos 0\n",
        text,
        flags=re.S,
    )
    assert "dnf.check_update" in text and "dnf.upgrades" not in text
    facts = parse_scan_transcript(text)
    assert len(facts.metadata_missing) == 1
    assert facts.metadata_missing[0].startswith("yum repository 'fp-extra'")
    failure = knowledge_failure(facts, None, None)
    assert failure is not None and failure.kind == "no_metadata"
    assert "fp-extra" in failure.message
