"""Loading fleetpatch's YAML inventory format: shape, precedence, groups and paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleetpatch.inventory.loader import load_inventory
from fleetpatch.inventory.model import Host, Inventory

WriteFile = Callable[..., Path]


def by_name(inventory: Inventory) -> dict[str, Host]:
    return {host.name: host for host in inventory.hosts}


def test_minimal_host_gets_defaults_and_address_from_name(write: WriteFile) -> None:
    path = write("inv.yaml", "hosts:\n  db-1: {}\n  db-2:\n")
    inventory = load_inventory([path])
    db1 = by_name(inventory)["db-1"]
    assert db1.address == "db-1"
    assert db1.port == 22
    assert db1.user is None
    assert db1.transport == "ssh"
    assert db1.connection.sudo is False
    assert db1.groups == ()
    assert db1.source == str(path)
    assert [h.name for h in inventory.hosts] == ["db-1", "db-2"]
    assert inventory.sources == (str(path),)
    assert inventory.known_hosts is None
    assert inventory.warnings == ()


def test_host_settings_are_read(write: WriteFile) -> None:
    path = write(
        "inv.yaml",
        """
        hosts:
          web-1:
            address: 10.0.0.11
            port: 2222
            user: admin
            transport: winrm
            tags: { "Patch Group": web, CostCenter: 1234 }
            connection: { sudo: true, password_env: FP_PASS, connect_timeout: 3 }
            vars: { instance_id: i-123, rack: 7, enabled: true, extra: [1, 2] }
        """,
    )
    host = load_inventory([path]).hosts[0]
    assert (host.address, host.port, host.user, host.transport) == (
        "10.0.0.11",
        2222,
        "admin",
        "winrm",
    )
    assert host.tags == {"Patch Group": "web", "CostCenter": "1234"}
    assert host.patch_group == "web"
    assert host.connection.sudo is True
    assert host.connection.password_env == "FP_PASS"
    assert host.connection.connect_timeout == 3.0
    assert host.connection.command_timeout == 600.0
    assert host.facts == {"instance_id": "i-123", "rack": "7", "enabled": "true", "extra": "[1, 2]"}


PRECEDENCE = """
defaults:
  user: root
  port: 22
  connection: { sudo: false, connect_timeout: 5, jump_host: { address: bastion, user: ops } }
  tags: { Env: prod, Owner: ops, Layer: defaults }
hosts:
  web-1: { tags: { Layer: host }, connection: { command_timeout: 99 } }
  web-2: { user: own }
  db-1: {}
  lone: { connection: { jump_host: null } }
groups:
  web:
    hosts: [web-1]
    children: [web-eu]
    vars: { user: deploy, port: 2200, connection: { sudo: true }, tags: { Role: web, Layer: web } }
  web-eu:
    hosts: [web-2]
    vars: { port: 2300, tags: { Region: eu, Layer: web-eu } }
  db:
    hosts: [db-1]
    vars: { user: dbadmin, tags: { Role: db } }
