"""Ansible INI and YAML inventories: groups, children, vars, ranges, fp_* vars, secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetpatch.errors import InputError
from fleetpatch.inventory.ansible import load_ansible_inventory
from fleetpatch.inventory.model import Host, Inventory

WriteFile = Callable[..., Path]

INI = """
# leading hosts are ungrouped
mail.example.com ansible_host=192.0.2.25

[web]
web[01:03].example.com
www-[a:c]:2222 ansible_user=deploy   # inline comment
web-eu1 fp_tags="Canary=yes,Role=edge"

[db]
db1 ansible_host=192.0.2.41 ansible_port=2200 instance_id=i-0123 'note=two words'

[eu]
web-eu1

[eu:vars]
ansible_user=eu-admin
fp_patch_group=eu-web

[web:children]
eu

[web:vars]
fp_patch_group=web
http_port=8080
fp_tags=Role=web

[prod:children]
web
db

[prod:vars]
ansible_become=yes
ansible_ssh_common_args='-o ProxyJump=ops@bastion.example.com:2022'

[all:vars]
ansible_user=patcher
fp_tags=Env=prod
"""

YAML = """
all:
  vars:
    ansible_user: patcher
    fp_tags: { Env: prod }
  hosts:
    mail.example.com: { ansible_host: 192.0.2.25 }
  children:
    prod:
      vars:
        ansible_become: true
        fp_jump_host: ops@bastion.example.com:2022
      children:
        web:
          vars: { fp_patch_group: web, http_port: 8080, fp_tags: { Role: web } }
          hosts:
            web[01:03].example.com:
            www-[a:c]:2222: { ansible_user: deploy }
            web-eu1: { fp_tags: { Canary: "yes", Role: edge } }
          children:
            eu:
              vars: { ansible_user: eu-admin, fp_patch_group: eu-web }
              hosts:
                web-eu1:
        db:
          hosts:
            db1:
              ansible_host: 192.0.2.41
              ansible_port: 2200
              instance_id: i-0123
              note: two words
