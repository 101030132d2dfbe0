"""Build what a run needs once its hosts are being contacted: rendered script, baseline
choice (the connector: :mod:`fleetpatch.engine.connecting`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fleetpatch.baseline.groups import load_patch_group_map, select_baseline
from fleetpatch.baseline.model import Baseline
from fleetpatch.baseline.oses import OperatingSystem
from fleetpatch.baseline.predefined import resolve_baseline, to_os
from fleetpatch.engine.pipeline import BaselineChooser, Connector, ScanContext
from fleetpatch.errors import InputError
from fleetpatch.facts import OsInfo
from fleetpatch.inventory.model import Host
from fleetpatch.knowledge import DEFAULT_MAX_METADATA_AGE
from fleetpatch.platforms.render import scan_script


def load_baseline_choice(
    *, baselines: Sequence[str] = (), patch_groups: Path | None = None
) -> BaselineChooser:
    """Resolve ``--baseline`` / ``--patch-groups`` once, before any host is contacted.

    Like SSM's BaselineOverride, several baselines may be given: each applies to the hosts of
    its operating system; hosts of other systems keep their patch group's or default baseline.

    Raises:
        InputError: a baseline or the mapping file is invalid, or two baselines are given for
            the same operating system.
    """
    overrides: dict[OperatingSystem, Baseline] = {}
    for ref in baselines:
        loaded = resolve_baseline(ref)
        other = overrides.get(loaded.operating_system)
        if other is not None:
            raise InputError(
                f"--baseline {ref}: a baseline for {loaded.operating_system.value} is already "
                f"given ({other.name}); give at most one per operating system"
            )
        overrides[loaded.operating_system] = loaded
    mapping = load_patch_group_map(patch_groups) if patch_groups else None

    def choose(host: Host, os_info: OsInfo) -> Baseline:
        override = overrides.get(to_os(os_info))
        return select_baseline(host.patch_group, os_info, mapping, override=override)

    return choose


def build_scan_context(
    connector: Connector,
    *,
    choose: BaselineChooser,
    refresh: bool,
    max_metadata_age: int | None = DEFAULT_MAX_METADATA_AGE,
    max_metadata_age_given: bool = False,
) -> ScanContext:
    """The scan context for a run whose connector is already made
    (:func:`fleetpatch.engine.connecting.new_connector`). ``max_metadata_age``: seconds, None
    for no maximum; ``max_metadata_age_given``: it was given explicitly, so it wins over the
    hosts' inventory var (:func:`fleetpatch.knowledge.check_max_metadata_ages`)."""
    return ScanContext(
        connector=connector,
        script=scan_script(refresh=refresh),
        choose_baseline=choose,
        max_metadata_age=max_metadata_age,
        max_metadata_age_given=max_metadata_age_given,
    )
