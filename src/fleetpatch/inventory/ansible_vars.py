"""What Ansible (and ``fp_*``) variables mean for one host.

:class:`HostVars` takes the variable levels of a host in precedence order, merges them and
builds the :class:`Host`. Values from INI files arrive as strings, from YAML as YAML scalars;
both are accepted. Every conversion error names the file and the line that set the variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleetpatch.errors import InputError
from fleetpatch.inventory.ansible_doc import Var
from fleetpatch.inventory.grammar import (
    ADDRESS_EXPECTED,
    USER_EXPECTED,
    address_problem,
    login_user_problem,
)
from fleetpatch.inventory.model import Host, JumpHost
from fleetpatch.inventory.resolve import (
    Layer,
    build_host,
    existing_ca_bundle,
    existing_key_file,
    fact_text,
    resolve_path,
)
from fleetpatch.inventory.yamlpos import VaultValue

FP_VARS: dict[str, str] = {
    "fp_patch_group": "the 'Patch Group' tag",
    "fp_tags": "tags: a mapping, or 'Key=Value,Key2=Value2'; merged key by key across levels",
    "fp_transport": "ssh or winrm (overrides ansible_connection)",
    "fp_sudo": "true/false (overrides ansible_become)",
    "fp_use_agent": "true/false: offer keys from ssh-agent",
    "fp_password_env": "name of the environment variable holding the login password",
    "fp_sudo_password_env": "name of the environment variable holding the sudo password",
    "fp_known_hosts": "known_hosts file",
    "fp_jump_host": "[user@]host[:port], or a mapping with address, port, user, key_file",
    "fp_connect_timeout": "seconds, > 0",
    "fp_command_timeout": "seconds, > 0",
    "fp_keepalive_interval": "seconds, >= 0",
    "fp_connect_retries": "0-10: times a refused connection (or one closed before login) is "
    "tried again",
    "fp_connect_retry_delay": "seconds, > 0: the first wait before trying again",
    "fp_winrm_auth": "ntlm, kerberos or basic (overrides ansible_winrm_transport)",
    "fp_winrm_scheme": "http or https (overrides ansible_winrm_scheme)",
    "fp_winrm_ca_bundle": "CA certificates (PEM) the host's HTTPS certificate must chain to",
    "fp_winrm_insecure_skip_cert_validation": "true/false: accept any HTTPS certificate (a lab "
    "only)",
}
_ADDRESS = ("ansible_host", "ansible_ssh_host")
_PORT = ("ansible_port", "ansible_ssh_port")
_USER = ("ansible_user", "ansible_ssh_user")
_KEY = ("ansible_ssh_private_key_file", "ansible_private_key_file")
_WINRM_VARS = (
    "ansible_winrm_transport",
    "ansible_winrm_scheme",
    "ansible_winrm_server_cert_validation",
    "ansible_winrm_ca_trust_path",
    "ansible_winrm_message_encryption",
)
_CONSUMED = frozenset(
    (*_ADDRESS, *_PORT, *_USER, *_KEY, *_WINRM_VARS, "ansible_become", "ansible_connection")
)
# ansible_winrm_transport -> winrm_auth ("ssl" and "plaintext" are Basic, over HTTPS only)
_WINRM_AUTHS = {
    "ntlm": "ntlm",
    "kerberos": "kerberos",
    "basic": "basic",
    "ssl": "basic",
    "plaintext": "basic",
}
_LOGIN_SECRETS = (
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_winrm_pass",
    "ansible_winrm_password",
)
_SUDO_SECRETS = (
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
    "ansible_sudo_password",
)
_SSH_ARGS = ("ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args")
_PROXY_JUMP = re.compile(r"(?:-J\s*|ProxyJump(?:\s*=\s*|\s+))['\"]?([^\s'\"]+)")
_TRUE = frozenset(("true", "yes", "on", "1", "y"))
_FALSE = frozenset(("false", "no", "off", "0", "n"))
_TIMEOUTS = {
    "fp_connect_timeout": ("connect_timeout", False),
    "fp_command_timeout": ("command_timeout", False),
    "fp_keepalive_interval": ("keepalive_interval", True),
    "fp_connect_retry_delay": ("connect_retry_delay", False),
}


def parse_jump_spec(text: str) -> JumpHost:
    """``[user@]host[:port]`` (``[v6addr]:port`` too) as a :class:`JumpHost`. Raises ValueError."""
    spec = text.strip().removeprefix("ssh://")
    if "," in spec:
        raise ValueError(f"multi-hop jump hosts are not supported: {text!r}")
    user, _, rest = spec.rpartition("@")
    port_text = ""
    if rest.startswith("[") and "]" in rest:
        address, _, tail = rest[1:].partition("]")
        port_text = tail.removeprefix(":")
    elif rest.count(":") == 1:
        address, _, port_text = rest.partition(":")
    else:
        address = rest
    if not address:
        raise ValueError(f"no host in jump host {text!r}")
    if port_text and not (port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise ValueError(f"bad port {port_text!r} in jump host {text!r}")
    if problem := address_problem(address):
        raise ValueError(f"bad host {address!r} in jump host {text!r}: {problem}")
    if user and (problem := login_user_problem(user)):
        raise ValueError(f"bad user {user!r} in jump host {text!r}: {problem}")
    return JumpHost(address=address, port=int(port_text or 22), user=user or None)


class HostVars:
    """The merged variables of one host and their conversion into settings."""

    def __init__(
        self,
        source: str,
        base_dir: Path,
        levels: Iterable[Mapping[str, Var]],
        warnings: dict[str, None],
    ) -> None:
        self.source = source
        self.base_dir = base_dir
        self.warnings = warnings  # an ordered set shared by all hosts of a file
        self.merged: dict[str, Var] = {}
        self.tag_levels: list[Var] = []
        for level in levels:
            self.merged.update(level)
            if "fp_tags" in level:
                self.tag_levels.append(level["fp_tags"])

    def to_host(
        self, name: str, *, groups: Iterable[str], fail: Callable[[str], InputError]
    ) -> Host | None:
        """The resolved host, or None (with a warning) if its connection type is unsupported.
        ``fail`` makes the error for a problem of the host itself (e.g. its name, used as its
        address); a bad variable is reported at the line that set it."""
        self._warn_secrets()
        transport = self._transport(name)
        if transport is None:
            return None
        fields: dict[str, Any] = {"transport": transport}
        if found := self._first(_ADDRESS):
            fields["address"] = self._checked(*found, address_problem, ADDRESS_EXPECTED)
        if found := self._first(_PORT):
            fields["port"] = self._int(*found, low=1, high=65535)
        if found := self._first(_USER):
            fields["user"] = self._checked(*found, login_user_problem, USER_EXPECTED)
        connection = self._connection()
        if transport == "winrm":
            connection.update(self._winrm(name))
            if "port" not in fields:  # Ansible's default: 5986, or 5985 for http
                fields["port"] = 5985 if connection["winrm_scheme"] == "http" else 5986
        layer = Layer(fields=fields, connection=connection, tags=self._tags(), facts=self._facts())
        return build_host(name, layer, groups=groups, source=self.source, fail=fail)

    def known_hosts(self) -> str | None:
        """``fp_known_hosts``, absolute, if set."""
        var = self.merged.get("fp_known_hosts")
        return (
            None if var is None else resolve_path(self._text("fp_known_hosts", var), self.base_dir)
        )

    # -- pieces -------------------------------------------------------------------------------

    def _transport(self, host: str) -> str | None:
        if (var := self.merged.get("fp_transport")) is not None:
            value = self._text("fp_transport", var)
            if value not in ("ssh", "winrm"):
                raise self._fail(var, f"fp_transport: expected ssh or winrm, got {value!r}")
            return value
        var = self.merged.get("ansible_connection")
        if var is None:
            return "ssh"
        value = self._text("ansible_connection", var).lower()
        if value in ("ssh", "paramiko", "smart"):
            return "ssh"
        if value in ("winrm", "psrp"):
            return "winrm"
        self._warn(
            var,
            f"host {host!r} skipped: ansible_connection={value} is not supported "
            "(fleetpatch connects over ssh or winrm; set fp_transport to override)",
        )
        return None

    def _connection(self) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        if found := self._first(_KEY):
            settings["key_file"] = self._key_file(*found)
        if (var := self.merged.get("ansible_become")) is not None:
            settings["sudo"] = self._bool("ansible_become", var)
        if (var := self.merged.get("fp_sudo")) is not None:
            settings["sudo"] = self._bool("fp_sudo", var)
        method = self.merged.get("ansible_become_method")
        if settings.get("sudo") and method and self._text("become_method", method) != "sudo":
            self._warn(
                method,
                f"ansible_become_method {method.value!r} is not used: fleetpatch "
                "escalates with sudo only",
            )
        if (var := self.merged.get("fp_use_agent")) is not None:
            settings["use_agent"] = self._bool("fp_use_agent", var)
        for name in ("fp_password_env", "fp_sudo_password_env"):
            if (var := self.merged.get(name)) is not None:
                settings[name.removeprefix("fp_")] = self._text(name, var)
        if (known := self.known_hosts()) is not None:
            settings["known_hosts"] = known
        for name, (key, zero_ok) in _TIMEOUTS.items():
            if (var := self.merged.get(name)) is not None:
                settings[key] = self._seconds(name, var, zero_ok=zero_ok)
        if (var := self.merged.get("fp_connect_retries")) is not None:
            settings["connect_retries"] = self._int("fp_connect_retries", var, low=0, high=10)
        jump = self._jump_host()
        if jump is not None:
            settings["jump_host"] = jump
        return settings

    def _winrm(self, host: str) -> dict[str, Any]:
        """WinRM settings from ``ansible_winrm_*`` (with Ansible's defaults: https unless the
        port is 5985) and ``fp_winrm_*`` (which win)."""
        settings: dict[str, Any] = {}
        if (var := self.merged.get("ansible_winrm_transport")) is not None:
            text = self._text("ansible_winrm_transport", var).strip().strip("[]")
            first = text.split(",")[0].strip().strip("'\"").lower()
            auth = _WINRM_AUTHS.get(first)
            if auth is None:
                raise self._fail(
                    var,
                    f"ansible_winrm_transport: {first!r} is not supported (fleetpatch logs in "
                    "with ntlm, kerberos, or basic over https); set fp_winrm_auth",
                )
            settings["winrm_auth"] = auth
        if (var := self.merged.get("fp_winrm_auth")) is not None:
            value = self._text("fp_winrm_auth", var).strip().lower()
            if value not in ("ntlm", "kerberos", "basic"):
                raise self._fail(
                    var, f"fp_winrm_auth: expected ntlm, kerberos or basic, got {value!r}"
                )
            settings["winrm_auth"] = value
        scheme = None
        for name in ("ansible_winrm_scheme", "fp_winrm_scheme"):
            if (var := self.merged.get(name)) is not None:
                scheme = self._text(name, var).strip().lower()
                if scheme not in ("http", "https"):
                    raise self._fail(var, f"{name}: expected http or https, got {scheme!r}")
        if scheme is None:
            port = self._first(_PORT)
            scheme = "http" if port and str(port[1].value).strip() == "5985" else "https"
        settings["winrm_scheme"] = scheme
        if (var := self.merged.get("ansible_winrm_server_cert_validation")) is not None:
            value = self._text("ansible_winrm_server_cert_validation", var).strip().lower()
            if value == "ignore":
                settings["winrm_insecure_skip_cert_validation"] = True
                self._warn(
                    var,
                    f"host {host!r}: ansible_winrm_server_cert_validation=ignore: the host's "
                    "certificate is NOT validated (anyone on the path can read the password); "
                    "prefer fp_winrm_ca_bundle",
                )
            elif value != "validate":
                raise self._fail(
                    var,
                    "ansible_winrm_server_cert_validation: expected validate or ignore, "
                    f"got {value!r}",
                )
        if (var := self.merged.get("fp_winrm_insecure_skip_cert_validation")) is not None:
            settings["winrm_insecure_skip_cert_validation"] = self._bool(
                "fp_winrm_insecure_skip_cert_validation", var
            )
        for name in ("ansible_winrm_ca_trust_path", "fp_winrm_ca_bundle"):
            if (var := self.merged.get(name)) is not None:
                settings["winrm_ca_bundle"] = existing_ca_bundle(
                    self._text(name, var),
                    self.base_dir,
                    partial(self._prefixed_fail, var, name),
                )
        var = self.merged.get("ansible_winrm_message_encryption")
        if (
            var is not None
            and self._text("ansible_winrm_message_encryption", var).strip().lower() == "never"
        ):
            self._warn(
                var,
                "ansible_winrm_message_encryption=never is ignored: fleetpatch always "
                "encrypts WinRM messages over http",
            )
        return settings

    def _jump_host(self) -> JumpHost | None:
        var: Var | None = self.merged.get("fp_jump_host")
        if var is not None and isinstance(var.value, dict):
            try:
                jump = JumpHost.model_validate(var.value)
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(str(p) for p in problem["loc"])
                what = problem.get("ctx", {}).get("error", problem["msg"])
                raise self._fail(
                    var, f"fp_jump_host.{where}: {what}, got {problem['input']!r}"
                ) from None
            if jump.key_file is not None:
                key_file = self._key_file("fp_jump_host.key_file", var, raw=jump.key_file)
                jump = jump.model_copy(update={"key_file": key_file})
            return jump
        name = "fp_jump_host"
        spec = None if var is None else self._text(name, var)
        if var is None:
            for name in _SSH_ARGS:
                if (args := self.merged.get(name)) is None:
                    continue
                text = self._text(name, args)
                if "ProxyCommand" in text:
                    self._warn(args, f"{name}: ProxyCommand is not supported and is ignored")
                if match := _PROXY_JUMP.search(text):
                    var, spec = args, match.group(1)
                    break
        if var is None or spec is None:
            return None
        try:
            return parse_jump_spec(spec)
        except ValueError as exc:
            raise self._fail(var, f"{name}: {exc}") from None

    def _tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        for var in self.tag_levels:
            tags.update(self._tag_map(var))
        if (group := self.merged.get("fp_patch_group")) is not None:
            tags["Patch Group"] = self._text("fp_patch_group", group)
        return tags

    def _tag_map(self, var: Var) -> dict[str, str]:
        if isinstance(var.value, dict):
            return {str(key): fact_text(value) for key, value in var.value.items()}
        text = self._text("fp_tags", var)
        tags = {}
        for pair in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise self._fail(
                    var, f"fp_tags: expected Key=Value pairs separated by commas, got {pair!r}"
                )
            tags[key.strip()] = value.strip()
        return tags

    def _facts(self) -> dict[str, str]:
        facts = {}
        for name, var in self.merged.items():
            if name in _CONSUMED or name.startswith("fp_") or self._secret_kind(name):
                continue
            if isinstance(var.value, VaultValue):
                self._warn(
                    var, f"{name} is vault-encrypted; fleetpatch cannot decrypt it and ignored it"
                )
                continue
            facts[name] = fact_text(var.value)
        return facts

    def _warn_secrets(self) -> None:
        for name, var in self.merged.items():
            kind = self._secret_kind(name)
            if kind:
                self._warn(
                    var,
                    f"{name} is a secret; fleetpatch never stores secrets and ignored "
                    f"it (set fp_{kind}_env to the name of an environment variable "
                    "holding it instead)",
                )

    @staticmethod
    def _secret_kind(name: str) -> str | None:
        if name in _LOGIN_SECRETS:
            return "password"
        if name in _SUDO_SECRETS:
            return "sudo_password"
        return None

    # -- conversions ----------------------------------------------------------------------------

    def _first(self, names: Iterable[str]) -> tuple[str, Var] | None:
        for name in names:
            if name in self.merged:
                return name, self.merged[name]
        return None

    def _text(self, name: str, var: Var) -> str:
        value = var.value
        if isinstance(value, VaultValue):
            raise self._fail(
                var, f"{name} is vault-encrypted; fleetpatch cannot decrypt Ansible Vault values"
            )
        if value is None or isinstance(value, bool | dict | list):
            raise self._fail(var, f"{name}: expected a string, got {value!r}")
        return str(value)

    def _checked(
        self, name: str, var: Var, problem_of: Callable[[str], str | None], expected: str
    ) -> str:
        value = self._text(name, var)
        problem = problem_of(value)
        if problem:
            raise self._fail(var, f"{name}: {expected}: {problem}, got {value!r}")
        return value

    def _int(self, name: str, var: Var, *, low: int, high: int) -> int:
        text = var.value if isinstance(var.value, int) else self._text(name, var).strip()
        if isinstance(text, bool) or not str(text).isdigit() or not low <= int(text) <= high:
            raise self._fail(var, f"{name}: expected an integer {low}-{high}, got {var.value!r}")
        return int(text)

    def _seconds(self, name: str, var: Var, *, zero_ok: bool) -> float:
        wanted = ">= 0" if zero_ok else "> 0"
        try:
            value = float(self._text(name, var))
        except ValueError:
            value = -1.0
        if value < 0 or (value == 0 and not zero_ok):
            raise self._fail(
                var, f"{name}: expected a number of seconds {wanted}, got {var.value!r}"
            )
        return value

    def _bool(self, name: str, var: Var) -> bool:
        if isinstance(var.value, bool):
            return var.value
        text = self._text(name, var).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise self._fail(var, f"{name}: expected true or false, got {var.value!r}")

    def _key_file(self, name: str, var: Var, *, raw: str | None = None) -> str:
        path = raw if raw is not None else self._text(name, var)
        return existing_key_file(path, self.base_dir, lambda m: self._fail(var, f"{name}: {m}"))

    def _prefixed_fail(self, var: Var, name: str, message: str) -> InputError:
        return self._fail(var, f"{name}: {message}")

    def _fail(self, var: Var, message: str) -> InputError:
        return InputError(message, path=self.source, location=str(var.line))

    def _warn(self, var: Var, message: str) -> None:
        self.warnings[f"{self.source}:{var.line}: {message}"] = None
