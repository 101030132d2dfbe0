"""Framed output of fleetpatch's remote scripts.

Every script fleetpatch sends prints its results in sections::

    @@FP@@ BEGIN <section>
    ...body...
    @@FP@@ END <section> <rc>
    ...
    @@FP@@ EXIT <step> <rc>

The section function always prints a newline before ``END`` so a body without a trailing
newline still frames; the parser removes that one extra line. Lines outside sections (a MOTD,
sudo chatter) are kept as ``noise``. The EXIT record is always last: it names the step the
script was in and its exit code. A missing EXIT record means the output was cut short.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetpatch.errors import ParseError

MARK = "@@FP@@ "


@dataclass(frozen=True)
class Section:
    name: str
    body: str
    rc: int

    @property
    def lines(self) -> list[str]:
        return self.body.splitlines() if self.body else []


@dataclass(frozen=True)
class ExitRecord:
    step: str
    rc: int


@dataclass(frozen=True)
class Frames:
    sections: dict[str, Section]
    exit: ExitRecord
    noise: tuple[str, ...] = field(default=())

    def get(self, name: str) -> Section | None:
        return self.sections.get(name)

    def require(self, name: str, *, allowed_rc: frozenset[int] = frozenset({0})) -> Section:
        """The named section, checked against the exit codes its command declares.

        Raises:
            ParseError: the section is absent or ended with an undeclared exit code.
        """
        section = self.sections.get(name)
        if section is None:
            raise ParseError(
                f"expected section {name!r} in remote output, got only "
                f"{sorted(self.sections) or 'none'} (script ended at step "
                f"{self.exit.step!r} rc={self.exit.rc})"
            )
        if section.rc not in allowed_rc:
            tail = section.lines[-3:] if section.lines else []
            raise ParseError(
                f"section {name!r} exited {section.rc}, expected one of "
                f"{sorted(allowed_rc)}; last output: {' | '.join(tail) or '(none)'}"
            )
        return section


def parse_frames(text: str) -> Frames:
    """Split a script's stdout into sections.

    Raises:
        ParseError: a section is not closed, closes under another name, or the EXIT record is
            missing (output cut short).
    """
    sections: dict[str, Section] = {}
    noise: list[str] = []
    exit_record: ExitRecord | None = None
    current: str | None = None
    body: list[str] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.startswith(MARK):
            if current is None:
                if line:
                    noise.append(line)
            else:
                body.append(line)
            continue
        parts = line[len(MARK) :].split(" ")
        verb = parts[0]
        if verb == "BEGIN" and len(parts) == 2:
            if current is not None:
                raise ParseError(
                    f"line {lineno}: expected END of section {current!r}, got BEGIN {parts[1]!r}"
                )
            current, body = parts[1], []
        elif verb == "END" and len(parts) == 3:
            if current != parts[1]:
                raise ParseError(f"line {lineno}: expected END {current!r}, got END {parts[1]!r}")
            if body and body[-1] == "":
                body.pop()
            sections[current] = Section(current, "\n".join(body), _int(parts[2], lineno))
            current = None
        elif verb == "EXIT" and len(parts) == 3:
            exit_record = ExitRecord(parts[1], _int(parts[2], lineno))
        else:
            raise ParseError(f"line {lineno}: malformed frame marker {line!r}")
    if exit_record is None:
        where = f" inside section {current!r}" if current else ""
        raise ParseError(f"remote output ended without an EXIT record{where} (cut short?)")
    return Frames(sections=sections, exit=exit_record, noise=tuple(noise))


def _int(value: str, lineno: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise ParseError(f"line {lineno}: expected an exit code, got {value!r}") from None
