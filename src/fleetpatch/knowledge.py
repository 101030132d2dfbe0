"""What a verdict may claim, given what the scan knew (docs/reliability.md, "Knowledge behind
a verdict"). Pure: facts, compliance and a maximum age in, a failure (or None) out.

* **Missing metadata.** A configured package source whose metadata is missing, unreadable or
  failed to load (``HostFacts.metadata_missing``) hides the updates it would bring: the host's
  verdict is unknown, whatever the rest says. Failure kind ``no_metadata``; facts and the
  compliance evaluated from what *was* read stay in the result.
* **Stale metadata.** Package metadata older than the maximum age (``--max-metadata-age``,
  the playbook's ``max_metadata_age``, the host's inventory var ``max_metadata_age``; default
  7 days) cannot show what was published since. A NON_COMPLIANT verdict from it is still true
  (what is known to be missing is missing) and stands; a COMPLIANT one is not knowable: failure
  kind ``stale_metadata``. Metadata of unknown age counts as older than any maximum.
* **Broken packages** (dpkg's half-installed, unpacked, half-configured, triggers states and
  the reinst-required flag): :func:`package_problem` says what is wrong and how to repair;
  the evaluator turns such a package into a FAILED item (``baseline/evaluate.py``).

Nothing here refreshes anything: the messages say that ``--refresh`` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from fleetpatch.errors import InputError

if TYPE_CHECKING:  # the CLI imports this module for its defaults: keep it light
    from fleetpatch.compliance import HostCompliance
    from fleetpatch.facts import HostFacts
    from fleetpatch.inventory.model import Host
    from fleetpatch.results import HostFailure

DEFAULT_MAX_METADATA_AGE = 7 * 86400
"""Seconds: Debian's security archive signs its Release files valid for 7 days; SSM refreshes
before every scan."""

MAX_AGE_VAR = "max_metadata_age"
"""The inventory var (a host's ``vars:``, an Ansible host or group var) that sets a host's own
maximum age."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^(?P<n>\d{1,6})(?P<unit>[smhdw])$")
_OFF = frozenset({"off", "none", "never"})


def parse_max_age(text: str) -> int | None:
    """``7d``, ``36h``, ``90m``, ``2w``, ``3600s`` → seconds; ``off`` → None (no maximum).

    Raises:
        ValueError: anything else; the message says what is accepted (callers wrap it in an
            InputError naming the option, key or host).
    """
    value = text.strip().lower()
    if value in _OFF:
        return None
    match = _AGE.match(value)
    if match is None:
        raise ValueError(
            f"expected a number with a unit (s, m, h, d or w), e.g. 7d or 36h, or 'off'; "
            f"got {text!r}"
        )
    return int(match["n"]) * _UNITS[match["unit"]]


