"""Progress display for a run: a rich bar on a terminal, plain lines otherwise, or nothing."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from fleetpatch.results import HostResult


class RunProgress:
    """Counts hosts done / failed / remaining and shows them the way the output allows."""

    def __init__(self, total: int, *, mode: str, console: Console | None, label: str = "scanning"):
        # quiet mode prints nothing and needs no console (rich.console is not imported then)
        if console is None and mode != "quiet":
            raise ValueError(f"progress mode {mode!r} needs a console")
        self.total = total
        self.mode = mode  # "bar", "lines" or "quiet"
        self.console = console
        self.done = 0
        self.failed = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._label = label
        self._counted: set[str] = set()

    def __enter__(self) -> RunProgress:
        if self.mode == "bar":
            # only a terminal's bar needs rich.progress (start-up CPU counts per host)
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("failed {task.fields[failed]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
                refresh_per_second=4,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self._label, total=self.total, failed=0)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)

    def host_done(self, result: HostResult) -> None:
        # imported here: a scan makes its progress display before it contacts the first host,
        # and the result models are not needed until one answers (fleetpatch.cli.scan)
        from fleetpatch.results import HostOutcome

        if result.host in self._counted:  # a host is counted once, whatever it reports
            return
        self._counted.add(result.host)
        self.done = min(self.done + 1, self.total)
        if result.outcome is not HostOutcome.OK:
            self.failed += 1
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=self.done, failed=self.failed, description=self._label
            )
        elif self.mode == "lines" and self.console is not None:
            self.console.print(_line(result, self.done, self.total), highlight=False, markup=False)

    def host_note(self, host: str, text: str) -> None:
        """What a host in flight is waiting for (its package manager's lock): a line of its
        own, or the bar's description, instead of minutes of silence."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=f"{self._label} ({host}: {text})")
        elif self.mode == "lines" and self.console is not None:
            line = f"[{self.done}/{self.total}] {host} {text}"
            self.console.print(line, highlight=False, markup=False)


def _line(result: HostResult, done: int, total: int) -> str:
    """One progress line; host text in it is shown as it is, control characters escaped."""
    from fleetpatch.report.safe_text import printable

    status = result.outcome.value
    detail = ""
    if result.failure is not None:
        detail = f" {result.failure.kind}: {result.failure.message}"
    elif result.compliance is not None:
        c = result.compliance
        detail = f" {c.status.value} missing={c.counts.missing}"
    return printable(f"[{done}/{total}] {result.host} {status}{detail}")
