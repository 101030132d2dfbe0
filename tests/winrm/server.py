"""HTTP(S) for the endpoint: one accept loop over every host's listening socket, one thread per
connection, persistent HTTP/1.1 connections (NTLM authenticates the connection, not the
request, so a client keeps one connection per session).

What each response looks like - status, headers, when the connection closes - follows what
pywinrm (``winrm/transport.py``) and requests_ntlm expect from a Windows listener; see
tests/winrm/auth.py for the 401s and tests/winrm/encryption.py for encrypted bodies.
"""

from __future__ import annotations

import base64
import contextlib
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tests.winrm import encryption, soap
from tests.winrm.auth import (
    AuthFailed,
    NtlmAcceptor,
    basic_credentials,
    parse_authorization,
)
from tests.winrm.faults import AnswerFault, AnswerHttpError, Delay, DropConnection
from tests.winrm.host import EmulatedHost
from tests.winrm.shells import DEFAULT_OPERATION_TIMEOUT, FaultAnswer

if TYPE_CHECKING:
    from tests.winrm.endpoint import WsmanEndpoint

SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
# HTTP.sys closes an idle connection after 120 s (IdleConnectionTimeout).
IDLE_CONNECTION_SECONDS = 120.0


def bind_reserved_port() -> socket.socket:
    """A listening socket on 127.0.0.1 bound to an explicit free port.

    Bound by number (not by port 0), the port stays reserved while the socket is not listening:
    ``shutdown(SHUT_RD)`` then makes connects fail with ECONNREFUSED and ``listen()`` brings it
    back on the same port - a host rebooting keeps its address.
    """
    for _ in range(20):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        return sock
    raise OSError("no free port on 127.0.0.1 after 20 tries")


class HostListener:
    """A host's listening socket and the connections it accepted."""

    def __init__(self, loop: AcceptLoop, endpoint: WsmanEndpoint, host: EmulatedHost) -> None:
        self.loop = loop
        self.endpoint = endpoint
        self.host = host
        self.sock = bind_reserved_port()
        self.connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listening = True
        self._closed = False
        host.attach(self, self.sock.getsockname()[1])
        loop.call_soon(lambda: loop.register(self))

    def suspend(self) -> None:
        with self._lock:
            if not self._listening or self._closed:
                return
            self._listening = False
            connections = list(self.connections)
        self.loop.call_soon(lambda: self.loop.unregister(self))
        self.sock.shutdown(socket.SHUT_RD)  # refuses at once, keeps the port
        for conn in connections:
            _cut(conn, reset=True)

    def resume(self) -> None:
        with self._lock:
            if self._listening or self._closed:
                return
            self._listening = True
        self.sock.listen(128)
        self.loop.call_soon(lambda: self.loop.register(self))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._listening = False
            connections = list(self.connections)
        self.loop.call_soon(lambda: self.loop.unregister(self))
        self.sock.close()
        for conn in connections:
            _cut(conn, reset=False)

    def accept(self) -> None:
        try:
            conn, address = self.sock.accept()
        except OSError:
            return  # shut down between select and accept
        with self._lock:
            if not self._listening:
                _cut(conn, reset=True)
                return
            self.connections.add(conn)
        # Headers and body go out in two writes; without NODELAY, Nagle and the client's
        # delayed ACK add ~40 ms to every response.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(
            target=self._serve, args=(conn, address), name=f"wsman-{self.host.name}", daemon=True
        )
        thread.start()

    def _serve(self, conn: socket.socket, address: Any) -> None:
        try:
            if self.endpoint.tls_context is not None:
                raw = conn
                raw.settimeout(10)
                try:
                    conn = self.endpoint.tls_context.wrap_socket(raw, server_side=True)
                except (OSError, ssl.SSLError):
                    return  # an untrusted certificate: the client aborts the handshake
                finally:
                    # the TLS socket takes the descriptor over from the raw one
                    with self._lock:
                        self.connections.discard(raw)
                        if conn is not raw:
                            self.connections.add(conn)
            # BaseHTTPRequestHandler only keeps `server` as an attribute
            WsmanRequestHandler(conn, address, self)  # type: ignore[arg-type]
        except OSError:
            pass  # the client or a fault cut the connection
        finally:
            with self._lock:
                self.connections.discard(conn)
            _cut(conn, reset=False)


