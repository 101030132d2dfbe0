"""Host entries of the JSON report, written as hosts finish rather than at the end.

A run keeps only a small result per host once the store has it (no patch items, no package
lists: see ``engine.scan_run.slim_result``); the report's per-host entries, which list the
patches, are rendered when each host finishes and parked in an anonymous temporary file. At the
end :func:`~fleetpatch.report.json_report.write_report_json` copies them out in inventory order.
The memory a run holds per host then stays at a few KB whatever the report's size (a
10,000-host report is ~300 MB of JSON).
"""

from __future__ import annotations

import tempfile
from typing import IO

from fleetpatch.memo import RunMemo
from fleetpatch.report.json_report import host_entry_json
from fleetpatch.results import HostResult


class ReportSpool:
    """Rendered host entries, by host name, in a temporary file (deleted on close)."""

    def __init__(self, *, include_installed_other: bool = False) -> None:
        self.include_installed_other = include_installed_other
        # closed by close() / the with-block that owns the spool
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="fleetpatch-report-")  # noqa: SIM115
        self._where: dict[str, tuple[int, int]] = {}
        self._end = 0
        self._memo = RunMemo()  # patch items shared by hosts are rendered once

    def add(self, result: HostResult) -> None:
        data = host_entry_json(result, self.include_installed_other, self._memo).encode()
        self._file.seek(self._end)
        self._file.write(data)
        self._where[result.host] = (self._end, len(data))
        self._end += len(data)

    def entry(self, host: str) -> str | None:
        """The rendered entry of ``host``, or None if it was never added."""
        where = self._where.get(host)
        if where is None:
            return None
        offset, size = where
        self._file.seek(offset)
        return self._file.read(size).decode()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ReportSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
