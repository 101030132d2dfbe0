"""Real faults on lab containers, and ground truth read inside them (the fault matrix,
docs/reliability.md).

Every helper acts on the container through Docker or runs a command inside it with
``docker exec``: nothing here goes through fleetpatch. Fault tests use fresh containers from
the ``lab_fleet`` factory (a fault changes the host), then check the host's real state with
:func:`dpkg_state` / :func:`rpm_versions` and the store with :func:`store_rows`.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.lab import fleet
from tests.lab.fleet import LabHost

DEFAULT_NETWORK = "bridge"


def sh(host: LabHost, script: str, *, user: str | None = None) -> tuple[int, str]:
    """Run ``sh -c script`` inside the container (as root unless ``user``)."""
    return fleet.exec_in(host, ["sh", "-c", script], user=user)


def must(host: LabHost, script: str) -> str:
    """:func:`sh`, failing loudly when the command fails (test set-up, not the check)."""
    rc, out = sh(host, script)
    if rc != 0:
        raise fleet.LabError(f"{host.container}: {script!r} exited {rc}: {out}")
    return out


def dpkg_state(host: LabHost, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``name -> (db:Status-Abbrev, version)`` from dpkg itself; absent names are left out."""
    quoted = " ".join(f"'{n}'" for n in names)
    _, out = sh(
        host, f"dpkg-query -W -f='${{Package}}\\t${{db:Status-Abbrev}}\\t${{Version}}\\n' {quoted}"
    )
    found: dict[str, tuple[str, str]] = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] in names:
            found[parts[0]] = (parts[1].strip(), parts[2])
    return found


def dpkg_log_installs(host: LabHost, name: str) -> list[str]:
    """The ``status installed NAME:ARCH VERSION`` lines of /var/log/dpkg.log for ``name``:
    how many times dpkg really finished installing it."""
    _, out = sh(host, f"grep -E ' status installed {name}:[^ ]+ ' /var/log/dpkg.log || true")
    return [line for line in out.splitlines() if line.strip()]


def rpm_versions(host: LabHost, names: Sequence[str]) -> dict[str, str]:
    """``name -> version-release`` from rpm itself; absent names are left out."""
    quoted = " ".join(f"'{n}'" for n in names)
    _, out = sh(host, f"rpm -q --qf '%{{NAME}}\\t%{{VERSION}}-%{{RELEASE}}\\n' {quoted}")
    found: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] in names:
            found[parts[0]] = parts[1]
    return found


@contextlib.contextmanager
def paused(host: LabHost) -> Iterator[None]:
    """The container frozen (``docker pause``): TCP stays open, nothing answers."""
    container = fleet.docker_client().containers.get(host.container)
    container.pause()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            container.unpause()


def disconnect(host: LabHost, network: str = DEFAULT_NETWORK) -> None:
    """Cut the container off its network (``docker network disconnect``)."""
    fleet.docker_client().networks.get(network).disconnect(host.container, force=True)


def reconnect(host: LabHost, network: str = DEFAULT_NETWORK, *, wait: float = 30.0) -> None:
    """Put the container back on its network and wait until sshd answers on its port."""
    fleet.docker_client().networks.get(network).connect(host.container)
    fleet.wait_ssh(host, timeout=wait)


@contextlib.contextmanager
def network_cut(host: LabHost, network: str = DEFAULT_NETWORK) -> Iterator[None]:
    """The container off its network for the duration of the block."""
    disconnect(host, network)
    try:
        yield
    finally:
        reconnect(host, network)


def kill(host: LabHost, *, start_again: bool = True, wait: float = 60.0) -> None:
    """SIGKILL the whole container (every process on the host dies at once), then start it
    again (same filesystem, new PID 1) unless told not to."""
    container = fleet.docker_client().containers.get(host.container)
    container.kill()
    if start_again:
        container.start()
        fleet.wait_ssh(host, timeout=wait)


def stop(host: LabHost) -> None:
    """Stop the container (the host is down: connections are refused)."""
    fleet.docker_client().containers.get(host.container).stop(timeout=1)


