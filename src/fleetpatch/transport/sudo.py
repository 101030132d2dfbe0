"""Running a remote script with root rights through sudo, and telling sudo's own failures apart.

Three ways, chosen by the host's connection settings:

* root login, or ``sudo: false``: ``sh -s`` with the script on stdin;
* sudo without a password: ``sudo -n -- sh -s``, the script on stdin (no secret in it);
* sudo with a password: a dialogue over one session channel (:func:`_run_with_password`).
  The password is written only once sudo's own prompt (random per command) has appeared, and
  nothing follows it on stdin until the root shell has printed a random marker, i.e. until
  sudo has finished reading it. If sudo does not prompt (NOPASSWD, a cached timestamp) the
  password is never sent. The root shell then reads one line and runs the script only if
  that line is a random nonce, so even a password sudo only half-read could never be run as
  a command. A second prompt means the password was refused: sudo is killed (SIGKILL) before
  it can read again, so pam_faillock counts one failure, not two or three.

docs/reliability.md ("Connections and privileges") says why this shape and not a script
written to a temporary file first. The transport only starts a process and relays bytes; the
dialogue is here.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import time
from dataclasses import dataclass

from fleetpatch.errors import CommandTimeout, ConnectionLost, SudoError
from fleetpatch.inventory.model import Host
from fleetpatch.platforms.framing import MARK
from fleetpatch.transport.base import CommandResult, RemoteProcess, Session

_SUDO_LINE = re.compile(r"^(?:sudo: .*|Sorry, try again\.|.*is not in the sudoers file.*)$", re.M)

SUDO_PASSWORD_MAX_BYTES = 255
"""sudo reads a password with ``-S`` one byte at a time up to a newline, into a buffer of
256 bytes in older releases (1024 in 1.9): a longer one would be cut, and the rest left unread
on stdin."""

NONCE_REFUSED_RC = 97
"""Exit status of the root shell when the first line after sudo is not the nonce."""


async def run_privileged(
    session: Session, host: Host, command: str, script: str, *, timeout: float
) -> CommandResult:
    """Run ``command`` (which reads ``script`` on stdin) with root rights on ``host``.

    The result of a sudo that refused without a password is returned as it is: see
    :func:`check_sudo`.

    Raises:
        SudoError: the password variable is named but not set or not usable; sudo refused the
            password, or ended before running the script.
        CommandTimeout, ConnectionLost: as :meth:`Session.run`, with the script's output.
    """
    settings = host.connection
    if not settings.sudo or host.user == "root":
        return await session.run(command, stdin=script, timeout=timeout)
    if not settings.sudo_password_env:
        return await session.run(f"sudo -n -- {command}", stdin=script, timeout=timeout)
    password = _sudo_password(settings.sudo_password_env)
    return await _run_with_password(
        session,
        command,
        script,
        password,
        answer_timeout=min(settings.connect_timeout, timeout),
        timeout=timeout,
    )


def _sudo_password(variable: str) -> str:
    password = os.environ.get(variable)
    if password is None:
        raise SudoError(f"sudo password environment variable {variable} is not set")
    if any(ch in password for ch in "\r\n\0"):
        raise SudoError(
            f"the sudo password in {variable} contains a line break or NUL: sudo reads a "
            "password up to the first line break, so it cannot be given safely"
        )
    if len(password.encode()) > SUDO_PASSWORD_MAX_BYTES:
        raise SudoError(
            f"the sudo password in {variable} is longer than {SUDO_PASSWORD_MAX_BYTES} bytes, "
            "more than sudo reads"
        )
    return password


@dataclass
class _Dialogue:
    """What sudo said so far, as the conditions :meth:`RemoteProcess.watch` waits for."""

    prompt: str
    started_root: str
    root: bool = False
    """the root shell printed its marker (on stderr): sudo is done reading stdin"""

    def prompted(self, out: str, err: str) -> bool:
        self.root = self.started_root in err
        return self.root or self.prompt in err

    def prompted_again(self, out: str, err: str) -> bool:
        self.root = self.started_root in err
        return self.root or err.count(self.prompt) > 1

    def own_stderr(self, stderr: str) -> str:
        """The command's stderr without sudo's prompts and the marker line."""
        return stderr.replace(self.prompt, "").replace(self.started_root, "", 1)


async def _run_with_password(
    session: Session,
    command: str,
    script: str,
    password: str,
    *,
    answer_timeout: float,
    timeout: float,
) -> CommandResult:
    """The sudo dialogue (module docstring). ``answer_timeout``: how long sudo may take to
    prompt or to start the shell; ``timeout``: the whole command. sudo and the marker speak
    on stderr only, so stdout is the script's own from its first byte (a session that streams
    stdout, as an install job's does, can hand it on as it comes)."""
    deadline = time.monotonic() + timeout
    talk = _Dialogue(
        prompt=f"[fleetpatch sudo {secrets.token_hex(8)}] password: ",
        started_root=f"fleetpatch-root-{secrets.token_hex(8)}\n",
    )
    nonce = secrets.token_hex(16)
    root_shell = (
        f"echo {talk.started_root.strip()} >&2; IFS= read -r fp_nonce; "
        f'[ "$fp_nonce" = {nonce} ] || exit {NONCE_REFUSED_RC}; exec {command}'
    )
    process = await session.start(
        f"exec sudo -S -p {shlex.quote(talk.prompt)} -- sh -c {shlex.quote(root_shell)}"
    )
    try:
        await _become(process, talk, password, answer_timeout, deadline)
        process.write(f"{nonce}\n{script}")
        process.write_eof()
        try:
            result = await process.finish(timeout=max(0.0, deadline - time.monotonic()))
        except CommandTimeout as exc:
            raise CommandTimeout(
                str(exc), stdout=exc.stdout, stderr=talk.own_stderr(exc.stderr)
            ) from None
        except ConnectionLost as exc:
            raise ConnectionLost(
                str(exc),
                stdout=exc.stdout,
                stderr=talk.own_stderr(exc.stderr),
                reason=exc.reason,
            ) from None
    except BaseException:
        process.close()
        raise
    return CommandResult(
        exit_status=result.exit_status,
        stdout=result.stdout,
        stderr=talk.own_stderr(result.stderr),
        duration=result.duration,
    )


