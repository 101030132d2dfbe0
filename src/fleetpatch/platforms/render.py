"""Render remote scripts from jinja2 templates.

Templates live beside each family (``<family>/templates/*.j2``) and in ``templates/``. Every
value that reaches a script goes through a quoting filter for its language (``sh`` for POSIX
shell, ``ps`` for PowerShell); values that name packages are validated against the family's
grammar first. Rendering is pure and cached: a scan script is rendered once per option set,
not once per host.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from typing import Any

import jinja2

from fleetpatch.errors import InputError

_APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.\-]*(:[a-z0-9][a-z0-9\-]*)?$")
_APT_VERSION = re.compile(r"^(?:[0-9]+:)?[A-Za-z0-9.+~\-:]+$")
_RPM_TOKEN = re.compile(r"^[A-Za-z0-9._+\-:^~]+$")

NAME_GRAMMARS: dict[str, re.Pattern[str]] = {
    "apt": _APT_NAME,
    "apt-version": _APT_VERSION,
    "rpm": _RPM_TOKEN,
}


def sh_quote(value: object) -> str:
    """Quote any value as one POSIX shell word."""
    return shlex.quote(str(value))


_PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
"""Characters PowerShell reads as a single quote: the ASCII one and four typographic ones."""


def ps_quote(value: object) -> str:
    """Quote any value as one PowerShell single-quoted string literal: nothing inside is
    expanded (``$``, backtick, ``"`` are plain characters); every character PowerShell takes
    for a single quote (ASCII and typographic) is doubled.

    Raises:
        InputError: the value contains a NUL character (it would end the string in native
            calls).
    """
    text = str(value)
    if "\x00" in text:
        raise InputError("a value for a PowerShell script cannot contain a NUL character")
    for quote in _PS_SINGLE_QUOTES:
        text = text.replace(quote, quote * 2)
    return f"'{text}'"


def validated(value: object, grammar: str) -> str:
    """Return ``value`` if it matches the named grammar, else raise InputError."""
    text = str(value)
    pattern = NAME_GRAMMARS[grammar]
    if not pattern.fullmatch(text):
        raise InputError(f"{text!r} is not a valid {grammar} name or version")
    return text


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fleetpatch", "platforms"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["sh"] = sh_quote
    env.filters["ps"] = ps_quote
    env.filters["validated"] = validated
    return env


_DICT = object()  # marks a frozen dict, so a list of pairs is never mistaken for one


def _freeze(value: Any) -> Any:
    """A hashable, unambiguous copy of template parameters (for the render cache)."""
    if isinstance(value, dict):
        return (_DICT, tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def render(template: str, **params: Any) -> str:
    """Render ``template`` (a path under ``fleetpatch/platforms``) with ``params``."""
    return _render_cached(template, _freeze(params))


@lru_cache(maxsize=64)
def _render_cached(template: str, frozen: Any) -> str:
    params = _thaw(frozen)
    assert isinstance(params, dict)
    return environment().get_template(template).render(**params)


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] is _DICT:
        return {k: _thaw(v) for k, v in value[1]}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def scan_script(*, refresh: bool = False) -> str:
    """The one scan script: detection and the family's scan in a single round trip."""
    return render("templates/scan.sh.j2", refresh=refresh)