def _cut(conn: socket.socket, *, reset: bool) -> None:
    """Close a connection from any thread.

    ``shutdown`` acts on the descriptor at once, so the thread serving the connection wakes
    (its read returns, its write fails) even while it still holds the socket's file objects
    (which make ``close`` wait). With ``reset``, the last close sends an RST rather than a FIN.
    """
    try:
        if reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        conn.close()


def _abort(conn: socket.socket) -> None:
    """Reset a connection from the thread serving it: no FIN first, the client reads
    ECONNRESET (the RST goes out when the handler's file objects close)."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    except OSError:
        pass


class AcceptLoop:
    """One thread, one selector over every host's listening socket."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._pending: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="wsman-accept", daemon=True)
        self._thread.start()

    def call_soon(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._pending.append(fn)
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    def register(self, listener: HostListener) -> None:
        # already registered, or closed meanwhile: nothing to do
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.register(listener.sock, selectors.EVENT_READ, listener)

    def unregister(self, listener: HostListener) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(listener.sock)

    def stop(self) -> None:
        self._stopping = True
        self.call_soon(lambda: None)
        self._thread.join(timeout=5)
        self._selector.close()
        self._wake_read.close()
        self._wake_write.close()

    def _run(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select(timeout=1.0):
                if key.data is None:
                    try:
                        while self._wake_read.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    key.data.accept()
            with self._lock:
                pending, self._pending = self._pending, []
            for fn in pending:
                fn()


class _Dropped(Exception):
    """A fault closes the connection: no response."""

    def __init__(self, reset: bool) -> None:
        super().__init__("dropped")
        self.reset = reset


class WsmanRequestHandler(BaseHTTPRequestHandler):
    """One connection. Its attributes hold the connection's NTLM session."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS
    server: HostListener  # type: ignore[assignment]

    def setup(self) -> None:
        super().setup()
        self.acceptor: NtlmAcceptor | None = None
        self.session: Any = None  # the established NTLM context
        self.principal: str | None = None

    def version_string(self) -> str:
        return "Microsoft-HTTPAPI/2.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def host(self) -> EmulatedHost:
        return self.server.host

    @property
    def tls(self) -> bool:
        return isinstance(self.connection, ssl.SSLSocket)

    # --- HTTP verbs ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._read_body()
        self._send(405, b"")

    def do_POST(self) -> None:
        body = self._read_body()
        if self.path.split("?", 1)[0].lower() != "/wsman":
            self._send(404, b"")
            return
        if not self._authenticate():
            return
        try:
            self._answer(body)
        except _Dropped as dropped:
            self.close_connection = True
            if dropped.reset:
                _abort(self.connection)
            else:
                _cut(self.connection, reset=False)

    # --- authentication -----------------------------------------------------------------------

    def _offer(self, *, close: bool) -> None:
        """A 401 that offers the schemes (Basic only over HTTPS, where Windows allows it)."""
        headers = [("WWW-Authenticate", "Negotiate")]
        if self.tls:
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        self._send(401, b"", headers, close=close)

    def _authenticate(self) -> bool:
        """True when the request may proceed; otherwise a 401 has been sent."""
        header = self.headers.get("Authorization")
        if header is None:
            if self.session is not None:
                return True
            self._offer(close=True)
            return False
        parsed = parse_authorization(header)
        if parsed is None:
            self.host.record("auth", "401")
            self._offer(close=True)
            return False
        scheme, token = parsed
        if scheme.lower() in ("negotiate", "ntlm"):
            return self._authenticate_ntlm(scheme, token)
        if scheme.lower() == "basic" and self.tls:
            pair = basic_credentials(token)
            if pair is not None and self.host.credentials.matches_basic(*pair):
                self.principal = self.host.credentials.username
                return True
        self.host.record("auth", "401")
        self._offer(close=True)
        return False

    def _authenticate_ntlm(self, scheme: str, token: bytes) -> bool:
        endpoint = self.server.endpoint
        if self.acceptor is None or token[8:12] == b"\x01\x00\x00\x00":
            user_file = endpoint.user_files.path_for(self.host.credentials)
            self.acceptor = NtlmAcceptor(user_file, endpoint.channel_bindings)
            self.session = None
        try:
            challenge = self.acceptor.step(token)
        except AuthFailed:
            self.acceptor = None
            self.host.record("auth", "401")
            self._offer(close=False)
            return False
        if challenge is not None:
            value = f"{scheme} {base64.b64encode(challenge).decode('ascii')}"
            self._send(401, b"", [("WWW-Authenticate", value)])
            return False
        self.session = self.acceptor.context
        self.principal = self.acceptor.client_principal
        return True

    # --- the WS-Management request -----------------------------------------------------------

    def _answer(self, body: bytes) -> None:
        content_type = self.headers.get("Content-Type", "")
        encrypted = encryption.is_encrypted(content_type)
        if encrypted:
            if self.session is None:
                self._send(400, b"")
                return
            try:
                message = encryption.decrypt_body(body, self.session)
            except encryption.EncryptionError:
                self.host.record("decrypt", "http 400")
                self._send(400, b"")
                return
        else:
            message = body
            if message and not self.tls and not self.server.endpoint.allow_unencrypted:
                # AllowUnencrypted=false (the Windows default) refuses a plaintext body over
                # HTTP with a bare 500 (pywinrm issues 129 and 208).
                self.host.record("unencrypted", "http 500")
                self._send(500, b"")
                return
        if not message:
            # pywinrm's setup_encryption: an empty POST that only runs the NTLM handshake.
            self._send(200, b"")
            return
        try:
            request = soap.parse_request(message)
        except soap.MalformedRequest as exc:
            self._send_fault(soap.schema_validation_error(str(exc)), "uuid:", encrypted)
            return
        action = request.action_name
        drop_after: DropConnection | None = None
        for effect in self.host.faults.effects_for(action):
            if isinstance(effect, Delay):
                self.host.record(action, f"delayed {effect.seconds}s")
                time.sleep(effect.seconds)
            elif isinstance(effect, DropConnection):
                if effect.when == "before":
                    self._drop(action, effect)
                drop_after = effect
            elif isinstance(effect, AnswerFault):
                if effect.wait_operation_timeout:
                    time.sleep(request.operation_timeout or DEFAULT_OPERATION_TIMEOUT)
                self._send_fault(effect.fault, request.message_id, encrypted, action)
                return
            elif isinstance(effect, AnswerHttpError):
                self.host.record(action, f"http {effect.status}")
                self._send(effect.status, effect.body)
                return
        try:
            reply = self._dispatch(request)
        except FaultAnswer as answer:
            if drop_after is not None:
                self._drop(action, drop_after)
            self._send_fault(answer.fault, request.message_id, encrypted, action)
            return
        if drop_after is not None:
            self._drop(action, drop_after)
        self.host.record(action, "ok")
        self._send_soap(reply, encrypted, 200)

    def _dispatch(self, request: soap.WsmanRequest) -> bytes:
        shells = self.host.shells
        if request.action_name not in soap.ACTION_NAMES.values():
            raise FaultAnswer(soap.action_not_supported(request.action))
        if request.resource_uri != soap.CMD_SHELL_URI:
            raise FaultAnswer(soap.destination_unreachable(request.resource_uri))
        match request.action_name:
            case "Create":
                return shells.create(request, self.principal or "", self.client_address[0])
            case "Command":
                return shells.command(request)
            case "Send":
                return shells.send(request)
            case "Receive":
                return shells.receive(request)
            case "Signal":
                return shells.signal(request)
            case _:
                return shells.delete(request)

    def _drop(self, action: str, effect: DropConnection) -> None:
        self.host.record(action, "dropped")
        raise _Dropped(effect.reset)

    # --- writing ----------------------------------------------------------------------------

    def _send_fault(
        self, fault: soap.WsmanFault, relates_to: str, encrypted: bool, action: str = "?"
    ) -> None:
        self.host.record(action, f"fault {fault.subcode}")
        envelope = soap.fault_envelope(fault, relates_to, self.host.name)
        self._send_soap(envelope, encrypted, fault.http_status)

    def _send_soap(self, envelope: bytes, encrypted: bool, status: int) -> None:
        if not self.host.is_up:
            raise _Dropped(reset=True)  # the host went down while this request was in work
        if encrypted:
            body = encryption.encrypt_body(envelope, self.session)
            self._send(status, body, [("Content-Type", encryption.CONTENT_TYPE)])
        else:
            self._send(status, envelope, [("Content-Type", SOAP_CONTENT_TYPE)])

    def _send(
        self,
        status: int,
        body: bytes,
        headers: Sequence[tuple[str, str]] = (),
        *,
        close: bool = False,
    ) -> None:
        # Windows sends an empty reason phrase ("HTTP/1.1 401 "); pywinrm ignores it.
        self.send_response(status, "" if status != 200 else None)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""
