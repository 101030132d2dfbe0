"""From a scan script's raw stdout to HostFacts: framing, detection, the family's parser."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from importlib import import_module

from fleetpatch.errors import ParseError, RemoteCommandError, UnsupportedPlatform
from fleetpatch.facts import HostFacts, OsInfo
from fleetpatch.memo import RunMemo
from fleetpatch.platforms.detect import detect_from_frames
from fleetpatch.platforms.framing import Frames, parse_frames

FamilyParser = Callable[..., HostFacts]


class _FamilyParsers(Mapping[str, FamilyParser]):
    """``family -> parser``, each family's parser module imported on first use: a run over
    Debian hosts never loads the rpm parsers (start-up CPU counts per host,
    docs/benchmarks.md)."""

    def __init__(self, where: Mapping[str, tuple[str, str]]) -> None:
        self._where = dict(where)
        self._loaded: dict[str, FamilyParser] = {}

    def __getitem__(self, family: str) -> FamilyParser:
        parser = self._loaded.get(family)
        if parser is None:
            module, name = self._where[family]
            parser = self._loaded[family] = getattr(import_module(module), name)
        return parser

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


FAMILY_PARSERS: Mapping[str, FamilyParser] = _FamilyParsers(
    {
        "apt": ("fleetpatch.platforms.apt.platform", "parse_apt_scan"),
        "dnf": ("fleetpatch.platforms.dnf.platform", "parse_dnf_scan"),
        "yum": ("fleetpatch.platforms.dnf.platform", "parse_dnf_scan"),
        "zypper": ("fleetpatch.platforms.zypper.platform", "parse_zypper_scan"),
    }
)


def parse_scan_output(
    stdout: str, *, host: str, collected_at: datetime, memo: RunMemo | None = None
) -> HostFacts:
    """Parse the whole output of the scan script (``memo``: the run's interning tables, see
    :mod:`fleetpatch.memo`; the facts are the same with or without).

    Raises:
        ParseError: the output is cut short or malformed.
        RemoteCommandError: the script stopped at a step with an undeclared exit code.
        UnsupportedPlatform: the host's OS is not one fleetpatch supports.
    """
    frames = parse_frames(stdout)
    if frames.exit.rc != 0:
        raise RemoteCommandError(
            f"scan script failed at step {frames.exit.step!r} with exit code {frames.exit.rc}"
        )
    os_info = detect_from_frames(frames)
    parser = FAMILY_PARSERS.get(os_info.family)
    if parser is None:
        raise UnsupportedPlatform(
            f"{os_info.pretty_name or os_info.distro} ({os_info.family}) is recognised but its "
            f"package manager is not supported yet"
        )
    facts = parser(frames, host=host, os=os_info, collected_at=collected_at, memo=memo)
    return _with_boot_id(facts, frames)


def boot_identity(frames: Frames) -> str:
    """boot_id, PID 1 start ticks and boot time, joined: changes on any reboot or restart."""
    section = frames.get("boot")
    if section is None:
        raise ParseError("expected section 'boot' in remote output")
    return ":".join(line.strip() for line in section.lines)


def _with_boot_id(facts: HostFacts, frames: Frames) -> HostFacts:
    if facts.boot_id:
        return facts
    return facts.model_copy(update={"boot_id": boot_identity(frames)})


__all__ = ["FAMILY_PARSERS", "OsInfo", "boot_identity", "parse_scan_output"]