"""


def test_precedence_defaults_group_child_host(write: WriteFile) -> None:
    hosts = by_name(load_inventory([write("inv.yaml", PRECEDENCE)]))
    web1, web2, db1, lone = hosts["web-1"], hosts["web-2"], hosts["db-1"], hosts["lone"]
    # web-1: defaults < web < host
    assert web1.user == "deploy"
    assert web1.port == 2200
    assert web1.connection.sudo is True
    assert web1.connection.connect_timeout == 5.0
    assert web1.connection.command_timeout == 99.0
    assert web1.tags == {"Env": "prod", "Owner": "ops", "Layer": "host", "Role": "web"}
    # web-2 is in web-eu, a child of web: it is in both, and the child wins over the parent
    assert web2.groups == ("web", "web-eu")
    assert web2.port == 2300
    assert web2.user == "own"
    assert web2.connection.sudo is True
    assert web2.tags["Layer"] == "web-eu"
    assert web2.tags["Role"] == "web"
    assert web2.tags["Region"] == "eu"
    assert db1.groups == ("db",)
    assert db1.user == "dbadmin"
    assert db1.port == 22
    assert db1.connection.jump_host is not None
    assert db1.connection.jump_host.address == "bastion"
    assert db1.connection.jump_host.user == "ops"
    # an explicit null removes an inherited setting
    assert lone.connection.jump_host is None
    assert lone.groups == ()


def test_groups_at_same_depth_apply_in_file_order(write: WriteFile) -> None:
    path = write(
        "inv.yaml",
        """
        hosts: { h: {} }
        groups:
          first: { hosts: [h], vars: { user: first, tags: { A: first } } }
          second: { hosts: [h], vars: { user: second } }
        """,
    )
    host = load_inventory([path]).hosts[0]
    assert host.user == "second"
    assert host.tags == {"A": "first"}
    assert host.groups == ("first", "second")


def test_deeper_group_wins_even_when_declared_first(write: WriteFile) -> None:
    path = write(
        "inv.yaml",
        """
        hosts: { h: {} }
        groups:
          leaf: { hosts: [h], vars: { user: leaf } }
          mid: { children: [leaf], vars: { user: mid } }
          top: { children: [mid], vars: { user: top, port: 2022 } }
        """,
    )
    host = load_inventory([path]).hosts[0]
    assert host.user == "leaf"
    assert host.port == 2022
    assert host.groups == ("leaf", "mid", "top")


def test_paths_expand_tilde_and_resolve_relative_to_file(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("key")
    monkeypatch.setenv("HOME", str(home))
    keys = tmp_path / "site" / "keys"
    keys.mkdir(parents=True)
    (keys / "web").write_text("key")
    (keys / "jump").write_text("key")
    path = write(
        "site/inv.yaml",
        """
        defaults:
          known_hosts: ./known_hosts
          connection: { key_file: ~/.ssh/id_ed25519 }
        hosts:
          a: {}
          b:
            known_hosts: ~/kh
            connection:
              key_file: keys/web
              jump_host: { address: j, key_file: keys/jump }
        """,
    )
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    inventory = load_inventory([Path("site/inv.yaml")])
    hosts = by_name(inventory)
    assert inventory.known_hosts == str(tmp_path / "site" / "known_hosts")
    assert hosts["a"].connection.known_hosts == str(tmp_path / "site" / "known_hosts")
    assert hosts["a"].connection.key_file == str(home / ".ssh" / "id_ed25519")
    assert hosts["b"].connection.key_file == str(keys / "web")
    assert hosts["b"].connection.known_hosts == str(home / "kh")
    jump = hosts["b"].connection.jump_host
    assert jump is not None and jump.key_file == str(keys / "jump")
    assert hosts["a"].source == "site/inv.yaml"
    assert path.exists()


def test_several_files_merge_in_order_with_their_own_defaults(write: WriteFile) -> None:
    one = write("one.yaml", "defaults: { user: alice }\nhosts: { a: {}, b: {} }\n")
    two = write("two.yaml", "defaults: { known_hosts: kh }\nhosts: { c: {} }\n")
    inventory = load_inventory([one, two])
    assert [h.name for h in inventory.hosts] == ["a", "b", "c"]
    assert [h.user for h in inventory.hosts] == ["alice", "alice", None]
    assert inventory.sources == (str(one), str(two))
    assert inventory.known_hosts == str(two.parent / "kh")
    assert by_name(inventory)["c"].source == str(two)


def test_yaml_anchors_and_merge_keys_work(write: WriteFile) -> None:
    path = write(
        "inv.yaml",
        """
        hosts:
          a: &base { port: 2200, user: u }
          b:
            <<: *base
            user: v
        """,
    )
    hosts = by_name(load_inventory([path]))
    assert (hosts["b"].port, hosts["b"].user) == (2200, "v")


def test_known_hosts_under_connection_is_accepted(write: WriteFile) -> None:
    path = write("inv.yaml", "hosts: { a: { connection: { known_hosts: kh } } }\n")
    host = load_inventory([path]).hosts[0]
    assert host.connection.known_hosts == str(path.parent / "kh")


def test_ansible_files_are_dispatched(write: WriteFile) -> None:
    ini = write("hosts.ini", "[web]\nweb1\n")
    bare = write("hosts", "# ansible\n[db]\ndb1 ansible_port=2222\n")
    yml = write("ansible.yml", "all:\n  hosts:\n    y1:\n")
    ours = write("ours.yaml", "hosts: { o1: {} }\n")
    inventory = load_inventory([ini, bare, yml, ours])
    hosts = by_name(inventory)
    assert list(hosts) == ["web1", "db1", "y1", "o1"]
    assert hosts["web1"].groups == ("web",)
    assert hosts["db1"].port == 2222
