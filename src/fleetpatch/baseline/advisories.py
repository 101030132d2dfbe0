"""Several advisories for one package: each is judged on its own (SSM on dnf/yum).

A dnf/yum update may carry several advisories, one per version it fixes between the installed
version and the candidate (``AvailableUpdate.advisories``): version -25 fixed by a Moderate
advisory of 40 days ago, -27 by a Critical one of 3 days ago. Patch Manager installs what
``dnf upgrade-minimal --sec-severity=...`` picks: every advisory is held against the rules on
its own (classification, severity, date), and the package is approved at the newest version
an approved advisory ships. The evaluator does that by judging *views* of the update: one per
advisory (the update at that advisory's version, with that advisory's classification,
severity, date and references only), plus the candidate itself when no advisory ships it (a
plain package update: only a rule with non-security enabled approves it).

An installed package carries the advisories its version already satisfies
(``InstalledPackage.advisories``); their views say whether the baseline approves what is
installed (INSTALLED rather than INSTALLED_OTHER).
"""

from __future__ import annotations

from fleetpatch.facts import Advisory, AvailableUpdate, InstalledPackage


def _is_security(a: Advisory) -> bool:
    return (a.classification or "").lower() == "security"


def _view(base: AvailableUpdate, a: Advisory) -> AvailableUpdate:
    return base.model_copy(
        update={
            "candidate_version": a.version,
            "security": _is_security(a),
            "classification": a.classification,
            "severity": a.severity,
            "advisory_ids": (a.id,),
            "cves": a.cves,
            "bugzilla_ids": a.bugzilla_ids,
            "release_date": a.updated or a.issued,
            "title": a.title or base.title,
            "advisories": (),
        }
    )


def update_views(u: AvailableUpdate) -> tuple[AvailableUpdate, ...]:
    """The versions of ``u`` a baseline judges (module docstring), oldest first; ``(u,)``
    when ``u`` carries no per-advisory data (apt, zypper, Windows, older facts)."""
    if not u.advisories:
        return (u,)
    views = [_view(u, a) for a in u.advisories]
    if all(a.version != u.candidate_version for a in u.advisories):
        views.append(
            u.model_copy(
                update={
                    "security": False,
                    "classification": None,
                    "severity": None,
                    "advisory_ids": (),
                    "cves": (),
                    "bugzilla_ids": (),
                    "release_date": None,
                    "title": u.title,
                    "advisories": (),
                }
            )
        )
    return tuple(views)


def installed_views(p: InstalledPackage) -> tuple[AvailableUpdate, ...]:
    """One view per advisory ``p``'s version satisfies, as an update to that version."""
    base = AvailableUpdate(
        name=p.name,
        arch=p.arch,
        installed_version=p.version,
        candidate_version=p.version,
        security=False,
    )
    return tuple(_view(base, a) for a in p.advisories)


def shown_ids(view: AvailableUpdate, origin: AvailableUpdate) -> tuple[str, ...]:
    """The advisory ids a report item lists: the deciding advisory first, then every other
    advisory of the update."""
    if view is origin:
        return origin.advisory_ids
    return tuple(dict.fromkeys((*view.advisory_ids, *origin.advisory_ids)))
