"""load_playbook on valid files: defaults, parsed values, paths relative to the playbook."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetpatch.engine.rollout import Rate, plan_batches
from fleetpatch.playbook import Playbook, load_playbook

WriteFile = Callable[..., Path]
REPO = Path(__file__).resolve().parents[3]


def test_minimal_scan_gets_every_default(write: WriteFile, tmp_path: Path) -> None:
    write("inv.yaml")
    path = write("pb.yaml", "name: nightly\ninventory: inv.yaml\noperation: scan\n")
    playbook = load_playbook(path)
    assert playbook.name == "nightly"
    assert playbook.operation == "scan"
    assert not playbook.is_install
    assert playbook.inventory == (tmp_path / "inv.yaml",)
    assert playbook.source == path
    assert playbook.targets == ()
    assert playbook.baseline is None and playbook.patch_groups is None
    assert playbook.concurrency == 50
    assert playbook.accept_new_host_keys is False
    assert playbook.reboot == "if-needed"
    assert playbook.rollout.batches == ()
    assert playbook.rollout.max_concurrency == Rate("max_concurrency", 50)
    assert playbook.rollout.max_errors == Rate("max_errors", 0)
    assert playbook.rollout.canary is False
    assert playbook.rollout.on_failure == "continue"
    assert playbook.timeouts.connect is None and playbook.timeouts.command is None
    assert playbook.timeouts.reboot == 600.0
    assert playbook.timeouts.health_check == 300.0
    assert playbook.timeouts.lock is None  # each package manager's own default
    assert playbook.timeouts.reconnect == 300.0
    assert playbook.window is None
    assert playbook.install_override is None


def test_full_install(write: WriteFile, tmp_path: Path) -> None:
    write("inventory/a.yaml")
    write("inventory/b.yaml")
    write("baselines/web.yaml", "name: web\n")
    write(
        "overrides/web.yaml",
        "patches:\n  - id: openssl.x86_64\n    title: openssl.x86_64:1:3.0.7-27.el9\n"
        "  - id: KB5034441\n",
    )
    path = write(
        "playbooks/web.yaml",
        """
        name: web rolling install
        inventory: [../inventory/a.yaml, ../inventory/b.yaml]
        targets: ["tag:Patch Group=web", group:prod]
        operation: install
        baseline: ../baselines/web.yaml
        install_override_list: ../overrides/web.yaml
        rollout:
          batches: [1, "10%", "50%", "100%"]
          max_concurrency: 25%
          max_errors: 10%
          canary: true
          on_failure: continue
        reboot: always
        hooks:
          pre_install: systemctl stop app
          post_install: |
            systemctl start app
            systemctl is-active app
          on_exit: logger done
          health_check: ./check.sh "$FLEETPATCH_BATCH"
        window: {end: "03:00Z", cutoff: 1h30m}
        timeouts: {connect: 10, command: 30m, reboot: 15m, health_check: 90s, lock: 10m,
                   reconnect: 15m}
        accept_new_host_keys: true
        """,
    )
    playbook = load_playbook(path)
    assert playbook.is_install
    assert playbook.inventory == (tmp_path / "inventory/a.yaml", tmp_path / "inventory/b.yaml")
    assert playbook.targets == ("tag:Patch Group=web", "group:prod")
    assert playbook.baseline == str(tmp_path / "baselines/web.yaml")
    assert playbook.install_override_list == tmp_path / "overrides/web.yaml"
    assert playbook.install_override is not None
    assert playbook.install_override.ids == ("openssl.x86_64", "KB5034441")
    rollout = playbook.rollout
    assert [str(size) for size in rollout.batches] == ["1", "10%", "50%", "100%"]
    assert rollout.max_concurrency == Rate("max_concurrency", 25, percent=True)
    assert rollout.max_errors == Rate("max_errors", 10, percent=True)
    assert rollout.canary is True
    assert [len(b) for b in plan_batches([f"h{i}" for i in range(20)], rollout.batches)] == [
        1,
        2,
        10,
        7,
    ]
    assert playbook.reboot == "always"
    assert playbook.hooks.post_install == "systemctl start app\nsystemctl is-active app\n"
    assert playbook.hooks.health_check == './check.sh "$FLEETPATCH_BATCH"'
    assert playbook.window is not None
    assert playbook.window.cutoff == timedelta(minutes=90)
    now = datetime(2025, 5, 4, 1, 0, tzinfo=UTC)
    assert playbook.window.end.resolve(now) == datetime(2025, 5, 4, 3, 0, tzinfo=UTC)
    assert playbook.timeouts.connect == 10.0
    assert playbook.timeouts.command == 1800.0
    assert playbook.timeouts.reboot == 900.0
    assert playbook.timeouts.health_check == 90.0
    assert playbook.timeouts.lock == 600
    assert playbook.timeouts.reconnect == 900.0
    assert playbook.accept_new_host_keys is True


def test_dump_round_trips(write: WriteFile, tmp_path: Path) -> None:
    """model_dump(mode='json') writes values as a user would (``"10%"``, ``1h30m``)."""
    write("inv.yaml")
    path = write(
        "pb.yaml",
        """
        name: x
        inventory: inv.yaml
        targets: ["*"]
        operation: install
        rollout: {batches: [1, "50%"], max_errors: 10%}
        window: {end: "2025-05-04T03:00:00+02:00", cutoff: 1h30m}
        """,
    )
    dumped = load_playbook(path).model_dump(mode="json", exclude={"install_override", "source"})
    assert dumped["rollout"]["batches"] == [1, "50%"]
    assert dumped["rollout"]["max_errors"] == "10%"
    assert dumped["window"] == {"end": "2025-05-04T03:00:00+02:00", "cutoff": "1h30m"}
    again = Playbook.model_validate({**dumped, "source": str(path)})
    assert again.rollout == load_playbook(path).rollout


def test_unquoted_yaml_timestamp_is_an_absolute_end(write: WriteFile) -> None:
    write("inv.yaml")
    path = write(
        "pb.yaml",
        "name: x\ninventory: inv.yaml\noperation: install\ntargets: ['*']\n"
        "window: {end: 2025-05-04T05:00:00+02:00, cutoff: 0s}\n",
    )
    window = load_playbook(path).window
    assert window is not None
    now = datetime(2025, 5, 1, tzinfo=UTC)
    assert window.end.resolve(now) == datetime(2025, 5, 4, 3, 0, tzinfo=UTC)


def test_predefined_baseline_name(write: WriteFile) -> None:
    write("inv.yaml")
    path = write(
        "pb.yaml",
        "name: x\ninventory: inv.yaml\noperation: scan\nbaseline: AWS-UbuntuDefaultPatchBaseline\n",
    )
    assert load_playbook(path).baseline == "AWS-UbuntuDefaultPatchBaseline"


def test_a_file_wins_over_a_predefined_name(write: WriteFile, tmp_path: Path) -> None:
    write("inv.yaml")
    write("AWS-UbuntuDefaultPatchBaseline", "name: mine\n")
    path = write(
        "pb.yaml",
        "name: x\ninventory: inv.yaml\noperation: scan\nbaseline: AWS-UbuntuDefaultPatchBaseline\n",
    )
    assert load_playbook(path).baseline == str(tmp_path / "AWS-UbuntuDefaultPatchBaseline")


def test_patch_groups_and_absolute_paths(write: WriteFile, tmp_path: Path) -> None:
    inv = write("elsewhere/inv.yaml")
    groups = write("groups.yaml", "groups: {}\n")
    path = write(
        "sub/pb.yaml",
        f"name: x\ninventory: {inv}\noperation: scan\npatch_groups: ../groups.yaml\n",
    )
    playbook = load_playbook(path)
    assert playbook.inventory == (inv,)
    assert playbook.patch_groups == groups


def test_empty_sections_mean_defaults(write: WriteFile) -> None:
    write("inv.yaml")
    path = write(
        "pb.yaml",
        "name: x\ninventory: inv.yaml\noperation: install\ntargets: ['*']\n"
        "rollout:\nhooks:\ntimeouts:\n",
    )
    playbook = load_playbook(path)
    assert playbook.rollout.batches == ()
    assert playbook.hooks.pre_install is None


def test_halt_with_explicit_zero_errors_is_fine(write: WriteFile) -> None:
    write("inv.yaml")
    path = write(
        "pb.yaml",
        "name: x\ninventory: inv.yaml\noperation: install\ntargets: ['*']\n"
        "rollout: {on_failure: halt, max_errors: 0}\n",
    )
    assert load_playbook(path).rollout.on_failure == "halt"


def test_relative_playbook_path(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("inv.yaml")
    write("pb.yaml", "name: x\ninventory: inv.yaml\noperation: scan\n")
    monkeypatch.chdir(tmp_path)
    playbook = load_playbook("pb.yaml")
    assert playbook.source == tmp_path / "pb.yaml"
    assert playbook.inventory == (tmp_path / "inv.yaml",)


@pytest.mark.parametrize(
    "name", ["rolling-install.yaml", "scan-only.yaml", "lab-rolling-install.yaml"]
)
def test_example_playbooks_load(name: str, tmp_path: Path) -> None:
    """The shipped examples load (their inventories replaced by empty files: the lab's is
    written by the lab launcher)."""
    shutil.copytree(REPO / "playbooks", tmp_path / "playbooks")
    (tmp_path / "inventory").mkdir()
    for inventory in ("example.yaml", "lab.yaml"):
        (tmp_path / "inventory" / inventory).write_text("hosts: {}\n", encoding="utf-8")
    playbook = load_playbook(tmp_path / "playbooks" / name)
    assert playbook.name
    if name == "rolling-install.yaml":
        assert [str(size) for size in playbook.rollout.batches] == ["1", "50%", "100%"]
        assert playbook.rollout.max_errors == Rate("max_errors", 1)
        assert playbook.reboot == "if-needed"
        assert playbook.hooks.health_check
    if name == "lab-rolling-install.yaml":
        assert playbook.inventory == (tmp_path / "inventory" / "lab.yaml",)


def test_lock_and_reconnect_timeouts_reach_the_install_request(write: WriteFile) -> None:
    """``timeouts.lock`` and ``timeouts.reconnect`` are what ``--lock-timeout`` and
    ``--reconnect-timeout`` are on the command line (0 = do not wait for a lock)."""
    from fleetpatch.cli.install import request_from_playbook

    write("inv.yaml")
    path = write(
        "pb.yaml",
        "name: x\ninventory: inv.yaml\ntargets: ['*']\noperation: install\n"
        "timeouts: {lock: 0, reconnect: 2m}\n",
    )
    request = request_from_playbook(load_playbook(path), dry_run=False)
    assert (request.lock_timeout, request.reconnect_timeout) == (0, 120.0)
    default = write(
        "default.yaml", "name: x\ninventory: inv.yaml\ntargets: ['*']\noperation: install\n"
    )
    request = request_from_playbook(load_playbook(default), dry_run=False)
    assert (request.lock_timeout, request.reconnect_timeout) == (None, 300.0)
