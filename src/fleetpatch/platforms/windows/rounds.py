"""Install rounds on Windows, and the loop that must stop them (a pure function).

Some updates apply only after others and a reboot (a servicing stack update, then the
cumulative update). So an install goes in rounds: install the approved missing updates,
reboot if needed, rescan, and install what is approved and missing now - at most
``max_rounds`` times. Windows Update sometimes offers an update again after it reported it
installed (the most complained-about failure of Ansible's ``win_updates``: it loops until its
round limit); fleetpatch stops at once instead: an update that reported installed in an
earlier round and is offered again stops the host as FAILED, naming the update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_MAX_ROUNDS = 3


@dataclass(frozen=True)
class RoundResult:
    """What one round did: update ids installed and failed (id -> message)."""

    installed: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RoundDecision:
    """``install`` these ids in the next round, ``done`` (nothing left that can succeed), or
    ``failed`` (a loop, or updates left after the last round): ``message`` says which."""

    action: Literal["install", "done", "failed"]
    install: tuple[str, ...] = ()
    message: str = ""
    looping: tuple[str, ...] = ()


def next_round(
    history: Sequence[RoundResult],
    offered: Mapping[str, str],
    *,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
) -> RoundDecision:
    """What to do after a rescan. ``offered``: the approved missing updates now (update id ->
    a label for messages, ``KB5036896 (title)``); ``history``: the rounds so far.

    Raises:
        ValueError: ``max_rounds`` below 1.
    """
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
    installed_in: dict[str, int] = {}
    failed_before: set[str] = set()
    for number, result in enumerate(history, start=1):
        for update_id in result.installed:
            installed_in.setdefault(update_id, number)
        failed_before.update(result.failed)
    looping = tuple(sorted(u for u in offered if u in installed_in))
    if looping:
        named = "; ".join(
            f"{offered[u]} (reported installed in round {installed_in[u]})" for u in looping
        )
        return RoundDecision(
            "failed",
            message=f"Windows Update offers again what it reported installed: {named}; "
            "stopped instead of installing it again",
            looping=looping,
        )
    todo = tuple(sorted(u for u in offered if u not in failed_before))
    if not todo:
        return RoundDecision("done")
    if len(history) >= max_rounds:
        left = "; ".join(offered[u] for u in todo)
        return RoundDecision(
            "failed",
            message=f"still {len(todo)} update(s) to install after {max_rounds} round(s): {left}",
        )
    return RoundDecision("install", install=todo)
