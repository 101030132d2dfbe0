"""The one error hierarchy of fleetpatch.

Controller-side problems (bad input files, bad options) raise :class:`InputError`.
Per-host problems are raised by transports and parsers as :class:`HostError` subclasses and
are turned into values (:class:`fleetpatch.results.HostFailure`) by the engine.
"""

from __future__ import annotations


class FleetpatchError(Exception):
    """Base of every error fleetpatch raises on purpose."""


class InputError(FleetpatchError):
    """A file or option given by the user is invalid.

    The message always names the file (when there is one), the place inside it and what is
    wrong. The CLI maps it to exit code 2 and changes nothing in the store.
    """

    def __init__(self, message: str, *, path: str | None = None, location: str | None = None):
        self.path = path
        self.location = location
        self.detail = message
        where = ""
        if path:
            where = f"{path}"
            if location:
                where += f":{location}"
            where += ": "
        super().__init__(f"{where}{message}")


class HostError(FleetpatchError):
    """A failure that concerns one host only. ``kind`` is a stable, machine-readable word."""

    kind = "error"


class ConnectError(HostError):
    """The host could not be reached (DNS, refused, unreachable, connect timeout)."""

    kind = "unreachable"


class ConnectionLost(ConnectError):
    """An open connection dropped while a command ran (network cut, host gone, sshd killed).

    Carries the output that arrived before the drop, so the caller can tell which step of a
    script the host was in. Unlike a refused connection, something may already have happened
    on the host.
    """

    kind = "connection_lost"

    def __init__(
        self,
        message: str,
        *,
        stdout: str = "",
        stderr: str = "",
        step: str = "",
        reason: str = "",
    ):
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr
        self.step = step
        self.reason = reason or message
        """why the connection was lost, without saying what ran (the message may add that)"""


class AuthError(HostError):
    """The host refused every authentication method offered."""

    kind = "auth"


class CertificateError(ConnectError):
    """The host's TLS certificate was refused (WinRM over HTTPS): not signed by a trusted CA,
    expired, or issued for another name. Nothing was sent."""

    kind = "certificate"


class WinrmFault(HostError):
    """The WinRM service answered a request with a fault (a WS-Management fault, or a bare
    HTTP error status). ``code`` is the WSManFault code when there is one (2150858843: the
    shell is gone), ``http_status`` the HTTP status."""

    kind = "winrm_fault"

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class HostKeyError(HostError):
    """The host key is unknown (and accepting new keys was not asked for) or has changed."""

    kind = "host_key"


class CommandTimeout(HostError):
    """A remote command ran past its timeout. Carries whatever output arrived before."""

    kind = "timeout"

    def __init__(self, message: str, *, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


class SudoError(HostError):
    """sudo asked for a password we do not have, or refused the command."""

    kind = "sudo"


class UnsupportedPlatform(HostError):
    """The host runs an OS fleetpatch does not support; the message shows what was found."""

    kind = "unsupported"


class ParseError(HostError):
    """Remote output did not have the expected shape: names the line, what was expected and
    what came."""

    kind = "parse"


class RemoteCommandError(HostError):
    """A remote step ended with an exit code it does not declare as allowed."""

    kind = "command"
