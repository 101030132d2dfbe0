"""The playbook file format as pydantic models (docs/playbooks.md).

:class:`PlaybookFile` is what a user may write: it checks keys and the grammar of every value
(rates, batch sizes, durations, window end, target expressions) and nothing that needs the file
system. :class:`Playbook` is what :func:`fleetpatch.playbook.loader.load_playbook` returns: the
same settings with every path absolute and the install override list loaded. Rules that relate
several keys (scan vs install, baseline vs patch_groups, ...) live in the loader.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictInt,
)
from pydantic_core import PydanticCustomError

from fleetpatch.baseline.override import InstallOverrideList
from fleetpatch.engine.rollout import (
    InvalidSetting,
    Rate,
    RateKind,
    WindowEnd,
    format_duration,
    parse_duration,
    parse_rate,
    parse_window_end,
)
from fleetpatch.errors import InputError
from fleetpatch.inventory.targets import parse_target
from fleetpatch.knowledge import parse_max_age

Operation = Literal["scan", "install"]
RebootOption = Literal["if-needed", "never", "always"]
OnFailure = Literal["continue", "halt"]

DEFAULT_SCAN_CONCURRENCY = 50
DEFAULT_REBOOT_TIMEOUT = 600.0
DEFAULT_HEALTH_CHECK_TIMEOUT = 300.0
DEFAULT_RECONNECT_TIMEOUT = 300.0


def _invalid(exc: InvalidSetting) -> PydanticCustomError:
    return PydanticCustomError("invalid_setting", exc.problem)


def _rate(kind: RateKind) -> PlainValidator:
    def validate(value: Any) -> Rate:
        if isinstance(value, Rate):
            return value
        try:
            return parse_rate(value, kind)
        except InvalidSetting as exc:
            raise _invalid(exc) from None

    return PlainValidator(validate)


def _window_end(value: Any) -> WindowEnd:
    if isinstance(value, WindowEnd):
        return value
    try:
        return parse_window_end(value)
    except InvalidSetting as exc:
        raise _invalid(exc) from None


def _cutoff(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value, "cutoff")
    except InvalidSetting as exc:
        raise _invalid(exc) from None


def _seconds(value: Any) -> float:
    """A timeout: a number of seconds or a duration string; must be > 0."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        try:
            seconds = parse_duration(value, "timeout").total_seconds()
        except InvalidSetting:
            raise PydanticCustomError(
                "invalid_setting",
                "expected a number of seconds or a duration such as 90s, 10m or 1h30m",
            ) from None
    if seconds <= 0:
        raise PydanticCustomError("invalid_setting", "expected a timeout greater than 0")
    return seconds


def _wait_seconds(value: Any) -> float:
    """``timeouts.reconnect``: like a timeout, but 0 (give up at once) is allowed."""
    if value == 0 and not isinstance(value, bool):
        return 0.0
    return _seconds(value)


def _lock_seconds(value: Any) -> int:
    """``timeouts.lock``: whole seconds the package manager waits for a lock another process
    holds (0 = not at all), as ``--lock-timeout``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        seconds = _seconds(value)
    if seconds < 0:
        raise PydanticCustomError(
            "invalid_setting", "expected 0 (do not wait) or more seconds, or a duration"
        )
    if seconds != int(seconds):
        raise PydanticCustomError("invalid_setting", "expected a whole number of seconds")
    return int(seconds)


def _max_age(value: Any) -> str:
    """``max_metadata_age``: an age such as 7d or 36h, or off (kept as written)."""
    if not isinstance(value, str):
        raise PydanticCustomError(
            "invalid_setting", "expected an age such as 7d, 36h or 2w, or off (a string)"
        )
    try:
        parse_max_age(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_setting", str(exc)) from None
    return value


def _command(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError(
            "invalid_setting", "expected a shell command (a non-empty string)"
        )
    return value


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("invalid_setting", "expected a file path (a non-empty string)")
    return Path(value).expanduser()


def _target(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "expected a target expression (a string)")
    try:
        parse_target(value)
    except InputError as exc:
        raise PydanticCustomError("invalid_setting", exc.detail) from None
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("invalid_setting", "expected a non-empty name")
    return value


def _baseline(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError(
            "invalid_setting", "expected a baseline file path or a predefined baseline name"
        )
    return value


def _list(value: Any) -> Any:
    """Lists are written as YAML lists; anything else is refused as 'expected a list'."""
    if not isinstance(value, list | tuple):
        raise PydanticCustomError("list_type", "expected a list")
    return value


def _path_list(value: Any) -> Any:
    """``inventory: hosts.yaml`` is short for ``inventory: [hosts.yaml]``."""
    return [value] if isinstance(value, str) else _list(value)


def _section(value: Any) -> Any:
    """An empty section (``hooks:`` with nothing under it) means the defaults."""
    return {} if value is None else value


def _dump_rate(rate: Rate) -> int | str:
    """As written: ``10`` or ``"10%"`` (so a dumped playbook loads again)."""
    return str(rate) if rate.percent else rate.value


_RATE_OUT = PlainSerializer(_dump_rate)
MaxConcurrency = Annotated[Rate, _rate("max_concurrency"), _RATE_OUT]
MaxErrors = Annotated[Rate, _rate("max_errors"), _RATE_OUT]
BatchSize = Annotated[Rate, _rate("batch size"), _RATE_OUT]
Command = Annotated[str, PlainValidator(_command)]
FilePath = Annotated[Path, PlainValidator(_path)]
Seconds = Annotated[float, PlainValidator(_seconds)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RolloutSettings(_Section):
    """``rollout:`` (install only): batches and SSM's rate control."""

    batches: Annotated[tuple[BatchSize, ...], BeforeValidator(_list)] = ()
    max_concurrency: MaxConcurrency = Rate("max_concurrency", 50)
    max_errors: MaxErrors = Rate("max_errors", 0)
    canary: StrictBool = False
    on_failure: OnFailure = "continue"


