"""The ec2 inventory source against a moto server (boto3 unchanged, endpoint_url on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetpatch.errors import InputError
from fleetpatch.inventory.loader import load_inventory
from fleetpatch.inventory.model import Host
from fleetpatch.inventory.targets import select_hosts
from tests.ec2.awsfake import ErrorServer
from tests.ec2.conftest import FLEET, Fleet, WriteInventory

pytestmark = pytest.mark.usefixtures("aws_env")
RUNNING = [{"Name": "instance-state-name", "Values": ["running"]}]
REGIONS = list(FLEET)


def by_id(hosts: tuple[Host, ...]) -> dict[str, Host]:
    return {h.facts["instance_id"]: h for h in hosts if "instance_id" in h.facts}


def test_discovers_running_instances_of_every_region(
    write_inventory: WriteInventory, fleet: Fleet
) -> None:
    path = write_inventory(
        """
        sources:
          - kind: ec2
            regions: [eu-west-1, us-east-1, ap-southeast-2]
            endpoint_url: {endpoint}
        """
    )
    inventory = load_inventory([path])
    hosts = by_id(inventory.hosts)
    assert set(hosts) == fleet.describe_ids(REGIONS, RUNNING)
    assert len(hosts) == sum(FLEET.values()) + 1 - len(fleet.stopped) - len(fleet.terminated)
    assert not (set(hosts) & (fleet.stopped | fleet.terminated))
    assert inventory.warnings == ()
    some = next(i for i in sorted(hosts) if i != fleet.windows_id)  # a Linux instance
    host = hosts[some]
    assert host.name == some  # default host_name: the instance id
    assert host.tags == fleet.tags[some]
    assert host.facts["region"] == fleet.region_of[some]
    assert host.facts["availability_zone"].startswith(fleet.region_of[some])
    assert host.facts["vpc_id"].startswith("vpc-")
    assert host.facts["image_id"] == fleet.linux_ami
    assert host.facts["state"] == "running"
    assert host.facts["platform"] == "linux"
    assert host.address.startswith("10.")  # private-ip-address comes first
    assert host.transport == "ssh" and host.port == 22
    assert host.source == str(path)


def test_windows_instance_is_reached_over_winrm(
    write_inventory: WriteInventory, fleet: Fleet
) -> None:
    path = write_inventory(
        """
        defaults: { user: patcher, connection: { sudo: true } }
        sources:
          - kind: ec2
            regions: [eu-west-1]
            endpoint_url: {endpoint}
            windows: { user: Administrator, connection: { password_env: FP_WIN } }
        """
    )
    hosts = by_id(load_inventory([path]).hosts)
    win = hosts[fleet.windows_id]
    assert (win.transport, win.port, win.user) == ("winrm", 5986, "Administrator")
    assert win.connection.sudo is False and win.connection.password_env == "FP_WIN"
    assert win.facts["platform"] == "windows" and win.patch_group == "windows"
    linux = next(h for i, h in hosts.items() if i != fleet.windows_id)
    assert (linux.transport, linux.port, linux.user, linux.connection.sudo) == (
        "ssh", 22, "patcher", True
    )  # fmt: skip


def test_names_users_groups_and_every_target_kind(
    write_inventory: WriteInventory, fleet: Fleet
) -> None:
    path = write_inventory(
        """
        sources:
          - kind: ec2
            regions: [eu-west-1, us-east-1]
            endpoint_url: {endpoint}
            host_name: [tag:Name, instance-id]
            users: { tag: User, default: ec2-user }
            groups: [aws]
            keyed_groups:
              - { key: "tag:Env", prefix: env }
              - { key: "tag:Patch Group", prefix: patch group }
              - { key: region }
        """
    )
    inventory = load_inventory([path])
    hosts = by_id(inventory.hosts)
    web_eu = fleet.describe_ids(
        ["eu-west-1"], [*RUNNING, {"Name": "tag:Patch Group", "Values": ["web"]}]
    )
    for instance_id in web_eu:
        host = hosts[instance_id]
        assert host.name == fleet.tags[instance_id]["Name"]
        env = fleet.tags[instance_id]["Env"]
        assert set(host.groups) == {"aws", f"env_{env}", "patch_group_web", "eu-west-1"}
        assert host.user == fleet.tags[instance_id].get("User", "ec2-user")

    def ids(*targets: str) -> set[str]:
        return {h.facts["instance_id"] for h in select_hosts(inventory, list(targets))}

    regions = ["eu-west-1", "us-east-1"]
    assert ids("tag:Patch Group=web") == fleet.describe_ids(
        regions, [*RUNNING, {"Name": "tag:Patch Group", "Values": ["web"]}]
    )
    assert ids("tag-key:User") == fleet.describe_ids(
        regions, [*RUNNING, {"Name": "tag-key", "Values": ["User"]}]
    )
    assert ids("group:env_prod", "group:patch_group_db") == fleet.describe_ids(
        regions,
        [
            *RUNNING,
            {"Name": "tag:Env", "Values": ["prod"]},
            {"Name": "tag:Patch Group", "Values": ["db"]},
        ],
    )
    one = sorted(web_eu)[0]
    assert ids(f"instanceids:{one}") == {one}
    assert ids("web-eu-west-1-*") == web_eu
    assert ids("group:us-east-1") == fleet.describe_ids(["us-east-1"], RUNNING)


def test_include_exclude_tags_and_filters(write_inventory: WriteInventory, fleet: Fleet) -> None:
    path = write_inventory(
        """
        sources:
          - kind: ec2
            regions: [us-east-1, ap-southeast-2]
            endpoint_url: {endpoint}
            filters: { "tag:Patch Group": [db, batch] }
            include_tags: { Env: prod }
            exclude_tags: { Patching: [disabled] }
        """
    )
    got = set(by_id(load_inventory([path]).hosts))
    expected = {
        i
        for i in fleet.describe_ids(
            ["us-east-1", "ap-southeast-2"],
            [
                *RUNNING,
                {"Name": "tag:Patch Group", "Values": ["db", "batch"]},
                {"Name": "tag:Env", "Values": ["prod"]},
            ],
        )
        if fleet.tags[i].get("Patching") != "disabled"
    }
    assert got == expected and expected
    assert any(fleet.tags[i].get("Patching") == "disabled" for i in fleet.tags)


def test_stopped_instances_on_request(write_inventory: WriteInventory, fleet: Fleet) -> None:
    path = write_inventory(
        """
        sources:
          - { kind: ec2, regions: [eu-west-1], endpoint_url: {endpoint}, states: [stopped] }
        """
    )
    got = set(by_id(load_inventory([path]).hosts))
    assert got == {i for i in fleet.stopped if fleet.region_of[i] == "eu-west-1"}


def test_mixed_file_resolves_to_plain_hosts_with_overrides(
    write_inventory: WriteInventory, fleet: Fleet, tmp_path: Path
) -> None:
    web = sorted(
        fleet.describe_ids(
            ["eu-west-1"], [*RUNNING, {"Name": "tag:Patch Group", "Values": ["web"]}]
        )
    )
    named, shorthand = web[0], web[1]
    path = write_inventory(
        f"""
        defaults: {{ user: patcher, connection: {{ sudo: true }}, tags: {{ Owner: ops }} }}
        sources:
          - kind: ec2
            regions: [eu-west-1]
            endpoint_url: {{endpoint}}
            include_tags: {{ "Patch Group": web }}
            settings: {{ connection: {{ command_timeout: 900 }} }}
            overrides:
              - match_tags: {{ Env: stage }}
                tags: {{ Stage: "yes" }}
        hosts:
          onprem-web-1: {{ address: 10.9.0.1, tags: {{ "Patch Group": web }} }}
          legacy-web:
            match: {{ instance_id: {named} }}
            user: admin
            connection: {{ sudo: false }}
          {shorthand}: {{ port: 2222 }}
        groups:
          legacy: {{ hosts: [legacy-web], vars: {{ tags: {{ Legacy: "true" }} }} }}
        """
    )
    inventory = load_inventory([path])
    hosts = {h.name: h for h in inventory.hosts}
    assert inventory.hosts[0].name == "onprem-web-1"
    assert len(hosts) == len(web) + 1
    legacy = hosts["legacy-web"]
    assert legacy.facts["instance_id"] == named
    assert (legacy.user, legacy.connection.sudo, legacy.connection.command_timeout) == (
        "admin", False, 900.0
    )  # fmt: skip
    assert legacy.groups == ("legacy",) and legacy.tags["Legacy"] == "true"
    assert legacy.tags["Owner"] == "ops" and legacy.patch_group == "web"
    assert hosts[shorthand].port == 2222 and hosts[shorthand].user == "patcher"
    stage = [h for h in inventory.hosts if h.tags.get("Env") == "stage"]
    assert stage and all(h.tags.get("Stage") == "yes" for h in stage if "instance_id" in h.facts)
    selected = select_hosts(inventory, ["tag:Patch Group=web"])
    assert len(selected) == len(hosts)
    # Discovered hosts are ordinary, fully resolved Host values, like static ones.
    assert all(type(h) is Host and h.address for h in selected)
    assert hosts["onprem-web-1"].connection.command_timeout == 600.0


def test_override_matching_nothing_is_a_warning(write_inventory: WriteInventory) -> None:
    path = write_inventory(
        """
        sources:
          - { kind: ec2, regions: [eu-west-1], endpoint_url: {endpoint} }
        hosts:
          i-0123456789abcdef0: { user: admin }
        """
    )
    inventory = load_inventory([path])
    assert "i-0123456789abcdef0" not in {h.name for h in inventory.hosts}
    assert any("no discovered instance" in w and ":4:" in w for w in inventory.warnings)


def test_duplicate_names_fall_back_to_instance_ids(write_inventory: WriteInventory) -> None:
    path = write_inventory(
        """
        sources:
          - kind: ec2
            regions: [us-east-1]
            endpoint_url: {endpoint}
            host_name: ["tag:Patch Group", instance-id]
        """
    )
    inventory = load_inventory([path])
    assert all(h.name == h.facts["instance_id"] for h in inventory.hosts)
    assert any("'web'" in w and "more than once" in w for w in inventory.warnings)


def test_all_enabled_regions(write_inventory: WriteInventory, fleet: Fleet) -> None:
    path = write_inventory(
        """
        sources:
          - { kind: ec2, regions: all, endpoint_url: {endpoint} }
        """
    )
    regions = [r["RegionName"] for r in fleet.client("us-east-1").describe_regions()["Regions"]]
    assert set(by_id(load_inventory([path]).hosts)) == fleet.describe_ids(regions, RUNNING)


def test_failing_region_is_a_warning(
    write_inventory: WriteInventory, fleet: Fleet, failing_aws: ErrorServer
) -> None:
    path = write_inventory(
        f"""
        sources:
          - kind: ec2
            regions: [eu-west-1, us-west-2, eu-south-1]
            endpoint_url: {{endpoint}}
            endpoint_urls:
              us-west-2: {failing_aws.endpoint("authfailure")}
              eu-south-1: {failing_aws.endpoint("optin")}
        """
    )
    inventory = load_inventory([path])
    assert set(by_id(inventory.hosts)) == fleet.describe_ids(["eu-west-1"], RUNNING)
    assert len(inventory.warnings) == 2
    first, second = inventory.warnings
    assert (
        f"{path}:2 (sources[0], ec2)" in first and "region us-west-2 skipped: AuthFailure" in first
    )
    assert "region eu-south-1 skipped: OptInRequired" in second


def test_throttled_region_is_retried_then_skipped(
    write_inventory: WriteInventory, failing_aws: ErrorServer
) -> None:
    before = failing_aws.hits.get("throttled", 0)
    path = write_inventory(
        f"""
        sources:
          - kind: ec2
            regions: [eu-west-1, us-west-1]
            endpoint_url: {{endpoint}}
            endpoint_urls: {{ us-west-1: {failing_aws.endpoint("throttled")} }}
            max_attempts: 2
        """
    )
    inventory = load_inventory([path])
    assert failing_aws.hits["throttled"] - before == 2
    assert ["RequestLimitExceeded" in w and "us-west-1" in w for w in inventory.warnings] == [True]


def test_region_failure_can_be_fatal(
    write_inventory: WriteInventory, failing_aws: ErrorServer
) -> None:
    path = write_inventory(
        f"""
        sources:
          - kind: ec2
            regions: [eu-west-1, us-west-2]
            endpoint_url: {{endpoint}}
            endpoint_urls: {{ us-west-2: {failing_aws.endpoint("authfailure")} }}
            on_region_error: fail
        """
    )
    with pytest.raises(InputError, match=r"a region failed: us-west-2: AuthFailure"):
        load_inventory([path])


def test_every_region_failing_is_an_error(
    write_inventory: WriteInventory, failing_aws: ErrorServer
) -> None:
    path = write_inventory(
        f"""
        hosts:
          onprem-1: {{}}
        sources:
          - kind: ec2
            regions: [us-west-2, eu-south-1]
            endpoint_urls:
              us-west-2: {failing_aws.endpoint("authfailure")}
              eu-south-1: {failing_aws.endpoint("optin")}
        """
    )
    with pytest.raises(InputError) as caught:
        load_inventory([path])
    message = str(caught.value)
    assert message.startswith(f"{path}:4: sources[0] (ec2): every region failed: ")
    assert "us-west-2: AuthFailure" in message and "eu-south-1: OptInRequired" in message


def test_filter_rejected_by_ec2_is_an_input_error(
    write_inventory: WriteInventory, failing_aws: ErrorServer
) -> None:
    path = write_inventory(
        f"""
        sources:
          - kind: ec2
            regions: [eu-west-1]
            endpoint_url: {failing_aws.endpoint("badfilter")}
            filters: {{ instance-type: t3.nano }}
        """
    )
    with pytest.raises(
        InputError,
        match=r"EC2 rejected the request in eu-west-1: "
        r"InvalidParameterValue: The filter 'instance-colour' is invalid",
    ):
        load_inventory([path])


def test_cache_is_used_until_refresh(
    write_inventory: WriteInventory, fleet: Fleet, aws_env: Path
) -> None:
    client = fleet.client("ca-central-1")
    client.run_instances(ImageId=fleet.linux_ami, MinCount=2, MaxCount=2)
    text = """
        sources:
          - { kind: ec2, regions: [ca-central-1], endpoint_url: {endpoint}, cache_ttl: 600 }
        """
    path = write_inventory(text)
    assert len(load_inventory([path]).hosts) == 2
    assert len(list((aws_env / "fleetpatch").rglob("ec2-*.json"))) == 1
    client.run_instances(ImageId=fleet.linux_ami, MinCount=1, MaxCount=1)
    assert len(load_inventory([path]).hosts) == 2  # from the cache
    assert len(load_inventory([path], refresh_inventory=True).hosts) == 3
    assert len(load_inventory([path]).hosts) == 3  # the refresh updated the cache
    client.run_instances(ImageId=fleet.linux_ami, MinCount=1, MaxCount=1)
    no_cache = write_inventory(text.replace("cache_ttl: 600", "cache_ttl: 0"))
    assert len(load_inventory([no_cache]).hosts) == 4
    # A different query is a different cache entry.
    other = write_inventory(text.replace("cache_ttl: 600", "states: [running, stopped]"))
    assert len(load_inventory([other]).hosts) == 4


def test_cached_answers_need_no_credentials(
    write_inventory: WriteInventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_inventory(
        """
        sources:
          - { kind: ec2, regions: [us-east-1], endpoint_url: {endpoint} }
        """
    )
    count = len(load_inventory([path]).hosts)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert len(load_inventory([path]).hosts) == count


@pytest.mark.parametrize(
    ("tags", "settings", "fragment"),
    [
        pytest.param(
            {"Owner": "ad min"},
            "users: { tag: Owner }",
            "user: expected a login name (name, DOMAIN\\name or name@domain): it contains "
            "whitespace, got 'ad min'",
            id="user-from-a-tag",
        ),
        pytest.param(
            {"Addr": "-oProxyCommand=x"},
            "address: [tag:Addr, private-ip-address]",
            "address: expected an address (a DNS name, an IPv4 or an IPv6 address): it starts "
            "with '-'",
            id="address-from-a-tag",
        ),
    ],
)
def test_a_discovered_value_outside_its_grammar_is_an_input_error(
    write_inventory: WriteInventory,
    fleet: Fleet,
    tags: dict[str, str],
    settings: str,
    fragment: str,
) -> None:
    """Tags are written by whoever may tag instances: a tag that becomes a login user or an
    address is checked like a value written in the file."""
    case = "-".join(tags)
    client = fleet.client("sa-east-1")
    started = client.run_instances(
        ImageId=fleet.linux_ami,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "FpGrammar", "Value": case}]
                + [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ],
    )
    instance_id = started["Instances"][0]["InstanceId"]
    path = write_inventory(
        f"""
        sources:
          - kind: ec2
            regions: [sa-east-1]
            endpoint_url: {{endpoint}}
            include_tags: {{ FpGrammar: {case} }}
            {settings}
        """
    )
    with pytest.raises(InputError) as caught:
        load_inventory([path])
    error = caught.value
    assert (error.path, error.location) == (str(path), "2")
    assert f"discovered instance {instance_id}: {fragment}" in str(error)


def test_a_user_written_for_discovered_instances_is_checked_where_it_is_written(
    write_inventory: WriteInventory,
) -> None:
    path = write_inventory(
        """
        sources:
          - kind: ec2
            regions: [eu-west-1]
            endpoint_url: {endpoint}
            users:
              default: 'ec2 user'
        """
    )
    with pytest.raises(InputError) as caught:
        load_inventory([path])
    assert caught.value.location == "6"
    assert "users.default: expected a login name" in str(caught.value)
