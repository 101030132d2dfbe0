"""Every kind of bad playbook fails with the file, the line, the key path and what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleetpatch.errors import InputError
from fleetpatch.playbook import load_playbook

WriteFile = Callable[..., Path]

SCAN = "name: x\ninventory: inv.yaml\noperation: scan\n"
INSTALL = "name: x\ninventory: inv.yaml\noperation: install\ntargets: ['*']\n"


def fail(write: WriteFile, text: str) -> InputError:
    write("inv.yaml")
    path = write("pb.yaml", text)
    with pytest.raises(InputError) as caught:
        load_playbook(path)
    error = caught.value
    assert error.path == str(path)
    assert str(error).startswith(f"{path}:{error.location}: ")
    return error


CASES = [
    # --- YAML and top level
    ("name: x\ninventory: [a\n", "3", ["malformed YAML"], "malformed"),
    ("name: x\nname: y\n", "2", ["duplicate key 'name'", "line 1"], "duplicate-key"),
    ("", "1", ["the playbook is empty", "name, inventory, operation"], "empty"),
    ("- a\n- b\n", "1", ["expected a mapping", "got a list"], "not-a-mapping"),
    (
        SCAN + "invetory: x\n",
        "4",
        ["unknown key 'invetory' in the top level", "did you mean 'inventory'", "allowed keys:"],
        "unknown-top-key",
    ),
    ("inventory: inv.yaml\noperation: scan\n", "1", ["name: required key is missing"], "no-name"),
    ("name: x\noperation: scan\n", "1", ["inventory: required key is missing"], "no-inventory"),
    (
        "name: ''\ninventory: inv.yaml\noperation: scan\n",
        "1",
        ["name: expected a non-empty name"],
        "empty-name",
    ),
    (
        "name: x\ninventory: inv.yaml\noperation: patch\n",
        "3",
        ["operation: expected one of 'scan' or 'install', got 'patch'"],
        "bad-operation",
    ),
    (
        "name: x\ninventory: 5\noperation: scan\n",
        "2",
        ["inventory: expected a list, got 5"],
        "inventory-int",
    ),
    (
        "name: x\ninventory: [inv.yaml, '']\noperation: scan\n",
        "2",
        ["inventory[1]: expected a file path"],
        "inventory-empty-item",
    ),
    (
        "name: x\ninventory:\n  - inv.yaml\n  - missing.yaml\noperation: scan\n",
        "4",
        ["inventory[1]: inventory file not found:", "missing.yaml"],
        "inventory-missing",
    ),
    # --- targets
    (
        SCAN + "targets: 'tag:a=b'\n",
        "4",
        ["targets: expected a list, got 'tag:a=b'"],
        "targets-string",
    ),
    (
        SCAN + "targets:\n  - web-*\n  - 'tag:Env'\n",
        "6",
        ["targets[1]: target 'tag:Env': expected tag:Key=Value", "use tag-key:Env"],
        "target-grammar",
    ),
    (SCAN + "targets: ['bogus:x']\n", "4", ["targets[0]", "unknown kind 'bogus:'"], "target-kind"),
    (
        SCAN + "targets: [5]\n",
        "4",
        ["targets[0]: expected a string (quote the value), got 5"],
        "target-int",
    ),
    # --- baseline / patch groups
    (
        SCAN + "baseline: AWS-NopeBaseline\n",
        "4",
        ["baseline: 'AWS-NopeBaseline' is neither a file", "predefined: AWS-"],
        "baseline-unknown",
    ),
    (
        SCAN + "baseline: base/web.yaml\n",
        "4",
        ["baseline: baseline file not found:", "base/web.yaml"],
        "baseline-missing",
    ),
    (
        SCAN + "baseline: ''\n",
        "4",
        ["baseline: expected a baseline file path or a predefined"],
        "baseline-empty",
    ),
    (
        SCAN + "patch_groups: groups.yaml\n",
        "4",
        ["patch_groups: file not found:"],
        "patch-groups-missing",
    ),
    (
        SCAN + "baseline: AWS-UbuntuDefaultPatchBaseline\npatch_groups: inv.yaml\n",
        "5",
        ["patch_groups: give either baseline", "not both"],
        "baseline-and-groups",
    ),
    # --- scan-only / install-only keys
    (
        SCAN + "reboot: never\n",
        "4",
        ["reboot: applies only to operation: install", "never installs or reboots"],
        "scan-reboot",
    ),
    (
        SCAN + "rollout: {max_errors: 1}\n",
        "4",
        ["rollout: applies only to operation: install", "concurrency"],
        "scan-rollout",
    ),
    (
        SCAN + "hooks: {pre_install: x}\n",
        "4",
        ["hooks: applies only to operation: install"],
        "scan-hooks",
    ),
    (
        SCAN + "install_override_list: inv.yaml\n",
        "4",
        ["install_override_list: applies only to operation: install", "SSM's Scan ignores"],
        "scan-override",
    ),
    (
        SCAN + "window: {end: '03:00Z'}\n",
        "4",
        ["window: applies only to operation: install"],
        "scan-window",
    ),
    (
        SCAN + "timeouts:\n  command: 5m\n  reboot: 5m\n",
        "6",
        ["timeouts.reboot: applies only to operation: install"],
        "scan-reboot-timeout",
    ),
    (
        SCAN + "timeouts:\n  lock: 5m\n",
        "5",
        ["timeouts.lock: applies only to operation: install"],
        "scan-lock-timeout",
    ),
    (
        SCAN + "timeouts:\n  reconnect: 5m\n",
        "5",
        ["timeouts.reconnect: applies only to operation: install"],
        "scan-reconnect-timeout",
    ),
    (
        INSTALL + "timeouts:\n  lock: -5\n",
        "6",
        ["timeouts.lock: expected 0 (do not wait) or more"],
        "lock-timeout-negative",
    ),
    (
        INSTALL + "timeouts:\n  lock: 2.5\n",
        "6",
        ["timeouts.lock: expected a whole number of seconds"],
        "lock-timeout-fraction",
    ),
    (
        INSTALL + "concurrency: 10\n",
        "5",
        ["concurrency: applies to scans", "rollout.max_concurrency"],
        "install-concurrency",
    ),
    (
        "name: x\ninventory: inv.yaml\noperation: install\n",
        "1",
        ["targets: required for operation: install", "targets: ['*']"],
        "install-no-targets",
    ),
    (
        "name: x\ninventory: inv.yaml\noperation: install\ntargets: []\n",
        "4",
        ["targets: required for operation: install"],
        "install-empty-targets",
    ),
    # --- rollout
    (
        INSTALL + "rollout:\n  batchs: [1]\n",
        "6",
        [
            "unknown key 'batchs' in rollout",
            "did you mean 'batches'",
            "allowed keys: batches, canary, max_concurrency, max_errors, on_failure",
        ],
        "rollout-unknown-key",
    ),
    (INSTALL + "rollout: 5\n", "5", ["rollout: expected a mapping, got 5"], "rollout-not-mapping"),
    (
        INSTALL + "rollout:\n  batches: 1\n",
        "6",
        ["rollout.batches: expected a list, got 1"],
        "batches-not-list",
    ),
    (
        INSTALL + "rollout:\n  batches:\n    - 1\n    - 0\n",
        "8",
        ["rollout.batches[1]: a batch must hold at least 1 host", "got 0"],
        "batch-zero",
    ),
    (
        INSTALL + "rollout:\n  batches: [-3]\n",
        "6",
        ["rollout.batches[0]: must not be negative"],
        "batch-negative",
    ),
    (
        INSTALL + "rollout:\n  batches: ['120%']\n",
        "6",
        ["rollout.batches[0]: a percentage must be at most 100%", "got '120%'"],
        "batch-over-100",
    ),
    (
        INSTALL + "rollout:\n  batches: [half]\n",
        "6",
        ["rollout.batches[0]: expected a number of hosts >= 1 or a percentage 1%-100%"],
        "batch-garbage",
    ),
    (
        INSTALL + "rollout:\n  max_concurrency: 0\n",
        "6",
        ["rollout.max_concurrency: max_concurrency must be at least 1 host"],
        "concurrency-zero",
    ),
    (
        INSTALL + "rollout:\n  max_concurrency: 5.5\n",
        "6",
        ["rollout.max_concurrency: expected a number of hosts", "got 5.5"],
        "concurrency-float",
    ),
    (
        INSTALL + "rollout:\n  max_errors: -1\n",
        "6",
        ["rollout.max_errors: must not be negative"],
        "errors-negative",
    ),
    (
        INSTALL + "rollout:\n  max_errors: 200%\n",
        "6",
        ["rollout.max_errors: a percentage must be at most 100%"],
        "errors-over-100",
    ),
    (
        INSTALL + "rollout:\n  max_errors: 5x\n",
        "6",
        [
            "rollout.max_errors: expected a number of failures >= 0 or a percentage 0%-100%",
            "got '5x'",
        ],
        "errors-garbage",
    ),
    (
        INSTALL + "rollout:\n  canary: yes please\n",
        "6",
        ["rollout.canary: expected true or false"],
        "canary-not-bool",
    ),
    (
        INSTALL + "rollout:\n  on_failure: skip\n",
        "6",
        ["rollout.on_failure: expected one of 'continue' or 'halt', got 'skip'"],
        "on-failure",
    ),
    (
        INSTALL + "rollout:\n  canary: true\n",
        "6",
        ["rollout.canary: needs rollout.batches", "the first batch is the canary"],
        "canary-without-batches",
    ),
    (
        INSTALL + "rollout:\n  on_failure: halt\n  max_errors: 2\n",
        "7",
        ["rollout.max_errors: 2 has no effect with on_failure: halt"],
        "halt-with-budget",
    ),
    # --- reboot, hooks
    (
        INSTALL + "reboot: yes\n",
        "5",
        ["reboot: expected one of 'if-needed', 'never' or 'always', got True"],
        "reboot-bool",
    ),
    (INSTALL + "reboot: RebootIfNeeded\n", "5", ["reboot: expected one of"], "reboot-ssm-spelling"),
    (
        INSTALL + "hooks:\n  health_check: ''\n",
        "6",
        ["hooks.health_check: expected a shell command (a non-empty string)"],
        "hook-empty",
    ),
    (
        INSTALL + "hooks:\n  pre_install: [a, b]\n",
        "6",
        ["hooks.pre_install: expected a shell command"],
        "hook-list",
    ),
    (
        INSTALL + "hooks:\n  preinstall: x\n",
        "6",
        [
            "unknown key 'preinstall' in hooks",
            "did you mean 'pre_install'",
            "health_check, on_exit, post_install, pre_install",
        ],
        "hook-unknown",
    ),
    # --- override list, window, timeouts, flags
    (
        INSTALL + "window:\n  end: 3:00\n",
        "6",
        ["window.end: quote the time: YAML reads an unquoted H:MM as a number", "got 180"],
        "window-sexagesimal",
    ),
    (
        INSTALL + "window:\n  end: 2025-05-04 03:00:00\n",
        "6",
        ["window.end: add Z or an offset", "got datetime.datetime(2025, 5, 4, 3, 0)"],
        "window-yaml-timestamp-naive",
    ),
    (
        INSTALL + "window:\n  end: 2025-05-04\n",
        "6",
        ["window.end: expected an ISO-8601"],
        "window-date",
    ),
    (
        INSTALL + "install_override_list: overrides.yaml\n",
        "5",
        ["install_override_list: file not found:"],
        "override-missing",
    ),
    (INSTALL + "window: '03:00Z'\n", "5", ["window: expected a mapping"], "window-not-mapping"),
    (
        INSTALL + "window:\n  cutoff: 30m\n",
        "5",
        ["window.end: required key is missing"],
        "window-no-end",
    ),
    (
        INSTALL + "window:\n  end: 2025-05-04T03:00\n",
        "6",
        ["window.end: add Z or an offset such as +02:00"],
        "window-naive",
    ),
    (
        INSTALL + "window:\n  end: soon\n",
        "6",
        ["window.end: expected an ISO-8601 time with an offset"],
        "window-garbage",
    ),
    (
        INSTALL + "window:\n  end: '25:00'\n",
        "6",
        ["window.end: not a valid time of day"],
        "window-bad-time",
    ),
    (
        INSTALL + "window:\n  end: '03:00Z'\n  cutoff: 30\n",
        "7",
        ["window.cutoff: expected a duration", "add a unit: 30m or 30s"],
        "cutoff-no-unit",
    ),
    (
        INSTALL + "window:\n  end: '03:00Z'\n  cutoff: 1.5h\n",
        "7",
        ["window.cutoff: expected a duration such as 90s, 30m, 2h or 1h30m"],
        "cutoff-fraction",
    ),
    (
        INSTALL + "timeouts:\n  connect: 0\n",
        "6",
        ["timeouts.connect: expected a timeout greater than 0"],
        "timeout-zero",
    ),
    (
        INSTALL + "timeouts:\n  reboot: forever\n",
        "6",
        ["timeouts.reboot: expected a number of seconds or a duration"],
        "timeout-garbage",
    ),
    (
        INSTALL + "timeouts:\n  boot: 5m\n",
        "6",
        [
            "unknown key 'boot' in timeouts",
            "allowed keys: command, connect, health_check, lock, reboot, reconnect",
        ],
        "timeout-unknown",
    ),
    (
        SCAN + "concurrency: 0\n",
        "4",
        ["concurrency: expected an integer >= 1, got 0"],
        "scan-concurrency-zero",
    ),
    (
        SCAN + "concurrency: '10'\n",
        "4",
        ["concurrency: expected an integer >= 1, got '10'"],
        "scan-concurrency-string",
    ),
    (
        SCAN + "accept_new_host_keys: 'yes'\n",
        "4",
        ["accept_new_host_keys: expected true or false, got 'yes'"],
        "host-keys-string",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [pytest.param(text, line, fragments, id=case_id) for text, line, fragments, case_id in CASES],
)
def test_bad_playbook(write: WriteFile, text: str, line: str, fragments: list[str]) -> None:
    error = fail(write, text)
    assert error.location == line, str(error)
    for fragment in fragments:
        assert fragment in str(error), str(error)


def test_several_problems_are_listed_in_line_order(write: WriteFile) -> None:
    error = fail(
        write,
        INSTALL + "concurrency: 5\nrollout:\n  canary: true\n  on_failure: halt\n  max_errors: 1\n",
    )
    lines = str(error).splitlines()
    assert error.location == "5"
    assert lines[0].endswith(
        "concurrency: applies to scans; for an install set rollout.max_concurrency"
    )
    assert lines[1].startswith(f"  also {error.path}:7: rollout.canary: needs rollout.batches")
    assert lines[2].startswith(f"  also {error.path}:9: rollout.max_errors: 1 has no effect")


def test_value_errors_are_all_listed(write: WriteFile) -> None:
    error = fail(write, INSTALL + "rollout:\n  batches: [0, '150%']\n  max_errors: x\n")
    text = str(error)
    assert "rollout.batches[0]: a batch must hold at least 1 host" in text
    assert "rollout.batches[1]: a percentage must be at most 100%" in text
    assert f"also {error.path}:7: rollout.max_errors:" in text


def test_missing_playbook(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="playbook file not found"):
        load_playbook(tmp_path / "nope.yaml")


def test_directory_instead_of_playbook(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        load_playbook(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "pb.yaml"
    path.write_bytes(b"name: \xff\n")
    with pytest.raises(InputError, match="not UTF-8"):
        load_playbook(path)


def test_error_inside_the_override_list_names_that_file(write: WriteFile) -> None:
    write("inv.yaml")
    override = write("overrides.yaml", "patches:\n  - title: no id\n")
    path = write("pb.yaml", INSTALL + "install_override_list: overrides.yaml\n")
    with pytest.raises(InputError) as caught:
        load_playbook(path)
    assert caught.value.path == str(override)
