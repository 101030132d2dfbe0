"""Golden-file helpers for the platform parsers (STYLE principle 2).

``tests/golden/<platform>/<probe>/<case>.txt`` is raw remote output; ``<case>.json`` beside it is
the expected parse (pydantic ``mode="json"``), or ``{"error": ..., "kind": ..., "message": ...}``
when the parser must refuse the input. ``pytest --update-golden`` (see tests/golden_plugin.py)
or ``FLEETPATCH_UPDATE_GOLDEN=1`` rewrites the expected files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import to_jsonable_python

from fleetpatch.errors import HostError

GOLDEN_ROOT = Path(__file__).resolve().parents[2] / "golden"


def golden_value(parse: Callable[[], object]) -> Any:
    """The JSON form of ``parse()``'s result, or of the HostError it raises."""
    try:
        result = parse()
    except HostError as exc:
        return {"error": type(exc).__name__, "kind": exc.kind, "message": str(exc)}
    return to_jsonable_python(result)


class Golden:
    def __init__(self, update: bool):
        self.update = update

    def check(self, expected_path: Path, actual: Any) -> None:
        rendered = json.dumps(actual, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        if self.update or not expected_path.exists():
            expected_path.write_text(rendered, encoding="utf-8")
            if not self.update:
                pytest.fail(f"{expected_path} did not exist: written, review and commit it")
            return
        expected = json.loads(expected_path.read_text(encoding="utf-8"))
        assert actual == expected, f"parse of {expected_path.stem} differs from {expected_path}"
