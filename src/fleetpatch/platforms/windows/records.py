"""The output of every Windows script: JSON records, one per line, ending with an exit record.

A record is a JSON object with its type in ``t`` and the fields :data:`RECORD_FIELDS` lists
for that type (the scripts write them with ``Write-FpRecord``, ``templates/prelude.ps1.j2``).
The last record is always ``exit`` (written in a ``finally``): the step the script was in,
the HRESULT of the error that stopped it (``0x00000000`` when none) and its message. Lines
that are not records (a profile's chatter) are kept as noise. Every non-ASCII character is
written as a ``\\uXXXX`` escape, so a line reads the same whatever the console's code page.

:func:`parse_records` is pure and strict: an unknown record type or a missing field is a
ParseError naming the line, what was expected and what came.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fleetpatch.errors import ParseError

_UPDATE = frozenset(
    {
        "id",
        "rev",
        "title",
        "kb",
        "classifications",
        "products",
        "msrc",
        "released",
        "reboot",
        "cves",
        "bulletins",
        "downloaded",
        "mandatory",
        "eula",
        "browse_only",
    }
)

RECORD_FIELDS: dict[str, frozenset[str]] = {
    "step": frozenset({"step"}),
    "exit": frozenset({"step", "hresult", "error"}),
    "os": frozenset(
        {
            "caption",
            "version",
            "build",
            "ubr",
            "product_name",
            "edition",
            "installation_type",
            "display_version",
            "arch",
            "product_type",
            "hostname",
        }
    ),
    "boot": frozenset({"last_boot", "servicing"}),
    "reboot": frozenset({"cbs", "wu", "file_rename", "system_info"}),
    "source": frozenset({"wsus", "server", "service", "service_id"}),
    "search": frozenset({"criteria", "result_code", "count", "warnings"}),
    "update": _UPDATE,
    "installed": _UPDATE,
    "history": frozenset(
        {"id", "rev", "title", "operation", "result_code", "hresult", "date", "client"}
    ),
    "hotfix": frozenset({"id", "description", "installed_on"}),
    "hook": frozenset({"rc", "output"}),
    "schedule": frozenset({"delay", "scheduled"}),
    # the install job's journal (install.ps1.j2)
    "selected": frozenset({"requested", "found", "missing"}),
    "download": frozenset({"id", "result_code", "hresult"}),
    "result": frozenset({"id", "kb", "title", "result_code", "hresult", "reboot_required"}),
}
"""Every record type and its fields (besides ``t``): the contract between the scripts, their
parsers and the test emulator (a test compares all three)."""

EXIT_OK = "0x00000000"


@dataclass(frozen=True)
class Record:
    type: str
    fields: dict[str, Any]
    line: int

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]


@dataclass(frozen=True)
class ExitRecord:
    step: str
    hresult: str
    error: str

    @property
    def ok(self) -> bool:
        return self.hresult == EXIT_OK


@dataclass(frozen=True)
class Records:
    records: tuple[Record, ...]
    exit: ExitRecord
    noise: tuple[str, ...] = field(default=())

    def of(self, kind: str) -> Iterator[Record]:
        return (record for record in self.records if record.type == kind)

    def one(self, kind: str) -> Record:
        """The single record of this type.

        Raises:
            ParseError: there is none, or more than one.
        """
        found = list(self.of(kind))
        if len(found) != 1:
            raise ParseError(
                f"expected one {kind!r} record, got {len(found)} (script ended at step "
                f"{self.exit.step!r}, HRESULT {self.exit.hresult}"
                + (f": {self.exit.error}" if self.exit.error else "")
                + ")"
            )
        return found[0]


def _record(line: str, number: int) -> Record | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(
            f"line {number}: expected a JSON record, got {text[:120]!r} ({exc})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise ParseError(f"line {number}: expected a record with a type 't', got {text[:120]!r}")
    kind = data.pop("t")
    expected = RECORD_FIELDS.get(kind)
    if expected is None:
        raise ParseError(
            f"line {number}: unknown record type {kind!r}; expected one of "
            f"{', '.join(sorted(RECORD_FIELDS))}"
        )
    missing = expected - data.keys()
    if missing:
        raise ParseError(
            f"line {number}: {kind} record without {', '.join(sorted(missing))}; got "
            f"{', '.join(sorted(data)) or 'no fields'}"
        )
    return Record(kind, data, number)


def parse_records(text: str, *, require_exit: bool = True) -> Records:
    """The records of a script's output.

    Raises:
        ParseError: a malformed record; or no exit record (the output was cut short: the
            message names the last step reached) when ``require_exit``.
    """
    records: list[Record] = []
    noise: list[str] = []
    exit_record: ExitRecord | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        record = _record(line, number)
        if record is None:
            if line.strip():
                noise.append(line)
            continue
        if record.type == "exit":
            exit_record = ExitRecord(
                str(record["step"]), str(record["hresult"]), str(record["error"] or "")
            )
            continue
        if exit_record is not None:
            raise ParseError(f"line {number}: a {record.type} record after the exit record")
        records.append(record)
    if exit_record is None:
        if require_exit:
            step = last_step(text) or "start"
            raise ParseError(
                f"the script's output ended without its exit record (cut short in step {step!r})"
            )
        exit_record = ExitRecord(last_step(text), "", "output cut short")
    return Records(tuple(records), exit_record, tuple(noise))


def last_step(text: str) -> str:
    """The step a script's output was in when it stopped: its exit record's, else the last
    step record's; "" when there is none. Pure; never raises."""
    step = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("{"):
            continue
        try:
            data = json.loads(stripped)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("t") in ("step", "exit"):
            step = str(data.get("step", step))
    return step


def hresult_int(text: str) -> int:
    """``0x80240009`` -> 2149842953 (an HRESULT as the unsigned 32-bit number).

    Raises:
        ParseError: not an HRESULT in hex.
    """
    try:
        value = int(str(text), 16)
    except ValueError:
        raise ParseError(f"expected an HRESULT like 0x80240009, got {text!r}") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise ParseError(f"expected a 32-bit HRESULT, got {text!r}")
    return value
