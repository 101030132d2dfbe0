"""The ``sources:`` of one fleetpatch YAML file, resolved into hosts.

For each ``kind: ec2`` entry: validate it, list its regions, fetch every region's instances
(cache first), keep the ones its rules select and build flat :class:`Host` values exactly like
the static ones of the file: ``defaults`` < the discovered settings (see
:mod:`fleetpatch.inventory.ec2.hosts`) < a static ``hosts:`` entry that names the instance.

A static entry names a discovered instance when it has ``match: {instance_id: ...}``, or when
its key is an instance id and it has no ``address``. Its key becomes the host's name, its
settings (with its groups' ``vars``) win, and its groups are added.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from fleetpatch.errors import InputError
from fleetpatch.inventory.cache import JsonCache, cache_key
from fleetpatch.inventory.ec2.fetch import Ec2Api, Ec2Query, fetch_instances
from fleetpatch.inventory.ec2.hosts import Discovered, discover, rules_from_spec, server_filters
from fleetpatch.inventory.ec2.spec import (
    Ec2SourceSpec,
    parse_sources,
    source_label,
    unknown_region_error,
)
from fleetpatch.inventory.model import Host
from fleetpatch.inventory.resolve import Layer, build_host, merge_layers
from fleetpatch.inventory.spec import SettingsSpec
from fleetpatch.inventory.yamlpos import PositionedYaml

_log = logging.getLogger(__name__)
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$")
LayerOf = Callable[[SettingsSpec | None, tuple[Any, ...]], Layer]


@dataclass(frozen=True)
class StaticOverride:
    """A static ``hosts:`` entry that names and overrides one discovered instance."""

    name: str
    instance_id: str
    layer: Layer  # the entry's settings over its groups' vars (the file's defaults excluded)
    groups: frozenset[str]
    line: int


@dataclass(frozen=True)
class SourceHosts:
    """What the sources of one file contributed."""

    hosts: tuple[Host, ...]
    host_lines: Mapping[str, int]
    warnings: tuple[str, ...]


def names_an_instance(name: str, has_match: bool, has_address: bool) -> bool:
    """Whether a static entry is an override: ``match:``, or an instance-id key, no address."""
    return has_match or (INSTANCE_ID.match(name) is not None and not has_address)


def resolve_sources(
    doc: PositionedYaml,
    raw_sources: list[dict[str, Any]],
    *,
    defaults: Layer,
    layer_of: LayerOf,
    static_names: Sequence[str],
    overrides: Sequence[StaticOverride],
    refresh: bool = False,
    cache: JsonCache | None = None,
) -> SourceHosts:
    """Hosts for every source of the file. Raises InputError for bad source entries, unknown
    regions, missing credentials, filters EC2 rejects, and a source whose regions all fail."""
    specs = parse_sources(doc, raw_sources)
    check_overrides(doc, overrides)
    store = cache if cache is not None else JsonCache()
    warnings: list[str] = []
    found: list[tuple[int, Discovered]] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(specs):
        label = source_label(doc, index)
        discovered, notes = _discover_source(doc, index, spec, layer_of, store, refresh, label)
        warnings += [f"{label}: {note}" for note in notes]
        for item in discovered:
            earlier = seen.get(item.instance.instance_id)
            if earlier is not None:
                warnings.append(
                    f"{label}: {item.instance.instance_id} was found by sources[{earlier}] "
                    "already; kept that one"
                )
                continue
            seen[item.instance.instance_id] = index
            found.append((index, item))
    hosts, lines = _name_hosts(doc, found, defaults, static_names, overrides, warnings)
    for warning in warnings:
        _log.warning("%s", warning)
    return SourceHosts(hosts=tuple(hosts), host_lines=lines, warnings=tuple(warnings))


def _discover_source(
    doc: PositionedYaml,
    index: int,
    spec: Ec2SourceSpec,
    layer_of: LayerOf,
    store: JsonCache,
    refresh: bool,
    label: str,
) -> tuple[list[Discovered], list[str]]:
    here = ("sources", index)
    for region in spec.endpoint_urls:
        if isinstance(spec.regions, list) and region not in spec.regions:
            raise doc.error(
                f"sources[{index}].endpoint_urls: {region!r} is not one of the regions",
                (*here, "endpoint_urls", region),
            )
    query = Ec2Query(
        label=label,
        profile=spec.profile,
        endpoint_url=spec.endpoint_url,
        endpoint_urls=dict(spec.endpoint_urls),
        filters=server_filters(spec),
        max_attempts=spec.max_attempts,
    )
    api = Ec2Api(query)
    regions = _regions(doc, index, spec, api, store, refresh)
    outcomes = fetch_instances(api, regions, cache=store, ttl=spec.cache_ttl, refresh=refresh)
    failed = [o for o in outcomes if o.error is not None]
    if failed and (len(failed) == len(outcomes) or spec.on_region_error == "fail"):
        what = "every region failed" if len(failed) == len(outcomes) else "a region failed"
        details = "; ".join(f"{o.region}: {o.error}" for o in failed)
        raise doc.error(f"sources[{index}] (ec2): {what}: {details}", here)
    notes = [f"region {o.region} skipped: {o.error}" for o in failed]
    rules = rules_from_spec(
        spec,
        settings=layer_of(spec.settings, (*here, "settings")),
        windows=layer_of(spec.windows, (*here, "windows")),
        overrides=[layer_of(o, (*here, "overrides", n)) for n, o in enumerate(spec.overrides)],
    )
    instances = [
        instance
        for outcome in outcomes
        for instance in sorted(outcome.instances, key=lambda i: i.instance_id)
    ]
    discovered, skipped = discover(instances, rules)
    return discovered, notes + skipped


def _regions(
    doc: PositionedYaml,
    index: int,
    spec: Ec2SourceSpec,
    api: Ec2Api,
    store: JsonCache,
    refresh: bool,
) -> list[str]:
    if isinstance(spec.regions, list):
        known = api.known_regions()
        for region in spec.regions:
            if region not in known and region not in spec.endpoint_urls:
                raise unknown_region_error(doc, index, spec, region, known)
        return list(spec.regions)
    key = cache_key("ec2-regions", api.query.cache_key("*"))
    cached = None if refresh else store.get(key, spec.cache_ttl, prefix="ec2-")
    if isinstance(cached, list) and all(isinstance(r, str) for r in cached) and cached:
        return list(cached)
    api.require_credentials()
    regions = api.enabled_regions()
    if spec.cache_ttl > 0:
        store.put(key, regions, prefix="ec2-")
    return regions


def _name_hosts(
    doc: PositionedYaml,
    found: Sequence[tuple[int, Discovered]],
    defaults: Layer,
    static_names: Sequence[str],
    overrides: Sequence[StaticOverride],
    warnings: list[str],
) -> tuple[list[Host], dict[str, int]]:
    """Final names: an override's key, else the preferred name unless it is used by a static
    host or by another instance, in which case every such instance is named by its id."""
    by_id = {o.instance_id: o for o in overrides}
    proposed = Counter(d.name for _, d in found if d.instance.instance_id not in by_id)
    taken = set(static_names) | {o.name for o in overrides}
    hosts: list[Host] = []
    lines: dict[str, int] = {}
    matched: set[str] = set()
    for index, item in found:
        instance_id = item.instance.instance_id
        override = by_id.get(instance_id)
        groups = item.groups
        layers = [defaults, item.layer]
        if override is not None:
            name, line = override.name, override.line
            layers.append(override.layer)
            groups = groups | override.groups
            matched.add(instance_id)
        else:
            name, line = item.name, doc.line_of(("sources", index))
            if name != instance_id and (proposed[name] > 1 or name in taken):
                warnings.append(
                    f"{source_label(doc, index)}: host name {name!r} of {instance_id} is used "
                    "more than once; named it by its instance id"
                )
                name = instance_id
            if name in taken:
                raise doc.error(
                    f"discovered instance {instance_id}: its name {name!r} is taken by a "
                    f"static host; give that entry 'match: {{instance_id: {instance_id}}}' "
                    "or rename it",
                    ("sources", index),
                )
        taken.add(name)
        lines[name] = line
        hosts.append(
            build_host(
                name,
                merge_layers(layers),
                groups=groups,
                source=doc.source,
                fail=partial(_discovered_error, doc, index, instance_id),
            )
        )
    for override in overrides:
        if override.instance_id not in matched:
            warnings.append(
                f"{doc.source}:{override.line}: hosts.{override.name}: no discovered instance "
                f"has instance id {override.instance_id}; entry skipped"
            )
    return hosts, lines


def _discovered_error(
    doc: PositionedYaml, index: int, instance_id: str, message: str
) -> InputError:
    return doc.error(f"discovered instance {instance_id}: {message}", ("sources", index))


def check_overrides(doc: PositionedYaml, overrides: Sequence[StaticOverride]) -> None:
    """Two static entries may not name the same instance."""
    first: dict[str, StaticOverride] = {}
    for override in overrides:
        earlier = first.setdefault(override.instance_id, override)
        if earlier is not override:
            raise InputError(
                f"hosts.{override.name} and hosts.{earlier.name} (line {earlier.line}) both "
                f"match instance {override.instance_id}",
                path=doc.source,
                location=str(override.line),
            )
