"""Target selection: parsing, OR inside one target, AND across targets, helpful errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetpatch.errors import InputError
from fleetpatch.inventory.model import Host, Inventory
from fleetpatch.inventory.targets import Target, parse_target, select_hosts


def host(name: str, *, tags: dict[str, str] | None = None, groups: tuple[str, ...] = (),
         instance_id: str | None = None) -> Host:  # fmt: skip
    facts = {"instance_id": instance_id} if instance_id else {}
    return Host(name=name, address=name, tags=tags or {}, groups=groups, facts=facts)


FLEET = Inventory(
    hosts=(
        host("web-1", tags={"Env": "prod", "Patch Group": "web"}, groups=("web",),
             instance_id="i-001"),
        host("web-2", tags={"Env": "stage", "Patch Group": "web"}, groups=("web",),
             instance_id="i-002"),
        host("db-1", tags={"Env": "prod", "Patch Group": "db", "Backup": ""}, groups=("db",)),
        host("db-2", tags={"Env": "dev"}, groups=("db", "legacy")),
        host("win-1", tags={"PatchGroup": "windows"}, instance_id="i-003"),
    )
)  # fmt: skip


def names(hosts: tuple[Host, ...]) -> list[str]:
    return [h.name for h in hosts]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("tag:Env=prod", Target("tag", ("prod",), key="Env", expression="tag:Env=prod")),
        ("tag:Patch Group=web", Target("tag", ("web",), "Patch Group", "tag:Patch Group=web")),
        ("tag:Env=prod, stage", Target("tag", ("prod", "stage"), "Env", "tag:Env=prod, stage")),
        ("tag:K=a=b", Target("tag", ("a=b",), key="K", expression="tag:K=a=b")),
        ("tag-key:Patch Group", Target("tag-key", ("Patch Group",), None, "tag-key:Patch Group")),
        ("group:web,db", Target("group", ("web", "db"), expression="group:web,db")),
        ("instanceids:i-1,i-2", Target("instanceids", ("i-1", "i-2"), None, "instanceids:i-1,i-2")),
        ("web-*,db-1", Target("name", ("web-*", "db-1"), expression="web-*,db-1")),
        ("name:fe80::1", Target("name", ("fe80::1",), expression="name:fe80::1")),
    ],
)
def test_parse_target(expression: str, expected: Target) -> None:
    assert parse_target(expression) == expected


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("", "empty target"),
        ("tag:", "the key is missing"),
        ("tag:=prod", "the key is missing"),
        ("tag:Env", "expected tag:Key=Value (to select on the key alone, use tag-key:Env)"),
        ("tag:Env=", "a value is empty"),
        ("tag:Env=prod,", "a value is empty"),
        ("group:", "a value is empty"),
        ("tag-key:", "a value is empty"),
        ("instanceids:", "a value is empty"),
        ("tags:Env=prod", "unknown kind 'tags:'"),
        ("web-1,,db-1", "a value is empty"),
    ],
)
def test_malformed_targets(expression: str, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_target(expression)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ([], ["web-1", "web-2", "db-1", "db-2", "win-1"]),
        (["tag:Env=prod"], ["web-1", "db-1"]),
        (["tag:Env=prod,stage"], ["web-1", "web-2", "db-1"]),
        (["tag:Patch Group=web"], ["web-1", "web-2"]),
        (["tag-key:PatchGroup"], ["win-1"]),
        (["tag-key:Backup"], ["db-1"]),
        (["tag-key:Patch Group,PatchGroup"], ["web-1", "web-2", "db-1", "win-1"]),
        (["group:db"], ["db-1", "db-2"]),
        (["group:legacy,web"], ["web-1", "web-2", "db-2"]),
        (["instanceids:i-003,i-001"], ["web-1", "win-1"]),
        (["web-*"], ["web-1", "web-2"]),
        (["*-1"], ["web-1", "db-1", "win-1"]),
        (["db-[12]"], ["db-1", "db-2"]),
        (["win-1,db-*"], ["db-1", "db-2", "win-1"]),
        (["tag:Env=prod", "group:db"], ["db-1"]),
        (["tag:Env=prod,stage,dev", "web-*", "instanceids:i-002"], ["web-2"]),
    ],
)
def test_select_hosts_keeps_inventory_order(targets: list[str], expected: list[str]) -> None:
    assert names(select_hosts(FLEET, targets)) == expected


@pytest.mark.parametrize(
    ("targets", "fragments"),
    [
        (["tag:Env=nope"], ["target 'tag:Env=nope' matches no host",
                            "known values of tag 'Env': 'dev', 'prod', 'stage'"]),
        (["tag:Nope=x"], ["known tag keys: 'Backup', 'Env', 'Patch Group', 'PatchGroup'"]),
        (["tag-key:env"], ["known tag keys:"]),
        (["group:dbs"], ["known groups: 'db', 'legacy', 'web'"]),
        (["instanceids:i-999"], ["known instance ids: 'i-001', 'i-002', 'i-003'"]),
        (["app-*"], ["target 'app-*' matches no host", "5 host(s), e.g. web-1, web-2"]),
        (["group:web", "tag:Env=dev"], ["'group:web' AND 'tag:Env=dev' match no host together"]),
    ],
)  # fmt: skip
def test_targets_matching_nothing_explain_what_exists(
    targets: list[str], fragments: list[str]
) -> None:
    with pytest.raises(InputError) as caught:
        select_hosts(FLEET, targets)
    for fragment in fragments:
        assert fragment in str(caught.value)


# -- properties ------------------------------------------------------------------------------

TAG_KEYS = ["Env", "Patch Group", "Role"]
TAG_VALUES = ["prod", "stage", "web", "db"]
GROUPS = ["web", "db", "eu", "us"]
GLOBS = ["h-1", "h-1*", "h-?", "x*", "*", "h-[0-3]"]

hosts_strategy = st.lists(
    st.builds(
        lambda tags, groups, iid: (tags, tuple(sorted(groups)), iid),
        st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(TAG_VALUES), max_size=3),
        st.sets(st.sampled_from(GROUPS), max_size=3),
        st.sampled_from(["i-1", "i-2", "i-3", None]),
    ),
    min_size=1,
    max_size=12,
)


def build(specs: list[tuple[dict[str, str], tuple[str, ...], str | None]]) -> Inventory:
    return Inventory(
        hosts=tuple(
            host(f"h-{i}", tags=tags, groups=groups, instance_id=iid)
            for i, (tags, groups, iid) in enumerate(specs)
        )
    )


def value_lists(choices: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(choices), min_size=1, max_size=3)


# (prefix, values a, values b): "prefix + a" and "prefix + b" are targets of the same kind
or_pair_strategy = st.one_of(
    st.builds(lambda k, a, b: (f"tag:{k}=", a, b), st.sampled_from(TAG_KEYS),
              value_lists(TAG_VALUES), value_lists(TAG_VALUES)),
    st.builds(lambda a, b: ("tag-key:", a, b), value_lists(TAG_KEYS), value_lists(TAG_KEYS)),
    st.builds(lambda a, b: ("group:", a, b), value_lists(GROUPS), value_lists(GROUPS)),
    st.builds(lambda a, b: ("instanceids:", a, b), value_lists(["i-1", "i-2", "i-9"]),
              value_lists(["i-1", "i-2", "i-9"])),
    st.builds(lambda a, b: ("", a, b), value_lists(GLOBS), value_lists(GLOBS)),
)  # fmt: skip
expression_strategy = or_pair_strategy.map(lambda pair: pair[0] + ",".join(pair[1]))


def matching(inventory: Inventory, expression: str) -> set[str]:
    target = parse_target(expression)
    return {h.name for h in inventory.hosts if target.matches(h)}


@given(hosts_strategy, or_pair_strategy)
def test_values_in_one_target_are_ored(
    specs: list[tuple[dict[str, str], tuple[str, ...], str | None]],
    pair: tuple[str, list[str], list[str]],
) -> None:
    inventory = build(specs)
    prefix, first, second = pair
    union = matching(inventory, prefix + ",".join(first)) | matching(
        inventory, prefix + ",".join(second)
    )
    combined = prefix + ",".join(first + second)
    assert matching(inventory, combined) == union
    if union:
        assert names(select_hosts(inventory, [combined])) == [
            h.name for h in inventory.hosts if h.name in union
        ]
    else:
        with pytest.raises(InputError, match="matches no host"):
            select_hosts(inventory, [combined])


@given(hosts_strategy, st.lists(expression_strategy, min_size=1, max_size=4))
def test_targets_are_anded(
    specs: list[tuple[dict[str, str], tuple[str, ...], str | None]], expressions: list[str]
) -> None:
    inventory = build(specs)
    expected = set.intersection(*(matching(inventory, e) for e in expressions))
    in_order = [h.name for h in inventory.hosts if h.name in expected]
    if expected:
        assert names(select_hosts(inventory, expressions)) == in_order
    else:
        with pytest.raises(InputError, match="match"):
            select_hosts(inventory, expressions)


@given(hosts_strategy)
def test_no_targets_select_everything(
    specs: list[tuple[dict[str, str], tuple[str, ...], str | None]],
) -> None:
    inventory = build(specs)
    assert select_hosts(inventory, []) == inventory.hosts
