"""WinRM connection settings in inventories: fleetpatch YAML, Ansible (ansible_winrm_*), EC2.

Checked when the inventory is loaded: a bad combination is an InputError naming the file, the
line and the setting; nothing is contacted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleetpatch.errors import InputError
from fleetpatch.inventory.ansible import load_ansible_inventory
from fleetpatch.inventory.loader import load_inventory
from fleetpatch.inventory.model import Host

WriteFile = Callable[..., Path]


def _one(write: WriteFile, text: str) -> Host:
    return load_inventory([write("inv.yaml", text)]).hosts[0]


def test_winrm_defaults_to_ntlm_over_http_on_5985(write: WriteFile) -> None:
    host = _one(write, "hosts:\n  win-1: { transport: winrm, user: 'CORP\\patcher' }\n")
    assert (host.transport, host.port, host.winrm_scheme) == ("winrm", 5985, "http")
    assert host.connection.winrm_auth == "ntlm"
    assert host.connection.winrm_insecure_skip_cert_validation is False


def test_https_scheme_moves_the_default_port_to_5986(write: WriteFile) -> None:
    host = _one(
        write, "hosts:\n  win-1: { transport: winrm, connection: { winrm_scheme: https } }\n"
    )
    assert (host.port, host.winrm_scheme) == (5986, "https")


def test_port_5986_means_https_and_ssh_hosts_keep_22(write: WriteFile) -> None:
    text = "hosts:\n  win-1: { transport: winrm, port: 5986 }\n  lin-1: {}\n"
    win, lin = load_inventory([write("inv.yaml", text)]).hosts
    assert win.winrm_scheme == "https"
    assert lin.port == 22


def test_ca_bundle_is_resolved_against_the_file_and_must_exist(
    write: WriteFile, tmp_path: Path
) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    host = _one(
        write,
        "hosts:\n  win-1:\n    transport: winrm\n    port: 5986\n"
        "    connection: { winrm_ca_bundle: ca.pem }\n",
    )
    assert host.connection.winrm_ca_bundle == str(tmp_path / "ca.pem")
    with pytest.raises(InputError) as caught:
        _one(
            write,
            "hosts:\n  win-1:\n    transport: winrm\n    port: 5986\n"
            "    connection: { winrm_ca_bundle: nope.pem }\n",
        )
    assert "inv.yaml:5" in str(caught.value)
    assert "CA bundle nope.pem" in str(caught.value) and "does not exist" in str(caught.value)


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        ("{ winrm_auth: basic }", "basic sends the password in clear text"),
        ("{ winrm_insecure_skip_cert_validation: true }", "there is no certificate over HTTP"),
        ("{ winrm_auth: digest }", "winrm_auth"),
    ],
)
def test_bad_winrm_combinations_are_refused_with_file_and_line(
    write: WriteFile, connection: str, expected: str
) -> None:
    with pytest.raises(InputError) as caught:
        _one(
            write,
            f"hosts:\n  x: {{}}\n  win-1:\n    transport: winrm\n    connection: {connection}\n",
        )
    assert "inv.yaml:" in str(caught.value)
    assert expected in str(caught.value)


def test_basic_over_https_is_accepted_and_the_ca_bundle_and_skip_do_not_mix(
    write: WriteFile, tmp_path: Path
) -> None:
    host = _one(
        write,
        "hosts:\n  win-1: { transport: winrm, port: 5986, connection: { winrm_auth: basic } }\n",
    )
    assert host.connection.winrm_auth == "basic"
    (tmp_path / "ca.pem").write_text("x")
    with pytest.raises(InputError, match="keep one"):
        _one(
            write,
            "hosts:\n  win-1:\n    transport: winrm\n    port: 5986\n    connection:\n"
            "      winrm_ca_bundle: ca.pem\n      winrm_insecure_skip_cert_validation: true\n",
        )


# --- Ansible -----------------------------------------------------------------------------------


def test_ansible_winrm_host_gets_ansibles_defaults_https_5986(write: WriteFile) -> None:
    inventory = load_ansible_inventory(
        write("hosts.ini", "[win]\nwin-1 ansible_connection=winrm ansible_user=Administrator\n")
    )
    host = inventory.hosts[0]
    assert (host.transport, host.port, host.winrm_scheme) == ("winrm", 5986, "https")
    assert host.connection.winrm_auth == "ntlm"


def test_ansible_winrm_vars_map_to_settings(write: WriteFile, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    text = """
    [win]
    a ansible_port=5985 ansible_winrm_transport=kerberos ansible_winrm_password=s3cret
    b ansible_winrm_transport=ssl ansible_winrm_server_cert_validation=ignore
    c ansible_winrm_scheme=https ansible_port=443 ansible_winrm_ca_trust_path=ca.pem
    d ansible_winrm_transport=ntlm fp_winrm_auth=basic ansible_winrm_operation_timeout_sec=30

    [win:vars]
    ansible_connection=winrm
    """
    inventory = load_ansible_inventory(write("hosts.ini", text))
    a, b, c, d = inventory.hosts
    assert (a.port, a.winrm_scheme, a.connection.winrm_auth) == (5985, "http", "kerberos")
    assert "s3cret" not in repr(a) and "ansible_winrm_password" not in a.facts
    assert b.connection.winrm_auth == "basic"
    assert b.connection.winrm_insecure_skip_cert_validation is True
    assert (c.port, c.winrm_scheme) == (443, "https")
    assert c.connection.winrm_ca_bundle == str(tmp_path / "ca.pem")
    assert d.connection.winrm_auth == "basic"  # fp_winrm_auth wins
    assert d.facts["ansible_winrm_operation_timeout_sec"] == "30"  # not used, kept as a fact
    warnings = "\n".join(inventory.warnings)
    assert "hosts.ini:2" in warnings and "ansible_winrm_password is a secret" in warnings
    assert "hosts.ini:3" in warnings and "NOT validated" in warnings


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "w ansible_connection=winrm ansible_winrm_transport=credssp",
            "'credssp' is not supported",
        ),
        ("w ansible_connection=winrm ansible_winrm_scheme=ftp", "expected http or https"),
        (
            "w ansible_connection=winrm ansible_port=5985 ansible_winrm_transport=basic",
            "clear text",
        ),
        ("w ansible_connection=winrm ansible_winrm_ca_trust_path=none.pem", "does not exist"),
    ],
)
def test_ansible_winrm_errors_name_file_and_line(
    write: WriteFile, line: str, expected: str
) -> None:
    with pytest.raises(InputError) as caught:
        load_ansible_inventory(write("hosts.ini", f"# hosts\n{line}\n"))
    assert "hosts.ini:2" in str(caught.value)
    assert expected in str(caught.value)


def test_ec2_windows_instances_speak_https() -> None:
    from fleetpatch.inventory.ec2.hosts import WINDOWS_BUILTIN
    from fleetpatch.inventory.resolve import build_host

    host = build_host(
        "i-1",
        WINDOWS_BUILTIN,
        groups=(),
        source="ec2",
        fail=lambda message: InputError(message),
    )
    assert (host.transport, host.port, host.winrm_scheme) == ("winrm", 5986, "https")
