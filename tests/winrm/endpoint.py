"""A WS-Management endpoint for tests: many emulated Windows hosts behind one accept loop.

    with WsmanEndpoint() as endpoint:
        host = endpoint.add_host("web-01", ToyShellHandler())
        session = winrm.Session(host.url, auth=(endpoint.credentials.username,
                                                endpoint.credentials.password),
                                transport="ntlm")
        session.run_cmd("echo", ["hi"])

This is a test double, not Windows: see tests/winrm/README.md for what it implements.
Run it by hand with ``python -m tests.winrm.endpoint --scenario toy`` (``--help``).
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from tests.winrm.auth import Credentials, NtlmUserFiles, tls_channel_bindings
from tests.winrm.certs import TlsMaterial, make_tls_material
from tests.winrm.host import EmulatedHost
from tests.winrm.process import CommandHandler
from tests.winrm.server import AcceptLoop, HostListener
from tests.winrm.toy_handler import ToyShellHandler


def new_credentials(username: str = "Administrator") -> Credentials:
    """A local account with a fresh random password (no ':' - see auth.Credentials)."""
    return Credentials(username, "P@" + secrets.token_hex(12))


class WsmanEndpoint:
    """Serves WinRM for any number of emulated hosts, each on a port of its own.

    Args:
        credentials: the account every host accepts unless given its own (default: a fresh
            ``Administrator`` password for this endpoint).
        tls: certificate and key; None serves plain HTTP (NTLM with message encryption).
        allow_unencrypted: accept plaintext SOAP bodies over HTTP (Windows: AllowUnencrypted,
            false by default - then such a body gets HTTP 500).
        workdir: where the NTLM user files go (default: a temporary directory removed on stop).
    """

    def __init__(
        self,
        *,
        credentials: Credentials | None = None,
        tls: TlsMaterial | None = None,
        allow_unencrypted: bool = False,
        workdir: Path | None = None,
    ) -> None:
        self.credentials = credentials or new_credentials()
        self.tls = tls
        self.allow_unencrypted = allow_unencrypted
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="wsman-endpoint-"))
        self.user_files = NtlmUserFiles(self.workdir / "ntlm")
        self.tls_context: ssl.SSLContext | None = None
        self.channel_bindings = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert_path, tls.key_path)
            self.tls_context = context
            self.channel_bindings = tls_channel_bindings(tls.cert_der, tls.hash_name)
        self._loop: AcceptLoop | None = None
        self._listeners: dict[str, HostListener] = {}
        self._lock = threading.Lock()

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def start(self) -> WsmanEndpoint:
        if self._loop is None:
            self._loop = AcceptLoop()
        return self

    def stop(self) -> None:
        with self._lock:
            listeners = list(self._listeners.values())
            self._listeners.clear()
        for listener in listeners:
            listener.host.stop()
            listener.close()
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> WsmanEndpoint:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- hosts ---------------------------------------------------------------------------------

    def add_host(
        self,
        name: str | None = None,
        handler: CommandHandler | None = None,
        *,
        credentials: Credentials | None = None,
    ) -> EmulatedHost:
        """A new host listening on a free port of 127.0.0.1 (``host.url``)."""
        if self._loop is None:
            raise RuntimeError("start the endpoint before adding hosts")
        with self._lock:
            name = name or f"win-{len(self._listeners) + 1:03d}"
            if name in self._listeners:
                raise ValueError(f"a host named {name!r} exists already")
            host = EmulatedHost(
                name, handler or ToyShellHandler(), credentials or self.credentials, self.scheme
            )
            self._listeners[name] = HostListener(self._loop, self, host)
        return host

    def remove_host(self, host: EmulatedHost) -> None:
        with self._lock:
            listener = self._listeners.pop(host.name, None)
        if listener is not None:
            host.stop()
            listener.close()

    @property
    def hosts(self) -> list[EmulatedHost]:
        with self._lock:
            return [listener.host for listener in self._listeners.values()]


# --- the command line: python -m tests.winrm.endpoint ---------------------------------------

Scenario = Callable[[WsmanEndpoint, EmulatedHost], None]


def _flaky(endpoint: WsmanEndpoint, host: EmulatedHost) -> None:
    host.faults.time_out_receives(times=3)
    host.faults.slow(0.2)


def _toy(endpoint: WsmanEndpoint, host: EmulatedHost) -> None:
    pass


def _windows(name: str) -> Scenario:
    def setup(endpoint: WsmanEndpoint, host: EmulatedHost) -> None:
        from tests.winrm.windows_host import WindowsUpdateHost

        host.handler = WindowsUpdateHost(name)

    return setup


SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "toy": ("the toy shell: echo, exit, stderr, cat, sleep, trickle, big, unicode, reboot", _toy),
    "flaky": (
        "the toy shell; each host's first 3 Receives time out, every request 0.2 s late",
        _flaky,
    ),
    "ws2019": (
        "an emulated Windows Server 2019 with April 2024 updates (tests/winrm/windows_host.py)",
        _windows("ws2019"),
    ),
    "ws2022-rounds": (
        "Windows Server 2022: an update after a reboot, a failing one, one re-offered",
        _windows("ws2022-rounds"),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.winrm.endpoint",
        description="Serve emulated Windows hosts over WinRM on 127.0.0.1 until Ctrl-C. "
        "A test double, not Windows (tests/winrm/README.md).",
        epilog="example: python -m tests.winrm.endpoint --scenario toy --hosts 2 --https",
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="toy",
        help="; ".join(f"{name}: {text}" for name, (text, _) in sorted(SCENARIOS.items())),
    )
    parser.add_argument("--hosts", type=int, default=1, help="how many hosts (one port each)")
    parser.add_argument("--https", action="store_true", help="TLS with a throw-away CA")
    parser.add_argument("--username", default="Administrator")
    parser.add_argument("--password", help="default: a random one, printed")
    args = parser.parse_args(argv)
    credentials = (
        Credentials(args.username, args.password)
        if args.password
        else new_credentials(args.username)
    )
    workdir = Path(tempfile.mkdtemp(prefix="wsman-cli-"))
    tls = make_tls_material(workdir / "tls") if args.https else None
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with WsmanEndpoint(credentials=credentials, tls=tls, workdir=workdir) as endpoint:
        for _ in range(args.hosts):
            host = endpoint.add_host()
            SCENARIOS[args.scenario][1](endpoint, host)
            print(f"{host.name}  {host.url}", flush=True)
        print(f"user {credentials.username}  password {credentials.password}")
        if tls is not None:
            print(f"CA bundle {tls.ca_path}")
        print(
            "pywinrm: winrm.Session(URL, auth=(user, password), transport='ntlm'"
            + (f", ca_trust_path='{tls.ca_path}'" if tls else "")
            + ")"
        )
        print("Ctrl-C to stop", flush=True)
        stop.wait()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
