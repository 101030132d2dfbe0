"""From EC2 instances to inventory layers: which instances count, their name, address, user,
transport, tags, facts and groups. Pure: no I/O, no boto3.

Precedence for a discovered instance, weakest first (the file's ``defaults`` come below and a
matching static ``hosts:`` entry above, see :mod:`fleetpatch.inventory.ec2.source`):

1. the source's ``settings``
2. the user chosen by ``users``
3. for Windows instances: WinRM on 5986 without sudo, then the source's ``windows`` settings
4. what the instance says: address, tags, facts
5. ``overrides`` whose ``match_tags`` match, in the order written
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fleetpatch.inventory.ec2.instance import Ec2Instance
from fleetpatch.inventory.ec2.spec import Ec2SourceSpec, KeyedGroupSpec, UsersSpec, as_list
from fleetpatch.inventory.resolve import Layer, merge_layers

TagMatch = Mapping[str, frozenset[str]]
WINDOWS_BUILTIN = Layer(fields={"transport": "winrm", "port": 5986}, connection={"sudo": False})
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class DiscoveryRules:
    """A source's options in the form the builder uses; the layers are already resolved
    (paths made absolute) by the loader."""

    states: frozenset[str]
    include_tags: TagMatch
    exclude_tags: TagMatch
    host_name: tuple[str, ...]
    address: tuple[str, ...]
    users: UsersSpec | None = None
    keyed_groups: tuple[KeyedGroupSpec, ...] = ()
    groups: tuple[str, ...] = ()
    settings: Layer = field(default_factory=Layer)
    windows: Layer = field(default_factory=Layer)
    overrides: tuple[tuple[TagMatch, Layer], ...] = ()


@dataclass(frozen=True)
class Discovered:
    """One instance that becomes a host: its preferred name, settings and groups."""

    instance: Ec2Instance
    name: str
    layer: Layer
    groups: frozenset[str]


def tag_match(spec: Mapping[str, str | list[str]]) -> TagMatch:
    """``{Env: [prod, stage]}`` as a key -> allowed values mapping."""
    return {key: frozenset(as_list(values)) for key, values in spec.items()}


def rules_from_spec(
    spec: Ec2SourceSpec,
    *,
    settings: Layer,
    windows: Layer,
    overrides: Sequence[Layer],
) -> DiscoveryRules:
    """Rules from a validated spec plus its resolved setting layers (one per override)."""
    return DiscoveryRules(
        states=frozenset(spec.states),
        include_tags=tag_match(spec.include_tags),
        exclude_tags=tag_match(spec.exclude_tags),
        host_name=(*as_list(spec.host_name), "instance-id"),
        address=tuple(as_list(spec.address)),
        users=spec.users,
        keyed_groups=tuple(spec.keyed_groups),
        groups=tuple(spec.groups),
        settings=settings,
        windows=windows,
        overrides=tuple(
            (tag_match(o.match_tags), layer)
            for o, layer in zip(spec.overrides, overrides, strict=True)
        ),
    )


def server_filters(spec: Ec2SourceSpec) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """DescribeInstances filters: the user's, the states and the included tags (sorted, so
    that the cache key does not depend on the order written)."""
    filters = {name: tuple(sorted(as_list(values))) for name, values in spec.filters.items()}
    filters["instance-state-name"] = tuple(sorted(spec.states))
    for key, values in spec.include_tags.items():
        wanted = set(as_list(values))
        written = filters.get(f"tag:{key}")
        filters[f"tag:{key}"] = tuple(sorted(wanted if written is None else wanted & set(written)))
    return tuple(sorted(filters.items()))


def tags_match(tags: Mapping[str, str], match: TagMatch) -> bool:
    """Every key present with one of its values (SSM semantics: keys ANDed, values ORed)."""
    return all(tags.get(key) in values for key, values in match.items())


def excluded(tags: Mapping[str, str], match: TagMatch) -> bool:
    """Any one of the keys present with one of its values."""
    return any(tags.get(key) in values for key, values in match.items())


def discover(
    instances: Iterable[Ec2Instance], rules: DiscoveryRules
) -> tuple[list[Discovered], list[str]]:
    """The hosts-to-be, in the given order, and a note for each instance skipped for having
    no address. Instances in other states or not matching the tag rules are left out
    silently (EC2 was asked for them only as a safety net)."""
    found: list[Discovered] = []
    notes: list[str] = []
    for instance in instances:
        if instance.state not in rules.states:
            continue
        if not tags_match(instance.tags, rules.include_tags):
            continue
        if excluded(instance.tags, rules.exclude_tags):
            continue
        address = first_value(instance, rules.address)
        if not address:
            notes.append(
                f"{instance.instance_id} ({instance.region}) has none of "
                f"{', '.join(rules.address)}; skipped"
            )
            continue
        found.append(
            Discovered(
                instance=instance,
                name=host_name(instance, rules.host_name),
                layer=instance_layer(instance, address, rules),
                groups=instance_groups(instance, rules),
            )
        )
    return found, notes


def first_value(instance: Ec2Instance, keys: Sequence[str]) -> str:
    """The first non-empty attribute (``private-ip-address``, ``tag:Name``...), or ''."""
    for key in keys:
        value = instance.attribute(key).strip()
        if value:
            return value
    return ""


def host_name(instance: Ec2Instance, keys: Sequence[str]) -> str:
    """The first candidate usable as a host name (no whitespace or commas)."""
    for key in keys:
        value = instance.attribute(key).strip()
        if value and "," not in value and not any(ch.isspace() for ch in value):
            return value
    return instance.instance_id


def login_user(instance: Ec2Instance, users: UsersSpec | None) -> str | None:
    """The user chosen by ``users``, or None to inherit one."""
    if users is None:
        return None
    if users.tag and instance.tags.get(users.tag):
        return instance.tags[users.tag]
    if instance.image_id in users.by_image:
        return users.by_image[instance.image_id]
    if instance.platform_details in users.by_platform_details:
        return users.by_platform_details[instance.platform_details]
    return users.default


def instance_layer(instance: Ec2Instance, address: str, rules: DiscoveryRules) -> Layer:
    """The merged settings of one instance (see the module docstring for the order)."""
    layers = [rules.settings]
    user = login_user(instance, rules.users)
    if user is not None:
        layers.append(Layer(fields={"user": user}))
    if instance.platform == "windows":
        layers += [WINDOWS_BUILTIN, rules.windows]
    layers.append(Layer(fields={"address": address}, tags=instance.tags, facts=instance.facts()))
    layers += [layer for match, layer in rules.overrides if tags_match(instance.tags, match)]
    return merge_layers(layers)


def instance_groups(instance: Ec2Instance, rules: DiscoveryRules) -> frozenset[str]:
    """``groups`` plus one group per ``keyed_groups`` entry that has a value."""
    groups = set(rules.groups)
    facts = instance.facts()
    for keyed in rules.keyed_groups:
        if keyed.key.startswith("tag:"):
            value = instance.tags.get(keyed.key[4:], "")
        else:
            value = facts.get(keyed.key, "")
        value = value or (keyed.default or "")
        if value:
            groups.add(group_name(keyed.prefix, keyed.separator, value))
    return frozenset(groups)


def group_name(prefix: str, separator: str, value: str) -> str:
    """``env`` + ``_`` + ``prod`` -> ``env_prod``; characters other than letters, digits,
    ``_``, ``.`` and ``-`` become ``_`` (group names end up in ``--target group:...``)."""
    name = f"{prefix}{separator}{value}" if prefix else value
    return _GROUP_UNSAFE.sub("_", name)
