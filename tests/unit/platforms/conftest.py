"""Fixtures for the platform tests: ``golden`` (see golden.py; ``--update-golden`` rewrites)."""

from __future__ import annotations

import os

import pytest

from .golden import Golden


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    update = bool(request.config.getoption("--update-golden", default=False)) or (
        os.environ.get("FLEETPATCH_UPDATE_GOLDEN") == "1"
    )
    return Golden(update)
