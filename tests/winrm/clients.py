"""Helpers for tests that talk to the endpoint with the real pywinrm client."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import winrm
from winrm.protocol import Protocol

from tests.winrm.auth import Credentials
from tests.winrm.host import EmulatedHost
from tests.winrm.process import CommandRequest, RemoteProcess


def protocol_for(
    host: EmulatedHost, credentials: Credentials | None = None, **kwargs: Any
) -> Protocol:
    """A pywinrm Protocol to the host (NTLM by default; short timeouts for tests)."""
    credentials = credentials or host.credentials
    kwargs.setdefault("transport", "ntlm")
    kwargs.setdefault("operation_timeout_sec", 5)
    kwargs.setdefault("read_timeout_sec", 10)
    kwargs.setdefault("ca_trust_path", None)  # not REQUESTS_CA_BUNDLE (a DeprecationWarning)
    return Protocol(
        host.url, username=credentials.username, password=credentials.password, **kwargs
    )


def session_for(
    host: EmulatedHost, credentials: Credentials | None = None, **kwargs: Any
) -> winrm.Session:
    credentials = credentials or host.credentials
    kwargs.setdefault("transport", "ntlm")
    kwargs.setdefault("operation_timeout_sec", 5)
    kwargs.setdefault("read_timeout_sec", 10)
    kwargs.setdefault("ca_trust_path", None)
    return winrm.Session(host.url, auth=(credentials.username, credentials.password), **kwargs)


class GatedHandler:
    """A handler whose commands write ``first``, wait for the test to ``open()`` the gate,
    write ``second`` and exit 0: output over time without depending on timing."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def open(self) -> None:
        self.gate.set()

    def run(self, request: CommandRequest, process: RemoteProcess) -> int:
        if request.command_line != "wait-for-gate":
            process.write("first\r\n")
        while not self.gate.wait(0.05):
            if process.stopped:
                return 1
        process.write("second\r\n")
        return 0


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> None:
    """Poll until ``condition()`` holds.

    Raises:
        AssertionError: it did not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


class WireTap:
    """A TCP relay on 127.0.0.1 that records every byte each way: what an eavesdropper on the
    network between pywinrm and the host would see."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.to_server = bytearray()
        self.to_client = bytearray()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/wsman") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    (self.to_server if upstream else self.to_client).extend(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
