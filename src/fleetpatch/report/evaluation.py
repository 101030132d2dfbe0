"""``fleetpatch baseline evaluate --format json``: one host's facts against one baseline.

The document uses the scan report's names for the same things (``counts`` with SSM's
InstancePatchState names, ``non_compliant_by_severity``, ``patches`` as report patches); its
JSON Schema is generated from the models (``fleetpatch schema evaluation``) and described in
docs/baselines.md. Unlike the scan report, ``patches`` holds every item, INSTALLED_OTHER too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, TypeAdapter

from fleetpatch.compliance import ComplianceLevel, ComplianceStatus, HostCompliance
from fleetpatch.report import models as m
from fleetpatch.report.json_report import _counts, severity_summary

EVALUATION_SCHEMA_VERSION = 1


class EvaluationDocument(m._Model):
    """The evaluation of one host's facts against one baseline."""

    schema_version: Literal[1] = Field(description="bumped on any incompatible change")
    host: str = Field(description="the facts' host name")
    baseline: str
    status: ComplianceStatus
    overall_severity: ComplianceLevel | None = Field(
        description="highest compliance level of a non-compliant item; null when compliant"
    )
    counts: m.StateCounts
    non_compliant_by_severity: m.SeveritySummary
    patches: list[m.ReportPatch] = Field(description="every patch item, INSTALLED_OTHER too")


_PATCHES: TypeAdapter[list[m.ReportPatch]] = TypeAdapter(list[m.ReportPatch])


def evaluation_to_json(host: str, compliance: HostCompliance) -> dict[str, Any]:
    """The JSON-ready evaluation document of ``compliance`` for ``host``."""
    doc = EvaluationDocument(
        schema_version=EVALUATION_SCHEMA_VERSION,
        host=host,
        baseline=compliance.baseline,
        status=compliance.status,
        overall_severity=compliance.overall_severity,
        counts=_counts(compliance),
        non_compliant_by_severity=severity_summary(compliance.non_compliant_by_level),
        patches=_PATCHES.validate_python(list(compliance.items), from_attributes=True),
    )
    return doc.model_dump(mode="json")


def evaluation_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the evaluation document."""
    schema = EvaluationDocument.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:fleetpatch:evaluation:{EVALUATION_SCHEMA_VERSION}"
    schema["title"] = "fleetpatch baseline evaluation"
    return schema
