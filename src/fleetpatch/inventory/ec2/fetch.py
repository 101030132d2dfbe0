"""Talk to EC2 through boto3: credentials, the enabled regions, and DescribeInstances in every
region at once (one thread per region, paginated), with the on-disk cache in front.

A region that fails (auth failure, not opted in, throttled after botocore's retries, endpoint
unreachable) becomes a :class:`RegionOutcome` carrying the error; problems that are the same
everywhere and that the user must fix (no credentials, a filter EC2 rejects) raise InputError.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleetpatch.errors import InputError
from fleetpatch.inventory.cache import JsonCache, cache_key
from fleetpatch.inventory.ec2.instance import Ec2Instance

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client

_MAX_THREADS = 16
_PAGE_SIZE = 1000
# EC2 error codes that mean "the request itself is wrong" (we only send filters): fatal.
_BAD_REQUEST = {
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "InvalidParameter",
    "InvalidFilter",
    "UnknownParameter",
}
_CREDENTIAL_ENV = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2")


@dataclass(frozen=True)
class Ec2Query:
    """What to ask EC2, identical for every region of one source."""

    label: str  # the source, for messages: FILE:LINE (sources[i], ec2)
    profile: str | None = None
    endpoint_url: str | None = None
    endpoint_urls: Mapping[str, str] = field(default_factory=dict)
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    max_attempts: int = 5

    def endpoint_for(self, region: str) -> str | None:
        return self.endpoint_urls.get(region, self.endpoint_url)

    def cache_key(self, region: str) -> str:
        """Changes whenever the answer could: the query, the endpoint, the credentials' names."""
        env = {name: os.environ.get(name) for name in _CREDENTIAL_ENV}
        return cache_key(
            "ec2-describe-instances", self.profile, env, region, self.endpoint_for(region),
            [[name, list(values)] for name, values in self.filters],
        )  # fmt: skip


@dataclass(frozen=True)
class RegionOutcome:
    """The instances of one region, or why there are none."""

    region: str
    instances: tuple[Ec2Instance, ...] = ()
    error: str | None = None  # "AuthFailure: ..." when the region failed
    from_cache: bool = False


