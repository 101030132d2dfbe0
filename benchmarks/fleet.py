"""The benchmark fleet: N loopback "hosts" behind ONE OpenSSH sshd that replays a recorded scan.

Every host is a distinct address in 127.0.0.0/8 (all of it is loopback on Linux), so every host
is its own TCP connection, handshake and session, exactly as with real machines. sshd listens on
0.0.0.0:PORT (OpenSSH accepts at most 16 ListenAddress entries, too few for 127.0.0.1..N) and
refuses anyone not coming from 127.0.0.0/8 (``AllowUsers root@127.0.0.0/8``).

What a host answers does not depend on the client: sshd's ``ForceCommand`` runs a replay script
that prints the scan output recorded once from a real Debian 12 (``recorded/debian12-scan.out``,
see ``record.sh``), whatever command the client asked for. With ``fleet="varied"`` every host
answers its own variant of that recording instead (``variants.py``): one file per host address
is written to ``WORKDIR/variants/127.0.b.c.out`` before sshd starts, and the replay script picks
the file named by the server-side address of the connection (the third field of
``$SSH_CONNECTION``, the address the client connected to). When the command is ``sh -s`` (the
script comes on stdin, as fleetpatch and the raw client send it) the replay first reads stdin to
the end (``cat >/dev/null``), as ``sh`` would, so the client pays for sending its script; when
the script travels inside the command (a here-doc: pyinfra ``exec``, Ansible ``raw``) stdin is not
read, as ``sh`` would not read it either (Ansible never closes it).

Standard library only: imported by the harness, the simulator and the smoke test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RECORDED = HERE / "recorded" / "debian12-scan.out"
SSHD = Path("/usr/sbin/sshd")
FLEETS = ("uniform", "varied")  # every host answers the recording / its own variant of it


def host_address(i: int) -> str:
    """Address of host ``i`` (1-based): 127.0.0.1 … 127.0.0.254, then 127.0.1.1 … (no .0/.255)."""
    if i < 1:
        raise ValueError("hosts are numbered from 1")
    block, offset = divmod(i - 1, 254)
    if block > 255:
        raise ValueError("more than 65,024 hosts do not fit in 127.0.0.0/16")
    return f"127.0.{block}.{offset + 1}"


def host_index(address: str) -> int:
    """Inverse of :func:`host_address`: 127.0.b.c -> host number (1-based)."""
    parts = address.split(".")
    if len(parts) != 4 or parts[:2] != ["127", "0"]:
        raise ValueError(f"not a benchmark host address: {address!r}")
    block, offset = int(parts[2]), int(parts[3])
    if not 1 <= offset <= 254:
        raise ValueError(f"not a benchmark host address: {address!r}")
    return block * 254 + offset


def host_name(i: int) -> str:
    return f"h{i:05d}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Keys:
    client_key: Path  # ed25519 private key (OpenSSH format; paramiko and asyncssh read it)
    client_pub: str
    host_key: Path
    host_pub: str  # "ssh-ed25519 AAAA..."


def make_keys(workdir: Path) -> Keys:
    """One client key and one host key (ed25519), generated with ssh-keygen in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("id_ed25519", "ssh_host_ed25519_key"):
        path = workdir / name
        if not path.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleetpatch-bench",
                 "-f", str(path)],
                check=True,
            )
        paths[name] = path
    pub = {n: " ".join(Path(f"{p}.pub").read_text().split()[:2]) for n, p in paths.items()}
    return Keys(
        client_key=paths["id_ed25519"],
        client_pub=pub["id_ed25519"],
        host_key=paths["ssh_host_ed25519_key"],
        host_pub=pub["ssh_host_ed25519_key"],
    )


def write_known_hosts(path: Path, count: int, port: int, host_pub: str) -> Path:
    """One known_hosts line per host, as for a real fleet (no wildcard)."""
    with path.open("w") as fh:
        for i in range(1, count + 1):
            fh.write(f"[{host_address(i)}]:{port} {host_pub}\n")
    return path


