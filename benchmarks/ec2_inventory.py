"""Benchmark: resolve an EC2 inventory of 10,000 instances in 4 regions, served by moto.

    .venv/bin/python benchmarks/ec2_inventory.py [--instances 10000] [--regions 4]

Starts its own moto server on 127.0.0.1, creates the instances, then reports:

* raw boto3: paginated DescribeInstances in every region, one region after the other and
  all regions at once (threads) - this is (nearly) all moto's time;
* load_inventory, cold (refresh_inventory=True: EC2 asked, cache written) and warm (cache);
* the share of the cold load that is the raw concurrent DescribeInstances;
* peak memory: tracemalloc peak of a cold load (Python allocations in this process) and the
  process's ru_maxrss (whole process, boto3 and botocore's models included).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

REGIONS = ["us-east-2", "eu-central-1", "ap-northeast-1", "sa-east-1", "eu-west-2", "ca-central-1"]
BATCH = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--regions", type=int, default=4, choices=range(1, len(REGIONS) + 1))
    args = parser.parse_args()
    regions = REGIONS[: args.regions]
    with tempfile.TemporaryDirectory() as tmp:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            del os.environ[name]
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE="/nonexistent",
            AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
            XDG_CACHE_HOME=str(Path(tmp) / "cache"),
        )
        from tests.ec2.awsfake import moto_server

        with moto_server() as endpoint:
            run(endpoint, regions, args.instances, Path(tmp))


def client(endpoint: str, region: str) -> Any:
    import boto3

    return boto3.client("ec2", region_name=region, endpoint_url=endpoint)


def populate(endpoint: str, regions: list[str], total: int) -> None:
    per_region = total // len(regions)
    groups = ("web", "db", "batch", "cache")
    for region in regions:
        ec2 = client(endpoint, region)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        for start in range(0, per_region, BATCH):
            count = min(BATCH, per_region - start)
            tags = [
                {"Key": "Patch Group", "Value": groups[(start // BATCH) % len(groups)]},
                {"Key": "Env", "Value": "prod" if (start // BATCH) % 2 == 0 else "stage"},
            ]
            ec2.run_instances(
                ImageId=image,
                MinCount=count,
                MaxCount=count,
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            )


def describe_all(endpoint: str, region: str) -> int:
    ec2 = client(endpoint, region)
    paginator = ec2.get_paginator("describe_instances")
    count = 0
    filters: Any = [{"Name": "instance-state-name", "Values": ["running"]}]
    for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 1000}):
        count += sum(len(r["Instances"]) for r in page["Reservations"])
    return count


def run(endpoint: str, regions: list[str], total: int, tmp: Path) -> None:
    from fleetpatch.inventory.loader import load_inventory

    started = time.perf_counter()
    populate(endpoint, regions, total)
    print(f"populated {total} instances in {len(regions)} regions: "
          f"{time.perf_counter() - started:.1f} s (not part of the figures below)")  # fmt: skip
    inventory = tmp / "ec2.yaml"
    inventory.write_text(
        "sources:\n"
        "  - kind: ec2\n"
        f"    regions: [{', '.join(regions)}]\n"
        f"    endpoint_url: {endpoint}\n"
        "    keyed_groups: [{key: 'tag:Patch Group', prefix: pg}, {key: region}]\n"
        "    users: { default: ec2-user }\n"
    )
    describe_all(endpoint, regions[0])  # warm moto's and botocore's first-call paths

    started = time.perf_counter()
    sequential = sum(describe_all(endpoint, region) for region in regions)
    raw_sequential = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(regions)) as pool:
        concurrent = sum(pool.map(lambda r: describe_all(endpoint, r), regions))
    raw_concurrent = time.perf_counter() - started
    assert sequential == concurrent

    started = time.perf_counter()
    cold = load_inventory([inventory], refresh_inventory=True)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = load_inventory([inventory])
    warm_s = time.perf_counter() - started
    assert len(cold.hosts) == len(warm.hosts) == sequential, (len(cold.hosts), sequential)

    tracemalloc.start()
    load_inventory([inventory], refresh_inventory=True)
    _, peak_cold = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    load_inventory([inventory])
    _, peak_warm = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"hosts resolved:                               {len(cold.hosts)}")
    print(f"raw boto3 DescribeInstances, regions in turn: {raw_sequential:6.2f} s")
    print(f"raw boto3 DescribeInstances, concurrent:      {raw_concurrent:6.2f} s")
    print(f"load_inventory cold (EC2 asked, cache saved): {cold_s:6.2f} s")
    print(f"load_inventory warm (from the cache):         {warm_s:6.2f} s")
    print(f"raw concurrent describe / cold load:          {raw_concurrent / cold_s:6.2f}")
    print(f"cold load minus raw concurrent describe:      {cold_s - raw_concurrent:6.2f} s")
    print(f"tracemalloc peak, cold load:                  {peak_cold / 2**20:6.1f} MiB")
    print(f"tracemalloc peak, warm load:                  {peak_warm / 2**20:6.1f} MiB")
    print(f"ru_maxrss (whole process):                    {maxrss_mib:6.1f} MiB")


if __name__ == "__main__":
    main()
