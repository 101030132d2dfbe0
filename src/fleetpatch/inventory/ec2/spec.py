"""The ``sources:`` entry of kind ``ec2``, as written in an inventory file.

The models check keys and types; :func:`check_source` adds the checks pydantic cannot express
(filter names, hostname keys, region names) and names the line of the offending key.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from fleetpatch.errors import InputError
from fleetpatch.inventory.explain import explain_validation_error
from fleetpatch.inventory.model import LoginUser
from fleetpatch.inventory.spec import SettingsSpec
from fleetpatch.inventory.yamlpos import PositionedYaml

Values = str | list[str]
InstanceState = Literal["pending", "running", "shutting-down", "terminated", "stopping", "stopped"]

# Instance attributes usable in ``address:``, ``host_name:`` and ``keyed_groups[].key``
# (``tag:KEY`` is accepted too). Names follow EC2's own filter names where there is one.
ADDRESS_KEYS = (
    "private-ip-address",
    "private-dns-name",
    "public-ip-address",
    "public-dns-name",
    "ipv6-address",
    "instance-id",
)
DEFAULT_ADDRESS = ("private-ip-address", "private-dns-name", "public-dns-name", "public-ip-address")
GROUP_KEYS = (
    "region",
    "availability_zone",
    "vpc_id",
    "subnet_id",
    "platform",
    "platform_details",
    "image_id",
    "instance_type",
    "state",
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def _running_only() -> list[InstanceState]:
    return ["running"]


class KeyedGroupSpec(BaseModel):
    """``keyed_groups[]``: one group per distinct value of ``key`` (a tag or a fact)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    prefix: str = ""
    separator: str = "_"
    default: str | None = None  # group value for instances without the key; None: no group


class UsersSpec(BaseModel):
    """``users:``: the login user of a discovered instance. First match wins, in this order:
    the tag named by ``tag``, ``by_image`` (AMI id), ``by_platform_details``, ``default``."""

    model_config = ConfigDict(extra="forbid")

    tag: str | None = None
    by_image: dict[str, LoginUser] = Field(default_factory=dict)
    by_platform_details: dict[str, LoginUser] = Field(default_factory=dict)
    default: LoginUser | None = None


class OverrideSpec(SettingsSpec):
    """``overrides[]``: settings for the discovered instances whose tags match."""

    match_tags: dict[str, Values]


