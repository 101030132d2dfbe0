"""One EC2 instance as the inventory needs it: the few fields of DescribeInstances we use.

Pure data: built from an API ``Instances[]`` item or from the cache's JSON, never from I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Ec2Instance:
    """The inventory-relevant attributes of one instance ('' where EC2 gave none)."""

    instance_id: str
    region: str
    state: str = ""
    availability_zone: str = ""
    vpc_id: str = ""
    subnet_id: str = ""
    platform: str = "linux"  # EC2 says "windows" or nothing
    platform_details: str = ""
    image_id: str = ""
    instance_type: str = ""
    private_ip_address: str = ""
    private_dns_name: str = ""
    public_ip_address: str = ""
    public_dns_name: str = ""
    ipv6_address: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, region: str, item: Mapping[str, Any]) -> Ec2Instance:
        """From one ``Reservations[].Instances[]`` item of DescribeInstances."""
        return cls(
            instance_id=str(item["InstanceId"]),
            region=region,
            state=str((item.get("State") or {}).get("Name") or ""),
            availability_zone=str((item.get("Placement") or {}).get("AvailabilityZone") or ""),
            vpc_id=str(item.get("VpcId") or ""),
            subnet_id=str(item.get("SubnetId") or ""),
            platform="windows" if str(item.get("Platform") or "").lower() == "windows" else "linux",
            platform_details=str(item.get("PlatformDetails") or ""),
            image_id=str(item.get("ImageId") or ""),
            instance_type=str(item.get("InstanceType") or ""),
            private_ip_address=str(item.get("PrivateIpAddress") or ""),
            private_dns_name=str(item.get("PrivateDnsName") or ""),
            public_ip_address=str(item.get("PublicIpAddress") or ""),
            public_dns_name=str(item.get("PublicDnsName") or ""),
            ipv6_address=str(item.get("Ipv6Address") or ""),
            tags={str(t["Key"]): str(t.get("Value") or "") for t in item.get("Tags") or ()},
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the cache's format)."""
        data = asdict(self)
        data["tags"] = dict(self.tags)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Ec2Instance:
        """Inverse of :meth:`to_json`. Raises TypeError/KeyError on a malformed record."""
        return cls(**{**data, "tags": dict(data.get("tags") or {})})

    def attribute(self, key: str) -> str:
        """An address-like attribute by its EC2 filter name, or ``tag:KEY``; '' if empty."""
        if key.startswith("tag:"):
            return self.tags.get(key[4:], "")
        return str(getattr(self, key.replace("-", "_"), "") or "")

    def facts(self) -> dict[str, str]:
        """What becomes ``Host.facts`` (attributes EC2 left empty are omitted)."""
        facts = {
            "instance_id": self.instance_id,
            "region": self.region,
            "availability_zone": self.availability_zone,
            "vpc_id": self.vpc_id,
            "subnet_id": self.subnet_id,
            "platform": self.platform,
            "platform_details": self.platform_details,
            "image_id": self.image_id,
            "instance_type": self.instance_type,
            "state": self.state,
        }
        return {key: value for key, value in facts.items() if value}
