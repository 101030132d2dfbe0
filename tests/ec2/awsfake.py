"""Local stand-ins for AWS, on 127.0.0.1 only: a moto server process, and a tiny HTTP server
that answers every EC2 call with one AWS error (for a region that fails).

Used by the EC2 inventory tests and by benchmarks/ec2_inventory.py. boto3 talks to both
unchanged, through ``endpoint_url``.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(timeout: float = 60.0) -> Iterator[str]:
    """Run ``python -m moto.server`` on a free loopback port; yields its endpoint URL and
    kills the process at the end."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"moto server exited with {process.returncode}: {err}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server not ready on {url} after {timeout:.0f}s")
            time.sleep(0.1)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


@dataclass
class ErrorServer:
    """Answers every request under ``/<name>/`` with the error registered under that name;
    counts the requests per name (to see botocore's retries)."""

    url: str
    errors: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def endpoint(self, name: str) -> str:
        return f"{self.url}/{name}"


ERRORS = {
    "authfailure": (
        401,
        "AuthFailure",
        "AWS was not able to validate the provided access credentials",
    ),
    "optin": (401, "OptInRequired", "You are not subscribed to this service."),
    "throttled": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "badfilter": (
        400,
        "InvalidParameterValue",
        "The filter 'instance-colour' is invalid",
    ),
}


@contextlib.contextmanager
def error_server() -> Iterator[ErrorServer]:
    """An HTTP server on a free loopback port that returns EC2 error XML (see ERRORS)."""
    state = ErrorServer(url="", errors=dict(ERRORS))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            name = self.path.strip("/").split("/")[0]
            state.hits[name] = state.hits.get(name, 0) + 1
            status, code, message = state.errors.get(name, (500, "InternalError", "no such error"))
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    state.url = f"http://{LOOPBACK}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
