"""The lab images do what tests/lab/README.md promises (real ssh client, real apt inside).

Run: make lab-images && .venv/bin/python -m pytest -m lab tests/lab -q
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.lab import fleet  # noqa: E402
from tests.lab.fleet import LabHost  # noqa: E402

pytestmark = pytest.mark.lab

SSH_IMAGES = [fleet.IMAGE_BASE, fleet.IMAGE_DEBIAN12, fleet.IMAGE_DEBIAN12_REPO]
SIMULATE = ["apt-get", "-s", "-q", "-o", "Debug::NoLocking=1", "dist-upgrade"]

# The exact pending state documented in tests/lab/README.md.
EXPECTED_REPO_INST = {
    "fp-alpha": ("1.0-1", "1.1-1", "Debian-Security:12/local-security", "amd64"),
    "fp-beta": ("1.0-1", "2.0-1", "Debian:12/local", "all"),
    "fp-delta": ("1.0-1", "1.3-1", "Debian:12/local-updates", "amd64"),
    "fp-epoch": ("1:1.0-1", "1:1.1-1", "Debian-Security:12/local-security", "amd64"),
    "fp-broken": ("1.0-1", "1.1-1", "Debian:12/local", "amd64"),
}
EXPECTED_REPO_INSTALLED = {
    "fp-alpha": ("1.0-1", "important", "admin"),
    "fp-beta": ("1.0-1", "optional", "utils"),
    "fp-gamma": ("1.0-1", "standard", "misc"),
    "fp-delta": ("1.0-1", "required", "libs"),
    "fp-epoch": ("1:1.0-1", "extra", "net"),
    "fp-broken": ("1.0-1", "optional", "admin"),
}
INST_RE = re.compile(
    r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])? \((?P<new>\S+) (?P<rels>.+?) "
    r"\[(?P<arch>[^\]]+)\]\)(?: \[.*\])*$"
)


@pytest.fixture(scope="module")
def lab_ready() -> None:
    ok, reason = fleet.docker_available()
    if not ok:
        pytest.skip(f"lab needs Docker: {reason}")
    for image in [*SSH_IMAGES, fleet.IMAGE_POSTGRES]:
        try:
            fleet.require_image(image)
        except fleet.ImageMissing as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def one_of_each(lab_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One container per SSH image (restart policy unless-stopped) + a known_hosts file."""
    tag = f"t{os.getpid()}"
    hosts: dict[str, LabHost] = {}
    try:
        for i, image in enumerate(SSH_IMAGES):
            (h,) = fleet.start_fleet(image, 1, f"{tag}-{i}", restart_policy="unless-stopped")
            hosts[image] = h
        kh = fleet.write_known_hosts(hosts.values(), tmp_path_factory.mktemp("lab") / "known_hosts")
        yield {"hosts": hosts, "known_hosts": kh, "key": fleet.ensure_key()}
    finally:
        fleet.stop_fleet(hosts.values())