class SshdFleet:
    """One Debian OpenSSH sshd, own config, own host key, on 0.0.0.0:port, replaying a scan.

    ``fleet="uniform"``: every host answers ``recorded``. ``fleet="varied"``: host ``i``
    (1..``hosts``) answers ``variants.variant(recorded, i, seed)``, pre-generated into
    ``workdir/variants`` by :meth:`start`; a host beyond ``hosts`` fails (no file).
    """

    def __init__(self, workdir: Path, keys: Keys, *, port: int | None = None,
                 recorded: Path = RECORDED, fleet: str = "uniform", hosts: int = 0,
                 seed: int = 0):
        if fleet not in FLEETS:
            raise ValueError(f"fleet must be one of {FLEETS}, got {fleet!r}")
        if fleet == "varied" and hosts < 1:
            raise ValueError("a varied fleet needs the number of hosts to generate")
        self.workdir = workdir
        self.keys = keys
        self.port = port or free_port()
        self.recorded = recorded
        self.fleet = fleet
        self.hosts = hosts
        self.seed = seed
        self.variants = workdir / "variants"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "sshd.log"

    def write_variants(self) -> list[Path]:
        """One output file per host address (``variants/127.0.b.c.out``), hosts 1..hosts."""
        from variants import write_variants

        shutil.rmtree(self.variants, ignore_errors=True)
        return write_variants(self.variants, self.hosts, self.recorded, self.seed)

    def _write_config(self) -> Path:
        wd = self.workdir
        replay = wd / "replay.sh"
        if self.fleet == "varied":
            answer = (
                "# varied fleet: the file of the address the client connected to\n"
                "# (SSH_CONNECTION = client address, client port, server address, server port)\n"
                "set -- $SSH_CONNECTION\n"
                f"exec cat '{self.variants}'/\"$3\".out\n"
            )
        else:
            answer = f"exec cat {self.recorded}\n"
        replay.write_text(
            "#!/bin/sh\n"
            "# fleetpatch benchmark target: answer with the recorded scan output, whatever\n"
            "# command was asked for. A client that sends the script on stdin (`sh -s`) has it\n"
            "# read to the end first, as sh would; a client that sends it in the command itself\n"
            "# (a here-doc: pyinfra, Ansible raw) may never close stdin; sh would not read it.\n"
            'case "$SSH_ORIGINAL_COMMAND" in\n'
            '  "sh -s"|*" -- sh -s") cat >/dev/null ;;\n'
            "esac\n"
            + answer
        )
        replay.chmod(0o755)
        (wd / "authorized_keys").write_text(self.keys.client_pub + "\n")
        config = wd / "sshd_config"
        config.write_text(
            f"""# fleetpatch benchmark sshd (benchmarks/fleet.py); not the system's sshd
Port {self.port}
ListenAddress 0.0.0.0
AllowUsers root@127.0.0.0/8
HostKey {self.keys.host_key}
PidFile {wd}/sshd.pid
AuthorizedKeysFile {wd}/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
ForceCommand {replay}
PermitTTY no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PrintMotd no
PrintLastLog no
UseDNS no
# sshd runs ForceCommand through root's login shell (bash -c); Debian's bash sources ~/.bashrc
# for commands run by sshd unless SHLVL says it is nested. Without this, this machine's root
# .bashrc (pyenv init) cost ~130 ms of CPU per connection and the benchmark measured it.
SetEnv SHLVL=1
MaxStartups 10000
MaxSessions 10
LoginGraceTime 120
LogLevel ERROR
"""
        )
        return config

    def start(self, timeout: float = 10.0) -> None:
        if not SSHD.exists():
            raise RuntimeError(
                f"{SSHD} is missing: apt-get install -y openssh-server (benchmarks/run.sh does)"
            )
        if self.fleet == "varied":
            self.write_variants()
        config = self._write_config()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        subprocess.run([str(SSHD), "-t", "-f", str(config)], check=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(8).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not answer on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> SshdFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_tools() -> list[str]:
    """What is missing on this machine to run the sshd benchmark."""
    missing = []
    if not SSHD.exists():
        missing.append(f"{SSHD} (apt-get install -y openssh-server)")
    for tool in ("ssh-keygen", "ssh"):
        if shutil.which(tool) is None:
            missing.append(tool)
    return missing
