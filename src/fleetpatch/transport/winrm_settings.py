"""From an inventory host to what pywinrm is told: URL, auth, TLS, timeouts, credentials.

* NTLM (the default) or Kerberos over HTTP encrypt every message (pywinrm's
  ``message_encryption="always"``): the password and the scripts never cross the network in
  clear. Over HTTPS, TLS protects them.
* HTTPS validates the host's certificate against the system's CAs or ``winrm_ca_bundle``;
  only ``winrm_insecure_skip_cert_validation: true`` turns that off, and each connection
  then logs a warning.
* Basic is used only over HTTPS (the inventory refuses it over HTTP).
* Kerberos needs the ``kerberos`` extra (``pip install 'fleetpatch[kerberos]'``: pywinrm's
  pykerberos binding and a system Kerberos library) and a ticket (``kinit``); the password
  variable is optional then.
* The password comes from the environment variable named by ``connection.password_env``,
  read when the host is connected; it is never logged, stored or shown (this module's reprs
  leave it out).
* Proxies from the environment are not used (``proxy=None``): WinRM goes straight to the host.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from winrm import transport as winrm_transport
from winrm.protocol import Protocol

from fleetpatch.errors import AuthError, ConnectError, InputError
from fleetpatch.inventory.model import Host

KERBEROS_HINT = (
    "Kerberos needs fleetpatch's kerberos extra: pip install 'fleetpatch[kerberos]' "
    "(pywinrm's pykerberos binding; on Debian first apt-get install libkrb5-dev), and a "
    "ticket from kinit"
)


def kerberos_available() -> bool:
    """pywinrm found a Kerberos binding (pykerberos or winkerberos)."""
    return bool(winrm_transport.HAVE_KERBEROS)


@dataclass(frozen=True)
class WinrmTarget:
    """Everything needed to open a pywinrm Protocol to one host."""

    what: str
    url: str
    auth: str
    username: str
    password: str = field(repr=False)
    scheme: str = "http"
    ca_bundle: str | None = None
    insecure: bool = False
    connect_timeout: float = 15.0
    operation_timeout: int = 20
    read_timeout: int = 30

    def options(self, *, with_secret: bool = True) -> dict[str, Any]:
        """The keyword arguments of pywinrm's ``Protocol`` for this host."""
        options: dict[str, Any] = {
            "endpoint": self.url,
            "transport": self.auth,
            "username": self.username or None,
            "server_cert_validation": "ignore" if self.insecure else "validate",
            # a path, or None for the system's CAs (not pywinrm's default "legacy_requests",
            # which reads REQUESTS_CA_BUNDLE behind the inventory's back)
            "ca_trust_path": self.ca_bundle,
            "read_timeout_sec": self.read_timeout,
            "operation_timeout_sec": self.operation_timeout,
            # over HTTP every message is sealed by NTLM/Kerberos; over HTTPS TLS does it
            "message_encryption": "always" if self.scheme == "http" else "auto",
            "proxy": None,
        }
        if with_secret:
            options["password"] = self.password
        return options

    def protocol(self) -> Protocol:
        return Protocol(**self.options())


def winrm_url(host: Host) -> str:
    address = f"[{host.address}]" if ":" in host.address else host.address
    return f"{host.winrm_scheme}://{address}:{host.port}/wsman"


def winrm_target(
    host: Host,
    *,
    operation_timeout: int = 20,
    require_password: bool = True,
    environ: Mapping[str, str] | None = None,
) -> WinrmTarget:
    """The connection of ``host``, with its password read from the environment.

    Raises:
        AuthError: no password variable named or set (NTLM, Basic), or Kerberos asked for
            without its extra.
        ConnectError: the host has an SSH jump host (WinRM cannot go through it).
    """
    env = os.environ if environ is None else environ
    c = host.connection
    what = f"{host.address}:{host.port}"
    problem = _problem(host, env, require_password=require_password)
    if problem is not None:
        kind, message = problem
        raise (ConnectError if kind == "connect" else AuthError)(f"{what}: {message}")
    password = env.get(c.password_env, "") if c.password_env else ""
    auth = {"ntlm": "ntlm", "kerberos": "kerberos", "basic": "basic"}[c.winrm_auth]
    return WinrmTarget(
        what=what,
        url=winrm_url(host),
        auth=auth,
        username=host.user or "",
        password=password,
        scheme=host.winrm_scheme,
        ca_bundle=c.winrm_ca_bundle,
        insecure=c.winrm_insecure_skip_cert_validation,
        connect_timeout=c.connect_timeout,
        operation_timeout=operation_timeout,
        read_timeout=max(operation_timeout + 10, int(c.connect_timeout) + 1),
    )


def _problem(
    host: Host, env: Mapping[str, str], *, require_password: bool
) -> tuple[str, str] | None:
    c = host.connection
    if c.jump_host is not None:
        return (
            "connect",
            "WinRM connections cannot go through an SSH jump host (connection.jump_host); "
            "remove it for this host",
        )
    if c.winrm_auth == "kerberos":
        if not kerberos_available():
            return "auth", KERBEROS_HINT
        if c.password_env and require_password and c.password_env not in env:
            return "auth", f"password environment variable {c.password_env} is not set"
        return None
    if not host.user:
        return "auth", f"{c.winrm_auth} login needs a user (user: in the inventory)"
    if not require_password:
        return None
    if not c.password_env:
        return (
            "auth",
            f"{c.winrm_auth} login needs a password: name the environment variable that holds "
            "it with connection.password_env",
        )
    if c.password_env not in env:
        return "auth", f"password environment variable {c.password_env} is not set"
    return None


def check_winrm_hosts(hosts: Iterable[Host], environ: Mapping[str, str] | None = None) -> None:
    """Before contacting anything: every WinRM host can log in as configured (its password
    variable is set, Kerberos is installed where asked, no SSH jump host).

    Raises:
        InputError: the problems, one line per host (the CLI exits 2).
    """
    env = os.environ if environ is None else environ
    problems = []
    for host in hosts:
        if host.transport != "winrm":
            continue
        problem = _problem(host, env, require_password=True)
        if problem is not None:
            source = f" ({host.source})" if host.source else ""
            problems.append(f"host {host.name!r}{source}: {problem[1]}")
    if problems:
        raise InputError("WinRM hosts cannot log in as configured:\n  " + "\n  ".join(problems))
