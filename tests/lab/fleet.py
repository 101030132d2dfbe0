"""fleetpatch lab: start and stop fleets of lab containers (real sshd, real apt).

Importable as ``tests.lab.fleet`` (with the repository root on ``sys.path``) and runnable::

    python tests/lab/fleet.py up --image fleetpatch-lab/debian12 --count 3 --prefix demo \\
        --inventory inventory/lab.yaml --known-hosts .lab/known_hosts
    python tests/lab/fleet.py down --prefix demo      # or: down --all
    python tests/lab/fleet.py ls

Images are built by ``tests/lab/build-images.sh`` (``make lab-images``); see tests/lab/README.md.
Containers are labelled ``fleetpatch.lab=1`` and ``fleetpatch.prefix=<prefix>``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Ryuk (testcontainers' reaper) is an image that cannot be pulled here: we clean up ourselves.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

import docker
import docker.errors
import yaml
from testcontainers.core.container import DockerContainer

REPO_ROOT = Path(__file__).resolve().parents[2]
LAB_STATE_DIR = REPO_ROOT / ".lab"
KEY_PATH = LAB_STATE_DIR / "id_ed25519"

LABEL_LAB = "fleetpatch.lab"
LABEL_PREFIX = "fleetpatch.prefix"
LABEL_HOST = "fleetpatch.host"
CONTAINER_NAME_PREFIX = "fplab-"

IMAGE_BASE = "fleetpatch-lab/base:bookworm"
IMAGE_DEBIAN12 = "fleetpatch-lab/debian12"
IMAGE_DEBIAN12_REPO = "fleetpatch-lab/debian12-repo"
IMAGE_POSTGRES = "fleetpatch-lab/postgres"
IMAGE_ROCKY9 = "fleetpatch-lab/rocky9"
IMAGE_AL2023 = "fleetpatch-lab/al2023"
IMAGE_SLES15 = "fleetpatch-lab/sles15"

BUILD_HINT = "run `make lab-images` (tests/lab/ensure-host-deps.sh && tests/lab/build-images.sh)"


class LabError(RuntimeError):
    """The lab could not do what was asked (docker missing, image missing, timeout...)."""


class ImageMissing(LabError):
    pass


@dataclass(frozen=True)
class LabHost:
    """One running lab container reachable over SSH on 127.0.0.1:port."""

    name: str  # inventory name, e.g. "demo-1"
    container: str  # docker container name (unique), e.g. "fplab-demo-1"
    address: str  # always "127.0.0.1"
    port: int  # host port published for the container's port 22 (stable across lab reboots)
    host_key_lines: tuple[str, ...]  # known_hosts lines "[127.0.0.1]:PORT keytype base64"
    image: str = ""
    container_id: str = ""

    @property
    def known_hosts_name(self) -> str:
        return f"[{self.address}]:{self.port}"


# --------------------------------------------------------------------------- docker helpers

_client: docker.DockerClient | None = None


def docker_client() -> docker.DockerClient:
    global _client
    if _client is None:
        try:
            client = docker.from_env()
            client.ping()
        except Exception as exc:  # docker not installed / daemon down / no permission
            raise LabError(f"Docker is not available: {exc}") from exc
        _client = client
    return _client


def docker_available() -> tuple[bool, str]:
    """(True, "") when a Docker daemon answers, else (False, reason)."""
    try:
        docker_client()
    except LabError as exc:
        return False, str(exc)
    return True, ""


def require_image(image: str) -> None:
    try:
        docker_client().images.get(image)
    except docker.errors.ImageNotFound:
        raise ImageMissing(f"lab image {image!r} is not built: {BUILD_HINT}") from None


# --------------------------------------------------------------------------- client key


def ensure_key(path: Path = KEY_PATH) -> Path:
    """The lab's ed25519 client key (generated once with ssh-keygen, cached in .lab/)."""
    path = Path(path)
    pub = path.with_name(path.name + ".pub")
    if path.exists() and pub.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    for p in (tmp, tmp.with_name(tmp.name + ".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleetpatch-lab", "-f", str(tmp)],
        check=True,
    )
    # Atomic: concurrent sessions may race; whoever renames last wins consistently.
    os.replace(tmp.with_name(tmp.name + ".pub"), pub)
    os.replace(tmp, path)
    return path


