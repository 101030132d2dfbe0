"""pytest plugin: the ``--update-golden`` option (rewrite expected golden files).

pytest only takes ``pytest_addoption`` from plugins and rootdir/initial conftests, so this lives
here; the root ``tests/conftest.py`` loads it with ``pytest_plugins = ["tests.golden_plugin"]``
(or run ``pytest -p tests.golden_plugin``). Without it, ``FLEETPATCH_UPDATE_GOLDEN=1`` works too.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the expected .json of golden-file tests from the current parsers",
    )
