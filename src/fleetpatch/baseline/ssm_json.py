"""SSM interop: ``aws ssm get-patch-baseline`` JSON in, ``create-patch-baseline`` JSON out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from fleetpatch.baseline.loader import validation_to_input_error
from fleetpatch.baseline.model import Baseline, BaselineProblem, PatchFilter, PatchRule
from fleetpatch.baseline.oses import OperatingSystem, os_row
from fleetpatch.errors import InputError

_TOP = {
    "BaselineId": "baseline_id",
    "Name": "name",
    "OperatingSystem": "operating_system",
    "Description": "description",
    "GlobalFilters": "global_filters",
    "ApprovalRules": "approval_rules",
    "ApprovedPatches": "approved_patches",
    "ApprovedPatchesComplianceLevel": "approved_patches_compliance_level",
    "ApprovedPatchesEnableNonSecurity": "approved_patches_enable_non_security",
    "RejectedPatches": "rejected_patches",
    "RejectedPatchesAction": "rejected_patches_action",
    "Sources": "sources",
    "AvailableSecurityUpdatesComplianceStatus": "available_security_updates_compliance_status",
    "PatchGroups": "patch_groups",
    "CreatedDate": "created_date",
    "ModifiedDate": "modified_date",
}
_TOP_BACK = {v: k for k, v in _TOP.items()}
_RULE = {
    "PatchFilterGroup": "filters",
    "ComplianceLevel": "compliance_level",
    "ApproveAfterDays": "approve_after_days",
    "ApproveUntilDate": "approve_until_date",
    "EnableNonSecurity": "enable_non_security",
}
_RULE_BACK = {v: k for k, v in _RULE.items()}
_SOURCE = {"Name": "name", "Products": "products", "Configuration": "configuration"}
_SOURCE_BACK = {v: k for k, v in _SOURCE.items()}
_IGNORED = {"ResponseMetadata", "ClientToken"}
AWS_ACCOUNT = ":733109147000:"


def _fail(message: str, loc: str, path: str | None) -> InputError:
    return InputError(message, path=path, location=loc or None)


def _mapping(value: Any, loc: str, path: str | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"expected an object, got {type(value).__name__}", loc, path)
    return value


def _keys(value: dict[str, Any], accepted: dict[str, str], loc: str, path: str | None) -> None:
    for key in value:
        if key not in accepted and key not in _IGNORED:
            where = f"{loc}.{key}" if loc else key
            raise _fail(f"unknown key {key!r}; accepted: {', '.join(accepted)}", where, path)


def _filters(group: Any, loc: str, path: str | None) -> list[dict[str, Any]]:
    group = _mapping(group, loc, path)
    _keys(group, {"PatchFilters": ""}, loc, path)
    out = []
    for i, f in enumerate(group.get("PatchFilters", [])):
        floc = f"{loc}.PatchFilters[{i}]"
        f = _mapping(f, floc, path)
        _keys(f, {"Key": "key", "Values": "values"}, floc, path)
        out.append({"key": f.get("Key"), "values": f.get("Values")})
    return out


def _ssm_loc(loc: tuple[str | int, ...]) -> str:
    """Our key path -> the SSM JSON key path (for error messages)."""
    out = ""
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        if part == "global_filters":
            out += "GlobalFilters.PatchFilters"
        elif part == "approval_rules":
            out += "ApprovalRules.PatchRules"
        elif part == "filters":
            out += ".PatchFilterGroup.PatchFilters"
        elif part in ("key", "values"):
            out += "." + part.capitalize()
        elif part in _RULE_BACK and out.startswith("ApprovalRules"):
            out += "." + _RULE_BACK[part]
        elif part in _SOURCE_BACK and out.startswith("Sources"):
            out += "." + _SOURCE_BACK[part]
        else:
            out += ("." if out else "") + _TOP_BACK.get(part, part)
    return out


def import_ssm_data(data: Any, *, path: str | None = None) -> Baseline:
    """Build a Baseline from the parsed output of ``aws ssm get-patch-baseline``."""
    data = _mapping(data, "", path)
    _keys(data, _TOP, "", path)
    ours: dict[str, Any] = {}
    for key, value in data.items():
        if key in _IGNORED:
            continue
        field = _TOP[key]
        if key == "GlobalFilters":
            ours[field] = _filters(value, key, path)
        elif key == "ApprovalRules":
            group = _mapping(value, key, path)
            _keys(group, {"PatchRules": ""}, key, path)
            rules = []
            for i, rule in enumerate(group.get("PatchRules", [])):
                rloc = f"ApprovalRules.PatchRules[{i}]"
                rule = _mapping(rule, rloc, path)
                _keys(rule, _RULE, rloc, path)
                mine = {_RULE[k]: v for k, v in rule.items() if k != "PatchFilterGroup"}
                mine["filters"] = _filters(
                    rule.get("PatchFilterGroup", {}), f"{rloc}.PatchFilterGroup", path
                )
                rules.append(mine)
            ours[field] = rules
        elif key == "Sources":
            sources = []
            for i, src in enumerate(value or []):
                sloc = f"Sources[{i}]"
                src = _mapping(src, sloc, path)
                _keys(src, _SOURCE, sloc, path)
                sources.append({_SOURCE[k]: v for k, v in src.items()})
            ours[field] = sources
        else:
            ours[field] = value
    _drop_zero_delay_on_apt(ours)
    baseline_id = str(ours.get("baseline_id") or "")
    ours["predefined"] = str(ours.get("name", "")).startswith("AWS-") and (
        AWS_ACCOUNT in baseline_id or not baseline_id
    )
    try:
        return Baseline.model_validate(ours)
    except ValidationError as exc:
        err = validation_to_input_error(exc, path=path, positions={})
        loc = tuple(exc.errors(include_url=False)[0]["loc"])
        raise InputError(err.detail, path=path, location=_ssm_loc(loc) or None) from None
    except BaselineProblem as exc:
        raise InputError(exc.detail, path=path, location=_ssm_loc(exc.loc) or None) from None


def _drop_zero_delay_on_apt(ours: dict[str, Any]) -> None:
    """get-patch-baseline prints ``ApproveAfterDays: 0`` on Debian/Ubuntu rules, where dates
    are not supported; 0 means "no delay", so it is dropped (any other value stays an error)."""
    try:
        os = OperatingSystem(ours.get("operating_system", "WINDOWS"))
    except ValueError:
        return
    if os_row(os).dates:
        return
    for rule in ours.get("approval_rules", []):
        if isinstance(rule, dict) and rule.get("approve_after_days") == 0:
            del rule["approve_after_days"]


def import_ssm(json_text: str, *, path: str | None = None) -> Baseline:
    """Parse the JSON printed by ``aws ssm get-patch-baseline`` into a Baseline."""
    try:
        data = json.loads(json_text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg}", path=path, location=f"line {exc.lineno}"
        ) from None
    return import_ssm_data(data, path=path)


def _filters_out(filters: tuple[PatchFilter, ...]) -> dict[str, Any]:
    return {"PatchFilters": [{"Key": f.key, "Values": list(f.values)} for f in filters]}


def _rule_out(rule: PatchRule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "PatchFilterGroup": _filters_out(rule.filters),
        "ComplianceLevel": rule.compliance_level.value,
    }
    if rule.approve_after_days is not None:
        out["ApproveAfterDays"] = rule.approve_after_days
    if rule.approve_until_date is not None:
        out["ApproveUntilDate"] = rule.approve_until_date.isoformat()
    out["EnableNonSecurity"] = rule.enable_non_security
    return out


def _date_out(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_ssm(baseline: Baseline, *, for_create: bool = False) -> dict[str, Any]:
    """The baseline in SSM's JSON shape: what ``get-patch-baseline`` prints, or with
    ``for_create`` only what ``create-patch-baseline --cli-input-json`` accepts."""
    b = baseline
    out: dict[str, Any] = {}
    if b.baseline_id is not None and not for_create:
        out["BaselineId"] = b.baseline_id
    out["Name"] = b.name
    out["OperatingSystem"] = b.operating_system.value
    out["GlobalFilters"] = _filters_out(b.global_filters)
    out["ApprovalRules"] = {"PatchRules": [_rule_out(r) for r in b.approval_rules]}
    out["ApprovedPatches"] = list(b.approved_patches)
    out["ApprovedPatchesComplianceLevel"] = b.approved_patches_compliance_level.value
    out["ApprovedPatchesEnableNonSecurity"] = b.approved_patches_enable_non_security
    out["RejectedPatches"] = list(b.rejected_patches)
    out["RejectedPatchesAction"] = b.rejected_patches_action.value
    if not for_create:
        out["PatchGroups"] = list(b.patch_groups)
        for key, value in (("CreatedDate", b.created_date), ("ModifiedDate", b.modified_date)):
            if value is not None:
                out[key] = _date_out(value)
    if b.description:
        out["Description"] = b.description
    out["Sources"] = [
        {"Name": s.name, "Products": list(s.products), "Configuration": s.configuration}
        for s in b.sources
    ]
    if b.available_security_updates_compliance_status is not None:
        out["AvailableSecurityUpdatesComplianceStatus"] = (
            b.available_security_updates_compliance_status
        )
    return out