class Ec2Api:
    """A boto3 session for one source. Raises InputError if boto3 is missing or the profile
    does not exist; credentials are looked for only when EC2 is to be asked."""

    def __init__(self, query: Ec2Query) -> None:
        self.query = query
        try:
            import boto3
            import botocore.exceptions
        except ImportError:
            raise InputError(
                f"{query.label}: the ec2 source needs boto3: pip install 'fleetpatch[ec2]'"
            ) from None
        try:
            self.session: boto3.Session = boto3.Session(profile_name=query.profile)
        except botocore.exceptions.ProfileNotFound:
            raise InputError(
                f"{query.label}: AWS profile {query.profile!r} not found in the AWS config "
                "or credentials file"
            ) from None

    def require_credentials(self) -> None:
        """Raises InputError unless the credential chain (or the profile) yields credentials."""
        import botocore.exceptions

        query = self.query
        try:
            credentials = self.session.get_credentials()
        except botocore.exceptions.BotoCoreError as exc:
            raise InputError(f"{query.label}: cannot load AWS credentials: {exc}") from None
        if credentials is None:
            via = f"profile {query.profile!r}" if query.profile else "the default credential chain"
            raise InputError(
                f"{query.label}: no AWS credentials found (via {via}); set AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run 'aws sso login', or give "
                "'profile:' in the source"
            )

    def known_regions(self) -> list[str]:
        """Every region botocore knows EC2 in, all partitions."""
        names: set[str] = set()
        for partition in self.session.get_available_partitions():
            names.update(self.session.get_available_regions("ec2", partition_name=partition))
        return sorted(names)

    def client(self, region: str) -> EC2Client:
        from botocore.config import Config

        config = Config(
            retries={"total_max_attempts": self.query.max_attempts, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )
        return self.session.client(
            "ec2", region_name=region, endpoint_url=self.query.endpoint_for(region), config=config
        )

    def enabled_regions(self) -> list[str]:
        """DescribeRegions (enabled regions only), asked in the profile's region or us-east-1.
        Raises InputError if that fails: without the list there is nothing to query."""
        home = self.session.region_name or "us-east-1"
        try:
            answer = self.client(home).describe_regions(AllRegions=False)
        except Exception as exc:
            _, text = classify_error(exc)
            raise InputError(
                f"{self.query.label}: cannot list the enabled regions (regions: all) via "
                f"{home}: {text}"
            ) from None
        return sorted(str(r["RegionName"]) for r in answer.get("Regions", ()) if "RegionName" in r)


def describe_region(client: EC2Client, region: str, query: Ec2Query) -> RegionOutcome:
    """All instances of one region matching the query's filters (every page)."""
    filters: Any = [{"Name": name, "Values": list(values)} for name, values in query.filters]
    instances: list[Ec2Instance] = []
    paginator = client.get_paginator("describe_instances")
    for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": _PAGE_SIZE}):
        for reservation in page.get("Reservations", ()):
            for item in reservation.get("Instances", ()):
                instances.append(Ec2Instance.from_api(region, item))
    return RegionOutcome(region=region, instances=tuple(instances))


def classify_error(exc: BaseException) -> tuple[bool, str]:
    """``(fatal, text)``: fatal errors are the user's to fix and the same in every region."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or exc)
        return code in _BAD_REQUEST, f"{code}: {message}"
    if isinstance(
        exc,
        botocore.exceptions.NoCredentialsError
        | botocore.exceptions.PartialCredentialsError
        | botocore.exceptions.CredentialRetrievalError,
    ):
        return True, f"AWS credentials: {exc}"
    return False, f"{type(exc).__name__}: {exc}"


def fetch_instances(
    api: Ec2Api, regions: Sequence[str], *, cache: JsonCache, ttl: float, refresh: bool
) -> list[RegionOutcome]:
    """Every region's outcome, in the order of ``regions``: fresh cache entries are used
    unless ``refresh``; the rest is asked concurrently and successful answers are cached.

    Raises InputError for missing credentials (checked only if some region has to be asked)
    and for fatal errors (see :func:`classify_error`).
    """
    query = api.query
    outcomes: dict[str, RegionOutcome] = {}
    if not refresh:
        for region in regions:
            cached = cache.get(query.cache_key(region), ttl, prefix="ec2-")
            instances = _from_cache(cached)
            if instances is not None:
                outcomes[region] = RegionOutcome(region, instances, from_cache=True)
    missing = [region for region in regions if region not in outcomes]
    if missing:
        api.require_credentials()
        # Clients are created here, in one thread: boto3 sessions are not thread-safe.
        clients = {region: api.client(region) for region in missing}
        with ThreadPoolExecutor(max_workers=min(len(missing), _MAX_THREADS)) as pool:
            futures = {r: pool.submit(describe_region, clients[r], r, query) for r in missing}
        for region, future in futures.items():
            exc = future.exception()
            if exc is None:
                outcome = future.result()
                if ttl > 0:
                    cache.put(
                        query.cache_key(region),
                        [instance.to_json() for instance in outcome.instances],
                        prefix="ec2-",
                    )
                outcomes[region] = outcome
                continue
            fatal, text = classify_error(exc)
            if fatal:
                raise InputError(f"{query.label}: EC2 rejected the request in {region}: {text}")
            outcomes[region] = RegionOutcome(region, error=text)
    return [outcomes[region] for region in regions]


def _from_cache(value: Any) -> tuple[Ec2Instance, ...] | None:
    if not isinstance(value, list):
        return None
    try:
        return tuple(Ec2Instance.from_json(item) for item in value)
    except (TypeError, KeyError, AttributeError):
        return None
