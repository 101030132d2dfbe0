"""Text from hosts and inventories, made safe to show on a terminal.

Anything a host prints (package names, sections, os-release, command output, hook output) or
an inventory holds (names, tags, vars) is data. Shown through rich it must never be read as
markup (``[/bold]`` would crash the renderer, ``[link=…]`` would make a link), and its control
characters must never reach the terminal (an ANSI escape from a host could repaint the
operator's screen, set the window title, or hide what follows). Every renderer passes such
text through :func:`cell` (a rich ``Text``, never parsed as markup) or :func:`printable`
(plain lines printed with ``markup=False``).

Control characters are shown as escapes: ESC as ``\\x1b``, CR as ``\\r``, C1 controls and the
Unicode bidirectional overrides as ``\\x9b`` / ``\\u202e``. Newlines and tabs stay.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character (except newline and tab) written as an escape."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_escape, text)


def cell(text: object, style: str = "") -> Text:
    """Host or inventory text as a rich ``Text``: shown as it is (no markup), controls
    escaped."""
    from rich.text import Text

    return Text(printable(str(text)), style=style)


class PrintableLogFormatter(logging.Formatter):
    """Log lines with control characters escaped: a warning may quote a host or a file."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))
