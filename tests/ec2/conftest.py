"""Fixtures for the EC2 inventory tests: a moto server with a 3-region fleet, an error
server, and an environment with fake credentials that can only reach 127.0.0.1."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.ec2.awsfake import ErrorServer, error_server, moto_server

FLEET = {"eu-west-1": 120, "us-east-1": 100, "ap-southeast-2": 80}
PATCH_GROUPS = ("web", "db", "batch")
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def aws_environ(**extra: str) -> dict[str, str]:
    """os.environ without any AWS setting, plus fake keys and no instance metadata lookups."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE_KEYS)
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
        AWS_DEFAULT_REGION="us-east-1",
    )
    env.update(extra)
    return env


@dataclass
class Fleet:
    """What the fixture created in moto (the tests compare against describe_instances too)."""

    endpoint: str
    linux_ami: str
    windows_ami: str
    windows_id: str = ""
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # instance id -> tags
    region_of: dict[str, str] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)
    terminated: set[str] = field(default_factory=set)

    def client(self, region: str) -> Any:
        import boto3

        return boto3.client(
            "ec2",
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def describe_ids(self, regions: list[str], filters: list[dict[str, Any]]) -> set[str]:
        """Ground truth: instance ids that boto3's describe_instances returns."""
        ids: set[str] = set()
        for region in regions:
            paginator = self.client(region).get_paginator("describe_instances")
            for page in paginator.paginate(Filters=filters):
                for reservation in page["Reservations"]:
                    ids.update(i["InstanceId"] for i in reservation["Instances"])
        return ids


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def fleet(moto_endpoint: str) -> Fleet:
    """~300 Linux instances in 3 regions (tags Name, Patch Group, Env, sometimes User and
    Patching), some stopped or terminated, and one Windows instance in eu-west-1."""
    saved = dict(os.environ)
    os.environ.update(aws_environ())
    try:
        return _populate(moto_endpoint)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _populate(endpoint: str) -> Fleet:
    probe = Fleet(endpoint=endpoint, linux_ami="", windows_ami="").client("eu-west-1")
    images = probe.describe_images(Owners=["amazon"])["Images"]
    linux = next(i["ImageId"] for i in images if not i.get("Platform"))
    windows = next(i["ImageId"] for i in images if i.get("Platform") == "windows")
    fleet = Fleet(endpoint=endpoint, linux_ami=linux, windows_ami=windows)
    for region, count in FLEET.items():
        client = fleet.client(region)
        started = client.run_instances(ImageId=linux, MinCount=count, MaxCount=count)
        ids = [i["InstanceId"] for i in started["Instances"]]
        by_tags: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for n, instance_id in enumerate(ids):
            tags = {
                "Name": f"{PATCH_GROUPS[n % 3]}-{region}-{n:03d}",
                "Patch Group": PATCH_GROUPS[n % 3],
                "Env": "prod" if n % 2 == 0 else "stage",
            }
            if n % 10 == 1:
                tags["User"] = "ubuntu"
            if n % 3 == 2 and n % 4 == 0:
                tags["Patching"] = "disabled"
            fleet.tags[instance_id] = tags
            fleet.region_of[instance_id] = region
            common = tuple(sorted((k, v) for k, v in tags.items() if k != "Name"))
            by_tags.setdefault(common, []).append(instance_id)
            client.create_tags(
                Resources=[instance_id], Tags=[{"Key": "Name", "Value": tags["Name"]}]
            )
        for common, members in by_tags.items():
            client.create_tags(Resources=members, Tags=[{"Key": k, "Value": v} for k, v in common])
        stop, terminate = ids[3:8], ids[8:11]
        client.stop_instances(InstanceIds=stop)
        client.terminate_instances(InstanceIds=terminate)
        fleet.stopped.update(stop)
        fleet.terminated.update(terminate)
    eu = fleet.client("eu-west-1")
    win_tags = {"Name": "win-eu-1", "Patch Group": "windows", "Env": "prod"}
    started = eu.run_instances(
        ImageId=windows,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in win_tags.items()],
            }
        ],
    )
    fleet.windows_id = started["Instances"][0]["InstanceId"]
    fleet.tags[fleet.windows_id] = win_tags
    fleet.region_of[fleet.windows_id] = "eu-west-1"
    return fleet


@pytest.fixture(scope="session")
def failing_aws() -> Iterator[ErrorServer]:
    with error_server() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Fake credentials, no AWS config files, no metadata service, a private cache dir.
    Returns the cache directory (XDG_CACHE_HOME)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    cache_home = tmp_path / "cache-home"
    for name, value in aws_environ(XDG_CACHE_HOME=str(cache_home)).items():
        if name.startswith("AWS_") or name == "XDG_CACHE_HOME":
            monkeypatch.setenv(name, value)
    return cache_home


WriteInventory = Callable[[str], Path]


@pytest.fixture
def write_inventory(tmp_path: Path, fleet: Fleet) -> WriteInventory:
    """Write a dedented inventory; ``{endpoint}`` is replaced by the moto endpoint."""
    counter = iter(range(1000))

    def _write(text: str) -> Path:
        path = tmp_path / f"inv-{next(counter)}.yaml"
        body = textwrap.dedent(text).lstrip("\n").replace("{endpoint}", fleet.endpoint)
        path.write_text(body, encoding="utf-8")
        return path

    return _write