class Hooks(_Section):
    """``hooks:`` (install only). Host hooks run with ``sh -c`` on each host; ``health_check``
    runs with ``sh -c`` on the controller after each batch."""

    pre_install: Command | None = None
    post_install: Command | None = None
    on_exit: Command | None = None
    health_check: Command | None = None


class WindowSettings(_Section):
    """``window:`` (install only): the end of the maintenance window and SSM's cutoff."""

    end: Annotated[WindowEnd, PlainValidator(_window_end), PlainSerializer(lambda end: end.text)]
    cutoff: Annotated[timedelta, PlainValidator(_cutoff), PlainSerializer(format_duration)] = (
        timedelta(0)
    )


class Timeouts(_Section):
    """``timeouts:``. ``connect``/``command`` unset: each host's inventory value applies.
    ``lock`` and ``reconnect`` are ``--lock-timeout`` and ``--reconnect-timeout`` (install
    only); ``lock`` unset: each package manager's own default (apt 300, dnf 60, zypper 70)."""

    connect: Seconds | None = None
    command: Seconds | None = None
    reboot: Seconds = DEFAULT_REBOOT_TIMEOUT
    health_check: Seconds = DEFAULT_HEALTH_CHECK_TIMEOUT
    lock: Annotated[int, PlainValidator(_lock_seconds)] | None = None
    reconnect: Annotated[float, PlainValidator(_wait_seconds)] = DEFAULT_RECONNECT_TIMEOUT


class PlaybookFile(BaseModel):
    """The top-level keys a playbook file may contain (paths still as written)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, PlainValidator(_name)]
    inventory: Annotated[tuple[FilePath, ...], BeforeValidator(_path_list)]
    targets: Annotated[
        tuple[Annotated[str, PlainValidator(_target)], ...], BeforeValidator(_list)
    ] = ()
    operation: Operation
    baseline: Annotated[str, PlainValidator(_baseline)] | None = None
    patch_groups: FilePath | None = None
    rollout: Annotated[RolloutSettings, BeforeValidator(_section)] = RolloutSettings()
    reboot: RebootOption = "if-needed"
    hooks: Annotated[Hooks, BeforeValidator(_section)] = Hooks()
    install_override_list: FilePath | None = None
    window: WindowSettings | None = None
    timeouts: Annotated[Timeouts, BeforeValidator(_section)] = Timeouts()
    concurrency: StrictInt = Field(default=DEFAULT_SCAN_CONCURRENCY, ge=1)
    accept_new_host_keys: StrictBool = False
    refresh: StrictBool = False
    max_metadata_age: Annotated[str, PlainValidator(_max_age)] | None = None


class Playbook(PlaybookFile):
    """A loaded playbook: every path absolute (relative ones were taken from the playbook's
    directory), ``baseline`` an absolute file path or a predefined baseline name, and the
    install override list read."""

    source: Path
    """The playbook file itself (absolute)."""
    install_override: InstallOverrideList | None = None
    """The contents of ``install_override_list``, when given."""

    @property
    def is_install(self) -> bool:
        return self.operation == "install"
