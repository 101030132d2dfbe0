"""HTTP message encryption with an NTLM session: [MS-WSMV] 2.2.9.1.1 (SPNEGO/NTLM).

A body encrypted this way is a two-part MIME message (``multipart/encrypted``, boundary
``Encrypted Boundary``): the first part names the protocol and the length of the plaintext SOAP
message, the second carries ``<signature length, 4 bytes LE><signature><sealed message>``. The
same framing goes both ways; pywinrm builds it in ``winrm/encryption.py`` (``_encrypt_message``,
``_build_ntlm_message``) and parses the server's in ``_decrypt_response``, which expects the
closing ``--Encrypted Boundary--\\r\\n`` and compares the plaintext length with ``Length=``.

The context is a pyspnego ``ContextProxy`` of the accepting side: ``unwrap`` takes the
signature followed by the sealed bytes, ``wrap`` returns them in the same order.
"""

from __future__ import annotations

import re
import struct
from typing import Protocol

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'
_LENGTH = re.compile(rb"OriginalContent:\s*type=application/soap\+xml;charset=UTF-8;Length=(\d+)")
_OCTET_HEADER = b"\tContent-Type: application/octet-stream\r\n"


class EncryptionError(ValueError):
    """The body is not a well-formed encrypted message, or does not decrypt."""


class _Unwrapped(Protocol):
    data: bytes


class SessionContext(Protocol):
    """The two calls of pyspnego's ContextProxy this module needs."""

    def wrap(self, data: bytes, encrypt: bool = True, qop: int | None = None) -> _Unwrapped: ...

    def unwrap(self, data: bytes) -> _Unwrapped: ...


def is_encrypted(content_type: str) -> bool:
    """Whether a Content-Type announces a body sealed with the session (any boundary)."""
    lowered = content_type.lower()
    return lowered.startswith("multipart/encrypted") and PROTOCOL.lower() in lowered


def decrypt_body(body: bytes, context: SessionContext) -> bytes:
    """The SOAP message inside an encrypted request body.

    Raises:
        EncryptionError: the framing is wrong, the signature does not verify, or the plaintext
            length is not the one announced.
    """
    first = BOUNDARY + b"\r\n"
    if not body.startswith(first):
        raise EncryptionError("encrypted body does not start with --Encrypted Boundary")
    length_match = _LENGTH.search(body, 0, 512)
    if not length_match:
        raise EncryptionError("encrypted body has no OriginalContent Length")
    expected = int(length_match.group(1))
    octet_at = body.find(first + _OCTET_HEADER, length_match.end())
    if octet_at < 0:
        raise EncryptionError("encrypted body has no application/octet-stream part")
    payload = body[octet_at + len(first) + len(_OCTET_HEADER) :]
    if len(payload) < 4:
        raise EncryptionError("encrypted part is shorter than its signature length")
    (signature_length,) = struct.unpack("<I", payload[:4])
    # NTLM sealing (RC4) keeps the length, so the sealed part is exactly `expected` bytes;
    # what follows it must be the closing boundary.
    sealed_end = 4 + signature_length + expected
    if payload[sealed_end:] != BOUNDARY + b"--\r\n":
        raise EncryptionError("encrypted part does not end with --Encrypted Boundary--")
    signature = payload[4 : 4 + signature_length]
    sealed = payload[4 + signature_length : sealed_end]
    try:
        plaintext = context.unwrap(signature + sealed).data
    except Exception as exc:  # pyspnego raises several SpnegoError kinds
        raise EncryptionError(f"cannot unseal the message: {exc}") from exc
    if len(plaintext) != expected:
        raise EncryptionError(f"unsealed {len(plaintext)} bytes, the header said {expected}")
    return plaintext


def encrypt_body(message: bytes, context: SessionContext) -> bytes:
    """An encrypted response body for ``message`` (Content-Type: ``CONTENT_TYPE``)."""
    wrapped = context.wrap(message, encrypt=True).data
    signature, sealed = wrapped[:16], wrapped[16:]
    return (
        BOUNDARY
        + b"\r\n\tContent-Type: "
        + PROTOCOL.encode()
        + b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(len(message)).encode()
        + b"\r\n"
        + BOUNDARY
        + b"\r\n"
        + _OCTET_HEADER
        + struct.pack("<I", len(signature))
        + signature
        + sealed
        + BOUNDARY
        + b"--\r\n"
    )
