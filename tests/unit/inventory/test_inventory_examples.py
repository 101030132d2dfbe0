"""The example inventories shipped in inventory/ load and say what they promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetpatch.inventory.ansible import load_ansible_inventory
from fleetpatch.inventory.loader import load_inventory
from fleetpatch.inventory.model import Host
from fleetpatch.inventory.targets import select_hosts

EXAMPLES = Path(__file__).resolve().parents[3] / "inventory"


def test_example_yaml() -> None:
    inventory = load_inventory([EXAMPLES / "example.yaml"])
    assert inventory.warnings == ()
    assert inventory.known_hosts == str(EXAMPLES / "known_hosts")
    web = [h.name for h in select_hosts(inventory, ["tag:Patch Group=web", "tag:Env=prod"])]
    assert web == ["web-1", "web-2", "web-3"]
    hosts = {h.name: h for h in inventory.hosts}
    assert hosts["db-1"].user == "dbpatch"
    assert hosts["db-1"].connection.sudo is True
    jump = hosts["web-1"].connection.jump_host
    assert jump is not None and jump.address == "bastion.corp.example.com"
    assert hosts["build-1"].connection.jump_host is None
    assert hosts["win-app-1"].transport == "winrm"
    assert select_hosts(inventory, ["instanceids:i-0a1b2c3d4e5f60002"])[0].name == "db-2"
    assert {h.patch_group for h in inventory.hosts} == {"web", "db", "tools", "windows"}


@pytest.mark.parametrize("name", ["ansible-example.ini", "ansible-example.yaml"])
def test_ansible_examples_agree(name: str) -> None:
    inventory = load_ansible_inventory(EXAMPLES / name)
    assert inventory == load_inventory([EXAMPLES / name]).model_copy(
        update={"sources": inventory.sources}
    )
    hosts = {h.name: h for h in inventory.hosts}
    assert len(hosts) == 9
    assert [h.name for h in select_hosts(inventory, ["group:webservers"])] == [
        "web01.example.com", "web02.example.com", "web03.example.com",
        "www-a.example.com", "www-b.example.com",
    ]  # fmt: skip
    assert hosts["db2.example.com"].tags == {
        "Env": "prod", "Owner": "platform-team", "Role": "replica", "Patch Group": "db"
    }  # fmt: skip
    assert hosts["win1.example.com"].transport == "winrm"
    assert hosts["win1.example.com"].connection.sudo is False
    assert hosts["www-a.example.com"].port == 2222
    jump = hosts["db1.example.com"].connection.jump_host
    assert jump is not None and (jump.user, jump.address) == ("ops", "bastion.example.com")


def test_ansible_examples_describe_the_same_fleet() -> None:
    ini = load_ansible_inventory(EXAMPLES / "ansible-example.ini")
    yml = load_ansible_inventory(EXAMPLES / "ansible-example.yaml")

    def summary(h: Host) -> tuple[object, ...]:
        return (h.name, h.address, h.port, h.user, h.transport, h.groups, h.tags,
                h.connection.model_dump())  # fmt: skip

    assert [summary(h) for h in ini.hosts] == [summary(h) for h in yml.hosts]