"""


def by_name(inventory: Inventory) -> dict[str, Host]:
    return {host.name: host for host in inventory.hosts}


@pytest.mark.parametrize(("name", "text"), [("hosts.ini", INI), ("hosts.yaml", YAML)])
def test_ini_and_yaml_resolve_the_same_fleet(write: WriteFile, name: str, text: str) -> None:
    inventory = load_ansible_inventory(write(name, text))
    hosts = by_name(inventory)
    assert set(hosts) == {
        "mail.example.com",
        "web01.example.com",
        "web02.example.com",
        "web03.example.com",
        "www-a",
        "www-b",
        "www-c",
        "web-eu1",
        "db1",
    }
    mail = hosts["mail.example.com"]
    assert (mail.address, mail.user, mail.groups) == ("192.0.2.25", "patcher", ())
    assert mail.connection.sudo is False
    assert mail.connection.jump_host is None
    assert mail.tags == {"Env": "prod"}

    web = hosts["web02.example.com"]
    assert web.address == "web02.example.com"
    assert web.groups == ("prod", "web")
    assert web.user == "patcher"
    assert web.connection.sudo is True
    assert web.tags == {"Env": "prod", "Role": "web", "Patch Group": "web"}
    assert web.patch_group == "web"
    assert web.facts["http_port"] == "8080"
    jump = web.connection.jump_host
    assert jump is not None
    assert (jump.address, jump.port, jump.user) == ("bastion.example.com", 2022, "ops")

    www = hosts["www-b"]
    assert (www.port, www.user) == (2222, "deploy")

    # eu is a child of web: its vars win over web's, the host's own fp_tags over both
    eu = hosts["web-eu1"]
    assert eu.groups == ("eu", "prod", "web")
    assert eu.user == "eu-admin"
    assert eu.patch_group == "eu-web"
    assert eu.tags == {"Env": "prod", "Role": "edge", "Canary": "yes", "Patch Group": "eu-web"}

    db = hosts["db1"]
    assert (db.address, db.port, db.groups) == ("192.0.2.41", 2200, ("db", "prod"))
    assert db.facts["instance_id"] == "i-0123"
    assert db.facts["note"] == "two words"
    assert "ansible_host" not in db.facts
    assert inventory.warnings == ()


def test_ini_ranges_keep_file_order_and_padding(write: WriteFile) -> None:
    inventory = load_ansible_inventory(write("h.ini", "[a]\nn[08:10]\nx[a:b][1:2]\ns[0:6:3]\n"))
    assert [h.name for h in inventory.hosts] == [
        "n08", "n09", "n10", "xa1", "xa2", "xb1", "xb2", "s0", "s3", "s6",
    ]  # fmt: skip


def test_host_in_several_groups_is_one_host(write: WriteFile) -> None:
    text = "[a]\nh1 x=1\n[b]\nh1 y=2\n[a:vars]\nz=a\n[b:vars]\nz=b\n"
    inventory = load_ansible_inventory(write("h.ini", text))
    (host,) = inventory.hosts
    assert host.groups == ("a", "b")
    # same depth: groups apply by name, so b wins; host vars from both lines are kept
    assert host.facts == {"x": "1", "y": "2", "z": "b"}


def test_fp_vars_set_connection_settings(write: WriteFile, tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id").write_text("k")
    (tmp_path / "keys" / "jump").write_text("k")
    text = """
    all:
      vars:
        fp_known_hosts: kh
        ansible_ssh_private_key_file: keys/id
      hosts:
        a:
          fp_transport: winrm
          fp_sudo: false
          ansible_become: true
          fp_use_agent: "no"
          fp_password_env: FP_PASS
          fp_sudo_password_env: FP_SUDO
          fp_connect_timeout: 3
          fp_command_timeout: "1200"
          fp_keepalive_interval: 0
          fp_connect_retries: "0"
          fp_connect_retry_delay: 2.5
          fp_jump_host: { address: j.example, port: 2200, user: ops, key_file: keys/jump }
    """
    inventory = load_ansible_inventory(write("inv.yml", text))
    host = inventory.hosts[0]
    conn = host.connection
    assert host.transport == "winrm"
    assert conn.sudo is False
    assert conn.use_agent is False
    assert (conn.password_env, conn.sudo_password_env) == ("FP_PASS", "FP_SUDO")
    assert (conn.connect_timeout, conn.command_timeout, conn.keepalive_interval) == (3, 1200, 0)
    assert (conn.connect_retries, conn.connect_retry_delay) == (0, 2.5)
    assert conn.key_file == str(tmp_path / "keys" / "id")
    assert conn.known_hosts == str(tmp_path / "kh")
    assert inventory.known_hosts == str(tmp_path / "kh")
    assert conn.jump_host is not None
    assert conn.jump_host.key_file == str(tmp_path / "keys" / "jump")
    assert conn.jump_host.port == 2200
    assert host.facts == {}


def test_winrm_connection_and_old_alias_vars(write: WriteFile) -> None:
    text = "[w]\nwin1 ansible_connection=winrm ansible_ssh_host=10.0.0.9 ansible_ssh_port=5986\n"
    host = load_ansible_inventory(write("h.ini", text)).hosts[0]
    assert (host.transport, host.address, host.port) == ("winrm", "10.0.0.9", 5986)


def test_secrets_are_dropped_with_a_warning(
    write: WriteFile, caplog: pytest.LogCaptureFixture
) -> None:
    text = "[web]\nh1 ansible_password=hunter2\nh2\n[web:vars]\nansible_become_password=s3cret\n"
    path = write("h.ini", text)
    with caplog.at_level(logging.WARNING):
        inventory = load_ansible_inventory(path)
    dumped = inventory.model_dump_json()
    assert "hunter2" not in dumped
    assert "s3cret" not in dumped
    assert all(h.facts == {} for h in inventory.hosts)
    assert len(inventory.warnings) == 2  # the group var warns once, not once per host
    become, login = sorted(inventory.warnings, key=lambda w: "become" not in w)
    assert become.startswith(f"{path}:5: ansible_become_password is a secret")
    assert "fp_sudo_password_env" in become
    assert login.startswith(f"{path}:2: ansible_password is a secret")
    assert "fp_password_env" in login
    assert "ansible_password is a secret" in caplog.text


def test_vault_values_are_never_kept(write: WriteFile) -> None:
    text = """
    all:
      hosts:
        a:
          ansible_become_password: !vault |
            $ANSIBLE_VAULT;1.1;AES256
            6162636465
          db_token: !vault |
            $ANSIBLE_VAULT;1.1;AES256
            6162636465
    """
    inventory = load_ansible_inventory(write("v.yaml", text))
    assert inventory.hosts[0].facts == {}
    assert any("db_token is vault-encrypted" in w for w in inventory.warnings)
    assert "6162636465" not in inventory.model_dump_json()


def test_unsupported_connection_skips_host_with_warning(write: WriteFile) -> None:
    inventory = load_ansible_inventory(write("h.ini", "localhost ansible_connection=local\nh1\n"))
    assert [h.name for h in inventory.hosts] == ["h1"]
    assert "host 'localhost' skipped: ansible_connection=local" in inventory.warnings[0]


def test_content_sniffing_without_suffix(write: WriteFile) -> None:
    ini = load_ansible_inventory(write("inv_ini", "; comment\nh1\n"))
    yml = load_ansible_inventory(write("inv_yaml", "---\nall:\n  hosts:\n    h2:\n"))
    assert [h.name for h in (*ini.hosts, *yml.hosts)] == ["h1", "h2"]


@pytest.mark.parametrize(
    ("name", "text", "line", "fragment"),
    [
        ("h.ini", "[web\nh1\n", "1", "malformed section header '[web'"),
        ("h.ini", "[web:foo]\nh1\n", "1", "unknown section type ':foo'"),
        ("h.ini", "[web]\nh1 ansible_port\n", "2", "expected key=value after the host pattern"),
        ("h.ini", "[web]\nh1 x='abc\n", "2", "cannot parse host line"),
        ("h.ini", "[web]\nok\nh[3:1]\n", "3", "bad range [3:1] in 'h[3:1]': start is after end"),
        ("h.ini", "[web]\nh[a:3]\n", "2", "expected two numbers or two letters"),
        ("h.ini", "[web]\nh1 ansible_port=abc\n", "2", "ansible_port: expected an integer 1-65535"),
        ("h.ini", "[web]\nh1\n[web:vars]\nansible_become=maybe\n", "4", "expected true or false"),
        ("h.ini", "[web:vars]\njustakey\n", "2", "expected key=value in [web:vars]"),
        (
            "h.ini",
            "[web]\nh1 fp_patchgroup=x\n",
            "2",
            "unknown fleetpatch variable 'fp_patchgroup'",
        ),
        ("h.ini", "[a]\nh1\n[a:children]\nb\n[b:children]\na\n", "1", "a -> b -> a"),
        ("h.ini", "# nothing\n[web]\n", "1", "defines no hosts"),
        ("h.ini", "h1 fp_transport=telnet\n", "1", "fp_transport: expected ssh or winrm"),
        ("h.ini", "h1 fp_connect_timeout=0\n", "1", "fp_connect_timeout: expected a number"),
        (
            "h.ini",
            "h1 fp_connect_retries=11\n",
            "1",
            "fp_connect_retries: expected an integer 0-10",
        ),
        ("h.ini", "h1 ansible_ssh_common_args='-J a@b,c@d'\n", "1", "multi-hop jump hosts"),
        ("h.ini", "h1 fp_jump_host=ops@b:99999\n", "1", "bad port '99999'"),
        ("h.ini", "[web]\n'a,b'\n", "2", "must not contain whitespace or commas"),
        ("h.yaml", "all:\n  hostz:\n    a:\n", "2", "unknown key 'hostz' in group 'all'"),
        ("h.yaml", "all:\n  hosts:\n    - a\n", "2", "hosts: expected a mapping of host name"),
        ("h.yaml", "all:\n  hosts:\n    a:\n    a:\n", "4", "duplicate key 'a'"),
        (
            "h.yaml",
            "all:\n  hosts:\n    a:\n      fp_tags: Env\n",
            "4",
            "fp_tags: expected Key=Value",
        ),
        (
            "h.yaml",
            "all:\n  children:\n    web:\n      hosts:\n        a:\n          ansible_port: 0\n",
            "6",
            "ansible_port: expected an integer 1-65535, got 0",
        ),
        (
            "h.yaml",
            "all:\n  hosts:\n    a:\n      ansible_host: !vault |\n        $ANSIBLE_VAULT;1.1\n",
            "4",
            "ansible_host is vault-encrypted",
        ),
        (
            "h.yaml",
            "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n"
            "            a:\n",
            "3",
            "a -> b -> a",
        ),
        ("h.yaml", "all:\n  hosts:\n    a: [1]\n", "3", "expected a mapping of variable names"),
        ("h.yaml", "all:\n  hosts: { a: \n", "3", "malformed YAML"),
    ],
)
def test_bad_ansible_input(
    write: WriteFile, name: str, text: str, line: str, fragment: str
) -> None:
    path = write(name, text)
    with pytest.raises(InputError) as caught:
        load_ansible_inventory(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


def test_missing_ansible_key_file(write: WriteFile, tmp_path: Path) -> None:
    path = write("h.ini", "[web]\nh1 ansible_ssh_private_key_file=keys/nope\n")
    with pytest.raises(InputError) as caught:
        load_ansible_inventory(path)
    assert str(caught.value) == (
        f"{path}:2: ansible_ssh_private_key_file: key file keys/nope "
        f"(resolved {tmp_path / 'keys' / 'nope'}) does not exist"
    )
