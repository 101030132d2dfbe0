"""The emulated Windows host driven by fleetpatch's own scripts over the real WinRM transport:
scan, install as a detached SYSTEM-task job, pending reboot, reboot with a new boot time,
rescan clean; and the faults: Receive timeouts, a dropped socket mid-install, HTTP 500, a
rotated password, WU_E_OPERATIONINPROGRESS, a failing update, an update re-offered after
every reboot. Ground truth is the emulator's state (what the host did), beside what
fleetpatch reads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from fleetpatch.baseline import evaluate_baseline, get_predefined
from fleetpatch.compliance import PatchState
from fleetpatch.engine.detached import JobSpec, job_id
from fleetpatch.errors import AuthError, ConnectionLost, WinrmFault
from fleetpatch.platforms.windows.install import (
    WindowsInstaller,
    install_script,
    install_targets,
    locked_reason,
)
from fleetpatch.platforms.windows.rounds import RoundResult, next_round
from fleetpatch.platforms.windows.scripts import (
    boot_identity_script,
    hook_script,
    parse_boot,
    parse_hook,
    parse_pending_reboot,
    parse_reboot_scheduled,
    pending_reboot_script,
    reboot_script,
)
from fleetpatch.results import PlannedPackage
from fleetpatch.transport.winrm import WinrmConnector
from tests.winrm.clients import wait_until
from tests.winrm.windows_flow import PASSWORD_ENV, WindowsDriver, inventory_host
from tests.winrm.windows_host import WindowsUpdateHost
from tests.winrm.windows_scenario import load_scenario

EVALUATED_AT = datetime(2024, 5, 2, tzinfo=UTC)


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch, wsman_endpoint: Any) -> str:
    monkeypatch.setenv(PASSWORD_ENV, wsman_endpoint.credentials.password)
    return str(wsman_endpoint.credentials.password)


@pytest.fixture
async def connector() -> AsyncIterator[WinrmConnector]:
    made = WinrmConnector(threads=4, operation_timeout=2)
    yield made
    await made.close()


async def _driver(
    wsman_host: Any, connector: WinrmConnector, scenario: Any
) -> tuple[Any, WindowsUpdateHost, WindowsDriver]:
    handler = WindowsUpdateHost(scenario)
    emulated = wsman_host(handler=handler)
    return emulated, handler, WindowsDriver(connector, inventory_host(emulated))


def _plan(*kbs: str) -> tuple[PlannedPackage, ...]:
    return tuple(PlannedPackage(name=kb, version="200", reason="test") for kb in kbs)


async def test_scan_reads_the_hosts_updates_and_evaluates_with_windows_semantics(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    _, handler, driver = await _driver(wsman_host, connector, "ws2019")
    facts = await driver.scan()
    await driver.close()
    offered = {spec.kb[0] for spec in handler.offered()}
    assert {u.name for u in facts.updates} == offered
    assert [p.name for p in facts.installed] == ["KB5035849"]
    assert facts.os.product == "WindowsServer2019" and facts.boot_id == "2024-04-02T06:14:09Z"
    assert facts.metadata_age_seconds == 0 and facts.metadata_missing == ()
    office = next(u for u in facts.updates if u.name == "KB5002574")
    assert office.title.endswith("Grüße ✓")  # escaped on the wire, whole here
    compliance = evaluate_baseline(
        facts, get_predefined("AWS-DefaultPatchBaseline"), now=EVALUATED_AT
    )
    states = {item.id: item.state for item in compliance.items}
    assert states["KB5036896"] is PatchState.MISSING  # OS, security, Important, > 7 days
    assert states["KB5002574"] is PatchState.AVAILABLE_SECURITY_UPDATE  # an application
    assert "KB2267602" not in states  # definition updates are not in the default baseline


async def test_a_console_in_another_code_page_reads_the_same(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    scenario = load_scenario("ws2019")
    old_console = type(scenario)(**{**scenario.__dict__, "console_codepage": 850})
    _, _, driver = await _driver(wsman_host, connector, old_console)
    facts = await driver.scan()
    await driver.close()
    _, _, reference = await _driver(wsman_host, connector, "ws2019")
    expected = await reference.scan()
    await reference.close()
    assert facts.updates == expected.updates


async def test_install_reboot_rescan_clean(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated, handler, driver = await _driver(wsman_host, connector, "ws2019")
    facts = await driver.scan()
    wanted = _plan("KB5036896", "KB5037016", "KB5002574")
    installer = WindowsInstaller(facts)
    spec = JobSpec(job_id("run-1", emulated.name), installer.render(wanted, dry_run=False))
    report = await driver.follow(spec)
    outcome = installer.parse(report.text, wanted, dry_run=False)
    assert report.state == "finished" and report.origin == "new"
    assert set(outcome.installed) == {"KB5036896", "KB5037016", "KB5002574"}
    assert outcome.failed == {} and outcome.reboot_required
    # the host itself: exactly the approved ids, once each; a reboot pending
    ids = {t.update_id for t in install_targets(facts, wanted)}
    assert handler.install_counts == dict.fromkeys(ids, 1)
    assert handler.reboot_required
    assert parse_pending_reboot((await driver.run(pending_reboot_script())).stdout)

    before = parse_reboot_scheduled((await driver.run(reboot_script(delay=1))).stdout)
    await driver.close()
    await asyncio.to_thread(wait_until, lambda: not emulated.is_up, 10)
    identity = before.identity
    for _ in range(100):  # what the engine's wait_for_new_boot does
        try:
            identity = parse_boot(
                (await driver.run(boot_identity_script(), timeout=10)).stdout
            ).identity
        except (ConnectionLost, OSError, Exception):
            await driver.close()
        if identity != before.identity:
            break
        await asyncio.sleep(0.1)
    assert identity != before.identity
    after = await driver.scan()
    await driver.close()
    assert not after.reboot_required and handler.boots == 1
    assert {u.name for u in after.updates} == {"KB2267602"}  # not approved, still offered
    assert {"KB5036896", "KB5037016", "KB5002574"} <= {p.name for p in after.installed}


async def test_a_dropped_socket_mid_install_reconnects_and_installs_each_update_once(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated, handler, driver = await _driver(wsman_host, connector, "ws2019")
    facts = await driver.scan()
    wanted = _plan("KB5036896", "KB5037016", "KB5002574")
    installer = WindowsInstaller(facts)
    spec = JobSpec(job_id("run-2", emulated.name), installer.render(wanted, dry_run=False))
    emulated.faults.drop_connection(on="Receive", skip=4, reset=True)
    emulated.faults.time_out_receives(times=2)
    report = await driver.follow(spec)
    await driver.close()
    outcome = installer.parse(report.text, wanted, dry_run=False)
    assert report.reconnects >= 1 and report.state == "finished"
    assert "dropped" in emulated.outcomes("Receive")
    assert "fault w:TimedOut" in emulated.outcomes("Receive")
    assert set(outcome.installed) == {"KB5036896", "KB5037016", "KB5002574"}
    assert sorted(handler.install_counts.values()) == [1, 1, 1]
    journal = [json.loads(line)["t"] for line in report.journal]
    assert journal.count("result") == 3 and journal[-1] == "exit"  # no line twice or lost


async def test_a_reboot_mid_install_is_a_lost_job(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    scenario = load_scenario("ws2019")
    slow = tuple(type(u)(**{**u.__dict__, "install_seconds": 0.4}) for u in scenario.updates)
    emulated, handler, driver = await _driver(
        wsman_host, connector, type(scenario)(**{**scenario.__dict__, "updates": slow})
    )
    facts = await driver.scan()
    wanted = _plan("KB5036896", "KB5037016")
    spec = JobSpec(
        job_id("run-3", emulated.name), WindowsInstaller(facts).render(wanted, dry_run=False)
    )

    async def reboot_soon() -> None:
        await asyncio.to_thread(wait_until, lambda: sum(handler.install_counts.values()) >= 1, 10)
        handler.reboot_now(emulated, down_for=0.5)

    rebooting = asyncio.ensure_future(reboot_soon())
    report = await driver.follow(spec)
    await rebooting
    await driver.close()
    assert report.state == "lost" and report.rc is None
    assert sum(handler.install_counts.values()) == 1  # the task died with the host


async def test_another_update_operation_in_progress_is_locked(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    scenario = load_scenario("ws2019")
    emulated, handler, driver = await _driver(
        wsman_host, connector, type(scenario)(**{**scenario.__dict__, "busy": True})
    )
    facts = await driver.scan()
    wanted = _plan("KB5036896")
    installer = WindowsInstaller(facts)
    spec = JobSpec(job_id("run-4", emulated.name), installer.render(wanted, dry_run=False))
    report = await driver.follow(spec)
    await driver.close()
    reason = locked_reason(report.text)
    assert reason is not None and "WU_E_OPERATIONINPROGRESS" in reason
    outcome = installer.parse(report.text, wanted, dry_run=False)
    assert "KB5036896" in outcome.failed and handler.install_counts == {}


async def test_rounds_a_failing_update_and_a_loop_named(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated, handler, driver = await _driver(wsman_host, connector, "ws2022-rounds")
    facts = await driver.scan()
    assert "KB5037422" not in {u.name for u in facts.updates}  # needs the SSU and a reboot
    history: list[RoundResult] = []
    offered = {u.update_id: f"{u.name} ({u.title})" for u in facts.updates}
    decision = next_round(history, offered)
    assert decision.action == "install"
    by_id = {u.update_id: u.name for u in facts.updates}
    installer = WindowsInstaller(facts)
    wanted = _plan(*(by_id[i] for i in decision.install))
    spec = JobSpec(job_id("run-5", emulated.name), installer.render(wanted, dry_run=False))
    outcome = installer.parse((await driver.follow(spec)).text, wanted, dry_run=False)
    assert "0x80070643 ERROR_INSTALL_FAILURE" in outcome.failed["KB5037033"]
    history.append(
        RoundResult(
            installed=tuple(i for i, kb in by_id.items() if kb in outcome.installed),
            failed={i: outcome.failed[kb] for i, kb in by_id.items() if kb in outcome.failed},
        )
    )
    await driver.run(reboot_script(delay=1))
    await driver.close()
    await asyncio.to_thread(wait_until, lambda: handler.boots == 1 and emulated.is_up, 10)
    rescan = await driver.scan()
    await driver.close()
    offered = {u.update_id: f"{u.name} ({u.title})" for u in rescan.updates}
    assert {u.name for u in rescan.updates} == {"KB5037422", "KB5037033", "KB890830"}
    decision = next_round(history, offered)
    assert decision.action == "failed"
    assert "KB890830" in decision.message and "round 1" in decision.message


async def test_http_500_while_following_leaves_the_job_running_on_the_host(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated, handler, driver = await _driver(wsman_host, connector, "ws2019")
    facts = await driver.scan()
    wanted = _plan("KB5036896")
    spec = JobSpec(
        job_id("run-6", emulated.name), WindowsInstaller(facts).render(wanted, dry_run=False)
    )
    emulated.faults.http_error(500, on="Receive")
    with pytest.raises(WinrmFault):
        await driver.follow(spec)
    await driver.close()
    await asyncio.to_thread(wait_until, lambda: not handler.jobs[spec.id].running, 10)
    report = await driver.follow(spec, attach_only=True)  # a resume attaches
    await driver.close()
    assert report.origin == "existing" and report.state == "finished"
    assert list(handler.install_counts.values()) == [1]


async def test_a_password_rotated_during_the_reboot_is_auth(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    from tests.winrm.auth import Credentials

    emulated, _, driver = await _driver(wsman_host, connector, "ws2019")
    await driver.scan()
    await driver.close()
    emulated.set_credentials(Credentials(emulated.credentials.username, "Rotated-Pa55"))
    with pytest.raises(AuthError):
        await driver.scan()


async def test_hooks_run_through_the_emulator(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    _, handler, driver = await _driver(wsman_host, connector, "ws2019")
    ok = parse_hook((await driver.run(hook_script("Write-Output 'it''s done'"))).stdout)
    bad = parse_hook((await driver.run(hook_script("exit 3"))).stdout)
    await driver.close()
    assert (ok.rc, ok.output) == (0, "it's done\r\n")
    assert (bad.rc, bad.ok) == (3, False)
    assert [m.operation for m in handler.operations] == ["hook", "hook"]


def test_every_rendered_script_is_recognised_with_its_parameters() -> None:
    """The marker contract: the emulator reads the operation and the parameters the script
    acts on from the script itself."""
    from fleetpatch.platforms.windows.install import UpdateTarget
    from fleetpatch.platforms.windows.jobs import WindowsJobs
    from fleetpatch.platforms.windows.markers import OPERATIONS, read_marker
    from fleetpatch.platforms.windows.scripts import scan_script

    ids = ["8d8a6a54-3b6e-4f3a-9a58-0f6b1a5f6a01", "0f3a9b2c-5d6e-4f70-8192-a3b4c5d6e706"]
    job_script = install_script([UpdateTarget(i, "KB1", "t", "1", True) for i in ids])
    jobs = WindowsJobs()
    scripts = {
        "scan": scan_script(),
        "boot-identity": boot_identity_script(),
        "pending-reboot": pending_reboot_script(),
        "reboot": reboot_script(delay=7),
        "hook": hook_script("Write-Output 'x'"),
        "job-start": jobs.start(JobSpec("fp-1", job_script, "m")),
        "job-attach": jobs.attach("fp-1", offset=4),
        "job-cleanup": jobs.cleanup("fp-1"),
        "install": job_script,
    }
    assert set(scripts) == set(OPERATIONS)
    for operation, script in scripts.items():
        marker = read_marker(script)
        assert marker.operation == operation
        assert hasattr(WindowsUpdateHost, "_op_" + operation.replace("-", "_")) or (
            operation == "install"
        )
    assert read_marker(scripts["install"]).params["ids"] == ids
    assert read_marker(read_marker(scripts["job-start"]).embedded_script()).params["ids"] == ids
    assert read_marker(scripts["reboot"]).params == {"delay": 7}
    assert read_marker(scripts["job-attach"]).params["offset"] == 4
