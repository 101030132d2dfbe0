"""Pure parsers of zypper's own simulation of an install (``zypper --xmlout install --dry-run``)
and of the patch search that tells which requested names are patches.

The simulation's XML (zypper's ``Summary::dumpAsXmlTo``)::

    <stream>
      <message type="info|warning|error">...</message>
      <install-summary download-size=".." space-usage-diff=".." packages-to-change="N">
        <to-upgrade><solvable type="package" name edition arch edition-old arch-old .../>
        <to-install><solvable type="package|patch" name edition arch .../>
        <to-downgrade/> <to-reinstall/> <to-remove/> <to-change-arch/> <to-change-vendor/>
      </install-summary>
      <prompt id="1"><description>Problem: ... Solution 1: ...</description>...</prompt>
    </stream>

A solver problem has no summary: with ``-n`` zypper answers the problem prompt with "cancel"
(rc 4), so the prompt's ``Problem:`` description is the error. Parsed with
:func:`~fleetpatch.platforms.zypper.parsers.parse_zypper_xml` (no DTD accepted).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from fleetpatch.errors import ParseError
from fleetpatch.platforms.zypper.parsers import parse_zypper_xml

_ACTIONS = {
    "to-install": "install",
    "to-upgrade": "upgrade",
    "to-downgrade": "downgrade",
    "to-reinstall": "reinstall",
    "to-remove": "remove",
    "to-change-arch": "change-arch",
    "to-change-vendor": "change-vendor",
}


class SummarySolvable(BaseModel):
    """One ``<solvable>`` of the install summary."""

    model_config = ConfigDict(frozen=True)

    action: str  # install, upgrade, downgrade, reinstall, remove, change-arch, change-vendor
    kind: str  # package, patch, pattern, product, srcpackage
    name: str
    edition: str
    arch: str
    edition_old: str | None = None
    arch_old: str | None = None


class ZypperSimulation(BaseModel):
    """What zypper would do: the summary's solvables, its error messages and problems."""

    model_config = ConfigDict(frozen=True)

    solvables: tuple[SummarySolvable, ...] = ()
    summary: bool = False  # an <install-summary> was printed
    errors: tuple[str, ...] = ()  # <message type="error"> texts
    problems: tuple[str, ...] = ()  # solver problems (prompt descriptions)
    warnings: tuple[str, ...] = ()
    reboot_message: bool = False  # "... requires a reboot ..."

    @property
    def changes(self) -> tuple[SummarySolvable, ...]:
        """Solvables that end up on the system (not removals)."""
        return tuple(s for s in self.solvables if s.action != "remove")


def parse_zypper_simulation(text: str, section: str = "zypper.simulate") -> ZypperSimulation:
    """``zypper -n --xmlout install --dry-run SPEC...`` (stdout and stderr merged).

    Raises:
        ParseError: malformed XML, a solvable without name/edition/arch, or a
            ``packages-to-change`` count that disagrees with the package solvables listed
            (cross-check: at least the packages placed, at most those plus the removals).
    """
    root, errors = parse_zypper_xml(text, section)
    solvables: list[SummarySolvable] = []
    summary = root.find("install-summary")
    if summary is not None:
        for group in summary:
            action = _ACTIONS.get(group.tag)
            if action is None:
                continue
            for node in group.iter("solvable"):
                name, edition, arch = node.get("name"), node.get("edition"), node.get("arch")
                if not name or edition is None or not arch:
                    raise ParseError(
                        f"{section}: expected name, edition and arch on a <solvable> under "
                        f"<{group.tag}>, got {dict(node.attrib)}"
                    )
                solvables.append(
                    SummarySolvable(
                        action=action,
                        kind=node.get("type", "package"),
                        name=name,
                        edition=edition,
                        arch=arch,
                        edition_old=node.get("edition-old"),
                        arch_old=node.get("arch-old"),
                    )
                )
        said = summary.get("packages-to-change")
        placed = {
            (s.name, s.arch)
            for s in solvables
            if s.kind == "package" and s.action in ("install", "upgrade", "downgrade", "reinstall")
        }
        removed = {(s.name, s.arch) for s in solvables if s.kind == "package"} - placed
        if (
            said is not None
            and said.isdigit()
            and not len(placed) <= int(said) <= len(placed) + len(removed)
        ):
            raise ParseError(
                f"{section}: install-summary says packages-to-change={said}, its lists "
                f"hold {len(placed)} package(s) to install/upgrade and {len(removed)} "
                "to remove"
            )
    problems = [
        " ".join((d.text or "").split())
        for prompt in root.iter("prompt")
        for d in prompt.iter("description")
        if (d.text or "").strip().startswith("Problem")
    ]
    warnings = [
        (m.text or "").strip()
        for m in root.iter("message")
        if m.get("type") == "warning" and (m.text or "").strip()
    ]
    return ZypperSimulation(
        solvables=tuple(solvables),
        summary=summary is not None,
        errors=errors,
        problems=tuple(problems),
        warnings=tuple(warnings),
        reboot_message=any("reboot" in w.lower() for w in warnings),
    )


def parse_patch_search(text: str, section: str = "zypper.kinds") -> frozenset[str]:
    """Names of the patches in ``zypper --xmlout search -t patch --match-exact NAME...``
    (an empty result is "No matching items found", rc 104).

    Raises:
        ParseError: malformed XML.
    """
    root, _ = parse_zypper_xml(text, section)
    return frozenset(
        node.get("name", "")
        for node in root.iter("solvable")
        if node.get("kind") == "patch" and node.get("name")
    )


__all__ = [
    "SummarySolvable",
    "ZypperSimulation",
    "parse_patch_search",
    "parse_zypper_simulation",
]
