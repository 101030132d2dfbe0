"""The grammar of inventory values that reach a connection: addresses and login users.

Checked when an inventory is loaded, for every source (fleetpatch YAML, Ansible INI and YAML,
EC2), as the values that reach scripts are. A value that passes can go to asyncssh, pywinrm or
an ``ssh`` command line as it is: nothing in it reads as an option (a leading ``-``), a second
word, a quote, a shell metacharacter or a control character.

* an **address** is an IPv4 address (dotted quad, no leading zeros), an IPv6 address (without
  brackets, an optional ``%zone``) or a DNS name by RFC 1123: labels of letters, digits and
  ``-`` (not first or last), at most 63 characters each and 253 in all, an optional final
  dot. ``_`` is accepted inside labels too: it is common in internal DNS and container names
  and resolvers take it. A name whose last label is numeric must be a valid IPv4 address
  (``10.0.0.256`` and ``1.2.3`` are not names: resolvers would read them as numbers).
* a **login user** is a POSIX login name (letters, digits, ``_``, ``.``, ``-`` not first, an
  optional final ``$``; not only digits), or one qualified by a domain: ``DOMAIN\\name`` or
  ``name@domain``. Windows hosts (WinRM) log users in by those forms, and so do Linux hosts
  joined to Active Directory (sssd and realmd use ``name@domain`` by default, winbind
  ``DOMAIN\\name``), so both transports accept them.
"""

from __future__ import annotations

import ipaddress
import string

ADDRESS_EXPECTED = "expected an address (a DNS name, an IPv4 or an IPv6 address)"
USER_EXPECTED = "expected a login name (name, DOMAIN\\name or name@domain)"

_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_LABEL_CHARS = frozenset(string.ascii_letters + string.digits + "_-")
_MAX_NAME = 253
_MAX_LABEL = 63
_MAX_USER = 256


def address_problem(value: str) -> str | None:
    """What is wrong with ``value`` as an address, or None if it is one."""
    common = _common_problem(value)
    if common:
        return common
    if value.startswith("[") and value.endswith("]"):
        return "write an IPv6 address without the brackets"
    if ":" in value:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return "it is not a valid IPv6 address (a port goes in 'port:', not in the address)"
        return None
    return _dns_name_problem(value, allow_ipv4=True)


def login_user_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a login user, or None if it is one."""
    common = _common_problem(value)
    if common:
        return common
    if len(value) > _MAX_USER:
        return f"it is longer than {_MAX_USER} characters"
    if "\\" in value:
        domain, _, name = value.partition("\\")
        if not domain or any(ch not in _NAME_CHARS for ch in domain) or domain[0] == "-":
            return f"{domain!r} is not a domain name (before the '\\')"
        return _posix_name_problem(name)
    if "@" in value:
        name, _, domain = value.partition("@")
        problem = _posix_name_problem(name)
        if problem:
            return problem
        domain_problem = _dns_name_problem(domain, allow_ipv4=False)
        return (
            f"the domain after '@' is not a DNS name: {domain_problem}" if domain_problem else None
        )
    return _posix_name_problem(value)


def _common_problem(value: str) -> str | None:
    if not value:
        return "it is empty"
    for ch in value:
        if ch.isspace():
            return "it contains whitespace"
        if not ch.isprintable():
            return f"it contains the control character {ch!r}"
    if value.startswith("-"):
        return "it starts with '-' (it would read as an option)"
    if not value.isascii():
        return "it contains non-ASCII characters (a domain name is written in its xn-- form)"
    return None


def _posix_name_problem(name: str) -> str | None:
    if not name:
        return "the name is empty"
    if name.startswith("-"):
        return "the name starts with '-'"
    if name in (".", ".."):
        return f"{name!r} is not a name"
    core = name[:-1] if name.endswith("$") else name
    for ch in core:
        if ch not in _NAME_CHARS:
            return f"the character {ch!r} is not allowed (letters, digits, '_', '.', '-')"
    if core.isdigit():
        return "a name of digits only would read as a numeric user id"
    return None


def _dns_name_problem(value: str, *, allow_ipv4: bool) -> str | None:
    if not value:
        return "it is empty"
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if labels[-1].isdigit():
        if not allow_ipv4:
            return "its last label is a number"
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return "it is not a valid IPv4 address (four numbers 0-255, no leading zeros)"
        return None
    if len(name) > _MAX_NAME:
        return f"it is longer than {_MAX_NAME} characters"
    for label in labels:
        if not label:
            return "it has an empty label (a leading dot, or two dots in a row)"
        if len(label) > _MAX_LABEL:
            return f"the label {label[:20]!r}... is longer than {_MAX_LABEL} characters"
        for ch in label:
            if ch not in _LABEL_CHARS:
                return f"the character {ch!r} is not allowed (letters, digits, '-', '.')"
        if label[0] == "-" or label[-1] == "-":
            return f"the label {label!r} starts or ends with '-'"
    return None


def check_address(value: str) -> str:
    """Pydantic validator: ``value`` if it is an address.

    Raises:
        ValueError: it is not; the message says why.
    """
    problem = address_problem(value)
    if problem:
        raise ValueError(f"{ADDRESS_EXPECTED}: {problem}")
    return value


def check_login_user(value: str) -> str:
    """Pydantic validator: ``value`` if it is a login user.

    Raises:
        ValueError: it is not; the message says why.
    """
    problem = login_user_problem(value)
    if problem:
        raise ValueError(f"{USER_EXPECTED}: {problem}")
    return value


WINRM_HTTP_PORT = 5985
WINRM_HTTPS_PORT = 5986


def winrm_settings_problem(
    *, scheme: str, auth: str, ca_bundle: str | None, insecure: bool
) -> str | None:
    """What is wrong with a WinRM host's connection settings, or None; the message starts with
    the setting's key (``connection.winrm_auth: ...``).

    Basic authentication sends the password as it is, so it is refused over HTTP (a Windows
    listener does not offer it there either); a CA bundle and skipping validation only mean
    something over HTTPS, and not together.
    """
    if auth == "basic" and scheme != "https":
        return (
            "connection.winrm_auth: basic sends the password in clear text, so fleetpatch uses "
            "it only over HTTPS (winrm_scheme: https, or port 5986); use ntlm or kerberos, "
            "which encrypt every message over HTTP"
        )
    if ca_bundle and scheme != "https":
        return "connection.winrm_ca_bundle: a CA bundle is only used over HTTPS (winrm_scheme)"
    if insecure and scheme != "https":
        return (
            "connection.winrm_insecure_skip_cert_validation: there is no certificate over "
            "HTTP; remove it (HTTP messages are encrypted by NTLM or Kerberos)"
        )
    if insecure and ca_bundle:
        return (
            "connection.winrm_insecure_skip_cert_validation: set together with winrm_ca_bundle; "
            "keep one (the CA bundle validates, the other skips validation)"
        )
    return None
