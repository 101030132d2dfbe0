"""Knowledge behind a verdict, on real lab hosts through the real command (docs/reliability.md):
missing or unreadable package metadata, stale metadata and broken packages never give
COMPLIANT. Each test damages its own fresh host; the truth is read inside the container
(ls, stat, dpkg-query, dnf, zypper) and in the store afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_run import fleetpatch
from tests.lab import fleet
from tests.lab.faults import build_deb, dpkg_state, must, sh, store_rows, wait_for
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab


def _scan(inventory: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    proc = fleetpatch(
        ["scan", "-i", inventory, "--format", "json", *extra], store=tmp_path / "s.db"
    )
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)["hosts"][0], proc.stderr


def _last_row(tmp_path: Path, host: LabHost) -> dict[str, Any]:
    rows = store_rows(
        tmp_path / "s.db",
        "SELECT id, outcome, failure_kind, failure_message, compliance_status, "
        "metadata_age_seconds FROM host_results WHERE host = ? ORDER BY id DESC LIMIT 1",
        (host.name,),
    )
    return rows[0]


def _states(tmp_path: Path, row_id: int) -> dict[str, tuple[str, str]]:
    rows = store_rows(
        tmp_path / "s.db",
        "SELECT patch_id, state, message FROM patch_states WHERE host_result_id = ?",
        (row_id,),
    )
    return {r["patch_id"]: (r["state"], r["message"]) for r in rows}


def _fresh(lab_fleet: Any, lab_files: Any, image: str, tmp_path: Path) -> tuple[LabHost, Path]:
    host = lab_fleet(image, 1)[0]
    return host, lab_files([host], tmp_path).inventory


def test_deleted_security_lists_are_no_metadata_until_refreshed(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    host, inventory = _fresh(lab_fleet, lab_files, fleet.IMAGE_DEBIAN12_REPO, tmp_path)
    must(host, "rm /var/lib/apt/lists/*local-security*")
    assert "local-security" not in must(host, "ls /var/lib/apt/lists")
    rc, entry, _ = _scan(inventory, tmp_path)
    assert rc == 3, entry
    assert entry["failure"]["kind"] == "no_metadata"
    assert "file:/srv/repo local-security" in entry["failure"]["message"]
    assert "--refresh" in entry["failure"]["message"]
    row = _last_row(tmp_path, host)
    assert (row["outcome"], row["failure_kind"]) == ("failed", "no_metadata")
    assert row["compliance_status"] is not None  # what was read is kept
    # --refresh fetches the lists again (the file: repository is reachable)
    rc, entry, _ = _scan(inventory, tmp_path, "--refresh")
    assert "local-security" in must(host, "ls /var/lib/apt/lists")
    assert (rc, entry["status"], entry["failure"]) == (1, "NON_COMPLIANT", None)
    assert _last_row(tmp_path, host)["failure_kind"] is None


def test_a_refresh_that_cannot_reach_the_security_source_is_no_metadata(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    host, inventory = _fresh(lab_fleet, lab_files, fleet.IMAGE_DEBIAN12_REPO, tmp_path)
    # a dead address inside the container: nothing listens on 127.0.0.1:9 there
    must(
        host,
        "sed -i 's#^deb \\[trusted=yes\\] file:/srv/repo local-security main#"
        "deb [trusted=yes] http://127.0.0.1:9/repo local-security main#' /etc/apt/sources.list",
    )
    rc, entry, _ = _scan(inventory, tmp_path, "--refresh")
    assert rc == 3, entry
    assert entry["failure"]["kind"] == "no_metadata"
    assert "http://127.0.0.1:9/repo local-security" in entry["failure"]["message"]
    assert "Connection refused" in entry["failure"]["message"]
    code, _ = sh(host, "test -e /var/lib/apt/periodic/update-success-stamp")
    assert code != 0  # a failed refresh is not recorded as a success
    assert _last_row(tmp_path, host)["failure_kind"] == "no_metadata"


def test_stale_lists_cannot_make_a_host_compliant_and_refresh_fixes_it(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    host, inventory = _fresh(lab_fleet, lab_files, fleet.IMAGE_DEBIAN12_REPO, tmp_path)
    # a compliant host: every update installed (fp-broken, whose postinst fails, removed)
    must(host, "dpkg --purge fp-broken >/dev/null && apt-get -y -q dist-upgrade >/dev/null")
    assert all(s == "ii" for s, _ in dpkg_state(host, ["fp-alpha", "fp-beta"]).values())
    must(host, "touch -d '30 days ago' /var/lib/apt/lists/*")
    rc, entry, _ = _scan(inventory, tmp_path, "--max-metadata-age", "7d")
    assert rc == 3, entry
    assert entry["failure"]["kind"] == "stale_metadata"
    assert "30d old (maximum 7d)" in entry["failure"]["message"]
    assert entry["metadata_age_seconds"] >= 30 * 86400
    row = _last_row(tmp_path, host)
    assert (row["failure_kind"], row["compliance_status"]) == ("stale_metadata", "COMPLIANT")
    # the table shows the age
    table = fleetpatch(
        ["scan", "-i", inventory, "--max-metadata-age", "7d"], store=tmp_path / "s.db"
    )
    assert table.returncode == 3
    assert "Metadata" in table.stdout and "30d" in table.stdout
    # the inventory's "off" applies when no option is given
    rc, entry, _ = _scan(inventory, tmp_path)
    assert (rc, entry["status"]) == (0, "COMPLIANT")
    # --refresh: apt finds nothing new and keeps the lists' old mtimes, but every source was
    # fetched: the metadata is current, and APT's update-success stamp says so from now on
    rc, entry, _ = _scan(inventory, tmp_path, "--refresh", "--max-metadata-age", "7d")
    assert (rc, entry["status"], entry["metadata_age_seconds"]) == (0, "COMPLIANT", 0)
    old = int(must(host, "stat -c %Y /var/lib/apt/lists/_srv_repo_dists_local_Release"))
    now = int(must(host, "date +%s"))
    assert now - old >= 30 * 86400 - 60
    rc, entry, _ = _scan(inventory, tmp_path, "--max-metadata-age", "7d")
    assert (rc, entry["status"]) == (0, "COMPLIANT")
    assert entry["metadata_age_seconds"] < 600


def test_a_half_configured_package_is_failed_with_its_repair(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    host, inventory = _fresh(lab_fleet, lab_files, fleet.IMAGE_DEBIAN12_REPO, tmp_path)
    sh(host, "apt-get -y -q dist-upgrade")  # fp-broken 1.1-1's postinst fails on purpose
    assert dpkg_state(host, ["fp-broken"])["fp-broken"] == ("iF", "1.1-1")
    rc, entry, _ = _scan(inventory, tmp_path, "--verbose")
    assert (rc, entry["status"]) == (1, "NON_COMPLIANT"), entry
    assert entry["counts"]["FailedCount"] == 1
    states = _states(tmp_path, _last_row(tmp_path, host)["id"])
    state, message = states["fp-broken"]
    assert state == "FAILED"
    assert "dpkg state iF" in message and "dpkg --configure -a" in message
    # everything else is installed: fp-broken alone makes the host non-compliant
    assert {s for p, (s, _) in states.items() if p != "fp-broken"} <= {
        "INSTALLED",
        "INSTALLED_OTHER",
    }


def test_a_package_killed_mid_unpack_is_failed(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    host, inventory = _fresh(lab_fleet, lab_files, fleet.IMAGE_DEBIAN12_REPO, tmp_path)
    deb = build_deb(host, "fp-killed", "1.0", preinst="sleep 300")
    sh(host, f"nohup dpkg -i {deb} >/dev/null 2>&1 &")
    wait_for(host, "pgrep -x sleep")  # dpkg is in the preinst: the package is unpacking
    must(host, "pkill -KILL -x dpkg; pkill -KILL -x sleep; true")
    status, _ = dpkg_state(host, ["fp-killed"])["fp-killed"]
    assert status[1] == "H", status  # half-installed
    rc, entry, _ = _scan(inventory, tmp_path)
    # never COMPLIANT: NON_COMPLIANT (1), or, when apt-get -s refuses to run because of the
    # reinst-required package ("needs to be reinstalled, but I can't find an archive"),
    # no_metadata (3) naming it (both happen, depending on where dpkg was killed)
    if rc == 3:
        assert entry["failure"]["kind"] == "no_metadata", entry
        assert "fp-killed" in entry["failure"]["message"]
    else:
        assert (rc, entry["status"]) == (1, "NON_COMPLIANT"), entry
    states = _states(tmp_path, _last_row(tmp_path, host)["id"])
    assert states["fp-killed"][0] == "FAILED"
    assert f"dpkg state {status}" in states["fp-killed"][1]


@pytest.mark.parametrize(
    ("image", "repo_file", "repo_text", "truth"),
    [
        (
            fleet.IMAGE_ROCKY9,
            "/etc/yum.repos.d/extra.repo",
            "[fp-extra]\\nname=extra\\nbaseurl=file:///srv/extra\\nenabled=1\\ngpgcheck=0\\n",
            "dnf -q -C repolist --enabled",
        ),
        (
            fleet.IMAGE_SLES15,
            "/etc/zypp/repos.d/fp-extra.repo",
            "[fp-extra]\\nname=extra\\nenabled=1\\nautorefresh=0\\nbaseurl=file:///srv/extra\\n"
            "type=rpm-md\\ngpgcheck=0\\n",
            "zypper -n -q --no-refresh repos",
        ),
    ],
    ids=["dnf", "zypper"],
)
def test_an_rpm_repository_without_metadata_is_no_metadata(
    lab_fleet: Any,
    lab_files: Any,
    tmp_path: Path,
    image: str,
    repo_file: str,
    repo_text: str,
    truth: str,
) -> None:
    host, inventory = _fresh(lab_fleet, lab_files, image, tmp_path)
    rc, entry, _ = _scan(inventory, tmp_path)
    assert entry["failure"] is None, entry  # the clean host first
    must(host, f"printf '{repo_text}' > {repo_file}")
    assert "fp-extra" in must(host, truth)  # the package manager has it enabled
    rc, entry, _ = _scan(inventory, tmp_path)
    assert rc == 3, entry
    assert entry["failure"]["kind"] == "no_metadata"
    assert "'fp-extra'" in entry["failure"]["message"]
    assert entry["counts"] is not None  # the other repository's updates are still shown
    assert _last_row(tmp_path, host)["failure_kind"] == "no_metadata"


@pytest.mark.parametrize(
    ("image", "repair"),
    [
        (fleet.IMAGE_ROCKY9, "dnf remove --duplicates"),
        (fleet.IMAGE_SLES15, "rpm -e --justdb --nodeps fp-crit-1.0-1"),
    ],
    ids=["dnf", "zypper"],
)
def test_an_interrupted_rpm_transaction_leaves_a_duplicate_that_is_failed(
    image: str, repair: str, lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    """What an rpm transaction killed between adding the new header and erasing the old one
    leaves: two versions of one (non-installonly) name.arch in the rpm database, made here
    with ``rpm -i --justdb`` of the newer version beside the installed one. Never COMPLIANT:
    a FAILED item naming both versions and the repair; the rpm database is left as it is."""
    host, inventory = _fresh(lab_fleet, lab_files, image, tmp_path)
    must(host, "rpm -i --justdb --nodeps --replacefiles /srv/repo/fp-crit-1.1-1*.rpm")
    before = must(host, "rpm -q --qf '%{NAME}-%{VERSION}-%{RELEASE}\\n' fp-crit").split()
    assert len(before) == 2 and {v.split("-")[2] for v in before} == {"1.0", "1.1"}, before
    rc, entry, _ = _scan(inventory, tmp_path)
    assert (rc, entry["status"]) == (1, "NON_COMPLIANT"), entry
    assert entry["counts"]["FailedCount"] == 1, entry["counts"]
    states = _states(tmp_path, _last_row(tmp_path, host)["id"])
    [(state, message)] = [v for k, v in states.items() if k.startswith("fp-crit")]
    assert state == "FAILED"
    assert "1.0-1" in message and "1.1-1" in message, message
    assert "interrupted" in message and repair in message, message
    # the scan changed nothing: both headers are still there
    after = must(host, "rpm -q --qf '%{NAME}-%{VERSION}-%{RELEASE}\\n' fp-crit").split()
    assert after == before
