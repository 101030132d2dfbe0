"""The real CLI on the shipped example, against moto (AWS_ENDPOINT_URL points boto3 at it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ec2.conftest import Fleet, aws_environ

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventory" / "ec2-example.yaml"


def run_cli(fleet: Fleet, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = aws_environ(AWS_ENDPOINT_URL=fleet.endpoint, XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.run(
        [sys.executable, "-m", "fleetpatch", "inventory", "list", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_example_lists_the_web_patch_group(fleet: Fleet, tmp_path: Path) -> None:
    result = run_cli(
        fleet, tmp_path, "-i", str(EXAMPLE), "--target", "tag:Patch Group=web", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    expected = fleet.describe_ids(
        ["eu-west-1", "us-east-1"],
        [
            {"Name": "instance-state-name", "Values": ["running"]},
            {"Name": "tag:Patch Group", "Values": ["web"]},
        ],
    )
    assert {h["facts"]["instance_id"] for h in listed} == expected
    assert len(listed) == len(expected) > 50
    host = listed[0]
    assert host["name"] == fleet.tags[host["facts"]["instance_id"]]["Name"]
    assert host["patch_group"] == "web" and host["tags"]["Owner"] == "platform-team"
    assert {"aws", "pg_web"} <= set(host["groups"])
    assert {"instance_id", "region", "availability_zone", "vpc_id", "platform", "image_id",
            "state"} <= set(host["facts"])  # fmt: skip
    # The cache answers the second run; --refresh-inventory asks EC2 again.
    again = run_cli(fleet, tmp_path, "-i", str(EXAMPLE), "-t", "group:onprem", "--format", "json")
    assert [h["name"] for h in json.loads(again.stdout)] == ["onprem-db-1"]
    refreshed = run_cli(
        fleet, tmp_path, "-i", str(EXAMPLE), "--refresh-inventory", "-t", "tag:Patch Group=web",
        "--format", "json",
    )  # fmt: skip
    assert refreshed.returncode == 0 and json.loads(refreshed.stdout) == listed


def test_bad_source_exits_2(fleet: Fleet, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - { kind: ec2, regions: [eu-west-1], filters: { colour: red } }\n")
    result = run_cli(fleet, tmp_path, "-i", str(bad))
    assert result.returncode == 2
    assert f"{bad}:2: sources[0].filters: unknown describe-instances filter 'colour'" in (
        result.stderr.replace("\n", "")
    )


@pytest.fixture(autouse=True)
def _needs_boto3() -> None:
    pytest.importorskip("boto3")
