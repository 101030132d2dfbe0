"""parse_frames finds markers with a regular expression and slices bodies out whole; this
checks it against the plain line-by-line reading of the framing rules (module docstring)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetpatch.errors import ParseError
from fleetpatch.platforms.framing import MARK, last_step, parse_frames


def reference(text: str) -> tuple[dict[str, tuple[str, int]], tuple[str, int], list[str]]:
    """The framing rules, one line at a time (slow, obviously right)."""
    sections: dict[str, tuple[str, int]] = {}
    noise: list[str] = []
    exit_record: tuple[str, int] | None = None
    current: str | None = None
    body: list[str] = []
    for line in text.split("\n"):
        if not line.startswith(MARK):
            if current is None:
                if line:
                    noise.append(line)
            else:
                body.append(line)
            continue
        parts = line[len(MARK) :].split(" ")
        if parts[0] == "BEGIN" and len(parts) == 2:
            if current is not None:
                raise ParseError("nested")
            current, body = parts[1], []
        elif parts[0] == "END" and len(parts) == 3:
            if current != parts[1]:
                raise ParseError("mismatched END")
            if body and body[-1] == "":
                body.pop()
            sections[current] = ("\n".join(body), int(parts[2]))
            current = None
        elif parts[0] == "EXIT" and len(parts) == 3:
            exit_record = (parts[1], int(parts[2]))
        else:
            raise ParseError("malformed")
    if exit_record is None:
        raise ParseError("no EXIT")
    return sections, exit_record, noise


body_line = st.sampled_from(["", "x", "a\tb", "  indented", "@@FP@ not a marker", "@@FP@@"])
names = st.sampled_from(["apt.installed", "os", "boot"])


@st.composite
def framed(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        lines.extend(draw(st.lists(body_line, max_size=2)))  # noise between sections
        name = draw(names)
        lines.append(f"{MARK}BEGIN {name}")
        lines.extend(draw(st.lists(body_line, max_size=4)))
        lines.append(f"{MARK}END {name} {draw(st.integers(0, 3))}")
    if draw(st.booleans()):
        lines.append(f"{MARK}EXIT done {draw(st.integers(0, 2))}")
    lines.extend(draw(st.lists(body_line, max_size=2)))
    if draw(st.booleans()):  # a stray marker somewhere makes the input malformed
        lines.insert(
            draw(st.integers(0, len(lines))),
            draw(
                st.sampled_from(
                    [
                        f"{MARK}BEGIN os",
                        f"{MARK}END boot 0",
                        f"{MARK}BOGUS",
                        f"{MARK}END os x",
                    ]
                )
            ),
        )
    text = "\n".join(lines)
    return text + "\n" if draw(st.booleans()) else text


@settings(max_examples=400, deadline=None)
@given(framed())
def test_parse_frames_agrees_with_the_line_by_line_rules(text: str) -> None:
    try:
        expected = reference(text)
    except (ParseError, ValueError):
        with pytest.raises(ParseError):
            parse_frames(text)
        return
    frames = parse_frames(text)
    sections, exit_record, noise = expected
    assert {n: (s.body, s.rc) for n, s in frames.sections.items()} == sections
    assert (frames.exit.step, frames.exit.rc) == exit_record
    assert list(frames.noise) == noise


def test_error_names_the_line_of_the_bad_marker() -> None:
    text = f"motd\n{MARK}BEGIN os\nID=debian\n{MARK}END boot 0\n{MARK}EXIT done 0\n"
    with pytest.raises(ParseError, match=r"line 4: expected END 'os', got END 'boot'"):
        parse_frames(text)


def test_body_keeps_inner_blank_lines_and_drops_the_framing_newline() -> None:
    text = f"{MARK}BEGIN a\nx\n\ny\n\n{MARK}END a 0\n{MARK}BEGIN b\n{MARK}END b 1\n{MARK}EXIT s 0"
    frames = parse_frames(text)
    assert frames.sections["a"].body == "x\n\ny"
    assert frames.sections["b"].body == "" and frames.sections["b"].rc == 1


@pytest.mark.parametrize(
    ("text", "step"),
    [
        pytest.param("", "", id="nothing"),
        pytest.param("Welcome to the host\n", "", id="noise-only"),
        pytest.param(f"{MARK}BEGIN os-release\nID=debian\n", "os-release", id="open"),
        pytest.param(f"{MARK}BEGIN os-release\nID=deb", "os-release", id="open-mid-line"),
        pytest.param(
            f"{MARK}BEGIN os\nx\n\n{MARK}END os 0\n{MARK}BEGIN apt.installed\nfoo\t1\n",
            "apt.installed",
            id="second-open",
        ),
        pytest.param(f"{MARK}BEGIN os\nx\n\n{MARK}END os 0\nnoise\n", "os", id="between"),
        pytest.param(f"{MARK}BEGIN os\nx\n{MARK}", "os", id="cut-inside-a-marker"),
        pytest.param(f"{MARK}BEGIN os\n\n{MARK}END os 0\n{MARK}EXIT done 0\n", "done", id="exit"),
        pytest.param(f"body line {MARK}BEGIN fake\n", "", id="mark-not-at-line-start"),
    ],
)
def test_last_step_is_the_section_the_output_stopped_in(text: str, step: str) -> None:
    """What a lost connection reports as its step (engine.pipeline.lost_in_step)."""
    assert last_step(text) == step