def public_key(path: Path = KEY_PATH) -> str:
    path = ensure_key(path)
    return path.with_name(path.name + ".pub").read_text().strip()


# --------------------------------------------------------------------------- fleet


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_banner(port: int, deadline: float, container: str) -> None:
    last = ""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(2)
                data = s.recv(64)
                if data.startswith(b"SSH-2.0"):
                    return
                last = f"unexpected banner {data!r}"
        except OSError as exc:
            last = str(exc)
        _check_running(container)
        time.sleep(0.2)
    raise LabError(f"{container}: sshd on 127.0.0.1:{port} did not answer in time ({last})")


def _check_running(container: str) -> None:
    try:
        c = docker_client().containers.get(container)
    except docker.errors.NotFound:
        raise LabError(f"{container}: container disappeared") from None
    if c.status in ("exited", "dead"):
        logs = c.logs(tail=30).decode(errors="replace")
        raise LabError(f"{container}: container exited during start:\n{logs}")


def read_host_keys(container: str, port: int, address: str = "127.0.0.1") -> tuple[str, ...]:
    """Host public keys read through `docker exec` (out of band, trusted) as known_hosts lines."""
    rc, out = _exec(container, ["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"])
    if rc != 0:
        raise LabError(f"{container}: cannot read host keys: {out}")
    lines = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            lines.append(f"[{address}]:{port} {parts[0]} {parts[1]}")
    if not lines:
        raise LabError(f"{container}: no host keys found")
    return tuple(sorted(lines))


def _start_one(
    image: str,
    name: str,
    container_name: str,
    prefix: str,
    pubkey: str,
    restart_policy: str | None,
) -> tuple[str, int]:
    """Start one container on an explicitly chosen free port; return (id, port).

    The port is chosen by us (not dynamically by Docker) so it stays the same when the
    container is restarted by its restart policy after a lab "reboot".
    """
    last_exc: Exception | None = None
    for _ in range(8):
        port = _free_port()
        kwargs: dict[str, Any] = {
            "labels": {LABEL_LAB: "1", LABEL_PREFIX: prefix, LABEL_HOST: name},
            "hostname": name,
        }
        if restart_policy:
            kwargs["restart_policy"] = {"Name": restart_policy}
        tc = (
            DockerContainer(image, **kwargs)
            .with_name(container_name)
            .with_env("FP_AUTHORIZED_KEY", pubkey)
            .with_bind_ports(22, port)
        )
        # with_bind_ports only takes a port: bind to 127.0.0.1 explicitly.
        tc.ports = {"22/tcp": ("127.0.0.1", port)}  # type: ignore[dict-item]
        try:
            tc.start()
        except docker.errors.APIError as exc:
            last_exc = exc
            _remove_quietly(container_name)
            msg = str(exc).lower()
            if "port is already allocated" in msg or "address already in use" in msg:
                continue
            raise LabError(f"{container_name}: docker could not start it: {exc}") from exc
        return tc.get_wrapped_container().id, port
    raise LabError(f"{container_name}: no free port after retries: {last_exc}")


def _remove_quietly(container: str) -> None:
    try:
        docker_client().containers.get(container).remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError:
        pass


