"""SSM's InstallOverrideList: an explicit list of patches that replaces the baseline's choice.

Every ``id`` is validated when the file is read, with the grammar of a baseline's
``approved_patches`` entries (fleetpatch.baseline.names): it must be a valid entry for at
least one family fleetpatch patches (apt, dnf/yum, zypper, Windows). An id with shell
metacharacters, spaces or quotes is refused (exit 2, naming file, entry and what is wrong);
so is a list that names no patch. On a host, each id is matched like an ``approved_patches``
entry of the host's family; ids that match nothing there fail that host before anything is
installed (:func:`unmatched_override_ids`; docs/playbooks.md).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from fleetpatch.baseline.names import NameMatcher, check_patch_name
from fleetpatch.baseline.oses import NameFamily
from fleetpatch.baseline.yamlpos import located, read_document
from fleetpatch.errors import InputError
from fleetpatch.facts import HostFacts

OVERRIDE_FAMILIES: tuple[NameFamily, ...] = ("apt", "yum", "zypper", "windows")
"""The families whose list grammar an override id may follow (macOS is not patched here)."""


class OverridePatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str = ""


class InstallOverrideList(BaseModel):
    """``patches: [{id: KB4480056, title: ...}, {id: openssl.x86_64}]`` as in SSM.

    Each ``id`` is matched like an approved_patches entry of the host's family.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    patches: tuple[OverridePatch, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.patches)


def load_install_override(path: str | Path) -> InstallOverrideList:
    """Read and check an install override list.

    Raises:
        InputError: the file cannot be read or parsed, an entry is not a valid patch id for
            any family (shell metacharacters, spaces, quotes, ...), or it names no patch; the
            message names the file, the entry (with its line) and what is wrong.
    """
    data, positions = read_document(path)
    try:
        found = InstallOverrideList.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise InputError(
            f"{err['msg']} (got {err.get('input')!r})",
            path=str(path),
            location=located(tuple(err["loc"]), positions) or None,
        ) from None
    if not found.patches:
        raise InputError(
            "the list names no patch: an install with it would install nothing; list the "
            "patches to install (patches: [{id: NAME}]) or leave the override out",
            path=str(path),
            location=located(("patches",), positions) or None,
        )
    for index, patch in enumerate(found.patches):
        problem = override_id_problem(patch.id)
        if problem is not None:
            raise InputError(
                problem, path=str(path), location=located(("patches", index, "id"), positions)
            )
    return found


def override_id_problem(entry: str) -> str | None:
    """None when ``entry`` is a valid ``approved_patches`` entry of at least one family
    fleetpatch patches, else what is wrong (with the accepted forms)."""
    if any(check_patch_name(entry, f, rejected=False) is None for f in OVERRIDE_FAMILIES):
        return None
    return (
        f"{entry!r} is not a valid install override id: an id names a patch as an "
        "approved_patches entry of the host's family does (docs/baselines.md): a package name "
        "(openssl); for dnf/yum also name.arch, name-version-release.arch and the other rpm "
        "forms, with at most one '*' (openssl*.x86_64); a SUSE patch or rpm file name; a "
        "Windows KB id (KB2032276). Only letters, digits and . _ + - : ~ ^ * are accepted"
    )


def unmatched_override_ids(
    override: InstallOverrideList, facts: HostFacts, family: NameFamily
) -> tuple[str, ...]:
    """The ids of ``override`` that match neither an available update nor an installed
    package of the host (matched as ``approved_patches`` entries of ``family``), in list
    order, each once."""
    ids = tuple(dict.fromkeys(override.ids))
    found = _matches(NameMatcher.compile(ids, family), facts)
    # the combined matcher names one entry per package: an entry another one shadowed
    # (fp-* and fp-alpha) is asked alone; only entries that seem unmatched cost this
    return tuple(
        entry
        for entry in ids
        if entry not in found and not _matches(NameMatcher.compile((entry,), family), facts)
    )


def _matches(matcher: NameMatcher, facts: HostFacts) -> set[str]:
    found = {matcher.match_update(u) for u in facts.updates}
    found.update(matcher.match_installed(p) for p in facts.installed)
    return {entry for entry in found if entry is not None}
