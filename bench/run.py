"""Benchmarks, run on demand (`make bench`), never in tests: scan time and API calls of the demo estate,
and listing throughput on a larger synthetic estate. Prints a Markdown table for the README/closing note."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driftgraph.demo import aws_environment, moto_server  # noqa: E402
from driftgraph.demo_estate import PRIMARY, SECONDARY, build_estate  # noqa: E402
from driftgraph.scan import ScanOptions, run_scan  # noqa: E402
from scanner.clients import AwsSession  # noqa: E402


class CountingSession(AwsSession):
    """Counts the calls the scanner sends (after botocore retries, one per HTTP request)."""

    calls = 0

    def client(self, service, region=None):
        client = super().client(service, region)
        if not getattr(client, "_counted", False):
            def count(**_):
                CountingSession.calls += 1
            client.meta.events.register("before-send", count)
            client._counted = True
        return client


def bench_demo(runs: int) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint, aws_environment(endpoint):
        build_estate(endpoint, Path(tmp))
        times = []
        for run in range(runs):
            CountingSession.calls = 0
            started = time.monotonic()
            result = run_scan(ScanOptions(str(Path(tmp) / "bench.db"), regions=(PRIMARY, SECONDARY),
                                          tfstates=(str(Path(tmp) / "terraform"),)), session=CountingSession(default_region=PRIMARY))
            times.append(time.monotonic() - started)
        rows.append(f"| demo estate, 2 regions | {result['resource_count']} | {statistics.median(times):.2f} s "
                    f"(min {min(times):.2f}, max {max(times):.2f}, {runs} runs) | {CountingSession.calls} | "
                    f"{CountingSession.calls / statistics.median(times):.0f} |")
    return rows


def bench_queues(count: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint, aws_environment(endpoint):
        sqs = boto3.client("sqs", region_name=PRIMARY)
        for n in range(count):
            sqs.create_queue(QueueName=f"bench-{n:05d}", tags={"n": str(n)})
        CountingSession.calls = 0
        started = time.monotonic()
        result = run_scan(ScanOptions(str(Path(tmp) / "bench.db"), regions=(PRIMARY,), types=("AWS::SQS::Queue",),
                                      live_stacks=False), session=CountingSession(default_region=PRIMARY))
        elapsed = time.monotonic() - started
    return [f"| {count} SQS queues, 1 region | {result['resource_count']} | {elapsed:.2f} s | {CountingSession.calls} | "
            f"{CountingSession.calls / elapsed:.0f} |"]


def bench_reconcile(count: int) -> list[str]:
    """The pure middle alone: matching, classification and drift for `count` live queues, half declared."""
    from graph.records import LIVE, TERRAFORM, Listing, Owner, Record
    from graph.reconcile import Scope, reconcile

    account = "123456789012"
    live = [Record(LIVE, "AWS::SQS::Queue", account, PRIMARY, f"q-{n}", arn=f"arn:aws:sqs:{PRIMARY}:{account}:q-{n}",
                   tags={"n": str(n)}, attributes={"visibility_timeout": "30"}) for n in range(count)]
    declared = [Record(TERRAFORM, "AWS::SQS::Queue", account, PRIMARY, f"q-{n}", tags={"n": str(n)},
                       attributes={"visibility_timeout": 30}, owner=Owner("terraform", "s.tfstate", f"aws_sqs_queue.q[{n}]", "terraform"))
                for n in range(0, count, 2)]
    scope = Scope({account}, {PRIMARY}, "aws", [Listing(account, PRIMARY, "AWS::SQS::Queue", "ok")])
    started = time.monotonic()
    graph = reconcile(live, declared, scope)
    elapsed = time.monotonic() - started
    return [f"| reconcile only, {count} live + {count // 2} declared | {len(graph.nodes)} | {elapsed:.2f} s | 0 | - |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--reconcile", type=int, default=50000)
    args = parser.parse_args()
    print("| benchmark | resources | scan time | API calls | calls/s |")
    print("|---|---:|---:|---:|---:|")
    for row in bench_demo(args.runs) + bench_queues(args.queues) + bench_reconcile(args.reconcile):
        print(row, flush=True)


if __name__ == "__main__":
    main()
