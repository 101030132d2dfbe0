"""The marker contract: how every Windows script says what it is and with which parameters.

This is the one place it is written. Every script fleetpatch sends to Windows begins with
(``templates/prelude.ps1.j2``)::

    # fleetpatch <operation> (the marker contract: fleetpatch/platforms/windows/markers.py)
    $FpOperation = '<operation>'
    $FpParams = '<JSON>' | ConvertFrom-Json

and the script reads its parameters from ``$FpParams`` and nowhere else (the update ids of
an install, a job's id, a hook's command). So a reader of the script - the emulated Windows
host of the test suite, which does not run PowerShell - learns the operation and the very
parameters the script will act on from these two lines, and cannot drift from what the
script does. :func:`read_marker` is that reader; :func:`marker_params` is what templates get.

A job's start script carries the job's own script (base64 of its UTF-8 text) in its
parameters: that script has a marker of its own.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from fleetpatch.errors import ParseError

OPERATIONS: dict[str, str] = {
    "scan": "what Windows Update offers and what is installed; OS, boot, pending reboot",
    "boot-identity": "the last boot time (the boot identity) and whether servicing is busy",
    "pending-reboot": "whether a reboot is pending (the scan's reboot record alone)",
    "reboot": "print the boot identity, then restart the host a few seconds later",
    "hook": "run a user's PowerShell command (pre_install, post_install, on_exit)",
    "job-start": "create and start the job's SYSTEM scheduled task, then follow its journal",
    "job-attach": "follow an existing job's journal from a line offset",
    "job-cleanup": "remove a finished job: its task and its directory",
    "install": "(the job's own script) install exactly the given update ids, one by one",
}
"""Every operation, with what its script does."""

_OPERATION_LINE = re.compile(r"^\$FpOperation = '(?P<op>[a-z-]+)'\r?$", re.MULTILINE)
_PARAMS_LINE = re.compile(r"^\$FpParams = '(?P<json>(?:[^']|'')*)' \| ConvertFrom-Json\r?$", re.M)


@dataclass(frozen=True)
class Marker:
    operation: str
    params: dict[str, Any]

    def embedded_script(self) -> str:
        """The job script a ``job-start`` carries (decoded).

        Raises:
            ParseError: this is not a job start, or its script is not base64 UTF-8.
        """
        encoded = self.params.get("script")
        if self.operation != "job-start" or not isinstance(encoded, str):
            raise ParseError(f"a {self.operation} script carries no job script")
        try:
            return base64.b64decode(encoded, validate=True).decode("utf-8")
        except ValueError as exc:
            raise ParseError(f"the job script is not base64 UTF-8: {exc}") from None


def marker_params(operation: str, **params: Any) -> dict[str, str]:
    """The template variables of a script's marker: ``operation`` and ``params_json``.

    Raises:
        ValueError: an unknown operation (a programming error).
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown Windows operation {operation!r}")
    return {
        "operation": operation,
        "params_json": json.dumps(params, sort_keys=True, ensure_ascii=True),
    }


def read_marker(script: str) -> Marker:
    """The operation and parameters a rendered script declares.

    Raises:
        ParseError: the script has no marker, or its parameters are not a JSON object.
    """
    op = _OPERATION_LINE.search(script)
    params = _PARAMS_LINE.search(script)
    if op is None or params is None:
        raise ParseError("not a fleetpatch Windows script: no $FpOperation/$FpParams marker")
    if op.group("op") not in OPERATIONS:
        raise ParseError(f"unknown operation {op.group('op')!r} in the marker")
    try:
        decoded = json.loads(params.group("json").replace("''", "'"))
    except ValueError as exc:
        raise ParseError(f"the marker's parameters are not JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise ParseError("the marker's parameters are not a JSON object")
    return Marker(op.group("op"), decoded)
