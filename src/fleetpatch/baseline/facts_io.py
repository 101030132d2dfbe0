"""Read a host facts document (``fleetpatch scan --save-facts``) for offline evaluation."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from fleetpatch.baseline.yamlpos import located, read_document
from fleetpatch.errors import InputError
from fleetpatch.facts import HostFacts


def load_facts(path: str | Path) -> HostFacts:
    """Load a HostFacts JSON (or YAML) file. Errors name the file, key path and line."""
    p = str(path)
    data, positions = read_document(path)
    if not isinstance(data, dict):
        raise InputError("a facts document must be a JSON object", path=p)
    try:
        return HostFacts.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        if err["type"] == "missing":
            message = f"required key {loc[-1]!r} is missing"
        else:
            message = f"{err['msg']} (got {err.get('input')!r})"
        raise InputError(message, path=p, location=located(loc, positions) or None) from None