def format_age(seconds: int) -> str:
    """``1036800`` → ``12d``; ``93600`` → ``1d 2h``; ``5400`` → ``1h 30m``; ``42`` → ``42s``."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours and days < 10 else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def host_max_age(
    host_vars: Mapping[str, str], run_max_age: int | None, *, run_value_given: bool
) -> int | None:
    """A host's maximum metadata age: the run's when given (``--max-metadata-age``, a
    playbook's ``max_metadata_age``), else the host's inventory var :data:`MAX_AGE_VAR`, else
    the run's default.

    Raises:
        ValueError: the host's var is not a valid age (:func:`parse_max_age`).
    """
    if run_value_given or MAX_AGE_VAR not in host_vars:
        return run_max_age
    return parse_max_age(host_vars[MAX_AGE_VAR])


def max_metadata_age_option(text: str | None, where: str) -> tuple[int | None, bool]:
    """``(seconds or None, given)`` from an option or playbook value (None: not given, the
    default applies).

    Raises:
        InputError: the value is not an age (``7d``, ``36h``, ``off``); names ``where``.
    """
    if text is None:
        return DEFAULT_MAX_METADATA_AGE, False
    try:
        return parse_max_age(text), True
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def check_max_metadata_ages(hosts: Sequence[Host]) -> None:
    """Every host's inventory var ``max_metadata_age`` is a valid age.

    Raises:
        InputError: naming the host, the inventory it came from and the value.
    """
    for host in hosts:
        value = host.facts.get(MAX_AGE_VAR)
        if value is None:
            continue
        try:
            parse_max_age(value)
        except ValueError as exc:
            raise InputError(
                f"host {host.name!r}: vars.{MAX_AGE_VAR}: {exc}", path=host.source or None
            ) from None


def is_stale(age_seconds: int | None, max_age: int | None) -> bool:
    """Older than ``max_age`` (None: no maximum); an unknown age is older than any maximum."""
    if max_age is None:
        return False
    return age_seconds is None or age_seconds > max_age


def knowledge_failure(
    facts: HostFacts, compliance: HostCompliance | None, max_age: int | None
) -> HostFailure | None:
    """The failure a host's result must carry because of what its scan could not know, or
    None when the verdict stands (see the module docstring)."""
    from fleetpatch.compliance import ComplianceStatus
    from fleetpatch.results import HostFailure

    if facts.metadata_missing:
        return HostFailure(
            kind="no_metadata",
            step="metadata",
            message=(
                "package metadata missing or unreadable for "
                + "; ".join(facts.metadata_missing)
                + ": the updates it would bring are unknown, so this host's verdict is "
                "unknown. Scan again with --refresh, or fix or remove that source"
            ),
        )
    if compliance is not None and compliance.status is ComplianceStatus.NON_COMPLIANT:
        return None  # known missing is missing, however old the metadata
    if not is_stale(facts.metadata_age_seconds, max_age):
        return None
    assert max_age is not None
    age = facts.metadata_age_seconds
    how_old = "of unknown age" if age is None else f"{format_age(age)} old"
    return HostFailure(
        kind="stale_metadata",
        step="metadata",
        message=(
            f"package metadata is {how_old} (maximum {format_age(max_age)}): updates published "
            "since are unknown, so COMPLIANT cannot be known. Scan with --refresh (or raise "
            "--max-metadata-age)"
        ),
    )


# ---------------------------------------------------------------------------------------------
# Broken packages

HEALTHY_STATUSES = frozenset({"", "installed", "ii", "hi", "ui", "ri", "pi"})
"""Package statuses that say nothing is wrong (dpkg ``db:Status-Abbrev`` without its trailing
blank, rpm's ``installed``): one set lookup per package in the evaluator's common case."""

_DPKG_STATES = {
    "H": ("half-installed", "its unpacking was interrupted"),
    "U": ("unpacked", "it is unpacked but was never configured"),
    "F": ("half-configured", "its configuration (postinst) failed or was interrupted"),
    "W": ("triggers-awaited", "it waits for another package's triggers"),
    "t": ("triggers-pending", "its triggers were never processed"),
}


def package_problem(name: str, status: str) -> str | None:
    """What is wrong with an installed package of this status, and how to repair it; None
    for a healthy one (every status in :data:`HEALTHY_STATUSES`, and rpm's).

    dpkg's ``db:Status-Abbrev`` is desired action, state, error flag: state H, U, F, W or t,
    or the error flag R (reinstall required), means the package is broken. rpm: the status
    ``rpm-duplicate TOOL V1,V2`` (an interrupted transaction left two versions of one
    name.arch, :func:`fleetpatch.platforms.rpm.parsers.mark_rpm_duplicates`).
    """
    if status in HEALTHY_STATUSES or len(status) < 2 or not status[0].islower():
        return None
    if status.startswith("rpm-duplicate "):
        return _rpm_duplicate(name, status)
    state = _DPKG_STATES.get(status[1])
    reinstall = status[2:3] == "R"
    if state is None and not reinstall:
        return None
    parts = [f"dpkg state {status}"]
    if state is not None:
        parts.append(f"{state[0]}: {state[1]}")
    if reinstall:
        parts.append("reinstall required")
        repair = (
            f"repair with 'apt-get install --reinstall {name}' (or 'dpkg --remove "
            f"--force-remove-reinstreq {name}'), then 'dpkg --configure -a'"
        )
    else:
        repair = "repair with 'dpkg --configure -a', then 'apt-get install -f'"
    return f"{', '.join(parts)}; {repair}"


_RPM_REPAIR = {
    "dnf": "repair with 'dnf remove --duplicates' (it keeps the newest version and reinstalls "
    "it), then 'dnf check'",
    "yum": "repair with 'package-cleanup --cleandupes' (yum-utils; it keeps the newest version), "
    "then 'yum check'",
}


def _rpm_duplicate(name: str, status: str) -> str:
    _, tool, versions = [*status.split(" ", 2), "", ""][:3]
    listed = versions.split(",")
    repair = _RPM_REPAIR.get(tool)
    if repair is None:  # zypper: no command of its own ('zypper verify' may remove the package)
        older = " ".join(f"{name}-{v}" for v in listed[:-1])
        repair = (
            f"repair with 'rpm -e --justdb --nodeps {older}' (drops the older version's "
            f"database entry only; first check with 'rpm -V {name}' that the newest version's "
            "files are the ones on disk), then 'zypper verify'"
        )
    return (
        f"the rpm database holds {len(listed)} versions of {name} ({', '.join(listed)}): an rpm "
        f"transaction was interrupted before it erased the old one; {repair}"
    )