def start_fleet(
    image: str,
    count: int,
    prefix: str,
    *,
    restart_policy: str | None = None,
    timeout: float = 60.0,
    key_path: Path = KEY_PATH,
) -> list[LabHost]:
    """Start `count` containers of `image` named `<prefix>-1..N`; wait until sshd answers.

    Containers that already exist under the same names are replaced. On failure every
    container started here is removed again.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    docker_client()
    require_image(image)
    pubkey = public_key(Path(key_path))
    started: list[tuple[str, str, str, int]] = []
    try:
        for i in range(1, count + 1):
            name = f"{prefix}-{i}"
            cname = f"{CONTAINER_NAME_PREFIX}{name}"
            _remove_quietly(cname)
            cid, port = _start_one(image, name, cname, prefix, pubkey, restart_policy)
            started.append((name, cname, cid, port))
        deadline = time.monotonic() + timeout
        hosts = []
        for name, cname, cid, port in started:
            _wait_banner(port, deadline, cname)
            hosts.append(
                LabHost(
                    name=name,
                    container=cname,
                    address="127.0.0.1",
                    port=port,
                    host_key_lines=read_host_keys(cname, port),
                    image=image,
                    container_id=cid,
                )
            )
        return hosts
    except BaseException:
        for _, cname, _, _ in started:
            _remove_quietly(cname)
        raise


def wait_ssh(host: LabHost, timeout: float = 60.0) -> None:
    """Wait until the host's sshd answers again (e.g. after a lab reboot)."""
    _wait_banner(host.port, time.monotonic() + timeout, host.container)


def stop_fleet(hosts: Iterable[LabHost]) -> None:
    for h in hosts:
        _remove_quietly(h.container)


def remove_prefix(prefix: str) -> list[str]:
    """Remove every lab container labelled with this prefix; returns their names."""
    removed = []
    for c in docker_client().containers.list(
        all=True, filters={"label": [f"{LABEL_LAB}=1", f"{LABEL_PREFIX}={prefix}"]}
    ):
        removed.append(c.name)
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True, v=True)
    return removed


def list_lab_containers() -> list[dict[str, str]]:
    out = []
    for c in docker_client().containers.list(all=True, filters={"label": f"{LABEL_LAB}=1"}):
        ports = (c.attrs.get("HostConfig") or {}).get("PortBindings") or {}
        port = ""
        for binding in ports.get("22/tcp") or ports.get("5432/tcp") or []:
            port = binding.get("HostPort", "")
        out.append(
            {
                "name": c.labels.get(LABEL_HOST, c.name),
                "container": c.name,
                "prefix": c.labels.get(LABEL_PREFIX, ""),
                "image": c.attrs.get("Config", {}).get("Image", ""),
                "status": c.status,
                "port": port,
            }
        )
    return out


def exec_in(host: LabHost | str, cmd: Sequence[str], *, user: str | None = None) -> tuple[int, str]:
    """Run `cmd` in the container via docker exec (ground truth); returns (rc, stdout+stderr)."""
    container = host.container if isinstance(host, LabHost) else host
    return _exec(container, list(cmd), user=user)


def _exec(container: str, cmd: list[str], user: str | None = None) -> tuple[int, str]:
    c = docker_client().containers.get(container)
    kwargs = {"user": user} if user else {}
    res = c.exec_run(cmd, environment={"LC_ALL": "C"}, **kwargs)
    return int(res.exit_code), str(res.output.decode(errors="replace"))


def pid1_start_time(host: LabHost | str) -> int:
    """Start time of the container's PID 1 (clock ticks since host boot, /proc/1/stat field 22).

    Changes when a lab "reboot" restarts the container; ground truth for reboot tests.
    """
    rc, out = exec_in(host, ["cat", "/proc/1/stat"])
    if rc != 0:
        raise LabError(f"cannot read /proc/1/stat: {out}")
    # comm (field 2) is in parentheses and may contain spaces: split after the last ')'.
    fields = out[out.rindex(")") + 2 :].split()
    return int(fields[19])  # field 22 overall = index 19 after pid and comm


# --------------------------------------------------------------------------- postgres

PG_USER = PG_PASSWORD = PG_DB = "fleetpatch"


