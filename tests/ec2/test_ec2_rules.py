"""Pure parts of the ec2 source: instance records, rules, cache. No AWS, no boto3."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from fleetpatch.inventory.cache import JsonCache, cache_key
from fleetpatch.inventory.ec2.hosts import (
    discover,
    group_name,
    host_name,
    login_user,
    rules_from_spec,
    server_filters,
)
from fleetpatch.inventory.ec2.instance import Ec2Instance
from fleetpatch.inventory.ec2.spec import Ec2SourceSpec, UsersSpec
from fleetpatch.inventory.resolve import Layer

API_ITEM = {
    "InstanceId": "i-0123456789abcdef0",
    "State": {"Code": 16, "Name": "running"},
    "Placement": {"AvailabilityZone": "eu-west-1b"},
    "VpcId": "vpc-1",
    "SubnetId": "subnet-1",
    "PlatformDetails": "Red Hat Enterprise Linux",
    "ImageId": "ami-1",
    "InstanceType": "t3.micro",
    "PrivateIpAddress": "10.0.0.5",
    "PrivateDnsName": "ip-10-0-0-5.eu-west-1.compute.internal",
    "PublicDnsName": "",
    "Tags": [{"Key": "Name", "Value": "web 1"}, {"Key": "Patch Group", "Value": "web"}],
}


def spec(**options: object) -> Ec2SourceSpec:
    return Ec2SourceSpec.model_validate({"kind": "ec2", "regions": ["eu-west-1"], **options})


def test_instance_from_api_and_cache_round_trip() -> None:
    instance = Ec2Instance.from_api("eu-west-1", API_ITEM)
    assert instance.platform == "linux" and instance.public_ip_address == ""
    assert instance.attribute("tag:Patch Group") == "web"
    assert instance.attribute("private-dns-name").startswith("ip-10-0-0-5")
    assert Ec2Instance.from_json(json.loads(json.dumps(instance.to_json()))) == instance
    assert instance.facts() == {
        "instance_id": "i-0123456789abcdef0", "region": "eu-west-1",
        "availability_zone": "eu-west-1b", "vpc_id": "vpc-1", "subnet_id": "subnet-1",
        "platform": "linux", "platform_details": "Red Hat Enterprise Linux",
        "image_id": "ami-1", "instance_type": "t3.micro", "state": "running",
    }  # fmt: skip
    windows = Ec2Instance.from_api("eu-west-1", {**API_ITEM, "Platform": "windows"})
    assert windows.platform == "windows"


def test_host_name_skips_values_with_blanks() -> None:
    instance = Ec2Instance.from_api("eu-west-1", API_ITEM)
    assert host_name(instance, ["tag:Name", "private-ip-address"]) == "10.0.0.5"
    assert host_name(instance, ["tag:Missing"]) == "i-0123456789abcdef0"


def test_login_user_precedence() -> None:
    instance = Ec2Instance.from_api("eu-west-1", API_ITEM)
    users = UsersSpec(
        tag="User",
        by_image={"ami-1": "centos"},
        by_platform_details={"Red Hat Enterprise Linux": "ec2-user"},
        default="admin",
    )
    assert login_user(instance, users) == "centos"
    tagged = Ec2Instance.from_api(
        "eu-west-1", {**API_ITEM, "Tags": [{"Key": "User", "Value": "ops"}]}
    )
    assert login_user(tagged, users) == "ops"
    assert login_user(instance, users.model_copy(update={"by_image": {}})) == "ec2-user"
    assert login_user(instance, UsersSpec(default="admin")) == "admin"
    assert login_user(instance, None) is None


def test_server_filters_merge_states_and_included_tags() -> None:
    filters = dict(
        server_filters(
            spec(
                filters={"tag:Env": ["prod", "dev"], "vpc-id": "vpc-1"},
                include_tags={"Env": ["prod", "stage"], "Team": "a"},
                states=["stopped", "running"],
            )
        )
    )
    assert filters == {
        "instance-state-name": ("running", "stopped"),
        "tag:Env": ("prod",),
        "tag:Team": ("a",),
        "vpc-id": ("vpc-1",),
    }


def test_discover_rules() -> None:
    item = {**API_ITEM, "Tags": [*API_ITEM["Tags"], {"Key": "Env", "Value": "prod"}]}
    running = Ec2Instance.from_api("eu-west-1", item)
    stopped = Ec2Instance.from_api(
        "eu-west-1", {**item, "InstanceId": "i-2", "State": {"Name": "stopped"}}
    )
    no_address = Ec2Instance.from_api(
        "eu-west-1", {**item, "InstanceId": "i-3", "PrivateIpAddress": "", "PrivateDnsName": ""}
    )
    source = spec(
        keyed_groups=[{"key": "tag:Env", "prefix": "env"}, {"key": "tag:Role", "default": "none"}],
        exclude_tags={"Env": "dev"},
        overrides=[{"match_tags": {"Env": "prod"}, "port": 2200}],
    )
    rules = rules_from_spec(
        source, settings=Layer(fields={"user": "u"}), windows=Layer(), overrides=[
            Layer(fields={"port": 2200})
        ],
    )  # fmt: skip
    found, notes = discover([running, stopped, no_address], rules)
    assert [d.instance.instance_id for d in found] == ["i-0123456789abcdef0"]
    assert found[0].groups == {"env_prod", "none"}
    assert found[0].layer.fields == {"user": "u", "address": "10.0.0.5", "port": 2200}
    assert notes == [
        "i-3 (eu-west-1) has none of private-ip-address, private-dns-name, public-dns-name, "
        "public-ip-address; skipped"
    ]


def test_group_names_are_target_safe() -> None:
    assert group_name("patch group", "_", "web, db") == "patch_group_web__db"
    assert group_name("", "_", "eu-west-1") == "eu-west-1"


def test_cache_ttl_corruption_and_keys(tmp_path: Path) -> None:
    cache = JsonCache(tmp_path / "c")
    key = cache_key("a", {"x": 1, "y": 2})
    assert key == cache_key("a", {"y": 2, "x": 1}) != cache_key("b", {"x": 1, "y": 2})
    assert cache.get(key, 60) is None
    assert cache.put(key, [1, 2]) is True
    assert cache.get(key, 60) == [1, 2]
    assert cache.get(key, 0) is None  # a TTL of 0 disables the cache
    path = cache.path_of(key)
    assert os.stat(path).st_mode & 0o077 == 0
    old = time.time() - 120
    path.write_text(json.dumps({"format": 1, "written": old, "value": [1]}))
    assert cache.get(key, 60) is None and cache.get(key, 600) == [1]
    path.write_text("{not json")
    assert cache.get(key, 60) is None
    blocked = JsonCache(tmp_path / "file")
    (tmp_path / "file").write_text("")
    assert blocked.put(key, 1) is False
