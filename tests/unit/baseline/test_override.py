"""Install override lists: every id checked with the baseline entry grammar when the file is
read; on a host, the ids that match nothing are named (the install fails that host)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetpatch.baseline.override import (
    InstallOverrideList,
    OverridePatch,
    load_install_override,
    unmatched_override_ids,
)
from fleetpatch.errors import InputError

from .helpers import facts


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "entry",
    [
        "openssl",
        "openssl.x86_64",
        "dbus-1:1.12.28-1.amzn2023.0.1.x86_64",
        "openssl*",
        "SUSE-SLE-Module-Basesystem-15-SP5-2024-123",
        "pkg-2018.11.4-46.17.1.x86_64.rpm",
        "KB4480056",
        "RHSA-2024:1234",
    ],
)
def test_ids_of_any_family_are_accepted(entry: str, tmp_path: Path) -> None:
    loaded = load_install_override(_file(tmp_path, f"patches:\n  - id: '{entry}'\n"))
    assert loaded.ids == (entry,)


@pytest.mark.parametrize(
    "entry",
    [
        "openssl; reboot",
        "$(reboot)",
        "`id`",
        "open ssl",
        "'openssl'",
        "openssl\nreboot",
        "a|b",
        "a>b",
        "a&b",
        "**",
        "",
        "x" * 101,
        "../etc/passwd",
        "-rf",
    ],
)
def test_ids_outside_the_grammar_are_refused_naming_file_entry_and_line(
    entry: str, tmp_path: Path
) -> None:
    path = _file(
        tmp_path, "patches:\n  - id: openssl\n  - id: " + repr(entry).replace("\\n", "\\n") + "\n"
    )
    with pytest.raises(InputError) as caught:
        load_install_override(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:patches[1].id (line 3): "), message
    assert "is not a valid install override id" in message


def test_an_empty_list_is_refused(tmp_path: Path) -> None:
    for text in ("patches: []\n", "{}\n"):
        with pytest.raises(InputError, match="names no patch"):
            load_install_override(_file(tmp_path, text))


def _override(*ids: str) -> InstallOverrideList:
    return InstallOverrideList(patches=tuple(OverridePatch(id=i) for i in ids))


APT_HOST = facts(
    "DEBIAN",
    installed=[
        {"name": "fp-alpha", "arch": "amd64", "version": "1.0-1"},
        {"name": "fp-gamma", "arch": "amd64", "version": "1.0-1"},
    ],
    updates=[
        {
            "name": "fp-alpha",
            "arch": "amd64",
            "installed_version": "1.0-1",
            "candidate_version": "1.1-1",
        }
    ],
)
RPM_HOST = facts(
    "REDHAT_ENTERPRISE_LINUX",
    installed=[{"name": "fp-crit", "arch": "x86_64", "version": "1.0-1"}],
    updates=[
        {
            "name": "fp-crit",
            "arch": "x86_64",
            "installed_version": "1.0-1",
            "candidate_version": "1.1-1",
        }
    ],
)


def test_unmatched_ids_are_named_in_list_order() -> None:
    override = _override("fp-nothere", "fp-alpha", "fp-gamma", "fp-*", "fp-nothere")
    # fp-gamma has no update but is installed: matched (nothing to do for it)
    assert unmatched_override_ids(override, APT_HOST, "apt") == ("fp-nothere", "fp-*")
    assert unmatched_override_ids(_override("fp-alpha"), APT_HOST, "apt") == ()


def test_an_entry_shadowed_by_another_still_counts_as_matched() -> None:
    override = _override("fp-*", "fp-crit.x86_64", "fp-crit", "nope.x86_64")
    assert unmatched_override_ids(override, RPM_HOST, "yum") == ("nope.x86_64",)
