"""Patch baselines with Patch Manager's semantics: model, loading, evaluation, SSM interop.

See docs/baselines.md for the file format and the evaluation rules.
"""

from fleetpatch.baseline.compiled import CompiledBaseline, compile_baseline
from fleetpatch.baseline.evaluate import apply_install_outcome, evaluate_baseline, rollup
from fleetpatch.baseline.facts_io import load_facts
from fleetpatch.baseline.groups import PatchGroupMap, load_patch_group_map, select_baseline
from fleetpatch.baseline.loader import baseline_to_data, baseline_to_yaml, load_baseline
from fleetpatch.baseline.model import (
    Baseline,
    PatchFilter,
    PatchRule,
    PatchSource,
    RejectedPatchesAction,
)
from fleetpatch.baseline.oses import OperatingSystem
from fleetpatch.baseline.override import (
    InstallOverrideList,
    OverridePatch,
    load_install_override,
)
from fleetpatch.baseline.predefined import (
    default_baseline_for,
    get_predefined,
    list_predefined,
    resolve_baseline,
)
from fleetpatch.baseline.ssm_json import export_ssm, import_ssm

__all__ = [
    "Baseline",
    "CompiledBaseline",
    "InstallOverrideList",
    "OperatingSystem",
    "OverridePatch",
    "PatchFilter",
    "PatchGroupMap",
    "PatchRule",
    "PatchSource",
    "RejectedPatchesAction",
    "apply_install_outcome",
    "baseline_to_data",
    "baseline_to_yaml",
    "compile_baseline",
    "default_baseline_for",
    "evaluate_baseline",
    "export_ssm",
    "get_predefined",
    "import_ssm",
    "list_predefined",
    "load_baseline",
    "load_facts",
    "load_install_override",
    "load_patch_group_map",
    "resolve_baseline",
    "rollup",
    "select_baseline",
]