def start(host: LabHost, *, wait: float = 60.0) -> None:
    fleet.docker_client().containers.get(host.container).start()
    fleet.wait_ssh(host, timeout=wait)


def wait_for(host: LabHost, script: str, *, timeout: float = 60.0, poll: float = 0.2) -> str:
    """Poll ``sh -c script`` inside the container until it exits 0; return its output.

    Used to act at a precise moment of a run (e.g. once dpkg is unpacking a package)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        rc, last = sh(host, script)
        if rc == 0:
            return last
        time.sleep(poll)
    raise fleet.LabError(f"{host.container}: {script!r} not true within {timeout:g}s ({last})")


def store_rows(db: Path, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of a SQLite store, read directly (ground truth for what a run left behind)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, tuple(params))]
    finally:
        conn.close()


def build_deb(
    host: LabHost,
    name: str,
    version: str,
    *,
    preinst: str = "",
    postinst: str = "",
) -> str:
    """Build a tiny ``Architecture: all`` package with ``dpkg-deb`` inside the container
    (maintainer scripts as given, POSIX sh bodies) and return its path there. For faults a
    package must cause for real (a preinst that sleeps, a postinst that fails)."""
    root = f"/tmp/fp-debs/{name}_{version}"
    scripts = ""
    for script, body in (("preinst", preinst), ("postinst", postinst)):
        if body:
            scripts += (
                f"printf '#!/bin/sh\\n%s\\n' '{body}' > {root}/DEBIAN/{script}; "
                f"chmod 0755 {root}/DEBIAN/{script}; "
            )
    must(
        host,
        f"rm -rf {root} && mkdir -p {root}/DEBIAN {root}/usr/share/fp-lab && "
        f"echo '{name} {version}' > {root}/usr/share/fp-lab/{name}.version && "
        f"printf 'Package: {name}\\nVersion: {version}\\nArchitecture: all\\n"
        f"Maintainer: fleetpatch lab <lab@fleetpatch.invalid>\\nDescription: lab fault\\n' "
        f"> {root}/DEBIAN/control && {scripts}dpkg-deb --build {root} {root}.deb >/dev/null",
    )
    return f"{root}.deb"


# ---------------------------------------------------------------------------------------------
# Installs under faults (docs/reliability.md, "Installs that survive faults")


def slow_dpkg_unpack(host: LabHost, seconds: int, marker: str = "/tmp/fp-unpacked") -> None:
    """Make every ``dpkg --unpack`` run of an install pause ``seconds`` after unpacking (a
    dpkg post-invoke hook), touching ``marker`` first: a test acts while apt-get and dpkg are
    mid-install, with packages unpacked and not yet configured."""
    must(
        host,
        "cat > /usr/local/sbin/fp-slow-unpack <<'EOF'\n"
        "#!/bin/sh\n"
        f'[ "$DPKG_HOOK_ACTION" = unpack ] || exit 0\ntouch {marker}\nsleep {int(seconds)}\n'
        "EOF\n"
        "chmod 755 /usr/local/sbin/fp-slow-unpack\n"
        "echo post-invoke=/usr/local/sbin/fp-slow-unpack > /etc/dpkg/dpkg.cfg.d/fp-slow-unpack",
    )


def hold_apt_lock(host: LabHost, seconds: int, marker: str = "/tmp/fp-lock-held") -> None:
    """Another apt-get takes the apt/dpkg locks and keeps them ``seconds`` (its
    ``DPkg::Pre-Invoke`` sleeps while it holds them); returns once it holds them."""
    fleet.docker_client().containers.get(host.container).exec_run(
        [
            "sh",
            "-c",
            f"apt-get -q -y -o 'DPkg::Pre-Invoke::=touch {marker}; sleep {int(seconds)}' "
            "install --reinstall fp-gamma > /tmp/fp-lock-holder.log 2>&1",
        ],
        detach=True,
    )
    wait_for(host, f"test -e {marker}", timeout=30)


def hold_rpmdb_lock(host: LabHost) -> str:
    """A process holds dnf's rpmdb lock (its pid in dnf's lock file, as a running dnf does);
    returns that pid. :func:`release_rpmdb_lock` ends it."""
    return must(
        host,
        "setsid sleep 600 </dev/null >/dev/null 2>&1 & pid=$!; "
        "mkdir -p /var/lib/dnf; printf %s $pid > /var/lib/dnf/rpmdb_lock.pid; echo $pid",
    ).strip()


def release_rpmdb_lock(host: LabHost, pid: str) -> None:
    must(host, f"kill {int(pid)}; rm -f /var/lib/dnf/rpmdb_lock.pid")


def jobs_left(host: LabHost) -> list[str]:
    """The install jobs left on the host (/var/lib/fleetpatch/jobs)."""
    _, out = sh(host, "ls -A /var/lib/fleetpatch/jobs 2>/dev/null || true")
    return [line for line in out.split() if line]


def start_with_tmpfs(
    image: str, prefix: str, tmpfs: dict[str, str], *, timeout: float = 60.0
) -> LabHost:
    """A fresh lab host with small tmpfs mounts (``{path: "size=1m"}``): a full disk where
    the test wants one. Remove it with ``fleet.stop_fleet([host])``."""
    client = fleet.docker_client()
    name = f"{prefix}-1"
    container = f"{fleet.CONTAINER_NAME_PREFIX}{name}"
    with contextlib.suppress(Exception):
        client.containers.get(container).remove(force=True)
    port = fleet._free_port()
    made = client.containers.run(
        image,
        detach=True,
        name=container,
        hostname=name,
        labels={fleet.LABEL_LAB: "1", fleet.LABEL_PREFIX: prefix, fleet.LABEL_HOST: name},
        environment={"FP_AUTHORIZED_KEY": fleet.public_key()},
        ports={"22/tcp": ("127.0.0.1", port)},
        tmpfs=tmpfs,
    )
    fleet._wait_banner(port, time.monotonic() + timeout, container)
    return LabHost(
        name=name,
        container=container,
        address="127.0.0.1",
        port=port,
        host_key_lines=fleet.read_host_keys(container, port),
        image=image,
        container_id=str(made.id),
    )


def hold_command(host: LabHost, name: str) -> str:
    """Make ``name`` (found first on PATH, ``/usr/local/bin``) wait while a flag file exists:
    it touches ``/tmp/fp-held-NAME`` when a caller reaches it, then waits for
    :func:`release_command`. Lets a test fault a host at a known step of a script. Returns the
    path of the "reached" file (poll it with :func:`wait_for`)."""
    real = must(host, f"command -v {name}").strip()
    reached = f"/tmp/fp-held-{name}"
    must(
        host,
        f"touch /tmp/fp-hold-{name}; rm -f {reached}; cat > /usr/local/bin/{name} <<'EOF'\n"
        "#!/bin/sh\n"
        f"if [ -e /tmp/fp-hold-{name} ]; then\n"
        f"  touch {reached}\n"
        f"  while [ -e /tmp/fp-hold-{name} ]; do sleep 0.2; done\n"
        "fi\n"
        f'exec {real} "$@"\n'
        f"EOF\nchmod 755 /usr/local/bin/{name}",
    )
    return reached


def release_command(host: LabHost, name: str) -> None:
    """Undo :func:`hold_command`: callers waiting go on, later ones are not held."""
    must(host, f"rm -f /tmp/fp-hold-{name} /tmp/fp-held-{name} /usr/local/bin/{name}")


def sshd_log(host: LabHost) -> str:
    """What the container's sshd logged so far (``sshd -D -e``: the container's log)."""
    container = fleet.docker_client().containers.get(host.container)
    return str(container.logs(stdout=True, stderr=True).decode("utf-8", "replace"))


def set_sshd_option(host: LabHost, option: str, value: str) -> None:
    """Set an sshd option in the lab's sshd config (first value wins, so it is replaced in
    place or added to that file) and make the running sshd reload it (SIGHUP)."""
    conf = "/etc/ssh/sshd_config.d/00-fleetpatch-lab.conf"
    must(
        host,
        f"if grep -q '^{option} ' {conf}; then sed -i 's/^{option} .*/{option} {value}/' {conf}; "
        f"else echo '{option} {value}' >> {conf}; fi; sshd -t && kill -HUP $(cat /run/sshd.pid)",
    )
    time.sleep(0.5)  # sshd re-executes itself on SIGHUP
    fleet.wait_ssh(host, timeout=10)


def enable_faillock_for_sudo(host: LabHost) -> None:
    """pam_faillock on sudo's auth stack (as RHEL's authselect ``with-faillock`` sets it up):
    every failed password counts, ``faillock --user NAME`` lists them. ``deny`` is high so that
    tests never lock the user out."""
    must(
        host,
        "cat > /etc/pam.d/sudo <<'EOF'\n"
        "#%PAM-1.0\n"
        "session    required   pam_limits.so\n"
        "auth required pam_faillock.so preauth deny=100\n"
        "auth [success=1 default=bad] pam_unix.so\n"
        "auth [default=die] pam_faillock.so authfail deny=100\n"
        "auth sufficient pam_faillock.so authsucc deny=100\n"
        "auth required pam_deny.so\n"
        "@include common-account\n"
        "@include common-session-noninteractive\n"
        "EOF",
    )


def faillock_failures(host: LabHost, user: str) -> int:
    """How many failed authentications pam_faillock holds for ``user`` (its own view)."""
    out = must(host, f"faillock --user {user}")
    return sum(1 for line in out.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line))


# --------------------------------------------------------------------------- the store's disk


class FaultUnavailable(RuntimeError):
    """The fault cannot be caused here (not root, no CAP_SYS_ADMIN, a tool missing)."""


@contextlib.contextmanager
def small_tmpfs(directory: Path, size_kb: int) -> Iterator[Path]:
    """A real file system of ``size_kb`` KiB mounted at ``directory`` (tmpfs) for the block,
    so that a store on it meets a real full disk (ENOSPC). Needs root (CI runs as root).

    Raises:
        FaultUnavailable: mounting is not possible here; the caller skips, naming why.
    """
    import subprocess

    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise FaultUnavailable(f"cannot mount a tmpfs at {directory}: {done.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)


def fill_disk(directory: Path) -> Path:
    """Write a file in ``directory`` until its file system has no byte left (ENOSPC); return
    the file (delete it to free the space again)."""
    filler = directory / "filler"
    chunk = b"\0" * 4096
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError:
            pass
    with filler.open("ab", buffering=0) as fh:  # the last partial page, byte by byte
        try:
            while True:
                fh.write(b"\0")
        except OSError:
            pass
    return filler


def overwrite_bytes(path: Path, offset: int, data: bytes) -> None:
    """Garbage in a file: ``data`` written over it at ``offset`` (nothing else changes)."""
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(data)


UNPRIVILEGED_UID = 65534  # "nobody" on Debian


def unprivileged_prefix() -> list[str]:
    """The command prefix that runs a command as an unprivileged user when the tests run as
    root (file modes do not bind root), else nothing: the tests' own user is unprivileged."""
    import os
    import shutil

    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise FaultUnavailable("setpriv (util-linux) is needed to drop root for this test")
    uid = str(UNPRIVILEGED_UID)
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


def write_file(host: LabHost, path: str, data: bytes, *, mode: int = 0o644) -> None:
    """Put ``data`` at ``path`` inside the container (any bytes: escapes, markup, binary)."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name=Path(path).name)
        info.size = len(data)
        info.mode = mode
        tar.addfile(info, io.BytesIO(data))
    container = fleet.docker_client().containers.get(host.container)
    if not container.put_archive(str(Path(path).parent), buffer.getvalue()):
        raise fleet.LabError(f"{host.container}: could not write {path}")
