"""Every kind of bad input to the YAML format fails with the file, the line and the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleetpatch.errors import InputError
from fleetpatch.inventory.loader import load_inventory

WriteFile = Callable[..., Path]


def fail(write: WriteFile, text: str, name: str = "inv.yaml") -> InputError:
    path = write(name, text)
    with pytest.raises(InputError) as caught:
        load_inventory([path])
    error = caught.value
    assert error.path == str(path)
    assert str(path) in str(error)
    return error


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        pytest.param(
            "hosts:\n  a: {port: 1\n  b: {}\n",
            "3",
            ["malformed YAML", "flow mapping on line 2"],
            id="malformed",
        ),
        pytest.param(
            "hosts:\n  a: {}\n  b: {}\n  a: {}\n",
            "4",
            ["duplicate key 'a'", "line 2"],
            id="duplicate-key",
        ),
        pytest.param(
            "hosts:\n  web-1:\n    adress: 10.0.0.1\n",
            "3",
            [
                "unknown key 'adress'",
                "hosts.web-1",
                "did you mean 'address'",
                "allowed keys:",
                "address, connection, known_hosts, port, tags, transport, user, vars",
            ],
            id="unknown-host-key",
        ),
        pytest.param(
            "defaults:\n  user: x\n  connection:\n    sudoo: true\nhosts: { a: {} }\n",
            "4",
            ["unknown key 'sudoo'", "defaults.connection", "sudo_password_env", "use_agent"],
            id="unknown-connection-key",
        ),
        pytest.param(
            "hosts: { a: {} }\ngroups:\n  g:\n    vars:\n      address: x\n",
            "5",
            ["unknown key 'address'", "groups.g.vars", "allowed keys: connection, known_hosts"],
            id="unknown-group-vars-key",
        ),
        pytest.param(
            "host:\n  a: {}\n",
            "1",
            ["unknown key 'host'", "did you mean 'hosts'"],
            id="unknown-top-key",
        ),
        pytest.param(
            "hosts:\n  web-1:\n    port: abc\n",
            "3",
            ["hosts.web-1.port: expected an integer 1-65535, got 'abc'"],
            id="port-not-int",
        ),
        pytest.param(
            "hosts:\n  web-1: { user: u }\n  web-2: { port: 70000 }\n",
            "3",
            ["hosts.web-2.port: expected an integer 1-65535, got 70000"],
            id="port-out-of-range",
        ),
        pytest.param(
            "hosts:\n  a:\n    connection:\n      connect_timeout: 0\n",
            "4",
            ["hosts.a.connection.connect_timeout: expected a number greater than 0, got 0"],
            id="timeout-zero",
        ),
        pytest.param(
            "hosts:\n  a:\n    connection: { sudo: maybe }\n",
            "3",
            ["hosts.a.connection.sudo: expected true or false, got 'maybe'"],
            id="bool",
        ),
        pytest.param(
            "hosts:\n  a:\n    transport: telnet\n",
            "3",
            ["hosts.a.transport: expected one of 'ssh' or 'winrm', got 'telnet'"],
            id="transport",
        ),
        pytest.param(
            "defaults:\n  tags: [Env]\nhosts: { a: {} }\n",
            "2",
            ["defaults.tags: expected a mapping, got ['Env']"],
            id="tags-not-mapping",
        ),
        pytest.param(
            "hosts:\n  a:\n    tags:\n      Enabled: yes\n",
            "4",
            ["hosts.a.tags.Enabled: expected a string (quote the value), got True"],
            id="tag-value-bool",
        ),
        pytest.param(
            "hosts:\n  a:\n    connection:\n      jump_host: { user: ops }\n",
            "4",
            ["hosts.a.connection.jump_host.address: required key is missing"],
            id="jump-host-address-missing",
        ),
        pytest.param(
            "hosts:\n  a: {}\ngroups:\n  web:\n    hosts:\n      - a\n      - web-9\n",
            "7",
            ["group 'web' lists unknown host 'web-9'", "hosts in this file: a"],
            id="group-unknown-host",
        ),
        pytest.param(
            "hosts:\n  a: {}\ngroups:\n  web:\n    children: [wbe]\n  web2: {}\n",
            "5",
            ["group 'web' lists unknown child group 'wbe'", "did you mean 'web'"],
            id="group-unknown-child",
        ),
        pytest.param(
            "hosts:\n  a: {}\ngroups:\n  a1:\n    children: [b1]\n  b1:\n    children: [a1]\n",
            "4",
            ["cycle", "a1 -> b1 -> a1"],
            id="children-cycle",
        ),
        pytest.param(
            "hosts:\n  a: {}\ngroups:\n  self:\n    children: [self]\n",
            "4",
            ["cycle", "self -> self"],
            id="children-self-cycle",
        ),
        pytest.param("", "1", ["empty"], id="empty-file"),
        pytest.param("# only a comment\n", "1", ["empty"], id="comment-only"),
        pytest.param("defaults: { user: x }\n", "1", ["no hosts defined"], id="no-hosts"),
        pytest.param("hosts: {}\n", "1", ["no hosts defined"], id="empty-hosts"),
        pytest.param("- a\n- b\n", "1", ["expected a mapping", "got list"], id="top-level-list"),
        pytest.param(
            "hosts:\n  'web 1': {}\n", "2", ["host name 'web 1'", "whitespace"], id="bad-host-name"
        ),
        pytest.param(
            "hosts:\n  a:\n    known_hosts: x\n    connection: { known_hosts: y }\n",
            "3",
            ["known_hosts is set twice"],
            id="known-hosts-twice",
        ),
    ],
)
def test_bad_input_names_file_line_and_problem(
    write: WriteFile, text: str, line: str, fragments: list[str]
) -> None:
    error = fail(write, text)
    assert error.location == line, str(error)
    assert str(error).startswith(f"{error.path}:{line}: ")
    for fragment in fragments:
        assert fragment in str(error)


def test_several_type_errors_are_all_reported(write: WriteFile) -> None:
    error = fail(write, "hosts:\n  a:\n    port: x\n    user: [1]\n  b: { adress: 1 }\n")
    message = str(error)
    assert error.location == "3"
    assert "hosts.a.port" in message
    assert "inv.yaml:4: hosts.a.user: expected a string, got [1]" in message
    assert "inv.yaml:5: unknown key 'adress'" in message


def test_missing_key_file_names_raw_and_resolved_path(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    error = fail(write, "hosts:\n  a:\n    connection:\n      key_file: ~/.ssh/nope\n")
    resolved = tmp_path / "home" / ".ssh" / "nope"
    assert error.location == "4"
    assert f"key file ~/.ssh/nope (resolved {resolved}) does not exist" in str(error)


def test_missing_jump_host_key_file_is_reported(write: WriteFile, tmp_path: Path) -> None:
    error = fail(
        write,
        "defaults:\n  connection:\n    jump_host:\n      address: b\n      key_file: k/jump\n"
        "hosts: { a: {} }\n",
    )
    assert error.location == "5"
    assert f"key file k/jump (resolved {tmp_path / 'k' / 'jump'}) does not exist" in str(error)


def test_duplicate_host_across_files_names_both_places(write: WriteFile) -> None:
    one = write("one.yaml", "hosts:\n  x: {}\n  y: {}\n")
    two = write("two.yaml", "hosts:\n  z: {}\n  y: {}\n")
    with pytest.raises(InputError) as caught:
        load_inventory([one, two])
    message = str(caught.value)
    assert message.startswith(f"{two}:3: ")
    assert "host 'y' is defined twice" in message
    assert f"{one}:3" in message


def test_missing_file_and_no_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no inventory file given"):
        load_inventory([])
    missing = tmp_path / "missing.yaml"
    with pytest.raises(InputError, match="not found") as caught:
        load_inventory([missing])
    assert caught.value.path == str(missing)


def test_same_file_twice_is_rejected(write: WriteFile) -> None:
    path = write("inv.yaml", "hosts: { a: {} }\n")
    with pytest.raises(InputError, match="given twice"):
        load_inventory([path, path])


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(b"hosts:\n  \xff: {}\n")
    with pytest.raises(InputError, match="not UTF-8"):
        load_inventory([path])