@dataclass(frozen=True)
class LabPostgres:
    container: str
    port: int

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver)."""
        return f"postgresql+psycopg://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{PG_DB}"


def start_postgres(prefix: str, *, timeout: float = 60.0) -> LabPostgres:
    """Start fleetpatch-lab/postgres on a free 127.0.0.1 port; wait until it accepts logins."""
    docker_client()
    require_image(IMAGE_POSTGRES)
    cname = f"{CONTAINER_NAME_PREFIX}{prefix}-pg"
    _remove_quietly(cname)
    last_exc: Exception | None = None
    for _ in range(8):
        port = _free_port()
        tc = DockerContainer(
            IMAGE_POSTGRES,
            labels={LABEL_LAB: "1", LABEL_PREFIX: prefix, LABEL_HOST: f"{prefix}-pg"},
        ).with_name(cname)
        tc.ports = {"5432/tcp": ("127.0.0.1", port)}  # type: ignore[dict-item]
        try:
            tc.start()
        except docker.errors.APIError as exc:
            last_exc = exc
            _remove_quietly(cname)
            if "already allocated" in str(exc) or "already in use" in str(exc):
                continue
            raise LabError(f"{cname}: docker could not start it: {exc}") from exc
        break
    else:
        raise LabError(f"{cname}: no free port after retries: {last_exc}")
    pg = LabPostgres(container=cname, port=port)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        _check_running(cname)
        # A real password login over TCP inside the container, then the published port.
        rc, out = _exec(
            cname,
            [
                "psql",
                f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:5432/{PG_DB}",
                "-Atqc",
                "select 1",
            ],
        )
        last = out.strip()
        if rc == 0 and last == "1":
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    return pg
            except OSError as exc:
                last = str(exc)
        time.sleep(0.3)
    _remove_quietly(cname)
    raise LabError(f"{cname}: postgres did not accept connections in time ({last})")


def stop_postgres(pg: LabPostgres) -> None:
    _remove_quietly(pg.container)


# --------------------------------------------------------------------------- files


def write_known_hosts(hosts: Iterable[LabHost], path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [line for h in hosts for line in h.host_key_lines]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text("".join(f"{line}\n" for line in lines))
    os.replace(tmp, path)
    return path


def _rel(target: Path, start: Path) -> str:
    return os.path.relpath(Path(target).resolve(), Path(start).resolve())


def inventory_dict(
    hosts: Sequence[LabHost],
    inventory_dir: Path,
    *,
    known_hosts_path: Path,
    key_path: Path,
    user: str = "root",
    group: str = "lab",
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    tags = dict(tags) if tags is not None else {"Patch Group": group, "Env": "lab"}
    # The lab's package metadata is as old as its image (a snapshot, offline): no maximum age
    # for its hosts, or every lab scan would be stale_metadata a week after the images were
    # built. Tests of the maximum pass --max-metadata-age, which wins over this var.
    host_vars = {"max_metadata_age": "off"}
    return {
        "defaults": {
            "user": user,
            "known_hosts": _rel(known_hosts_path, inventory_dir),
            "connection": {
                "key_file": _rel(key_path, inventory_dir),
                "use_agent": False,
                **({} if user == "root" else {"sudo": True}),
            },
        },
        "hosts": {
            h.name: {"address": h.address, "port": h.port, "tags": dict(tags), "vars": host_vars}
            for h in hosts
        },
        "groups": {group: {"hosts": [h.name for h in hosts]}},
    }


def _flow(value: object) -> str:
    """One-line YAML flow form of a scalar or mapping (wrapped in a list to avoid `...`)."""
    text = yaml.safe_dump([value], default_flow_style=True, sort_keys=False, width=10**6).strip()
    return text[1:-1]


def _inventory_yaml(data: dict[str, Any]) -> str:
    """The inventory as YAML, one line per host / group (easy to read and to grep)."""
    out = ["# written by tests/lab/fleet.py (fleetpatch lab); paths are relative to this file"]
    out.append(yaml.safe_dump({"defaults": data["defaults"]}, sort_keys=False).rstrip())
    out.append("hosts:")
    out += [f"  {_flow(name)}: {_flow(entry)}" for name, entry in data["hosts"].items()]
    out.append("groups:")
    out += [f"  {_flow(name)}: {_flow(entry)}" for name, entry in data["groups"].items()]
    text = "\n".join(out) + "\n"
    assert yaml.safe_load(text) == data
    return text


def write_inventory(
    hosts: Sequence[LabHost],
    path: Path | str,
    *,
    known_hosts_path: Path | str,
    key_path: Path | str = KEY_PATH,
    user: str = "root",
    group: str = "lab",
    tags: dict[str, str] | None = None,
) -> Path:
    """Write a fleetpatch YAML inventory; paths inside are relative to the file's directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = inventory_dict(
        hosts,
        path.parent,
        known_hosts_path=Path(known_hosts_path),
        key_path=Path(key_path),
        user=user,
        group=group,
        tags=tags,
    )
    text = _inventory_yaml(data)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- CLI


