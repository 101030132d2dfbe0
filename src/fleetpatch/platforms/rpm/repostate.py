"""Which configured repositories of an rpm host had their metadata read: the ``dnf.repos`` and
``zypper.solv`` sections (docs/platforms.md). Pure parsers; a repository left out here makes
the host's verdict unknown (``HostFacts.metadata_missing``, :mod:`fleetpatch.knowledge`).

* **yum** (EL 7, AL 2): ``yum -C repolist`` lists only what loaded (``skip_if_unavailable``
  disables a repository without cache without a word), so ``enabled`` ids come from yum's
  configuration files (``[id]`` sections of yum.conf and yum.repos.d, ``enabled=`` default 1)
  and ``loaded`` ids from ``yum -C repolist enabled`` (``id/releasever/basearch`` cut to the
  id, ``!`` expired and ``*`` marks dropped; chatter lines give ids no enabled repository has,
  which change nothing). Repositories a yum plugin enables or disables at run time are not
  seen in the files: a known limit.
* **dnf**: ``enabled`` ids come from ``dnf repolist --enabled`` (loads no metadata), ``loaded``
  ids from ``dnf repoinfo --enabled`` (loads it as the queries do, with
  ``skip_if_unavailable=True`` so a broken repository is skipped, not fatal). Enabled but not
  loaded = missing; dnf's own words on it (``Cache-only enabled but no cache for 'ID'``,
  ``Failed to load metadata for repo 'ID'``) say why.
* **zypper**: every enabled repository (``zypper.repos``) must have a solv cache once the
  queries ran; zypper skips a repository whose metadata it cannot read or fetch (rc 106, "Skipping
  repository ... because of the above error") and builds none for it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import ParseError
from fleetpatch.platforms.rpm.parsers import split_stderr


class DnfRepoState(BaseModel):
    model_config = ConfigDict(frozen=True)

    enabled: tuple[str, ...] = ()
    loaded: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()

    def missing(self, tool: str = "dnf") -> list[str]:
        """Enabled repositories whose metadata did not load, each with dnf's reason (``tool``
        ``yum``: yum says nothing when ``skip_if_unavailable`` skips a repository)."""
        loaded = set(self.loaded)
        out = []
        for repo in self.enabled:
            if repo in loaded:
                continue
            why = [m for m in self.messages if f"'{repo}'" in m]
            if why:
                reason = f" ({' | '.join(why)})"
            elif tool == "yum":
                reason = (
                    " (yum -C skips a repository without cached metadata silently; refresh "
                    "with yum makecache)"
                )
            else:
                reason = ""
            out.append(f"{tool} repository {repo!r}: its metadata did not load{reason}")
        return out


def parse_dnf_repos(text: str, section: str = "dnf.repos") -> DnfRepoState:
    """Lines ``enabled<TAB>id``, ``loaded<TAB>id`` and ``stderr: ...``.

    Raises:
        ParseError: any other line, or an empty id.
    """
    lines, messages = split_stderr(text)
    enabled: list[str] = []
    loaded: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        if not line:
            continue
        kind, _, repo = line.partition("\t")
        if kind not in ("enabled", "loaded") or not repo or "\t" in repo:
            raise ParseError(
                f"{section} line {lineno}: expected 'enabled<TAB>id' or 'loaded<TAB>id', "
                f"got {line!r}"
            )
        (enabled if kind == "enabled" else loaded).append(repo.strip())
    return DnfRepoState(
        enabled=tuple(dict.fromkeys(enabled)),
        loaded=tuple(dict.fromkeys(loaded)),
        messages=tuple(m.strip() for m in messages if m.strip()),
    )


def parse_zypper_solv(text: str, section: str = "zypper.solv") -> dict[str, int]:
    """Lines ``solv<TAB>alias<TAB>mtime`` → ``alias -> mtime`` (``@System``, the rpm
    database's own cache, included).

    Raises:
        ParseError: a malformed line.
    """
    caches: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 3 or fields[0] != "solv" or not fields[1] or not fields[2].isdigit():
            raise ParseError(
                f"{section} line {lineno}: expected 'solv<TAB>alias<TAB>mtime', got {line!r}"
            )
        caches[fields[1]] = int(fields[2])
    return caches
