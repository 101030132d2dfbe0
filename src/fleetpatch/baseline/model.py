"""The patch baseline model (SSM's CreatePatchBaseline, in snake_case).

Structure and types are checked by pydantic; everything that depends on the operating system
(valid filter keys and values, list entry formats, date rules) and every SSM limit is checked
by :func:`check_baseline`, which runs after construction and raises
:class:`BaselineProblem` (an :class:`~fleetpatch.errors.InputError`) carrying the key path.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fleetpatch.baseline.names import check_patch_name
from fleetpatch.baseline.oses import (
    FILTER_KEYS,
    OS_TABLE,
    OperatingSystem,
    os_row,
)
from fleetpatch.compliance import ComplianceLevel
from fleetpatch.errors import InputError

MAX_RULES = 10
MAX_FILTERS = 4
MAX_VALUES = 20
MAX_VALUE_CHARS = 64
MAX_LIST = 50
MAX_SOURCES = 20
MAX_SOURCE_PRODUCTS = 20
MAX_CONFIGURATION = 1024
MAX_APPROVE_AFTER_DAYS = 360
_BASELINE_NAME = re.compile(r"^[A-Za-z0-9_\-.]{3,128}$")
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_\-.]{3,50}$")

Loc = tuple[str | int, ...]


class RejectedPatchesAction(StrEnum):
    ALLOW_AS_DEPENDENCY = "ALLOW_AS_DEPENDENCY"
    BLOCK = "BLOCK"


class BaselineProblem(InputError):
    """A baseline is invalid at ``loc`` (a key path such as ``("approval_rules", 1)``)."""

    def __init__(self, message: str, loc: Loc):
        self.loc = loc
        super().__init__(message, location=format_loc(loc) or None)


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class PatchFilter(_Frozen):
    key: str
    values: tuple[str, ...]

    @field_validator("values", mode="before")
    @classmethod
    def _one_value(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


class PatchRule(_Frozen):
    filters: tuple[PatchFilter, ...] = ()
    compliance_level: ComplianceLevel = ComplianceLevel.UNSPECIFIED
    approve_after_days: int | None = None
    approve_until_date: date | None = None
    enable_non_security: bool = False

    @field_validator("approve_until_date", mode="before")
    @classmethod
    def _strict_date(cls, v: Any) -> Any:
        if isinstance(v, datetime):
            raise ValueError("expected a date YYYY-MM-DD, not a date and time")
        if isinstance(v, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise ValueError(f"expected a date YYYY-MM-DD, got {v!r}")
        return v


class PatchSource(_Frozen):
    name: str
    products: tuple[str, ...]
    configuration: str


class Baseline(_Frozen):
    """One patch baseline. Construct through :func:`fleetpatch.baseline.load_baseline` or
    directly; either way :func:`check_baseline` has run when construction returns."""

    name: str
    description: str = ""
    operating_system: OperatingSystem = OperatingSystem.WINDOWS
    global_filters: tuple[PatchFilter, ...] = ()
    approval_rules: tuple[PatchRule, ...] = ()
    approved_patches: tuple[str, ...] = ()
    approved_patches_compliance_level: ComplianceLevel = ComplianceLevel.UNSPECIFIED
    approved_patches_enable_non_security: bool = False
    rejected_patches: tuple[str, ...] = ()
    rejected_patches_action: RejectedPatchesAction = RejectedPatchesAction.ALLOW_AS_DEPENDENCY
    sources: tuple[PatchSource, ...] = ()
    available_security_updates_compliance_status: Literal["COMPLIANT", "NON_COMPLIANT"] | None = (
        None
    )
    # Identity as SSM prints it (kept for a lossless import/export round trip).
    baseline_id: str | None = None
    patch_groups: tuple[str, ...] = ()
    created_date: datetime | None = None
    modified_date: datetime | None = None
    predefined: bool = Field(default=False, description="an AWS-* baseline shipped with us")

    @model_validator(mode="after")
    def _check(self) -> Baseline:
        check_baseline(self)
        return self


def _accepted(values: tuple[str, ...]) -> str:
    return ", ".join([*values, "*"])


def check_filters(filters: tuple[PatchFilter, ...], os: OperatingSystem, where: Loc) -> None:
    row = os_row(os)
    if len(filters) > MAX_FILTERS:
        raise BaselineProblem(
            f"{len(filters)} filters; at most {MAX_FILTERS} are allowed", (*where, MAX_FILTERS)
        )
    seen: set[str] = set()
    for i, f in enumerate(filters):
        loc = (*where, i)
        if f.key not in row.keys:
            extra = "" if f.key in FILTER_KEYS else " (unknown key)"
            raise BaselineProblem(
                f"filter key {f.key!r} is not valid for {os.value}{extra}; "
                f"accepted: {', '.join(row.keys)}",
                (*loc, "key"),
            )
        if f.key in seen:
            raise BaselineProblem(f"filter key {f.key!r} appears twice", (*loc, "key"))
        seen.add(f.key)
        if not 1 <= len(f.values) <= MAX_VALUES:
            raise BaselineProblem(
                f"{len(f.values)} values; between 1 and {MAX_VALUES} are required",
                (*loc, "values"),
            )
        accepted = row.keys[f.key]
        lowered = {a.lower(): a for a in accepted} if accepted is not None else {}
        for j, value in enumerate(f.values):
            vloc = (*loc, "values", j)
            if not 1 <= len(value) <= MAX_VALUE_CHARS:
                raise BaselineProblem(f"value must be 1 to {MAX_VALUE_CHARS} characters", vloc)
            if accepted is None or value == "*":
                continue
            if value not in accepted:
                hint = ""
                if value.lower() in lowered:
                    hint = f" (did you mean {lowered[value.lower()]!r}?)"
                raise BaselineProblem(
                    f"{f.key} value {value!r} is not valid for {os.value}{hint}; "
                    f"accepted: {_accepted(accepted)}",
                    vloc,
                )


def _check_rule(rule: PatchRule, os: OperatingSystem, loc: Loc) -> None:
    row = os_row(os)
    check_filters(rule.filters, os, (*loc, "filters"))
    after, until = rule.approve_after_days, rule.approve_until_date
    if not row.dates:
        if after is not None or until is not None:
            key = "approve_after_days" if after is not None else "approve_until_date"
            raise BaselineProblem(
                f"{key} is not supported for {os.value}: apt repositories carry no release "
                "dates, so rules approve immediately; remove the key",
                (*loc, key),
            )
    elif after is not None and until is not None:
        raise BaselineProblem("give either approve_after_days or approve_until_date, not both", loc)
    elif after is None and until is None:
        raise BaselineProblem(
            "one of approve_after_days (0-360) or approve_until_date (YYYY-MM-DD) is required",
            loc,
        )
    if after is not None and not 0 <= after <= MAX_APPROVE_AFTER_DAYS:
        raise BaselineProblem(
            f"approve_after_days must be between 0 and {MAX_APPROVE_AFTER_DAYS}, got {after}",
            (*loc, "approve_after_days"),
        )
    if rule.enable_non_security and not row.linux and os is OperatingSystem.WINDOWS:
        raise BaselineProblem(
            "enable_non_security applies to Linux only; remove it for WINDOWS",
            (*loc, "enable_non_security"),
        )


def _check_list(entries: tuple[str, ...], os: OperatingSystem, key: str) -> None:
    if len(entries) > MAX_LIST:
        raise BaselineProblem(
            f"{len(entries)} entries; at most {MAX_LIST} are allowed", (key, MAX_LIST)
        )
    family = os_row(os).names
    for i, entry in enumerate(entries):
        problem = check_patch_name(entry, family, rejected=key == "rejected_patches")
        if problem:
            raise BaselineProblem(f"{problem} ({os.value})", (key, i))


def check_baseline(b: Baseline) -> None:
    """Raise :class:`BaselineProblem` for the first thing wrong with ``b``."""
    os = b.operating_system
    if not _BASELINE_NAME.match(b.name):
        raise BaselineProblem(
            f"name {b.name!r} must be 3 to 128 characters of letters, digits, '_', '-', '.'",
            ("name",),
        )
    if len(b.description) > 1024:
        raise BaselineProblem("description is longer than 1024 characters", ("description",))
    check_filters(b.global_filters, os, ("global_filters",))
    if len(b.approval_rules) > MAX_RULES:
        raise BaselineProblem(
            f"{len(b.approval_rules)} approval rules; at most {MAX_RULES} are allowed",
            ("approval_rules", MAX_RULES),
        )
    for i, rule in enumerate(b.approval_rules):
        _check_rule(rule, os, ("approval_rules", i))
    _check_list(b.approved_patches, os, "approved_patches")
    _check_list(b.rejected_patches, os, "rejected_patches")
    row = os_row(os)
    if b.approved_patches_enable_non_security and os is OperatingSystem.WINDOWS:
        raise BaselineProblem(
            "approved_patches_enable_non_security applies to Linux only",
            ("approved_patches_enable_non_security",),
        )
    if b.sources and not row.linux:
        raise BaselineProblem(f"sources are Linux only, not {os.value}", ("sources",))
    if len(b.sources) > MAX_SOURCES:
        raise BaselineProblem(
            f"{len(b.sources)} sources; at most {MAX_SOURCES} are allowed", ("sources", MAX_SOURCES)
        )
    for i, src in enumerate(b.sources):
        if not _SOURCE_NAME.match(src.name):
            raise BaselineProblem(
                "source name must be 3 to 50 characters of letters, digits, '_', '-', '.'",
                ("sources", i, "name"),
            )
        if not 1 <= len(src.products) <= MAX_SOURCE_PRODUCTS:
            raise BaselineProblem(
                f"between 1 and {MAX_SOURCE_PRODUCTS} products are required",
                ("sources", i, "products"),
            )
        if not 1 <= len(src.configuration) <= MAX_CONFIGURATION:
            raise BaselineProblem(
                f"configuration must be 1 to {MAX_CONFIGURATION} characters",
                ("sources", i, "configuration"),
            )
    if b.available_security_updates_compliance_status is not None and os is not (
        OperatingSystem.WINDOWS
    ):
        raise BaselineProblem(
            f"available_security_updates_compliance_status is Windows only, not {os.value}",
            ("available_security_updates_compliance_status",),
        )


__all__ = [
    "OS_TABLE",
    "Baseline",
    "BaselineProblem",
    "PatchFilter",
    "PatchRule",
    "PatchSource",
    "RejectedPatchesAction",
    "check_baseline",
    "format_loc",
]
