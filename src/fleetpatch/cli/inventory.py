"""`fleetpatch inventory …`: show what an inventory resolves to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fleetpatch.cli.common import input_errors

# Only what typer needs to build the command line is imported at module level: the
# command's own work (inventory loading, rich) is imported when the command runs.

app = typer.Typer(no_args_is_help=True, help="Inspect inventories.")

InventoryOpt = Annotated[
    list[Path],
    typer.Option("--inventory", "-i", help="Inventory file (ours or Ansible's); repeatable."),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        "-t",
        help="tag:Key=Value, tag-key:Key, group:NAME, instanceids:ID or a host-name glob. "
        "Repeated targets are ANDed; comma-separated values are ORed.",
    ),
]
RefreshInventoryOpt = Annotated[
    bool,
    typer.Option(
        "--refresh-inventory",
        help="Ask dynamic inventory sources (EC2) again instead of using their cache.",
    ),
]


@app.command("list")
def list_hosts(
    inventory: InventoryOpt,
    target: TargetOpt = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    refresh_inventory: RefreshInventoryOpt = False,
) -> None:
    """List the resolved hosts: transport, address, groups, tags and patch group.

    Examples:

      fleetpatch inventory list -i inventory/example.yaml

      fleetpatch inventory list -i inventory/example.yaml --target "tag:Patch Group=web"

      fleetpatch inventory list -i hosts.ini -t group:db -t "tag:Env=prod,stage" --format json
    """
    from fleetpatch.inventory.loader import load_inventory
    from fleetpatch.inventory.targets import select_hosts

    with input_errors():
        inv = load_inventory(inventory, refresh_inventory=refresh_inventory)
        hosts = select_hosts(inv, target or [])
    if output_format == "json":
        typer.echo(
            json.dumps(
                [
                    {
                        "name": h.name,
                        "transport": h.transport,
                        "address": h.address,
                        "port": h.port,
                        "user": h.user,
                        "groups": list(h.groups),
                        "tags": h.tags,
                        "patch_group": h.patch_group,
                        "facts": h.facts,
                    }
                    for h in hosts
                ],
                indent=2,
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    from fleetpatch.report.safe_text import cell

    table = Table(title=f"{len(hosts)} host(s)")
    for col in ("host", "transport", "address", "user", "groups", "tags", "patch group"):
        table.add_column(col)
    for h in hosts:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(h.tags.items()))
        facts = ", ".join(f"{k}={v}" for k, v in sorted(h.facts.items()))
        table.add_row(  # inventory text, shown as it is (never markup, controls escaped)
            cell(h.name),
            cell(h.transport),
            cell(f"{h.address}:{h.port}"),
            cell(h.user or ""),
            cell(", ".join(h.groups)),
            cell(tags + (f"\n{facts}" if facts else "")),
            cell(h.patch_group or "-"),
        )
    Console(highlight=False).print(table)
