"""Bad input through the real command: a clear message naming file and place, exit code 2,
and the store untouched."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_run import fleetpatch


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_bad_input(proc: subprocess.CompletedProcess[str], store: Path, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not store.exists(), "bad input must not touch the store"


def test_malformed_yaml_names_file_and_line(tmp_path: Path, store: Path) -> None:
    inv = write(tmp_path, "inv.yaml", "hosts:\n  web-1: {address: 10.0.0.1\n  web-2: {}\n")
    proc = fleetpatch(["scan", "-i", inv], store=store)
    assert_bad_input(proc, store, "inv.yaml", ":3")


def test_unknown_key_is_named(tmp_path: Path, store: Path) -> None:
    inv = write(tmp_path, "inv.yaml", "hosts:\n  web-1:\n    adress: 10.0.0.1\n")
    proc = fleetpatch(["scan", "-i", inv], store=store)
    assert_bad_input(proc, store, "inv.yaml:3", "adress")


def test_missing_key_file(tmp_path: Path, store: Path) -> None:
    inv = write(
        tmp_path,
        "inv.yaml",
        "defaults:\n  connection: {key_file: keys/nope}\nhosts:\n  web-1: {}\n",
    )
    proc = fleetpatch(["scan", "-i", inv], store=store)
    assert_bad_input(proc, store, "inv.yaml:2", "keys/nope", "does not exist")


@pytest.mark.parametrize("command", [["scan"], ["inventory", "list"]])
def test_a_connection_value_outside_its_grammar(
    tmp_path: Path, store: Path, command: list[str]
) -> None:
    inv = write(tmp_path, "hosts.ini", "[web]\nweb-1 ansible_user='-oProxyCommand=x'\n")
    proc = fleetpatch([*command, "-i", inv], store=store)
    assert_bad_input(proc, store, "hosts.ini:2", "ansible_user", "starts with '-'")
    assert "Traceback" not in proc.stderr


def test_target_matching_nothing(tmp_path: Path, store: Path) -> None:
    inv = write(tmp_path, "inv.yaml", "hosts:\n  web-1: {tags: {Env: prod}}\n")
    proc = fleetpatch(["scan", "-i", inv, "--target", "tag:Env=nope"], store=store)
    assert_bad_input(proc, store, "tag:Env=nope", "matches no host", "prod")


def test_malformed_target(tmp_path: Path, store: Path) -> None:
    inv = write(tmp_path, "inv.yaml", "hosts:\n  web-1: {}\n")
    proc = fleetpatch(["scan", "-i", inv, "--target", "tag:"], store=store)
    assert_bad_input(proc, store, "tag:")


def test_missing_inventory_file(tmp_path: Path, store: Path) -> None:
    proc = fleetpatch(["scan", "-i", tmp_path / "absent.yaml"], store=store)
    assert_bad_input(proc, store, "absent.yaml")


def test_bad_baseline_file(tmp_path: Path, store: Path) -> None:
    inv = write(tmp_path, "inv.yaml", "hosts:\n  web-1: {}\n")
    baseline = write(
        tmp_path,
        "b.yaml",
        "name: bad\noperating_system: DEBIAN\napproval_rules:\n"
        "  - filters: [{key: PRIORITY, values: [Required]}]\n    approve_after_days: 7\n",
    )
    proc = fleetpatch(["scan", "-i", inv, "--baseline", baseline], store=store)
    assert_bad_input(proc, store, "b.yaml", "approve_after_days")


def test_unreachable_host_is_a_host_failure_exit_3(tmp_path: Path, store: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    inv = write(
        tmp_path,
        "inv.yaml",
        f"hosts:\n  down-1: {{address: 127.0.0.1, port: {port}}}\n",
    )
    proc = fleetpatch(["scan", "-i", inv, "--format", "json"], store=store)
    assert proc.returncode == 3, proc.stderr
    entry = json.loads(proc.stdout)["hosts"][0]
    assert entry["outcome"] == "failed"
    assert entry["failure"]["kind"] == "unreachable"
    assert f"127.0.0.1:{port}" in entry["failure"]["message"]
    assert store.exists()  # a host failure is a result, and results are stored


def test_a_store_that_cannot_be_used_ends_the_scan_before_anything_runs(
    tmp_path: Path, store: Path
) -> None:
    """The store is opened while the first hosts' connections are being made
    (SshConnector.start_connecting): a store that cannot be used still exits 2 with its
    message, leaves the store as it was, and closes the early connections unused."""
    import sqlite3

    from fleetpatch.store import open_store

    open_store(f"sqlite:///{store}").close()
    conn = sqlite3.connect(store)
    conn.execute("INSERT INTO schema_version VALUES (99, 'from the future', '2030-01-01')")
    conn.commit()
    conn.close()
    before = store.read_bytes()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    inv = write(tmp_path, "inv.yaml", f"hosts:\n  web-1: {{address: 127.0.0.1, port: {port}}}\n")
    proc = fleetpatch(["scan", "-i", inv], store=store)
    assert proc.returncode == 2, proc.stderr
    assert "store schema version 99 is newer" in proc.stderr
    assert store.read_bytes() == before
    listener.settimeout(5)
    conn_to_host, _ = listener.accept()  # the early connection reached the host ...
    conn_to_host.settimeout(5)
    received = b""
    while chunk := conn_to_host.recv(4096):  # ... and was closed, having sent only its banner
        received += chunk
    assert received.startswith(b"SSH-2.0-") and received.count(b"\n") == 1, received
    conn_to_host.close()
    listener.close()
