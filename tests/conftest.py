"""Test-suite wide setup: the lab fixtures and the Ryuk-free testcontainers setting."""

from __future__ import annotations

import os

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

pytest_plugins = ["tests.lab.fixtures", "tests.golden_plugin", "tests.winrm.fixtures"]
