"""Ground truth from apt itself, read inside a lab container; parsed here independently of
fleetpatch's own parsers (a deliberately simple reading of the same Inst lines)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) (.*) \[[^\]]+\]\)")


@dataclass(frozen=True)
class TruthUpdate:
    name: str
    candidate: str
    origins: str

    @property
    def security(self) -> bool:
        return "-Security:" in self.origins or "-security" in self.origins


def apt_updates(simulate_output: str) -> dict[str, TruthUpdate]:
    found: dict[str, TruthUpdate] = {}
    for line in simulate_output.splitlines():
        m = _INST.match(line)
        if m:
            name = m.group(1).split(":")[0]
            found[name] = TruthUpdate(name, m.group(2), m.group(3))
    return found


SIMULATE = ["sh", "-c", "LC_ALL=C apt-get -s -o Debug::NoLocking=1 dist-upgrade"]
