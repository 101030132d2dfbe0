"""Running a remote command under sudo, and telling sudo's own failures apart."""

from __future__ import annotations

import os
import re

from fleetpatch.errors import SudoError
from fleetpatch.inventory.model import Host
from fleetpatch.platforms.framing import MARK
from fleetpatch.transport.base import CommandResult

_SUDO_LINE = re.compile(r"^(?:sudo: .*|Sorry, try again\.|.*is not in the sudoers file.*)$", re.M)


def privileged(command: str, host: Host) -> tuple[str, str]:
    """Return (command, stdin prefix) that runs ``command`` with root rights on ``host``.

    Without a sudo password, ``sudo -n`` makes a prompt fail at once instead of hanging. With
    one, the password is the first line of stdin (``sudo -S -p ''``); it is read from the
    environment variable the inventory names and is never logged or stored.

    Raises:
        SudoError: the password variable is named but not set.
    """
    settings = host.connection
    if not settings.sudo or host.user == "root":
        return command, ""
    if settings.sudo_password_env:
        password = os.environ.get(settings.sudo_password_env)
        if password is None:
            raise SudoError(
                f"sudo password environment variable {settings.sudo_password_env} is not set"
            )
        return f"sudo -S -p '' -- {command}", password + "\n"
    return f"sudo -n -- {command}", ""


def check_sudo(result: CommandResult, host: Host) -> None:
    """Raise SudoError when sudo itself failed (the script never started).

    Raises:
        SudoError: sudo asked for a password it was not given, refused, or needs a tty.
    """
    if not host.connection.sudo or host.user == "root":
        return
    if result.exit_status == 0 or MARK in result.stdout:
        return
    lines = _SUDO_LINE.findall(result.stderr)
    if not lines:
        return
    detail = lines[-1]
    if "password is required" in detail:
        hint = (
            "sudo prompted for a password: set connection.sudo_password_env or allow "
            "NOPASSWD for this user"
        )
    elif "incorrect password" in detail or "Sorry, try again" in detail:
        hint = "sudo refused the password"
    else:
        hint = "sudo refused"
    raise SudoError(f"{hint} ({detail})")