def ssh(
    env: dict, host: LabHost, user: str, command: str, timeout: float = 60
) -> subprocess.CompletedProcess:
    """The real OpenSSH client, strict host key checking against the written known_hosts."""
    argv = [
        "ssh",
        "-i",
        str(env["key"]),
        "-p",
        str(host.port),
        "-o",
        f"UserKnownHostsFile={env['known_hosts']}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "LogLevel=ERROR",
        f"{user}@{host.address}",
        command,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def inst_lines(host: LabHost) -> list[re.Match]:
    rc, out = fleet.exec_in(host, SIMULATE)
    assert rc == 0, out
    lines = [ln for ln in out.splitlines() if ln.startswith("Inst ")]
    matches = [INST_RE.match(ln) for ln in lines]
    assert all(matches), lines
    return [m for m in matches if m]


# --------------------------------------------------------------------------- ssh & users


@pytest.mark.parametrize("image", SSH_IMAGES)
def test_ssh_as_root_and_fleet_with_sudo(one_of_each: dict, image: str) -> None:
    host = one_of_each["hosts"][image]
    r = ssh(one_of_each, host, "root", "id -u")
    assert (r.returncode, r.stdout.strip()) == (0, "0"), r.stderr
    r = ssh(one_of_each, host, "fleet", "id -un && sudo -n true && sudo -n id -u")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["fleet", "0"]


def test_unknown_host_key_is_rejected(one_of_each: dict, tmp_path: Path) -> None:
    host = one_of_each["hosts"][fleet.IMAGE_BASE]
    other = one_of_each["hosts"][fleet.IMAGE_DEBIAN12]
    wrong = tmp_path / "known_hosts"
    # Right address, wrong keys (another container's): strict checking must refuse.
    wrong.write_text(
        "".join(
            f"[127.0.0.1]:{host.port} {line.split(' ', 1)[1]}\n" for line in other.host_key_lines
        )
    )
    r = ssh({**one_of_each, "known_hosts": wrong}, host, "root", "true")
    assert r.returncode == 255
    assert "host key" in r.stderr.lower() or "HOST IDENTIFICATION" in r.stderr


def test_fleetpw_password_login_and_sudo_needs_password(one_of_each: dict) -> None:
    asyncssh = pytest.importorskip("asyncssh")
    host = one_of_each["hosts"][fleet.IMAGE_BASE]

    async def run() -> tuple[int, int, str]:
        async with asyncssh.connect(
            host.address,
            port=host.port,
            username="fleetpw",
            password="labpass",
            known_hosts=str(one_of_each["known_hosts"]),
            client_keys=None,
            agent_path=None,
        ) as conn:
            nopw = await conn.run("sudo -n true", check=False)
            withpw = await conn.run("sudo -S -p '' id -u", input="labpass\n", check=False)
            return nopw.exit_status, withpw.exit_status, str(withpw.stdout).strip()

    nopw_rc, pw_rc, out = asyncio.run(run())
    assert nopw_rc != 0  # sudo requires a password
    assert (pw_rc, out) == (0, "0")
    # The lab key works for fleetpw too.
    r = ssh(one_of_each, host, "fleetpw", "id -un")
    assert (r.returncode, r.stdout.strip()) == (0, "fleetpw"), r.stderr


def test_host_key_lines_match_container(one_of_each: dict) -> None:
    for host in one_of_each["hosts"].values():
        rc, out = fleet.exec_in(host, ["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"])
        assert rc == 0
        keys = {tuple(line.split()[:2]) for line in out.splitlines()}
        assert {tuple(line.split()[1:3]) for line in host.host_key_lines} == keys
        assert all(line.startswith(f"[127.0.0.1]:{host.port} ") for line in host.host_key_lines)


def test_sshd_settings(one_of_each: dict) -> None:
    host = one_of_each["hosts"][fleet.IMAGE_DEBIAN12]
    rc, out = fleet.exec_in(host, ["/usr/sbin/sshd", "-T"])
    assert rc == 0, out
    conf = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert conf["passwordauthentication"] == "yes"
    assert conf["permitrootlogin"] == "without-password"  # = prohibit-password
    assert conf["maxstartups"] == "200:30:300"
    assert conf["maxsessions"] == "50"
    assert conf["usedns"] == "no"


# --------------------------------------------------------------------------- apt state


def test_debian12_has_pending_security_updates(one_of_each: dict) -> None:
    host = one_of_each["hosts"][fleet.IMAGE_DEBIAN12]
    inst = inst_lines(host)
    security = [m for m in inst if "Debian-Security:" in m["rels"]]
    assert len(inst) > 0
    assert len(security) > 0
    # Installed versions come from the bookworm release: apt agrees they are older.
    for m in inst:
        assert m["old"] and m["old"] != m["new"]
    # Every pending update is already in the apt cache (nothing left to download).
    rc, out = fleet.exec_in(host, ["apt-get", "-qq", "--print-uris", "-y", "dist-upgrade"])
    assert rc == 0, out
    assert out.strip() == ""
    rc, out = fleet.exec_in(host, ["cat", "/etc/apt/sources.list"])
    assert "bookworm-security" in out and "bookworm-updates" in out


def test_debian12_security_update_installs_offline(lab_ready: None) -> None:
    (host,) = fleet.start_fleet(fleet.IMAGE_DEBIAN12, 1, f"t{os.getpid()}-off")
    try:
        inst = {m["name"]: m for m in inst_lines(host)}
        assert "zip" in inst, "expected zip to have a pending security update"
        # A dead proxy proves nothing is downloaded: the deb must come from the cache.
        rc, out = fleet.exec_in(
            host,
            [
                "apt-get",
                "-y",
                "-q",
                "-o",
                "Acquire::http::Proxy=http://127.0.0.1:9/",
                "install",
                "--only-upgrade",
                f"zip={inst['zip']['new']}",
            ],
        )
        assert rc == 0, out
        rc, out = fleet.exec_in(host, ["dpkg-query", "-W", "-f=${Version}", "zip"])
        assert (rc, out) == (0, inst["zip"]["new"])
    finally:
        fleet.stop_fleet([host])


def test_debian12_repo_exact_pending_state(one_of_each: dict) -> None:
    host = one_of_each["hosts"][fleet.IMAGE_DEBIAN12_REPO]
    got = {m["name"]: (m["old"], m["new"], m["rels"], m["arch"]) for m in inst_lines(host)}
    assert got == EXPECTED_REPO_INST

    fmt = "${Package}\t${Version}\t${Priority}\t${Section}\t${db:Status-Abbrev}\n"
    rc, out = fleet.exec_in(host, ["dpkg-query", "-W", f"-f={fmt}", "fp-*"])
    assert rc == 0, out
    installed = {}
    for line in out.splitlines():
        name, version, prio, section, status = line.split("\t")
        if status.strip() == "ii":
            installed[name] = (version, prio, section)
    assert installed == EXPECTED_REPO_INSTALLED

    # The "fixed version also in -updates" pitfall: the security version exists but is hidden.
    rc, out = fleet.exec_in(host, ["apt-cache", "policy", "fp-delta"])
    assert rc == 0
    assert "1.2-1 500" in out and "local-security" in out and "1.3-1 500" in out

    # Only the local repository is configured.
    rc, out = fleet.exec_in(
        host, ["sh", "-c", "cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null"]
    )
    assert "http" not in out and "file:/srv/repo" in out


def test_debian12_repo_broken_postinst_fails(lab_ready: None) -> None:
    (host,) = fleet.start_fleet(fleet.IMAGE_DEBIAN12_REPO, 1, f"t{os.getpid()}-brk")
    try:
        rc, out = fleet.exec_in(host, ["apt-get", "-y", "-q", "install", "fp-broken"])
        assert rc == 100, out
        rc, out = fleet.exec_in(
            host, ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", "fp-broken"]
        )
        assert out.strip() == "1.1-1 iF"  # unpacked, half-configured
    finally:
        fleet.stop_fleet([host])


# --------------------------------------------------------------------------- reboot shim


def test_reboot_shim_restarts_container(one_of_each: dict) -> None:
    host = one_of_each["hosts"][fleet.IMAGE_DEBIAN12_REPO]
    before = fleet.pid1_start_time(host)
    r = ssh(one_of_each, host, "fleet", "sudo -n reboot")
    assert r.returncode in (0, 255), r.stderr  # 255: connection dropped by the "reboot"

    deadline = time.monotonic() + 60
    after = before
    while time.monotonic() < deadline:
        try:
            after = fleet.pid1_start_time(host)
        except Exception:  # container between stop and restart
            after = before
        if after != before:
            break
        time.sleep(0.3)
    assert after != before, "PID 1 was not restarted"
    fleet.wait_ssh(host, timeout=60)
    # Same port, same host keys (the written known_hosts still verifies), new boot.
    r = ssh(one_of_each, host, "root", "cat /run/lab-boot-time")
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------- postgres


def test_postgres_accepts_connections(lab_ready: None, request: pytest.FixtureRequest) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    pg = None
    try:  # the session fixture from tests/lab/fixtures.py when conftest provides it
        url = request.getfixturevalue("postgres_url")
    except pytest.FixtureLookupError:
        pg = fleet.start_postgres(f"t{os.getpid()}")
        url = pg.url
    assert url.startswith("postgresql+psycopg://fleetpatch:fleetpatch@127.0.0.1:")
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select current_user")).scalar() == "fleetpatch"
    finally:
        engine.dispose()
        if pg is not None:
            fleet.stop_postgres(pg)
