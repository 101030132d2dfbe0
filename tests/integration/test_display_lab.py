"""Text from hosts is data, never markup: lab hosts whose os-release, package lists, command
output and hook output carry rich markup (``[/bold]``, ``[red]``) and ANSI escapes. The
table, the progress lines and ``fleetpatch report`` show them literally (control characters
as ``\\x1b``), nothing crashes, and no escape reaches the operator's terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_run import fleetpatch
from tests.lab import faults, fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

ESC = "\x1b"
PRIORITY = "[/bold][red]important" + ESC + "[2J"
PRIORITY_SHOWN = "[/bold][red]important\\x1b[2J"
ALL_UPDATES = """\
name: lab-all-updates
operating_system: DEBIAN
approval_rules:
  - filters: [{key: PRIORITY, values: ["*"]}]
    enable_non_security: true
"""
APT_SAYS = "[/bold]apt is broken" + ESC + "]0;owned" + ESC + "\\ [red]"
APT_SAYS_SHOWN = "[/bold]apt is broken\\x1b]0;owned\\x1b\\ [red]"
HOOK_SAYS = "[/bold]hook says no" + ESC + "[31m [red]"
HOOK_SAYS_SHOWN = "[/bold]hook says no\\x1b[31m [red]"


@pytest.fixture(scope="module")
def marked_hosts(lab_fleet: Any) -> dict[str, LabHost]:
    """Three fresh hosts: ``lists`` has markup in the Priority of its pending fp-alpha update
    (apt's own lists, through a real ``apt-get update``), ``os`` has an unsupported
    os-release with markup, ``apt`` has an apt-get that prints markup and escapes and fails."""
    lists, os_host, apt = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 3)
    _set_priority(lists, PRIORITY)
    faults.write_file(
        os_host,
        "/etc/os-release",
        (
            f'ID=plan9\nVERSION_ID="4{ESC}[2J[/bold]"\nPRETTY_NAME="[/bold]Plan 9 {ESC}[2J[red]"\n'
        ).encode(),
    )
    faults.must(apt, "mv /usr/bin/apt-get /usr/bin/apt-get.real")
    faults.write_file(
        apt,
        "/usr/bin/apt-get",
        f"#!/bin/sh\ncat <<'EOF'\n{APT_SAYS}\nEOF\nexit 100\n".encode(),
        mode=0o755,
    )
    rc, said = faults.sh(apt, "apt-get -s dist-upgrade")
    assert rc == 100 and said.strip() == APT_SAYS, repr(said)
    return {"lists": lists, "os": os_host, "apt": apt}


def _set_priority(host: LabHost, priority: str) -> None:
    """Rewrite the local-security repository's fp-alpha Priority, renew its Release hashes and
    run apt-get update: the host's apt lists then carry ``priority`` (shown as the update's
    severity)."""
    where = "/srv/repo/dists/local-security"
    packages = faults.must(host, f"cat {where}/main/binary-amd64/Packages")
    assert packages.startswith("Package: fp-alpha\n") and "Priority: important\n" in packages
    changed = packages.replace("Priority: important\n", f"Priority: {priority}\n", 1)
    faults.write_file(host, f"{where}/main/binary-amd64/Packages", changed.encode())
    faults.must(
        host,
        f"set -e; cd {where}; f=main/binary-amd64/Packages; rm -f $f.gz; s=$(stat -c %s $f); "
        "sed -n '1,/^MD5Sum:/p' Release | sed '$d' > Release.new; "
        "for h in MD5Sum:md5sum SHA1:sha1sum SHA256:sha256sum SHA512:sha512sum; do "
        '  echo "${h%%:*}:"; echo " $(${h#*:} $f | cut -d" " -f1) $s $f"; done >> Release.new; '
        "mv Release.new Release; apt-get update -q >/dev/null",
    )


def _inventory(hosts: list[LabHost], directory: Path, lab_files: Any) -> Path:
    (directory / "all.yaml").write_text(ALL_UPDATES)  # approves any priority, even that one
    return Path(lab_files(hosts, directory).inventory)


def column(text: str, header: str, after: str | None) -> str:
    """Every cell of column ``header`` of the first table with that header (followed by a
    column headed ``after``, or last), run together without spaces: rich folds long cells
    over several lines, so the text is read column by column, as a person reads it."""
    lines = text.splitlines()
    heads = [
        n
        for n, line in enumerate(lines)
        if header in line and (after is None or after in line[line.index(header) :])
    ]
    assert heads, f"no table with a {header!r} column in:\n{text}"
    head = lines[heads[0]]
    start = head.index(header)
    end = head.index(after, start) if after is not None else len(head)
    cells = []
    for row in lines[heads[0] + 1 :]:
        if not row.strip() or row.lstrip().startswith(("└", "╰")):
            break
        if set(row.strip()) <= set("─━┡┩╇┼╋┿╂├┤│┃ "):
            continue  # a rule under the header
        cells.append(row[start:end])
    return "".join("".join(cells).replace("│", "").replace("┃", "").split())


def _no_escapes(*texts: str) -> None:
    for text in texts:
        assert ESC not in text, repr(text)


def test_scan_table_progress_and_report_show_host_text_literally(
    marked_hosts: dict[str, LabHost], lab_files: Any, tmp_path: Path
) -> None:
    hosts = [marked_hosts["lists"], marked_hosts["os"], marked_hosts["apt"]]
    inventory = _inventory(hosts, tmp_path, lab_files)
    store = tmp_path / "s.db"
    baseline = tmp_path / "all.yaml"
    proc = fleetpatch(["scan", "-i", inventory, "-b", baseline, "-v"], store=store)
    assert proc.returncode == 3, proc.stderr  # two hosts failed
    assert "Traceback" not in proc.stderr
    _no_escapes(proc.stdout, proc.stderr)
    _shown_literally(proc.stdout)
    lines = proc.stderr.splitlines()  # the progress lines (no terminal)
    assert any(APT_SAYS_SHOWN in line and marked_hosts["apt"].name in line for line in lines)

    for args in (["report", "-v"], ["report", "-v", "-o", tmp_path / "report.txt"]):
        shown = fleetpatch(args, store=store)
        assert shown.returncode == 3, shown.stderr
        assert "Traceback" not in shown.stderr
        text = shown.stdout if "-o" not in args else (tmp_path / "report.txt").read_text()
        _no_escapes(text, shown.stderr)
        _shown_literally(text)

    doc = json.loads(fleetpatch(["report", "--format", "json"], store=store).stdout)
    by_host = {h["host"]: h for h in doc["hosts"]}  # JSON keeps the exact text
    alpha = next(p for p in by_host[marked_hosts["lists"].name]["patches"] if p["id"] == "fp-alpha")
    assert alpha["state"] == "MISSING" and alpha["severity"] == PRIORITY
    assert APT_SAYS in by_host[marked_hosts["apt"].name]["failure"]["message"]


def _shown_literally(table: str) -> None:
    """The scan's table (verbose): the priority in the patch table, os-release and apt's output
    in the error table, each as the host wrote it, escapes made visible."""
    assert PRIORITY_SHOWN in column(table, "Severity / class", "Reason")
    errors = column(table, "Message", None)
    assert "PRETTY_NAME='[/bold]Plan9\\x1b[2J[red]'" in errors
    assert "VERSION_ID=4\\x1b[2J[/bold]" in errors
    assert "".join(APT_SAYS_SHOWN.split()) in errors


def test_install_shows_hook_output_literally(
    marked_hosts: dict[str, LabHost], lab_files: Any, tmp_path: Path
) -> None:
    host = marked_hosts["lists"]
    inventory = _inventory([host], tmp_path, lab_files)
    hook = f"printf '%s\\n' '{HOOK_SAYS}'; exit 3"
    for dry_run in ([], ["--dry-run"]):
        proc = fleetpatch(
            [
                "install",
                "-i",
                inventory,
                "-t",
                host.name,
                "-b",
                tmp_path / "all.yaml",
                "--pre-install",
                hook,
                *dry_run,
            ],
            store=tmp_path / "s.db",
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        _no_escapes(proc.stdout, proc.stderr)
        if dry_run:  # the plan: the package to install
            assert proc.returncode == 0, proc.stderr
            assert "fp-alpha" in proc.stdout
        else:  # the hook failed: nothing installed, its output shown as it is
            assert proc.returncode == 3, proc.stderr
            said = column(proc.stdout, "detail", None)
            assert "".join(f"pre_install (exit 3) said: {HOOK_SAYS_SHOWN}".split()) in said
    assert faults.dpkg_state(host, ["fp-alpha"])["fp-alpha"] == ("ii", "1.0-1")
