"""The terminal table, rendered without a terminal (plain text, no colour)."""

from __future__ import annotations

import io
import re

from result_builders import mixed_run
from rich.console import Console

from fleetpatch.report import render_run_table
from fleetpatch.results import RunResult


def _render(run: RunResult, *, verbose: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, no_color=True, width=120)
    render_run_table(run, console, verbose=verbose)
    return out.getvalue()


def _row(text: str, host: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.strip().startswith(host + " "))
    return line.split()


def test_plain_text_without_escape_codes_and_within_width() -> None:
    text = _render(mixed_run(), verbose=True)
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 120


def test_host_rows_carry_the_right_numbers() -> None:
    text = _render(mixed_run())
    web2 = _row(text, "web-2")
    assert web2[:3] == ["web-2", "Debian12", "NON_COMPLIANT"]
    assert "3/1" in web2  # security / other non-compliant
    assert "1/1/1/1/0/0" in web2  # CRITICAL/HIGH/MEDIUM/LOW/INFORMATIONAL/UNSPECIFIED
    assert web2[-2:] == ["1", "yes"]  # pending reboot, reboot required
    assert _row(text, "web-1")[:3] == ["web-1", "Debian12", "COMPLIANT"]
    assert _row(text, "db-1")[2] == "FAILED"
    assert _row(text, "db-1")[-1] == "unreachable"
    assert _row(text, "win-1")[2] == "UNSUPPORTED"


def test_errors_and_fleet_summary() -> None:
    text = _render(mixed_run())
    assert "unreachable: connection refused" in text
    summary = text[text.index("Fleet summary") :]

    def value(label: str) -> str:
        return re.search(rf"^\s*{re.escape(label)}\s+(\d+)\s*$", summary, re.M).group(1)  # type: ignore[union-attr]

    assert value("hosts") == "4"
    assert value("compliant") == "1"
    assert value("non-compliant") == "1"
    assert value("failed") == "1"
    assert value("failure kind unreachable") == "1"
    assert value("missing security patches") == "2"
    assert value("exit code") == "3"


def test_verbose_lists_each_non_compliant_patch_with_state_versions_and_reason() -> None:
    quiet = _render(mixed_run())
    assert "openssl" not in quiet
    text = _render(mixed_run(), verbose=True)
    assert "web-2: non-compliant patches" in text
    openssl = _row(text, "openssl:amd64")
    assert openssl[:4] == ["openssl:amd64", "MISSING", "CRITICAL", "yes"]
    assert "1.0-1" in openssl and "rule" in openssl
    assert "INSTALLED_PENDING_REBOOT" in text
    assert "vim" not in text  # INSTALLED_OTHER is compliant, not listed
    assert "bash:amd64" not in text  # INSTALLED is compliant, not listed


def test_cancelled_run_is_marked() -> None:
    assert "(cancelled)" in _render(mixed_run(cancelled=True))
