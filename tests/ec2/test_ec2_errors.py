"""Bad ec2 source entries: each a clear InputError naming the file, the line and the problem.
None of these reach the network (credentials and names are checked first)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fleetpatch.errors import InputError
from fleetpatch.inventory.loader import load_inventory

pytest.importorskip("boto3")
pytestmark = pytest.mark.usefixtures("aws_env")


def load_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    load_inventory([path])


def expect_error(tmp_path: Path, text: str, line: int, *fragments: str) -> InputError:
    with pytest.raises(InputError) as caught:
        load_text(tmp_path, text)
    error = caught.value
    assert error.path == str(tmp_path / "inv.yaml"), str(error)
    assert error.location == str(line), str(error)
    for fragment in fragments:
        assert fragment in str(error)
    return error


def test_unknown_filter_name(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        """
        sources:
          - kind: ec2
            regions: [eu-west-1]
            filters:
              tag:Env: prod
              instance-typ: t3.micro
        """,
        6,
        "sources[0].filters: unknown describe-instances filter 'instance-typ'",
        "did you mean 'instance-type'?",
    )


def test_state_filter_points_to_states(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        """
        sources:
          - { kind: ec2, regions: [eu-west-1], filters: { instance-state-name: running } }
        """,
        2,
        "use 'states:'",
    )


def test_region_that_does_not_exist(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        """
        sources:
          - kind: ec2
            regions:
              - eu-west-1
              - eu-west-9
        """,
        5,
        "sources[0].regions: region 'eu-west-9' does not exist",
        "did you mean",
    )


def test_region_name_malformed(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        """
        sources:
          - { kind: ec2, regions: [Ireland] }
        """,
        2,
        "'Ireland' is not a region name",
    )


def test_missing_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(InputError) as caught:
        load_text(
            tmp_path,
            """
            hosts: { web-1: {} }
            sources:
              - { kind: ec2, regions: [eu-west-1], endpoint_url: "http://127.0.0.1:9" }
            """,
        )
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'inv.yaml'}:3 (sources[0], ec2): ")
    assert "no AWS credentials found (via the default credential chain)" in message


def test_profile_not_found(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\(sources\[0\], ec2\): AWS profile 'nope' not found"):
        load_text(
            tmp_path,
            """
            sources:
              - { kind: ec2, regions: [eu-west-1], profile: nope }
            """,
        )


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            """
            sources:
              - kind: ec2
                region: [eu-west-1]
            """,
            2,  # the first problem (regions missing) is on line 2; this one is listed too
            "unknown key 'region' in sources[0] (did you mean 'regions'?)",
        ),
        ("sources:\n  - { kind: gcp, regions: [x] }\n", 2, "expected 'ec2'"),
        ("sources:\n  - { kind: ec2, regions: [eu-west-1], cache_ttl: -1 }\n", 2, "cache_ttl"),
        ("sources:\n  - { kind: ec2, regions: [] }\n", 2, "regions: empty"),
        (
            "sources:\n  - { kind: ec2, regions: [eu-west-1], address: [private-ip] }\n",
            2,
            "unknown attribute 'private-ip'",
        ),
        (
            "sources:\n  - kind: ec2\n    regions: [eu-west-1]\n    keyed_groups: [{key: env}]\n",
            4,
            "keyed_groups[0].key: unknown key 'env'",
        ),
        (
            "sources:\n  - kind: ec2\n    regions: [eu-west-1]\n"
            "    endpoint_urls: { us-east-1: 'http://127.0.0.1:9' }\n",
            4,
            "'us-east-1' is not one of the regions",
        ),
        (
            "hosts:\n  web-1:\n    match: { instance_id: i-0123456789abcdef0 }\n",
            3,
            "this file has no 'sources:'",
        ),
        (
            "sources: [{ kind: ec2, regions: [eu-west-1] }]\n"
            "hosts:\n  web-1:\n    match: { instanceid: i-1 }\n",
            4,
            "unknown key 'instanceid' in hosts.web-1.match",
        ),
    ],
)
def test_bad_source_entries(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    expect_error(tmp_path, text, line, fragment)
