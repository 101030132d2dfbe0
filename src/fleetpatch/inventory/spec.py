"""The shape of a fleetpatch YAML inventory file, as written by the user (before resolution).

These models only check keys and types. Which keys were actually written is read back from
``model_fields_set`` so that an explicit value (even ``null``) overrides an inherited one while
an absent key inherits.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from fleetpatch.inventory.model import Address, ConnectionSettings, LoginUser


class SettingsSpec(BaseModel):
    """Keys allowed under ``defaults:`` and under a group's ``vars:``."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    user: LoginUser | None = None
    port: StrictInt = Field(default=22, ge=1, le=65535)
    transport: Literal["ssh", "winrm"] = "ssh"
    known_hosts: str | None = None
    connection: ConnectionSettings | None = None
    tags: dict[str, str] | None = None


class HostSpec(SettingsSpec):
    """Keys allowed under ``hosts.<name>:``."""

    address: Address | None = None
    vars: dict[str, Any] | None = None


class GroupSpec(BaseModel):
    """Keys allowed under ``groups.<name>:``."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    hosts: list[str] | None = None
    children: list[str] | None = None
    vars: SettingsSpec | None = None


class InventoryFileSpec(BaseModel):
    """Top-level keys of a fleetpatch inventory file."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    defaults: SettingsSpec | None = None
    hosts: dict[str, HostSpec | None] | None = None
    groups: dict[str, GroupSpec | None] | None = None
    # Dynamic sources (``kind: ec2``); each entry is validated by its kind's own model
    # (fleetpatch.inventory.ec2.spec) so that the kinds stay out of this module.
    sources: list[dict[str, Any]] | None = None