def _cli_path(p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else Path.cwd() / path


def _cmd_up(args: argparse.Namespace) -> int:
    key = ensure_key(_cli_path(args.key)) if args.key else ensure_key()
    hosts = start_fleet(
        args.image,
        args.count,
        args.prefix,
        restart_policy=args.restart or None,
        key_path=key,
        timeout=args.timeout,
    )
    kh = write_known_hosts(hosts, _cli_path(args.known_hosts))
    inv = None
    if args.inventory:
        inv = write_inventory(
            hosts,
            _cli_path(args.inventory),
            known_hosts_path=kh,
            key_path=key,
            user=args.user,
            group=args.group,
        )
    cwd = Path.cwd()

    def show(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(cwd.resolve()))
        except ValueError:
            return str(p)

    print(f"started {len(hosts)} x {args.image} (prefix {args.prefix!r}):")
    for h in hosts:
        print(f"  {h.name:<16} {h.address}:{h.port:<6} container {h.container}")
    print(f"known_hosts: {show(kh)}")
    if inv:
        print(f"inventory:   {show(inv)}")
    h = hosts[0]
    print("ssh into a host (users: root, fleet [passwordless sudo], fleetpw [password labpass]):")
    print(
        f"  ssh -i {show(key)} -p {h.port} -o UserKnownHostsFile={show(kh)} "
        f"-o StrictHostKeyChecking=yes {args.user}@{h.address}"
    )
    print(f"remove them: python tests/lab/fleet.py down --prefix {args.prefix}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    if args.all:
        removed = []
        for row in list_lab_containers():
            removed.append(row["container"])
            _remove_quietly(row["container"])
    elif args.prefix:
        removed = remove_prefix(args.prefix)
    else:
        print("fleet.py down: give --prefix PREFIX or --all", file=sys.stderr)
        return 2
    print(f"removed {len(removed)} container(s)" + (f": {', '.join(removed)}" if removed else ""))
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    rows = list_lab_containers()
    if args.prefix:
        rows = [r for r in rows if r["prefix"] == args.prefix]
    for r in rows:
        print(
            f"{r['name']:<18} {r['container']:<24} {r['status']:<9} 127.0.0.1:{r['port']:<6} "
            f"{r['image']} (prefix {r['prefix']})"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fleet.py", description="fleetpatch lab fleets")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start a fleet")
    up.add_argument("--image", default=IMAGE_DEBIAN12)
    up.add_argument("--count", type=int, default=3)
    up.add_argument("--prefix", default="demo")
    up.add_argument("--inventory", help="write a fleetpatch inventory YAML here")
    up.add_argument("--known-hosts", default=str(LAB_STATE_DIR / "known_hosts"))
    up.add_argument("--key", help="client private key (default .lab/id_ed25519, created if absent)")
    up.add_argument("--user", default="root")
    up.add_argument("--group", default="lab", help="inventory group / Patch Group tag (lab)")
    up.add_argument(
        "--restart",
        default="unless-stopped",
        help="docker restart policy (default unless-stopped, '' for none)",
    )
    up.add_argument("--timeout", type=float, default=60.0)
    up.set_defaults(func=_cmd_up)
    down = sub.add_parser("down", help="remove the fleet with this prefix")
    down.add_argument("--prefix")
    down.add_argument(
        "--all", action="store_true", help="every lab container (label fleetpatch.lab=1)"
    )
    down.set_defaults(func=_cmd_down)
    ls = sub.add_parser("ls", help="list lab containers")
    ls.add_argument("--prefix")
    ls.set_defaults(func=_cmd_ls)
    args = p.parse_args(argv)
    try:
        return int(args.func(args))
    except LabError as exc:
        print(f"fleet.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
