"""Values that reach a connection (address, user, port, jump host) are checked when the
inventory is loaded, in every format; a bad one names the file, the line and the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleetpatch.errors import InputError
from fleetpatch.inventory.grammar import address_problem, login_user_problem
from fleetpatch.inventory.loader import load_inventory

WriteFile = Callable[..., Path]

GOOD_ADDRESSES = [
    "web-1",
    "web-1.example.com",
    "web-1.example.com.",
    "db_1.internal",  # '_' is common in internal DNS and container names
    "10.0.0.11",
    "::1",
    "fe80::1%eth0",
    "2001:db8::7",
    "a" * 63 + ".example",
    "localhost",
]
BAD_ADDRESSES = [
    ("", "empty"),
    ("web 1", "whitespace"),
    ("web1\n", "whitespace"),
    ("-oProxyCommand=touch /tmp/x", "whitespace"),
    ("-oProxyCommand=x", "starts with '-'"),
    ("web;reboot", "character ';'"),
    ("$(id)", "character '$'"),
    ("web..example", "empty label"),
    (".web", "empty label"),
    ("web-.example", "starts or ends with '-'"),
    ("a" * 64 + ".example", "longer than 63"),
    (("abc." * 64)[:-1], "longer than 253"),
    ("10.0.0.256", "not a valid IPv4"),
    ("1.2.3", "not a valid IPv4"),
    ("010.0.0.1", "not a valid IPv4"),
    ("[::1]", "without the brackets"),
    ("web-1:22", "not a valid IPv6"),
    ("bücher.example", "non-ASCII"),
    ("web\x1b[31m", "control character"),
]
GOOD_USERS = [
    "root",
    "ec2-user",
    "patch.bot",
    "svc_patch",
    "MACHINE$",
    "CORP\\jdoe",
    "jdoe@corp.example.com",
    "_apt",
    "u1",
]
BAD_USERS = [
    ("", "empty"),
    ("-oProxyCommand=x", "starts with '-'"),
    ("root -l", "whitespace"),
    ("root;id", "character ';'"),
    ("ro'ot", 'character "\'"'),
    ("1000", "digits only"),
    ("..", "not a name"),
    ("CORP\\", "name is empty"),
    ("\\jdoe", "not a domain name"),
    ("jdoe@", "not a DNS name"),
    ("jdoe@corp..example", "not a DNS name"),
    ("a@b@c", "not a DNS name"),
    ("x" * 257, "longer than 256"),
]


@pytest.mark.parametrize("value", GOOD_ADDRESSES)
def test_addresses_by_their_grammar_pass(value: str) -> None:
    assert address_problem(value) is None


@pytest.mark.parametrize(("value", "problem"), BAD_ADDRESSES)
def test_bad_addresses_say_what_is_wrong(value: str, problem: str) -> None:
    found = address_problem(value)
    assert found is not None and problem in found, found


@pytest.mark.parametrize("value", GOOD_USERS)
def test_login_users_by_their_grammar_pass(value: str) -> None:
    assert login_user_problem(value) is None


@pytest.mark.parametrize(("value", "problem"), BAD_USERS)
def test_bad_users_say_what_is_wrong(value: str, problem: str) -> None:
    found = login_user_problem(value)
    assert found is not None and problem in found, found


def fail(write: WriteFile, name: str, text: str) -> InputError:
    path = write(name, text)
    with pytest.raises(InputError) as caught:
        load_inventory([path])
    assert caught.value.path == str(path)
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        pytest.param(
            "hosts:\n  web-1:\n    address: 'web-1;reboot'\n",
            "3",
            ["hosts.web-1.address: expected an address", "character ';'", "'web-1;reboot'"],
            id="address",
        ),
        pytest.param(
            "defaults:\n  user: '-oProxyCommand=x'\nhosts:\n  a: {}\n",
            "2",
            ["defaults.user: expected a login name", "starts with '-'"],
            id="user-in-defaults",
        ),
        pytest.param(
            "hosts:\n  a: {}\ngroups:\n  g:\n    hosts: [a]\n    vars: { user: 'ad min' }\n",
            "6",
            ["groups.g.vars.user: expected a login name", "whitespace"],
            id="user-in-group-vars",
        ),
        pytest.param(
            "hosts:\n  a:\n    connection:\n"
            "      jump_host: { address: 'bastion;id', user: ops }\n",
            "4",
            ["hosts.a.connection.jump_host.address: expected an address", "';'"],
            id="jump-host-address",
        ),
        pytest.param(
            "hosts:\n  a:\n    connection:\n      jump_host:\n        address: b\n"
            "        user: '$(id)'\n",
            "6",
            ["jump_host.user: expected a login name", "'$'"],
            id="jump-host-user",
        ),
        pytest.param(
            "hosts:\n  a:\n    connection:\n      jump_host: { address: b, port: 0 }\n",
            "4",
            ["jump_host.port: expected an integer 1-65535, got 0"],
            id="jump-host-port",
        ),
        pytest.param(
            "hosts:\n  'db;reboot': {}\n",
            "2",
            ["address: expected an address", "';'", "reached by its name"],
            id="name-as-address",
        ),
        pytest.param(
            "hosts:\n  '[::1]': {}\n",
            "2",
            ["without the brackets", "reached by its name"],
            id="bracketed-name-as-address",
        ),
    ],
)
def test_fleetpatch_yaml(write: WriteFile, text: str, line: str, fragments: list[str]) -> None:
    error = fail(write, "inv.yaml", text)
    assert error.location == line, str(error)
    for fragment in fragments:
        assert fragment in str(error), str(error)


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        pytest.param(
            "[web]\nweb-1 ansible_host='10.0.0.1;touch /tmp/x'\n",
            "2",
            ["ansible_host: expected an address", "whitespace"],
            id="ansible-host",
        ),
        pytest.param(
            "[web]\nweb-1\n[web:vars]\nansible_user=-oProxyCommand=x\n",
            "4",
            ["ansible_user: expected a login name", "starts with '-'"],
            id="user-in-group-vars",
        ),
        pytest.param(
            "[web]\nweb-1 ansible_port=65536\n",
            "2",
            ["ansible_port: expected an integer 1-65535, got '65536'"],
            id="port",
        ),
        pytest.param(
            "[web]\nweb-1 fp_jump_host='ops@bastion;id:22'\n",
            "2",
            ["fp_jump_host: bad host 'bastion;id' in jump host", "';'"],
            id="jump-host-spec",
        ),
        pytest.param(
            "[web]\nweb-1 fp_jump_host=-oProxyCommand=x@bastion\n",
            "2",
            ["fp_jump_host: bad user '-oProxyCommand=x' in jump host", "starts with '-'"],
            id="jump-host-user",
        ),
        pytest.param(
            "[web]\nweb-1 ansible_ssh_common_args='-J ops@bastion:99999'\n",
            "2",
            ["bad port '99999'"],
            id="proxyjump-port",
        ),
        pytest.param(
            "[web]\nweb$1\n", "2", ["host 'web$1': address: expected an address"], id="name"
        ),
    ],
)
def test_ansible_ini(write: WriteFile, text: str, line: str, fragments: list[str]) -> None:
    error = fail(write, "hosts.ini", text)
    assert error.location == line, str(error)
    for fragment in fragments:
        assert fragment in str(error), str(error)


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        pytest.param(
            "all:\n  hosts:\n    web-1:\n      ansible_host: 'web 1'\n",
            "4",
            ["ansible_host: expected an address", "whitespace"],
            id="ansible-host",
        ),
        pytest.param(
            "all:\n  vars:\n    ansible_user: 'root;id'\n  hosts:\n    web-1: {}\n",
            "3",
            ["ansible_user: expected a login name", "';'"],
            id="user-in-all-vars",
        ),
        pytest.param(
            "all:\n  hosts:\n    web-1:\n      fp_jump_host: { address: 'b b' }\n",
            "4",
            ["fp_jump_host.address: expected an address", "whitespace", "'b b'"],
            id="jump-host-mapping",
        ),
    ],
)
def test_ansible_yaml(write: WriteFile, text: str, line: str, fragments: list[str]) -> None:
    error = fail(write, "hosts.yaml", text)
    assert error.location == line, str(error)
    for fragment in fragments:
        assert fragment in str(error), str(error)


def test_domain_users_are_accepted_for_both_transports(write: WriteFile) -> None:
    path = write(
        "inv.yaml",
        "hosts:\n"
        "  win-1: { transport: winrm, port: 5986, user: 'CORP\\Administrator' }\n"
        "  lin-1: { user: jdoe@corp.example.com, address: 10.0.0.5 }\n",
    )
    users = {h.name: h.user for h in load_inventory([path]).hosts}
    assert users == {"win-1": "CORP\\Administrator", "lin-1": "jdoe@corp.example.com"}
