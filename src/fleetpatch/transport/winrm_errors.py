"""What pywinrm and requests raise, as fleetpatch's typed host errors.

pywinrm reports a refused password as ``InvalidCredentialsError``, a WS-Management fault as
``WSManFaultError`` (with the WSManFault code), a bare HTTP error as ``WinRMTransportError``,
and leaves network problems to requests (``ConnectionError``, ``SSLError``, timeouts). These
functions turn each into the error the engine turns into a failure kind: ``unreachable``,
``auth``, ``certificate``, ``timeout``, ``connection_lost`` or ``winrm_fault``.
"""

from __future__ import annotations

import errno

import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
)

from fleetpatch.errors import (
    AuthError,
    CertificateError,
    ConnectError,
    ConnectionLost,
    HostError,
    WinrmFault,
)

SHELL_GONE = 2150858843
"""WSManFault code of an unknown ShellId or CommandId: the shell went away (the host rebooted,
or the WinRM service restarted)."""
ACCESS_DENIED = 5
"""WSManFault code of a user who logged in but may not use WinRM."""


def refused(exc: BaseException) -> bool:
    """The TCP connection was refused (nothing listens: WinRM down, or the host rebooting)."""
    while exc is not None:
        if isinstance(exc, ConnectionRefusedError) or (
            isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED
        ):
            return True
        if "Connection refused" in str(exc) or "ECONNREFUSED" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _fault(exc: WSManFaultError) -> WinrmFault:
    code = exc.wsman_fault_code
    detail = f"WSManFault {code}" if code is not None else f"HTTP {exc.code}"
    subcode = f" ({exc.fault_subcode})" if exc.fault_subcode else ""
    return WinrmFault(
        f"the WinRM service answered with a fault, {detail}{subcode}: {exc.reason}",
        code=code,
        http_status=exc.code,
    )


def connect_error(exc: BaseException, what: str) -> HostError:
    """The error for a failed login or shell creation on ``what`` (``address:port``)."""
    if isinstance(exc, HostError):
        return exc
    if isinstance(exc, InvalidCredentialsError):
        return AuthError(
            f"{what}: the WinRM service refused the credentials (HTTP 401): wrong user or "
            "password, an account that is locked or expired, or an auth method the listener "
            "does not offer"
        )
    if isinstance(exc, WSManFaultError):
        if exc.wsman_fault_code == ACCESS_DENIED:
            return AuthError(
                f"{what}: logged in, but access to WinRM is denied (WSManFault 5): the account "
                "must be in Administrators (or Remote Management Users, with rights to the "
                "Windows Update Agent)"
            )
        fault = _fault(exc)
        return WinrmFault(f"{what}: {fault}", code=fault.code, http_status=fault.http_status)
    if isinstance(exc, WinRMTransportError):
        return WinrmFault(
            f"{what}: the WinRM service answered HTTP {exc.code} without a WS-Management body "
            f"(a proxy, or the listener refusing the request){_body(exc.response_text)}",
            http_status=exc.code,
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return CertificateError(
            f"{what}: the host's TLS certificate was refused ({_ssl_reason(exc)}); give the CA "
            "that signed it with connection.winrm_ca_bundle. Nothing was sent"
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.ReadTimeout):
        return ConnectError(f"{what}: the WinRM service did not answer in time ({exc})")
    if isinstance(exc, requests.exceptions.ConnectionError):
        why = "connection refused" if refused(exc) else _short(exc)
        return ConnectError(f"{what}: {why}")
    if isinstance(exc, WinRMError):
        return ConnectError(f"{what}: {exc}")
    if isinstance(exc, OSError):
        return ConnectError(f"{what}: {exc.strerror or exc}")
    raise exc


def command_error(
    exc: BaseException, operation: str, stdout: str = "", stderr: str = ""
) -> HostError:
    """The error for a WS-Management ``operation`` (Command, Send, Receive) that failed while
    a command ran; a lost connection carries the output received so far."""
    if isinstance(exc, HostError):
        return exc
    if isinstance(exc, WSManFaultError) and exc.wsman_fault_code == SHELL_GONE:
        why = (
            f"the host no longer knows the shell or command (WSManFault {SHELL_GONE}, during "
            f"{operation}): it rebooted, or its WinRM service restarted"
        )
        return ConnectionLost(
            f"connection lost while a command ran: {why}", stdout=stdout, stderr=stderr, reason=why
        )
    if isinstance(exc, requests.exceptions.ReadTimeout):
        why = f"the host stopped answering during WinRM {operation} (read timeout)"
        return ConnectionLost(
            f"connection lost while a command ran: {why}", stdout=stdout, stderr=stderr, reason=why
        )
    if isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.ChunkedEncodingError
        | ConnectionError,
    ) and not isinstance(exc, requests.exceptions.SSLError):
        why = f"the connection was closed or reset during WinRM {operation} ({_short(exc)})"
        return ConnectionLost(
            f"connection lost while a command ran: {why}", stdout=stdout, stderr=stderr, reason=why
        )
    return connect_error(exc, f"WinRM {operation}")


def _ssl_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "hostname"):
        start = text.find(marker)
        if start >= 0:
            end = text.find(")", start)
            return text[start : end if end > 0 else None].strip(" ('\"")
    return _short(exc)


def _short(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, without the pool's repetitions."""
    text = str(exc)
    if "Caused by " in text:
        text = text.split("Caused by ", 1)[1].rstrip(")")
    return text[:300] or type(exc).__name__


def _body(text: str) -> str:
    text = (text or "").strip()
    return f": {text[:200]}" if text else ""
