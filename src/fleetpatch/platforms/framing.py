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

import re
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

    Only the marker lines are visited (a regular expression finds them); bodies are sliced out
    of ``text`` whole, so the cost does not grow with the number of lines in a section.

    Raises:
        ParseError: a section is not closed, closes under another name, or the EXIT record is
            missing (output cut short).
    """
    sections: dict[str, Section] = {}
    noise: list[str] = []
    exit_record: ExitRecord | None = None
    current: str | None = None
    body_start = 0  # where the open section's body (or the text outside sections) starts
    for match in _MARKER.finditer(text):
        line_start, line_end = match.span()
        parts = match[1].split(" ")
        verb = parts[0]
        if current is None:
            _add_noise(noise, text[body_start:line_start])
        if verb == "BEGIN" and len(parts) == 2:
            if current is not None:
                raise ParseError(
                    f"line {_lineno(text, line_start)}: expected END of section {current!r}, "
                    f"got BEGIN {parts[1]!r}"
                )
            current = parts[1]
        elif verb == "END" and len(parts) == 3:
            if current is None or current != parts[1]:
                raise ParseError(
                    f"line {_lineno(text, line_start)}: expected END {current!r}, "
                    f"got END {parts[1]!r}"
                )
            # the body's lines end with "\n" each; the section function adds one empty line
            body = text[body_start : max(body_start, line_start - 1)]
            if body.endswith("\n"):
                body = body[:-1]
            sections[current] = Section(current, body, _int(parts[2], text, line_start))
            current = None
        elif verb == "EXIT" and len(parts) == 3:
            exit_record = ExitRecord(parts[1], _int(parts[2], text, line_start))
        else:
            raise ParseError(
                f"line {_lineno(text, line_start)}: malformed frame marker {match[0]!r}"
            )
        body_start = line_end + 1
    if current is None:
        _add_noise(noise, text[body_start:])
    if exit_record is None:
        where = f" inside section {current!r}" if current else ""
        raise ParseError(f"remote output ended without an EXIT record{where} (cut short?)")
    return Frames(sections=sections, exit=exit_record, noise=tuple(noise))


_MARKER = re.compile(r"^@@FP@@ (.*)$", re.MULTILINE)


def _add_noise(noise: list[str], chunk: str) -> None:
    if chunk:
        noise.extend(line for line in chunk.split("\n") if line)


def _lineno(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _int(value: str, text: str, offset: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise ParseError(
            f"line {_lineno(text, offset)}: expected an exit code, got {value!r}"
        ) from None
