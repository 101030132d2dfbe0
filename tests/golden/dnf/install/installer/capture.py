"""Capture the golden transcripts of the rpm-family installers (DnfInstaller, ZypperInstaller).

    .venv/bin/python tests/golden/dnf/install/installer/capture.py

Each case renders the installer's script for a list of planned packages, runs it as root in
a fresh lab container (`docker run --rm -i IMAGE sh -s`-like: a container of its own, removed
afterwards) and writes, into tests/golden/<family>/install/installer/:

    <case>.txt            the script's stdout (the transcript)
    <case>.request.json   {"family", "dry_run", "packages": [PlannedPackage...]}

Cases that share a container run in order (a dry run, then the real install of the same
request). The expected parse (<case>.json) is written by `pytest --update-golden`.
Needs Docker and the lab images (`make lab-images`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[5]
sys.path.insert(0, str(ROOT / "src"))

from fleetpatch.platforms.installers import installer_for  # noqa: E402
from fleetpatch.results import PlannedPackage  # noqa: E402

HERE = Path(__file__).resolve().parent
ZYPPER_DIR = ROOT / "tests" / "golden" / "zypper" / "install" / "installer"
EXTRA_RPMS = HERE / "extra-rpms.sh"
LONG = "fp-a-package-name-much-longer-than-the-name-column-of-dnf"
SUSE = "SUSE-SLE-Module-Basesystem-15-SP6-2026"


def pkg(spec: str, installed: str | None = None) -> PlannedPackage:
    name, arch, version = spec.split("|")
    return PlannedPackage(
        name=name, arch=arch, version=version, installed_version=installed, reason="golden"
    )


# (image, prepare with extra rpms, [(case, family, dry_run, packages)])
SESSIONS = [
    (
        "fleetpatch-lab/rocky9",
        False,
        [
            (
                "lab-rocky9-selection-dry",
                "dnf",
                True,
                [
                    "fp-crit|x86_64|1.1-1.el9",
                    "fp-epoch|x86_64|2:1.1-1.el9",
                    "fp-bug|noarch|1.1-1.el9",
                    "fp-multi|x86_64|1.2-1.el9",
                ],
            ),
            (
                "lab-rocky9-selection",
                "dnf",
                False,
                [
                    "fp-crit|x86_64|1.1-1.el9",
                    "fp-epoch|x86_64|2:1.1-1.el9",
                    "fp-bug|noarch|1.1-1.el9",
                    "fp-multi|x86_64|1.2-1.el9",
                ],
            ),
            (
                "lab-rocky9-errors-dry",
                "dnf",
                True,
                [
                    "fp-nope|x86_64|1.0-1.el9",
                    "fp-stable|noarch|1.0-1.el9",
                    "fp-low|x86_64|1.9-1.el9",
                    "fp-plain|x86_64|1.1-1.el9",
                ],
            ),
            (
                "lab-rocky9-errors",
                "dnf",
                False,
                [
                    "fp-nope|x86_64|1.0-1.el9",
                    "fp-stable|noarch|1.0-1.el9",
                    "fp-low|x86_64|1.9-1.el9",
                    "fp-plain|x86_64|1.1-1.el9",
                ],
            ),
        ],
    ),
    (
        "fleetpatch-lab/rocky9",
        True,
        [
            (
                "lab-rocky9-deps-dry",
                "dnf",
                True,
                [f"{LONG}|x86_64|1.1-1.el9", "kernel-core|x86_64|900.2.0-1.el9"],
            ),
            (
                "lab-rocky9-deps",
                "dnf",
                False,
                [f"{LONG}|x86_64|1.1-1.el9", "kernel-core|x86_64|900.2.0-1.el9"],
            ),
            (
                "lab-rocky9-problem-dry",
                "dnf",
                True,
                ["fp-needsmissing|x86_64|1.1-1.el9", "fp-plain|x86_64|1.1-1.el9"],
            ),
            (
                "lab-rocky9-problem",
                "dnf",
                False,
                ["fp-needsmissing|x86_64|1.1-1.el9", "fp-plain|x86_64|1.1-1.el9"],
            ),
        ],
    ),
    (
        "fleetpatch-lab/al2023",
        False,
        [
            (
                "lab-al2023-kernel-dry",
                "dnf",
                True,
                ["fp-crit|x86_64|1.1-1.amzn2023", "kernel|x86_64|900.2.0-1.amzn2023"],
            ),
            (
                "lab-al2023-kernel",
                "dnf",
                False,
                ["fp-crit|x86_64|1.1-1.amzn2023", "kernel|x86_64|900.2.0-1.amzn2023"],
            ),
        ],
    ),
    (
        "fleetpatch-lab/sles15",
        False,
        [
            (
                "lab-sles15-errors-dry",
                "zypper",
                True,
                [f"{SUSE}-1|noarch|1", "SUSE-NOPE-2026-1|noarch|1"],
            ),
            (
                "lab-sles15-problem-dry",
                "zypper",
                True,
                [f"{SUSE}-10|noarch|1", "fp-multi|x86_64|1.1-1.150600.1.1"],
            ),
            (
                "lab-sles15-problem",
                "zypper",
                False,
                [f"{SUSE}-10|noarch|1", "fp-multi|x86_64|1.1-1.150600.1.1"],
            ),
            (
                "lab-sles15-mixed-dry",
                "zypper",
                True,
                [
                    f"{SUSE}-1|noarch|1",
                    f"{SUSE}-8|noarch|1",
                    f"{SUSE}-9|noarch|1",
                    f"{SUSE}-11|noarch|1",
                    "fp-plain|x86_64|1.1-1.150600.1.1",
                ],
            ),
            (
                "lab-sles15-mixed",
                "zypper",
                False,
                [
                    f"{SUSE}-1|noarch|1",
                    f"{SUSE}-8|noarch|1",
                    f"{SUSE}-9|noarch|1",
                    f"{SUSE}-11|noarch|1",
                    "fp-plain|x86_64|1.1-1.150600.1.1",
                ],
            ),
        ],
    ),
]


def docker(*args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"docker {' '.join(args[:2])} failed: {proc.stderr}")
    return proc.stdout


def main() -> None:
    for image, extra, cases in SESSIONS:
        name = f"fpgolden-{uuid.uuid4().hex[:8]}"
        docker("run", "-d", "--name", name, "--entrypoint", "sleep", image, "infinity")
        try:
            if extra:
                dist = ".el9" if "rocky" in image else ".amzn2023"
                docker("exec", "-i", name, "sh", "-s", dist, stdin=EXTRA_RPMS.read_text())
            for case, family, dry_run, specs in cases:
                packages = [pkg(s) for s in specs]
                installer = installer_for(family)
                assert installer is not None
                script = installer.render(packages, dry_run=dry_run)
                out = docker("exec", "-i", name, "sh", "-s", stdin=script)
                folder = HERE if family == "dnf" else ZYPPER_DIR
                (folder / f"{case}.txt").write_text(out)
                request = {
                    "family": family,
                    "dry_run": dry_run,
                    "packages": [p.model_dump(mode="json") for p in packages],
                }
                (folder / f"{case}.request.json").write_text(json.dumps(request, indent=1) + "\n")
                print(f"{case}: {len(out)} bytes")
        finally:
            docker("rm", "-f", name)


if __name__ == "__main__":
    main()
