"""Inventory text is data: tags, groups and facts with rich markup and ANSI escapes are shown
literally by `fleetpatch inventory list` (control characters as ``\\x1b``), nothing crashes,
and no escape reaches the terminal. Host text in reports: tests/integration/test_display_lab.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.integration.cli_run import fleetpatch

ESC = "\x1b"


def test_inventory_list_shows_markup_and_escapes_literally(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "hosts": {
                    "web-1": {
                        "address": "10.0.0.1",
                        "tags": {"Owner": f"[/bold]ops{ESC}[2J", "Patch Group": "[red]web"},
                        "vars": {"note": f"[link=http://x]{ESC}]0;t{ESC}\\"},
                    }
                },
                "groups": {"[/]odd": {"hosts": ["web-1"]}},
            }
        )
    )
    proc = fleetpatch(["inventory", "list", "-i", inventory], store=tmp_path / "s.db")
    assert proc.returncode == 0, proc.stderr
    assert ESC not in proc.stdout + proc.stderr
    flat = " ".join(proc.stdout.split())
    assert "Owner=[/bold]ops\\x1b[2J" in flat, proc.stdout
    assert "Patch Group=[red]web" in flat
    assert "[/]odd" in flat
    assert "[link=http://x]\\x1b]0;t\\x1b\\" in flat
    listed = json.loads(
        fleetpatch(
            ["inventory", "list", "-i", inventory, "--format", "json"], store=tmp_path / "s.db"
        ).stdout
    )
    assert listed[0]["tags"]["Owner"] == f"[/bold]ops{ESC}[2J"  # JSON keeps the exact text