async def _become(
    process: RemoteProcess,
    talk: _Dialogue,
    password: str,
    answer_timeout: float,
    deadline: float,
) -> None:
    """Until the root shell runs: answer sudo's prompt once, if it prompts.

    Raises:
        SudoError: sudo refused the password, ended, or did not answer in time.
        ConnectionLost: the connection dropped (step ``sudo``).
    """
    try:
        if not await process.watch(talk.prompted, timeout=answer_timeout):
            raise await _ended_early(process, talk, deadline)
        if talk.root:  # no prompt (NOPASSWD, a cached timestamp): the password is never sent
            return
        process.write(password + "\n")
        if not await process.watch(talk.prompted_again, timeout=answer_timeout):
            raise await _ended_early(process, talk, deadline)
    except CommandTimeout as exc:
        raise SudoError(
            f"sudo neither asked for the password nor started the command within "
            f"{answer_timeout:g}s (last output: {_tail(talk.own_stderr(exc.stderr))})"
        ) from None
    except ConnectionLost as exc:
        raise ConnectionLost(
            str(exc),
            stdout=exc.stdout,
            stderr=talk.own_stderr(exc.stderr),
            step="sudo",
            reason=exc.reason,
        ) from None
    if not talk.root:
        process.kill()  # before sudo reads again: one failure, not two
        raise SudoError(
            "sudo refused the password (one attempt: fleetpatch stops sudo at its second "
            "prompt, so that only one failure counts)"
        )


async def _ended_early(process: RemoteProcess, talk: _Dialogue, deadline: float) -> SudoError:
    """sudo exited before starting the shell: why, from its own words."""
    result = await process.finish(timeout=max(1.0, deadline - time.monotonic()))
    stderr = talk.own_stderr(result.stderr)
    return _sudo_failure(stderr) or SudoError(
        f"sudo ended (exit {result.exit_status}) before starting the command: {_tail(stderr)}"
    )


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-3:]) or "(none)"


def check_sudo(result: CommandResult, host: Host) -> None:
    """Raise SudoError when sudo itself failed (the script never started).

    Raises:
        SudoError: sudo asked for a password it was not given, refused, or needs a tty.
    """
    if not host.connection.sudo or host.user == "root":
        return
    if result.exit_status == 0 or MARK in result.stdout:
        return
    error = _sudo_failure(result.stderr)
    if error is not None:
        raise error


def _sudo_failure(stderr: str) -> SudoError | None:
    lines = _SUDO_LINE.findall(stderr)
    if not lines:
        return None
    detail = lines[-1]
    if "password is required" in detail:
        hint = (
            "sudo prompted for a password: set connection.sudo_password_env or allow "
            "NOPASSWD for this user"
        )
    elif "incorrect password" in detail or "Sorry, try again" in detail:
        hint = "sudo refused the password"
    elif "a terminal is required" in detail or "must have a tty" in detail:
        hint = "sudo needs a terminal (Defaults requiretty): allow this user without a tty"
    else:
        hint = "sudo refused"
    return SudoError(f"{hint} ({detail})")
