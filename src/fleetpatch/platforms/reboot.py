"""Generic host helpers for every family: boot identity, reboot, user hooks.

**Boot identity** is the ``boot`` section (``templates/reboot.sh.j2``, same three lines as the
scan's ``boot`` section): ``/proc/sys/kernel/random/boot_id``, the start time of PID 1 (clock
ticks since boot, field 22 of ``/proc/1/stat``) and ``btime`` of ``/proc/stat``, joined with
``:`` exactly as :func:`fleetpatch.platforms.scan.boot_identity` does, so an identity from a
scan compares with one from here. boot_id changes on a real reboot; in a container it does not,
but the PID 1 start time changes when the container is restarted. "Rebooted" means "the
identity differs from the one recorded before the reboot".

**Reboot**: :func:`reboot_script` prints the identity (the caller records it), then starts the
reboot detached from the session after a short delay so the SSH command returns first; the
connection may still be cut (exit 255), as with any reboot.

**Hooks**: :func:`hook_script` runs a user command with ``sh -c``; the section carries the
hook's exit code, and the caller decides what a failing hook means.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import InputError, ParseError, RemoteCommandError
from fleetpatch.platforms.framing import Frames
from fleetpatch.platforms.render import render

BOOT_RC = frozenset({0})
SCHEDULE_RC = frozenset({0})


def boot_identity_script() -> str:
    """A script with one ``boot`` section: the host's boot identity."""
    return render("templates/reboot.sh.j2", schedule=False, delay=0)


def reboot_script(*, delay: int = 2) -> str:
    """Print the boot identity (section ``boot``), then schedule a reboot in ``delay`` seconds,
    detached so the command returns before it happens (section ``reboot.schedule``).

    Needs root (the transport's sudo); as another user the script reports ``not-root`` and
    schedules nothing.

    Raises:
        InputError: ``delay`` is not a whole number of seconds between 1 and 300.
    """
    if isinstance(delay, bool) or not isinstance(delay, int) or not 1 <= delay <= 300:
        raise InputError(f"reboot delay must be 1..300 seconds, got {delay!r}")
    return render("templates/reboot.sh.j2", schedule=True, delay=delay)


def parse_boot_identity(frames: Frames) -> str:
    """The identity ``boot_id:pid1_start:btime`` from a ``boot`` section (of this module's
    scripts or of the scan).

    Raises:
        ParseError: no ``boot`` section, an undeclared exit code, more than three lines, a
            non-numeric PID 1 start time or btime, or neither boot_id nor PID 1 start time.
    """
    section = frames.require("boot", allowed_rc=BOOT_RC)
    lines = [line.strip() for line in section.lines]
    if len(lines) > 3:
        raise ParseError(
            f"boot: expected 3 lines (boot_id, PID 1 start time, btime), got {len(lines)}: "
            f"{lines!r}"
        )
    boot_id, pid1, btime = [*lines, "", "", ""][:3]
    for label, value in (("PID 1 start time", pid1), ("btime", btime)):
        if value and not value.isdigit():
            raise ParseError(f"boot: expected {label} as a number, got {value!r}")
    if not boot_id and not pid1:
        raise ParseError("boot: neither boot_id nor the PID 1 start time could be read")
    return ":".join(lines)


class RebootScheduled(BaseModel):
    """What :func:`reboot_script` reported: the identity before the reboot and the schedule."""

    model_config = ConfigDict(frozen=True)

    boot_identity: str
    delay: int
    pid: int
    log: str


def parse_reboot_scheduled(frames: Frames) -> RebootScheduled:
    """The output of :func:`reboot_script`.

    Raises:
        RemoteCommandError: the user is not root, or the script stopped early.
        ParseError: a section is missing or malformed.
    """
    identity = parse_boot_identity(frames)
    section = frames.get("reboot.schedule")
    if section is not None and section.lines[:1] and section.lines[0].startswith("not-root\t"):
        uid = section.lines[0].split("\t", 1)[1]
        raise RemoteCommandError(f"reboot needs root, the script ran as uid {uid}")
    if section is None and frames.exit.rc != 0:
        raise RemoteCommandError(
            f"reboot script failed at step {frames.exit.step!r} with exit code {frames.exit.rc}"
        )
    section = frames.require("reboot.schedule", allowed_rc=SCHEDULE_RC)
    fields = section.lines[0].split("\t") if len(section.lines) == 1 else []
    if len(fields) != 4 or fields[0] != "scheduled" or not (fields[1] + fields[2]).isdigit():
        raise ParseError(
            f"reboot.schedule: expected 'scheduled<TAB>DELAY<TAB>PID<TAB>LOG', got {section.body!r}"
        )
    return RebootScheduled(
        boot_identity=identity, delay=int(fields[1]), pid=int(fields[2]), log=fields[3]
    )


def rebooted(before: str, after: str) -> bool:
    """The host has rebooted (or its container restarted) between two identities."""
    return before != after


# ---------------------------------------------------------------------------------------------
# Hooks


class HookResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    rc: int
    output: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def hook_script(command: str) -> str:
    """Run ``command`` on the host as ``sh -c COMMAND`` (quoted as one word), stdin closed,
    stderr merged into stdout; section ``hook`` ends with the hook's exit code.

    Raises:
        InputError: an empty command or one containing a NUL byte.
    """
    if not isinstance(command, str) or not command.strip():
        raise InputError("a hook command must be a non-empty string")
    if "\x00" in command:
        raise InputError("a hook command cannot contain a NUL byte")
    return render("templates/hook.sh.j2", command=command)


def parse_hook(frames: Frames) -> HookResult:
    """The hook's output and exit code (any exit code is a result, not an error here).

    Raises:
        ParseError: the ``hook`` section is missing (the script did not get to run it).
    """
    section = frames.get("hook")
    if section is None:
        raise ParseError(
            f"expected section 'hook' in remote output (script ended at step "
            f"{frames.exit.step!r} rc={frames.exit.rc})"
        )
    return HookResult(rc=section.rc, output=section.body)


__all__ = [
    "HookResult",
    "RebootScheduled",
    "boot_identity_script",
    "hook_script",
    "parse_boot_identity",
    "parse_hook",
    "parse_reboot_scheduled",
    "reboot_script",
    "rebooted",
]
