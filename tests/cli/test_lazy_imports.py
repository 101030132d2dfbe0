"""Building the command line imports no engine: start-up CPU counts per host
(docs/benchmarks.md). Every command imports what it needs when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

# Not needed to build the CLI, nor (except the store) by `fleetpatch scan` over a YAML
# inventory of Debian hosts.
HEAVY = (
    "fleetpatch.engine.rollout",
    "fleetpatch.engine.rollout_job",
    "fleetpatch.engine.install",
    "fleetpatch.engine.context",
    "fleetpatch.playbook.model",
    "fleetpatch.inventory.loader",
    "fleetpatch.inventory.ec2.spec",
    "fleetpatch.inventory.ansible",
    "fleetpatch.platforms.dnf.parsers",
    "fleetpatch.platforms.zypper.parsers",
    "fleetpatch.baseline",
    "fleetpatch.store",
    "fleetpatch.report.models",
    "sqlalchemy",
    "sqlalchemy.dialects.postgresql",
    "asyncssh",
    "jinja2",
    "boto3",
    "rich.console",
)


def _imported_after(code: str) -> set[str]:
    """The modules loaded by ``code``, run in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_building_the_cli_imports_no_engine() -> None:
    loaded = _imported_after("import fleetpatch.cli.main")
    assert "fleetpatch.cli.scan" in loaded  # the check itself works
    assert sorted(loaded & set(HEAVY)) == []


def test_the_scan_path_leaves_other_families_and_dialects_alone() -> None:
    loaded = _imported_after(
        "import fleetpatch.cli.main, fleetpatch.engine.context, fleetpatch.engine.scan_run, "
        "fleetpatch.inventory.loader, fleetpatch.store, fleetpatch.report.json_report, "
        "fleetpatch.report.exit_codes, fleetpatch.engine.progress"
    )
    assert "fleetpatch.engine.pipeline" in loaded
    unwanted = {
        "fleetpatch.engine.rollout",
        "fleetpatch.engine.rollout_job",
        "fleetpatch.playbook.model",
        "fleetpatch.inventory.ec2.spec",
        "fleetpatch.inventory.ansible",
        "fleetpatch.platforms.dnf.parsers",
        "fleetpatch.platforms.zypper.parsers",
        "fleetpatch.report.table",
        "sqlalchemy.dialects.postgresql",
        "rich.progress",
    }
    assert sorted(loaded & unwanted) == []


def test_family_parsers_load_on_first_use() -> None:
    loaded = _imported_after(
        "from fleetpatch.platforms.scan import FAMILY_PARSERS\n"
        "assert set(FAMILY_PARSERS) == {'apt', 'dnf', 'yum', 'zypper'}\n"
        "assert FAMILY_PARSERS.get('nope') is None\n"
        "assert FAMILY_PARSERS['dnf'] is FAMILY_PARSERS['yum']"
    )
    assert "fleetpatch.platforms.dnf.parsers" in loaded
    assert "fleetpatch.platforms.zypper.parsers" not in loaded


def test_a_scan_into_a_sqlite_file_does_without_sqlalchemy(tmp_path: object) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    loaded = _imported_after(
        "import fleetpatch.cli.main, fleetpatch.engine.context, fleetpatch.engine.scan_run, "
        "fleetpatch.inventory.loader, fleetpatch.report.json_report, fleetpatch.report.spool\n"
        "from datetime import UTC, datetime\n"
        "from fleetpatch.store.sqlite_scan import SqliteScanStore, open_scan_store\n"
        f"db = open_scan_store({store!r})\n"
        "assert isinstance(db, SqliteScanStore)\n"
        "db.pending_reboots(['h1'])\n"
        "run = db.begin_run('scan', datetime.now(UTC))\n"
        "db.save_host_results(run, [])\n"
        "db.finish_run(run, datetime.now(UTC))"
    )
    assert "fleetpatch.store.sqlite_scan" in loaded  # the check itself works
    assert sorted(m for m in loaded if m.split(".")[0] == "sqlalchemy") == []
