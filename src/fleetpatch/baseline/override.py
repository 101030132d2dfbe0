"""SSM's InstallOverrideList: an explicit list of patches that replaces the baseline's choice."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from fleetpatch.baseline.yamlpos import located, read_document
from fleetpatch.errors import InputError


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
    data, positions = read_document(path)
    try:
        return InstallOverrideList.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise InputError(
            f"{err['msg']} (got {err.get('input')!r})",
            path=str(path),
            location=located(tuple(err["loc"]), positions) or None,
        ) from None
