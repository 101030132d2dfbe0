"""The rendered Windows scripts besides the install job, and the readers of their output.

Each script starts with its marker (:mod:`.markers`) and prints JSON records ending with an
exit record (:mod:`.records`); each runs through the bootstrap
(:data:`.bootstrap.POWERSHELL_FROM_STDIN`).

* **Boot identity**: the last boot time (``Win32_OperatingSystem.LastBootUpTime``, UTC). A
  new value means the host rebooted; ``servicing`` is CBS's ServicingInProgress (2: still
  servicing after the reboot - wait before the rescan).
* **Reboot**: prints the identity, then ``shutdown.exe /r /t DELAY`` so the command returns
  before the restart.
* **Pending reboot**: the CBS ``RebootPending`` key, the WindowsUpdate ``RebootRequired`` key,
  ``PendingFileRenameOperations`` and the agent's ``SystemInfo.RebootRequired``.
* **Hooks**: a user's PowerShell command (see ``templates/hook.ps1.j2``).
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetpatch.errors import InputError, ParseError, RemoteCommandError
from fleetpatch.platforms.render import render
from fleetpatch.platforms.windows.markers import marker_params
from fleetpatch.platforms.windows.records import Records, parse_records

HISTORY_LIMIT = 1000
"""the most recent update history entries a scan reads"""
HOOK_OUTPUT_LIMIT = 2000
"""characters of a hook's output kept (its end)"""
SERVICING_BUSY = 2
"""CBS ServicingInProgress while servicing still runs after a reboot"""


def scan_script() -> str:
    """The scan script (read-only; needs an administrator for the update history)."""
    return render(
        "windows/templates/scan.ps1.j2", history_limit=HISTORY_LIMIT, **marker_params("scan")
    )


def boot_identity_script() -> str:
    return render("windows/templates/boot.ps1.j2", **marker_params("boot-identity"))


def pending_reboot_script() -> str:
    return render("windows/templates/boot.ps1.j2", **marker_params("pending-reboot"))


def reboot_script(*, delay: int = 5) -> str:
    """Print the boot identity, then restart in ``delay`` seconds.

    Raises:
        InputError: ``delay`` is not a whole number of seconds between 1 and 300.
    """
    if isinstance(delay, bool) or not isinstance(delay, int) or not 1 <= delay <= 300:
        raise InputError(f"reboot delay must be 1..300 seconds, got {delay!r}")
    return render("windows/templates/boot.ps1.j2", **marker_params("reboot", delay=delay))


def hook_script(command: str) -> str:
    """Run ``command`` (PowerShell) on the host.

    Raises:
        InputError: an empty command or one containing a NUL character.
    """
    if not isinstance(command, str) or not command.strip():
        raise InputError("a hook command must be a non-empty string")
    if "\x00" in command:
        raise InputError("a hook command cannot contain a NUL character")
    return render(
        "windows/templates/hook.ps1.j2",
        output_limit=HOOK_OUTPUT_LIMIT,
        **marker_params("hook", command=command),
    )


@dataclass(frozen=True)
class BootInfo:
    identity: str
    """the last boot time, UTC ISO 8601: a new one means the host rebooted"""
    servicing_busy: bool


def _checked(text: str, what: str) -> Records:
    records = parse_records(text)
    if not records.exit.ok:
        raise RemoteCommandError(
            f"{what} failed at step {records.exit.step!r} with HRESULT {records.exit.hresult}: "
            f"{records.exit.error}"
        )
    return records


def parse_boot(text: str) -> BootInfo:
    """The output of :func:`boot_identity_script` or :func:`reboot_script` (its identity).

    Raises:
        ParseError: no boot record, or no last boot time in it.
        RemoteCommandError: the script stopped with an error before the boot record.
    """
    records = parse_records(text)
    found = list(records.of("boot"))
    if not found:
        _checked(text, "the boot identity script")
        raise ParseError("expected a boot record")
    boot = found[0]
    identity = boot["last_boot"]
    if not isinstance(identity, str) or not identity:
        raise ParseError(f"boot: expected the last boot time, got {identity!r}")
    return BootInfo(identity, boot["servicing"] == SERVICING_BUSY)


def parse_reboot_scheduled(text: str) -> BootInfo:
    """The identity before the restart, once the restart is scheduled.

    Raises:
        RemoteCommandError: shutdown.exe refused (not an administrator, a shutdown already
            in progress).
        ParseError: the output is not the script's.
    """
    records = _checked(text, "the reboot")
    records.one("schedule")
    return parse_boot(text)


def parse_pending_reboot(text: str) -> bool:
    """Whether any flag says a reboot is pending.

    Raises:
        ParseError, RemoteCommandError: as :func:`parse_boot`.
    """
    reboot = _checked(text, "the pending-reboot check").one("reboot")
    return any(bool(reboot[key]) for key in ("cbs", "wu", "file_rename", "system_info"))


@dataclass(frozen=True)
class HookResult:
    rc: int
    output: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def parse_hook(text: str) -> HookResult:
    """The hook's exit code and output (any exit code is a result here).

    Raises:
        ParseError: no hook record (the script did not get to run the hook).
    """
    records = parse_records(text)
    found = list(records.of("hook"))
    if not found:
        raise ParseError(
            f"expected a hook record (the script ended at step {records.exit.step!r}, "
            f"HRESULT {records.exit.hresult}: {records.exit.error})"
        )
    return HookResult(int(found[0]["rc"]), str(found[0]["output"]))
