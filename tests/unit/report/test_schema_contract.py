"""The report keeps its contract: every failure kind and state the code can produce is in the
registry the JSON Schema is generated from, in the schema, and in docs/report-schema.md.

The code is walked, not listed here: every ``kind`` of a HostError subclass (all modules of
the package imported), and every kind a literal in the engine gives a HostFailure (a
``kind="..."`` keyword, a ``kind`` parameter's default, the kind argument of ``_failed``). A
kind added later fails this test until it is registered and documented."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import fleetpatch
from fleetpatch.compliance import PatchState
from fleetpatch.errors import HostError
from fleetpatch.report.json_report import report_json_schema
from fleetpatch.report.status import HostStatus
from fleetpatch.results import FAILURE_KINDS, HostOutcome

SRC = Path(fleetpatch.__file__).parent
DOC = Path(__file__).parents[3] / "docs" / "report-schema.md"


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def error_kinds() -> set[str]:
    for module in pkgutil.walk_packages(fleetpatch.__path__, "fleetpatch."):
        if module.name.startswith("fleetpatch.cli") or module.name.endswith("__main__"):
            continue  # the CLI only parses options; __main__ runs the app when imported
        importlib.import_module(module.name)
    return {sub.kind for sub in _subclasses(HostError)} | {HostError.kind}


def literal_kinds() -> set[str]:
    """Kinds written as literals where a HostFailure is made (engine and results)."""
    kinds: set[str] = set()
    for path in [*(SRC / "engine").glob("*.py"), SRC / "results.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "kind" and isinstance(kw.value, ast.Constant):
                        kinds.add(str(kw.value.value))
                name = getattr(node.func, "id", "")
                if name == "_failed" and len(node.args) > 4:
                    arg = node.args[4]
                    if isinstance(arg, ast.Constant):
                        kinds.add(str(arg.value))
            if isinstance(node, ast.FunctionDef):
                args = node.args.args[len(node.args.args) - len(node.args.defaults) :]
                pairs = [*zip(args, node.args.defaults, strict=True)]
                pairs += [
                    (a, d)
                    for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
                    if d is not None
                ]
                for arg, default in pairs:
                    if arg.arg == "kind" and isinstance(default, ast.Constant):
                        kinds.add(str(default.value))
    return kinds


def documented(section: str) -> str:
    text = DOC.read_text()
    start = text.index(section)
    return text[start : text.index("\n## ", start + 1)]


def test_every_failure_kind_the_code_produces_is_registered_in_the_schema_and_documented() -> None:
    produced = error_kinds() | literal_kinds()
    assert {"unreachable", "no_metadata", "skipped", "locked", "hook", "baseline"} <= produced
    assert produced - set(FAILURE_KINDS) == set(), "register these in results.FAILURE_KINDS"
    schema = report_json_schema()["$defs"]["ReportFailure"]["properties"]["kind"]
    assert schema["enum"] == list(FAILURE_KINDS)
    doc = documented("### Failure kinds")
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M))
    assert listed == set(FAILURE_KINDS), "docs/report-schema.md, Failure kinds"


def test_every_state_status_and_outcome_is_in_the_schema_and_documented() -> None:
    schema = report_json_schema()["$defs"]
    doc = DOC.read_text()
    for enum, name in ((PatchState, "PatchState"), (HostStatus, "HostStatus")):
        assert schema[name]["enum"] == [m.value for m in enum]
        for member in enum:
            assert f"`{member.value}`" in doc, f"{name}.{member.name} not in report-schema.md"
    assert schema["HostOutcome"]["enum"] == [m.value for m in HostOutcome]
    for member in HostOutcome:
        assert f"`{member.value}`" in doc
