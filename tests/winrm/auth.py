"""The accepting side of NTLM and Basic authentication, as the WinRM service does it.

NTLM goes through pyspnego's acceptor (``spnego.server(protocol="ntlm")``). pyspnego 0.12
finds the accounts an NTLM acceptor may accept only in the file named by the environment
variable ``NTLM_USER_FILE`` (``spnego/_ntlm.py``: ``_get_credential_file``, read when the
context is made and again when the AUTHENTICATE message is checked); it has no per-context
credential argument for NTLM. Each set of credentials therefore gets its own file, and every
step of an acceptor runs under one process-wide lock with ``NTLM_USER_FILE`` pointing at the
file of the host being authenticated (the variable stays set afterwards: see _user_file).
A step is a few hashes and an RC4 key, so the lock is held only briefly.

The scheme names, the bare ``WWW-Authenticate`` offers and the empty reason phrase of the 401
follow a 401 captured from a Windows WinRM listener (jborean93/omi issue 29):
``WWW-Authenticate: Negotiate`` / ``Kerberos`` / ``Basic realm="WSMAN"`` / ``CredSSP`` with
``Server: Microsoft-HTTPAPI/2.0`` and ``Connection: close``. requests_ntlm answers such a 401
with a raw NTLM NEGOTIATE message under the ``Negotiate`` scheme (not wrapped in SPNEGO) and
expects the CHALLENGE back under the same scheme.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spnego
from spnego.channel_bindings import GssChannelBindings

_ENV_LOCK = threading.Lock()
NTLM_SIGNATURE = b"NTLMSSP\x00"


@dataclass(frozen=True)
class Credentials:
    """A local account of an emulated host (the DOMAIN part is empty for a local account)."""

    username: str
    password: str
    domain: str = ""

    def __post_init__(self) -> None:
        for name in ("username", "password", "domain"):
            value = getattr(self, name)
            if ":" in value or "\n" in value or "\r" in value:
                # NTLM_USER_FILE lines are DOMAIN:USER:PASSWORD
                raise ValueError(f"{name} may not contain ':' or a line break: {value!r}")
        if not self.username:
            raise ValueError("username may not be empty")

    @property
    def principal(self) -> str:
        return f"{self.domain}\\{self.username}" if self.domain else self.username

    def matches_basic(self, username: str, password: str) -> bool:
        user = username.split("\\", 1)[-1] if "\\" in username else username
        return user.lower() == self.username.lower() and password == self.password


class NtlmUserFiles:
    """One NTLM_USER_FILE per distinct set of credentials, under one directory."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files: dict[Credentials, Path] = {}
        self._lock = threading.Lock()

    def path_for(self, credentials: Credentials) -> Path:
        with self._lock:
            path = self._files.get(credentials)
            if path is None:
                self._directory.mkdir(parents=True, exist_ok=True)
                path = self._directory / f"ntlm-users-{len(self._files)}"
                # Heimdal format DOMAIN:USER:PASSWORD, read by spnego._ntlm._get_credential
                line = f"{credentials.domain}:{credentials.username}:{credentials.password}\n"
                path.write_text(line, encoding="utf-8")
                path.chmod(0o600)
                self._files[credentials] = path
            return path


# The variable exists from import on and is only ever overwritten, never deleted: another
# thread iterating os.environ (requests reads proxy settings for every new session) would see
# a key vanish (KeyError) or the mapping change size (RuntimeError). Empty means "no file" to
# pyspnego; every acceptor step sets its own file under _ENV_LOCK.
os.environ.setdefault("NTLM_USER_FILE", "")


@contextmanager
def _user_file(path: Path) -> Iterator[None]:
    with _ENV_LOCK:
        os.environ["NTLM_USER_FILE"] = str(path)
        yield


class AuthFailed(Exception):
    """The client's token or password was refused: answer 401."""


class NtlmAcceptor:
    """One NTLM exchange on one connection: NEGOTIATE -> CHALLENGE, then AUTHENTICATE."""

    def __init__(self, user_file: Path, channel_bindings: GssChannelBindings | None) -> None:
        self._user_file = user_file
        self._channel_bindings = channel_bindings
        self._context: Any = None

    @property
    def context(self) -> Any:
        """The established pyspnego context (wrap/unwrap for message encryption)."""
        return self._context

    def step(self, token: bytes) -> bytes | None:
        """Feed one token; returns the CHALLENGE for a NEGOTIATE, None once authenticated.

        Raises:
            AuthFailed: not an NTLM token, an unknown user, a wrong password, or channel
                bindings that do not match this TLS certificate.
        """
        if not token.startswith(NTLM_SIGNATURE):
            raise AuthFailed("only raw NTLM tokens are accepted (no Kerberos, no SPNEGO)")
        message_type = int.from_bytes(token[8:12], "little")
        try:
            with _user_file(self._user_file):
                if message_type == 1:
                    self._context = spnego.server(
                        protocol="ntlm", channel_bindings=self._channel_bindings
                    )
                elif self._context is None:
                    raise AuthFailed("NTLM AUTHENTICATE without a NEGOTIATE on this connection")
                out = self._context.step(token)
        except AuthFailed:
            raise
        except Exception as exc:  # SpnegoError and its kinds: bad password, unknown user, MIC
            raise AuthFailed(f"NTLM authentication failed: {exc}") from exc
        if message_type == 1:
            if out is None:
                raise AuthFailed("the NTLM acceptor produced no CHALLENGE")
            return bytes(out)
        if not self._context.complete:
            raise AuthFailed("the NTLM exchange did not complete")
        return None

    @property
    def client_principal(self) -> str | None:
        return None if self._context is None else self._context.client_principal


def parse_authorization(header: str) -> tuple[str, bytes] | None:
    """``Negotiate <base64>`` -> (``Negotiate``, token); None when it cannot be read."""
    scheme, _, value = header.strip().partition(" ")
    if not scheme or not value:
        return None
    try:
        return scheme, base64.b64decode(value.strip(), validate=True)
    except ValueError:
        return None


def basic_credentials(token: bytes) -> tuple[str, str] | None:
    user, sep, password = token.decode("utf-8", errors="replace").partition(":")
    return (user, password) if sep else None


def tls_channel_bindings(certificate_der: bytes, hash_name: str) -> GssChannelBindings:
    """RFC 5929 tls-server-end-point bindings, as requests_ntlm computes them on its side
    (``_get_certificate_hash``: the certificate's signature hash, SHA-256 for MD5 or SHA-1)."""
    if hash_name.lower() in ("md5", "sha1"):
        hash_name = "sha256"
    digest = hashlib.new(hash_name, certificate_der).digest()
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest)