class Ec2SourceSpec(BaseModel):
    """One ``sources:`` entry with ``kind: ec2``."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    kind: Literal["ec2"]
    regions: list[str] | Literal["all"]
    profile: str | None = None
    endpoint_url: str | None = None
    endpoint_urls: dict[str, str] = Field(default_factory=dict)
    filters: dict[str, Values] = Field(default_factory=dict)
    include_tags: dict[str, Values] = Field(default_factory=dict)
    exclude_tags: dict[str, Values] = Field(default_factory=dict)
    states: list[InstanceState] = Field(default_factory=_running_only)
    host_name: Values = "instance-id"
    address: Values = Field(default_factory=lambda: list(DEFAULT_ADDRESS))
    users: UsersSpec | None = None
    settings: SettingsSpec | None = None
    windows: SettingsSpec | None = None
    overrides: list[OverrideSpec] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    keyed_groups: list[KeyedGroupSpec] = Field(default_factory=list)
    cache_ttl: StrictInt = Field(default=300, ge=0)
    max_attempts: StrictInt = Field(default=5, ge=1, le=20)
    on_region_error: Literal["warn", "fail"] = "warn"


class _SourcesDoc(BaseModel):
    """Wrapper so that validation errors carry the path ``sources[i]...`` of the file."""

    sources: list[Ec2SourceSpec]


def as_list(values: Values) -> list[str]:
    """A ``str | list[str]`` option as a list."""
    return [values] if isinstance(values, str) else list(values)


@cache
def describe_instances_filters() -> frozenset[str]:
    """The filter names EC2 documents for DescribeInstances (``tag:KEY`` aside)."""
    text = resources.files(__package__).joinpath("filters.json").read_text(encoding="utf-8")
    return frozenset(json.loads(text)["names"])


def parse_sources(doc: PositionedYaml, raw: list[dict[str, Any]]) -> list[Ec2SourceSpec]:
    """Validate every ``sources:`` entry. Raises InputError naming the file and line."""
    for index, entry in enumerate(raw):
        kind = entry.get("kind")
        if kind != "ec2":
            raise doc.error(
                f"sources[{index}].kind: expected 'ec2' (the only source kind), got {kind!r}",
                ("sources", index, "kind") if "kind" in entry else ("sources", index),
            )
    try:
        specs = _SourcesDoc.model_validate({"sources": raw}).sources
    except ValidationError as exc:
        raise explain_validation_error(exc, doc, _SourcesDoc) from None
    for index, spec in enumerate(specs):
        check_source(doc, index, spec)
    return specs


def check_source(doc: PositionedYaml, index: int, spec: Ec2SourceSpec) -> None:
    """Checks beyond types: filter names, attribute keys, region names."""
    here: tuple[Any, ...] = ("sources", index)
    known = describe_instances_filters()
    for name in spec.filters:
        if name.startswith("tag:") and len(name) > 4:
            continue
        if name == "instance-state-name":
            raise doc.error(
                f"sources[{index}].filters: use 'states:' instead of the "
                "instance-state-name filter",
                (*here, "filters", name),
            )
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise doc.error(
                f"sources[{index}].filters: unknown describe-instances filter {name!r}{hint}; "
                "see the Filters of DescribeInstances in the EC2 API reference, or use "
                "tag:KEY",
                (*here, "filters", name),
            )
    for option in ("host_name", "address"):
        for position, key in enumerate(as_list(getattr(spec, option))):
            if key not in ADDRESS_KEYS and not (key.startswith("tag:") and len(key) > 4):
                raise doc.error(
                    f"sources[{index}].{option}: unknown attribute {key!r}; use one of "
                    + ", ".join(ADDRESS_KEYS)
                    + " or tag:KEY",
                    (*here, option, position)
                    if isinstance(getattr(spec, option), list)
                    else (*here, option),
                )
    for position, keyed in enumerate(spec.keyed_groups):
        if keyed.key not in GROUP_KEYS and not (
            keyed.key.startswith("tag:") and len(keyed.key) > 4
        ):
            raise doc.error(
                f"sources[{index}].keyed_groups[{position}].key: unknown key {keyed.key!r}; "
                "use tag:KEY or one of " + ", ".join(GROUP_KEYS),
                (*here, "keyed_groups", position, "key"),
            )
    if spec.regions != "all":
        if not spec.regions:
            raise doc.error(
                f"sources[{index}].regions: empty; list regions or write 'all'",
                (*here, "regions"),
            )
        for position, region in enumerate(spec.regions):
            if not _REGION.match(region):
                raise doc.error(
                    f"sources[{index}].regions: {region!r} is not a region name (like eu-west-1)",
                    (*here, "regions", position),
                )
        if len(set(spec.regions)) != len(spec.regions):
            raise doc.error(
                f"sources[{index}].regions: a region is listed twice", (*here, "regions")
            )


def unknown_region_error(
    doc: PositionedYaml, index: int, spec: Ec2SourceSpec, region: str, known: list[str]
) -> InputError:
    """The error for a region that AWS does not have (``known``: every region botocore knows)."""
    position = spec.regions.index(region) if isinstance(spec.regions, list) else 0
    close = difflib.get_close_matches(region, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return doc.error(
        f"sources[{index}].regions: region {region!r} does not exist{hint}",
        ("sources", index, "regions", position),
    )


def source_label(doc: PositionedYaml, index: int) -> str:
    """How messages name a source: ``FILE:LINE (sources[i], ec2)``."""
    return f"{doc.source}:{doc.line_of(('sources', index))} (sources[{index}], ec2)"


class MatchSpec(BaseModel):
    """``hosts.<name>.match:``: the discovered instance that this static entry names and
    overrides, instead of defining a host of its own."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str


class _MatchHolder(BaseModel):
    model_config = ConfigDict(extra="ignore")

    match: MatchSpec


class _MatchDoc(BaseModel):
    hosts: dict[str, _MatchHolder]


def pop_host_matches(doc: PositionedYaml) -> tuple[PositionedYaml, dict[str, str]]:
    """Take the ``match:`` keys out of ``hosts:`` entries (they are not host settings):
    the document without them and ``host name -> instance id``. Raises InputError for a
    malformed ``match:`` or one in a file without ``sources:``."""
    data = doc.data
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, dict):
        return doc, {}
    raw = {
        name: {"match": entry["match"]}
        for name, entry in hosts.items()
        if isinstance(entry, dict) and "match" in entry
    }
    if not raw:
        return doc, {}
    if not data.get("sources"):
        name = next(iter(raw))
        raise doc.error(
            "'match:' names a discovered instance, but this file has no 'sources:'",
            ("hosts", name, "match"),
        )
    try:
        parsed = _MatchDoc.model_validate({"hosts": raw}).hosts
    except ValidationError as exc:
        raise explain_validation_error(exc, doc, _MatchDoc) from None
    stripped = {
        name: ({k: v for k, v in entry.items() if k != "match"} if name in raw else entry)
        for name, entry in hosts.items()
    }
    cleaned = PositionedYaml(data={**data, "hosts": stripped}, source=doc.source, lines=doc.lines)
    return cleaned, {name: holder.match.instance_id for name, holder in parsed.items()}
