"""Re-capture the REAL transcripts of this folder from the lab (needs Docker + lab images).

    .venv/bin/python tests/golden/apt/install/capture.py      # then: pytest --update-golden

Each case runs the rendered install script in a fresh lab container with
`docker exec -i CONTAINER sh -s` (the script on stdin, as fleetpatch does over SSH) and writes
the raw stdout to `<case>.txt`. Containers use the prefix `apti-gold` and are removed at the end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from tests.lab import fleet  # noqa: E402

from fleetpatch.platforms.apt.install import apt_install_script  # noqa: E402

REPO = [("fp-alpha", "1.1-1"), ("fp-epoch", "1:1.1-1")]
BROKEN = [("fp-alpha", "1.1-1"), ("fp-broken", "1.1-1"), ("fp-beta", "2.0-1")]
ERRORS = [
    ("fp-alpha", "9.9"),
    ("fp-nosuch", "1"),
    ("fp-zeta", "1.0-1"),
    ("fp-gamma", "1.0-1"),
    ("fp-epoch", "1:1.1-1"),
]


def run(container: str, script: str, user: str | None = None) -> str:
    argv = ["docker", "exec", "-i", *(["-u", user] if user else []), container, "sh", "-s"]
    proc = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def sh(container: str, command: str) -> str:
    rc, out = fleet.exec_in(container, ["sh", "-c", command])
    assert rc == 0, out
    return out


def save(case: str, text: str) -> None:
    (HERE / f"{case}.txt").write_text(text, encoding="utf-8")
    print(f"wrote {case}.txt")


def candidate(container: str, name: str) -> str:
    out = sh(container, f"apt-cache policy {name}")
    return next(line.split()[1] for line in out.splitlines() if "Candidate:" in line)


HOLD_LOCK = (
    'use Fcntl; $|=1; open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die "open: $!"; '
    'my $s = pack("ssx4qqlx4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLK, $s) or die "lock: $!"; '
    'print "held\\n"; sleep 30;'
)


def lock_held_case(container: str) -> str:
    """apt waits DPkg::Lock::Timeout (3 s) for a dpkg frontend lock held by another process."""
    holder = subprocess.Popen(
        ["docker", "exec", container, "perl", "-e", HOLD_LOCK], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        return run(container, apt_install_script([("fp-alpha", "1.1-1")], lock_timeout=3))
    finally:
        holder.kill()


def main() -> None:
    repo = fleet.start_fleet(fleet.IMAGE_DEBIAN12_REPO, 5, "apti-gold")
    deb = fleet.start_fleet(fleet.IMAGE_DEBIAN12, 1, "apti-gold-deb")
    try:
        a, b, c, d, f = (h.container for h in repo)
        save("lab-repo-lock-held", lock_held_case(f))
        save("lab-repo-alpha-epoch-dry", run(a, apt_install_script(REPO, dry_run=True)))
        save("lab-repo-alpha-epoch", run(a, apt_install_script(REPO)))
        save("lab-repo-delta-security-version", run(a, apt_install_script([("fp-delta", "1.2-1")])))

        save("lab-repo-broken", run(b, apt_install_script(BROKEN)))
        save("lab-repo-broken-leftover", run(b, apt_install_script([("fp-delta", "1.3-1")])))

        save("lab-repo-errors-dry", run(c, apt_install_script(ERRORS, dry_run=True)))
        save("lab-repo-errors", run(c, apt_install_script(ERRORS)))
        save("lab-repo-skip-current", run(c, apt_install_script(ERRORS[2:])))
        two = [("fp-alpha", "1.1-1"), ("fp-delta", "1.3-1")]
        save("lab-repo-nonroot", run(c, apt_install_script(two), user="fleet"))
        sh(
            c,
            "echo '*** System restart required ***' > /var/run/reboot-required; "
            "printf 'fp-alpha\\nlinux-image-6.1.0-99-amd64\\n' > /var/run/reboot-required.pkgs",
        )
        save("lab-repo-reboot-flag", run(c, apt_install_script(two)))

        # dpkg interrupted: a package unpacked but not configured + a journal entry in updates/
        sh(
            d,
            "dpkg --unpack /srv/repo/pool/local/fp-beta_2.0-1_all.deb && awk -v RS= "
            "'/^Package: fp-gamma\\n/' /var/lib/dpkg/status > /var/lib/dpkg/updates/0000",
        )
        epoch = [("fp-epoch", "1:1.1-1")]
        save("lab-repo-interrupted-dry", run(d, apt_install_script(epoch, dry_run=True)))
        save("lab-repo-interrupted", run(d, apt_install_script(epoch)))

        e = deb[0].container
        zips = [(name, candidate(e, name)) for name in ("zip", "unzip")]
        save("lab-debian12-zip-unzip-dry", run(e, apt_install_script(zips, dry_run=True)))
        save("lab-debian12-zip-unzip", run(e, apt_install_script(zips)))
        ssl = [("openssl", candidate(e, "openssl"))]
        save("lab-debian12-openssl-deps-dry", run(e, apt_install_script(ssl, dry_run=True)))
        save("lab-debian12-openssl-deps", run(e, apt_install_script(ssl)))
    finally:
        fleet.stop_fleet([*repo, *deb])


if __name__ == "__main__":
    main()
