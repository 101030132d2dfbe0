"""Resolved inventory hosts: flat and frozen, with every group var already applied."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from fleetpatch.inventory.grammar import check_address, check_login_user

PATCH_GROUP_KEYS = ("Patch Group", "PatchGroup")

Address = Annotated[str, AfterValidator(check_address)]
"""A DNS name, an IPv4 or an IPv6 address (:mod:`fleetpatch.inventory.grammar`)."""
LoginUser = Annotated[str, AfterValidator(check_login_user)]
"""A POSIX login name, ``DOMAIN\\name`` or ``name@domain``."""


class JumpHost(BaseModel):
    """A bastion the SSH connection tunnels through."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: Address
    port: int = Field(default=22, ge=1, le=65535)
    user: LoginUser | None = None
    key_file: str | None = None


class ConnectionSettings(BaseModel):
    """How to reach and authenticate to a host. Secrets are never stored here: only the *name*
    of the environment variable that holds a password."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_file: str | None = None
    use_agent: bool = True
    password_env: str | None = None
    jump_host: JumpHost | None = None
    known_hosts: str | None = None
    sudo: bool = False
    sudo_password_env: str | None = None
    connect_timeout: float = Field(default=15.0, gt=0)
    connect_retries: int = Field(default=4, ge=0, le=10)
    """a refused connection, or one closed before login, is tried again this many times"""
    connect_retry_delay: float = Field(default=1.0, gt=0, le=60)
    """the first wait before trying again; it doubles each time (with jitter)"""
    command_timeout: float = Field(default=600.0, gt=0)
    keepalive_interval: float = Field(default=10.0, ge=0)
    """an open connection whose server answers no keepalive for 4 intervals is lost"""
    winrm_auth: Literal["ntlm", "kerberos", "basic"] = "ntlm"
    """WinRM: how to log in (basic only over HTTPS; kerberos needs the ``kerberos`` extra)"""
    winrm_scheme: Literal["http", "https"] | None = None
    """WinRM: http (messages encrypted by NTLM/Kerberos) or https; None: https on port 5986,
    http on any other port"""
    winrm_ca_bundle: str | None = None
    """WinRM over HTTPS: the CA certificates (PEM) that the host's certificate must chain to,
    instead of the system's"""
    winrm_insecure_skip_cert_validation: bool = False
    """WinRM over HTTPS: accept any certificate (anyone on the path can read and change the
    traffic, the password included); for a lab only"""


class Host(BaseModel):
    """One target host, fully resolved at load time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    address: Address
    port: int = Field(default=22, ge=1, le=65535)
    user: LoginUser | None = None
    transport: Literal["ssh", "winrm"] = "ssh"
    connection: ConnectionSettings = ConnectionSettings()
    groups: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    facts: dict[str, str] = Field(default_factory=dict)
    source: str = ""

    @property
    def winrm_scheme(self) -> str:
        """``http`` or ``https`` for a WinRM host: as set, else https on port 5986."""
        return self.connection.winrm_scheme or ("https" if self.port == 5986 else "http")

    @property
    def patch_group(self) -> str | None:
        """SSM's patch group: the ``Patch Group`` tag, else ``PatchGroup``."""
        for key in PATCH_GROUP_KEYS:
            if key in self.tags:
                return self.tags[key]
        return None


class Inventory(BaseModel):
    """The hosts of one or more inventory files, in file order, names unique."""

    model_config = ConfigDict(frozen=True)

    hosts: tuple[Host, ...]
    sources: tuple[str, ...] = ()
    known_hosts: str | None = None
    warnings: tuple[str, ...] = Field(
        default=(),
        description="non-fatal findings of the loader (e.g. a secret dropped from an Ansible "
        "inventory), each naming the file and line; the CLI prints them",
    )
