"""Report tests share the result builders of tests/unit/store."""

from __future__ import annotations

import sys
from pathlib import Path

_BUILDERS = str(Path(__file__).resolve().parents[1] / "store")
if _BUILDERS not in sys.path:
    sys.path.insert(0, _BUILDERS)
