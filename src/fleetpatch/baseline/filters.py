"""Patch filters compiled for matching, and the properties of one candidate they look at."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

import yaml

from fleetpatch.baseline.model import PatchFilter
from fleetpatch.baseline.oses import OperatingSystem, os_row
from fleetpatch.facts import AvailableUpdate, InstalledPackage


@dataclass(frozen=True)
class WindowsTables:
    classifications: dict[str, str]
    product_families: tuple[tuple[str, str], ...]  # longest prefix first
    products: dict[str, str]  # lower-case Windows Update product name -> SSM PRODUCT value


@cache
def windows_tables() -> WindowsTables:
    text = resources.files("fleetpatch.baseline").joinpath("data/windows.yaml").read_text()
    raw = yaml.safe_load(text)
    fams = sorted(raw["product_families"].items(), key=lambda kv: -len(kv[0]))
    return WindowsTables(
        {k.upper(): v for k, v in raw["classifications"].items()},
        tuple(fams),
        {str(k).lower(): str(v) for k, v in raw["products"].items()},
    )


def ssm_product(product: str) -> str:
    """SSM's PRODUCT value for a Windows Update product name (``Windows Server 2019`` ->
    ``WindowsServer2019``; application products keep Windows Update's name)."""
    return windows_tables().products.get(product.lower(), product)


def product_family(product: str) -> str:
    product = ssm_product(product)
    for prefix, family in windows_tables().product_families:
        if product.startswith(prefix):
            return family
    return product.split(" ", 1)[0]


def _norm(value: str | None) -> str:
    return "" if value is None else value.replace(" ", "").lower()


@dataclass(frozen=True)
class Props:
    """What filters and rules see of one candidate (an update, or an installed package).

    Names and versions are left out on purpose: rule outcomes for equal Props are equal, so
    evaluation can memoise them.
    """

    security_source: bool  # passes the implicit security-only rule
    classification: str  # normalised (lowercase, no spaces); "" when unknown
    severity: str  # normalised; "" when unknown
    priority: str
    section: str
    in_notice: bool  # listed in a vendor advisory / update notice
    products: tuple[str, ...] = ()
    date: datetime | None = None


def update_props(u: AvailableUpdate, os: OperatingSystem) -> Props:
    family = os_row(os).names
    classification = _norm(u.classification)
    if family == "windows":
        classification = _norm(
            windows_tables().classifications.get((u.classification or "").upper())
            or u.classification
        )
    in_notice = bool(u.advisory_ids or u.classification or u.kind == "patch")
    # yum/dnf/zypper: "Packages in an update notice count as Security" (ssm-semantics.md §2).
    security_source = u.security or (in_notice and family in ("yum", "zypper"))
    return Props(
        security_source=security_source,
        classification=classification,
        severity=_norm(u.severity),
        priority=_norm(u.priority),
        section=(u.section or "").lower(),
        in_notice=in_notice,
        products=u.packages if family == "windows" else (),
        date=u.release_date or u.build_time,
    )


def installed_props(p: InstalledPackage) -> Props:
    return Props(
        security_source=p.security_origin,
        classification="",
        severity="",
        priority=_norm(p.priority),
        section=p.section.lower(),
        in_notice=False,
    )


def is_security(u: AvailableUpdate, os: OperatingSystem) -> bool:
    """The vendor says this update is a security update (SSM's SecurityNonCompliantCount)."""
    if u.classification:
        cls = _norm(u.classification)
        if os is OperatingSystem.WINDOWS:
            cls = _norm(windows_tables().classifications.get(u.classification.upper())) or cls
        return cls in ("security", "securityupdates")
    return u.security


def _glob(value: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in value.lower().split("*")) + r"\Z")


@dataclass(frozen=True)
class CompiledFilter:
    key: str
    any: bool  # a '*' value
    exact: frozenset[str]  # normalised exact values
    globs: tuple[re.Pattern[str], ...]
    label: str  # KEY=v1,v2 for reasons
    synonyms: dict[str, tuple[str, ...]]

    @classmethod
    def compile(cls, f: PatchFilter, os: OperatingSystem) -> CompiledFilter:
        exact: set[str] = set()
        globs: list[re.Pattern[str]] = []
        syn = os_row(os).severity_synonyms if f.key == "SEVERITY" else {}
        for v in f.values:
            if v == "*":
                continue
            if "*" in v:
                globs.append(_glob(v))
            elif f.key in ("PRODUCT", "PRODUCT_FAMILY", "SECTION", "PATCH_SET"):
                exact.add(v.lower())
            else:
                n = _norm(v)
                exact.update(syn.get(n, (n,)))
        return cls(
            key=f.key,
            any="*" in f.values,
            exact=frozenset(exact),
            globs=tuple(globs),
            label=f"{f.key}={','.join(f.values)}",
            synonyms=syn,
        )

    def _hit(self, value: str) -> bool:
        return value in self.exact or any(g.match(value) for g in self.globs)

    def matches(self, props: Props, host_products: tuple[str, ...]) -> bool:
        key = self.key
        if key in ("PRODUCT", "PRODUCT_FAMILY", "PATCH_SET"):
            products = props.products or host_products
            if self.any:
                return True
            if key == "PRODUCT":
                # SSM's spelling (WindowsServer2019) or Windows Update's (Windows Server 2019)
                return any(
                    self._hit(p.lower()) or self._hit(ssm_product(p).lower()) for p in products
                )
            families = [product_family(p) for p in products]
            if key == "PRODUCT_FAMILY":
                return any(self._hit(f.lower()) for f in families)
            patch_set = "os" if (not families or "Windows" in families) else "application"
            return patch_set in self.exact
        if self.any:
            return True
        if key == "CLASSIFICATION":
            return bool(props.classification) and self._hit(props.classification)
        if key == "SEVERITY":
            if not props.severity or props.severity == "none":
                return props.in_notice and "none" in self.exact
            return self._hit(props.severity)
        if key == "MSRC_SEVERITY":
            return self._hit(props.severity or "unspecified")
        if key == "PRIORITY":
            return bool(props.priority) and self._hit(props.priority)
        if key == "SECTION":
            return bool(props.section) and self._hit(props.section)
        return False


def first_failing(
    filters: tuple[CompiledFilter, ...], props: Props, host_products: tuple[str, ...]
) -> CompiledFilter | None:
    for f in filters:
        if not f.matches(props, host_products):
            return f
    return None
