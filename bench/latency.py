"""How near the API limit a scan gets, run on demand (never in tests): a loopback proxy that adds AWS-like latency
(and, when asked, answers "slow down" above AWS's rates) in front of several moto servers, an estate of many types
in three regions, and the real scan (`run_scan`, boto3 through AWS_ENDPOINT_URL) with one worker and with more.

Prints, measured in one run: the speedup over one worker; the ratio to the lower bound (API calls x latency /
concurrency: what the scan would take if every worker always had a call in flight and nothing else cost time);
API calls per resource by type; the scan's own CPU per call (this process: boto3, our hooks, the records; the
proxy and moto run in processes of their own, on the same 2 cores); and, with --throttle, a throttled estate
scanned with our token buckets, with botocore's adaptive retry mode, and with its standard mode alone.

Each region's calls go to one moto (one moto answers about 150 calls a second, so several share the load);
global services (IAM, Route 53, STS, S3's ListBuckets) go to the first region's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # edge_servers: how a request names its service, and AWS's error answers

import boto3  # noqa: E402

from driftgraph.demo import aws_environment, background_server, free_port, moto_server  # noqa: E402
from driftgraph.progress import ScanProgress  # noqa: E402
from edge_servers import _describe, denied, operation_of  # noqa: E402
from scanner.rates import DEFAULT_RATE, RATES, RateLimits, TokenBucket  # noqa: E402

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
THROTTLE_CODES = {"ec2": "RequestLimitExceeded", "s3": "SlowDown"}  # else Throttling / ThrottlingException
SIGNING_TO_CLIENT = {"elasticloadbalancing": "elbv2", "tagging": "resourcegroupstaggingapi", "monitoring": "cloudwatch",
                     "elasticfilesystem": "efs", "states": "stepfunctions", "email": "ses"}


# ------------------------------------------------------------------------------------------- the proxy


def serve_proxy(port: int, backends: list[str], regions: list[str]) -> None:
    """The latency proxy (its own process): forwards each request to its region's moto after `latency` seconds,
    or answers it "slow down" when throttling is on and AWS's bucket for it (scanner/rates.py's figures) is empty."""
    settings = {"latency": 0.0, "throttle": False, "replay": False}
    stats = Counter()
    by_bucket = Counter()  # requests by the AWS bucket (scanner/rates.py) each is taken from
    cpu_at_reset = [time.process_time()]
    answers: dict[tuple, tuple] = {}  # what moto answered each request (for --replay)
    buckets: dict[tuple, TokenBucket] = {}
    lock = threading.Lock()
    local = threading.local()

    def backend_for(region: str) -> str:
        return backends[regions.index(region) % len(backends)] if region in regions else backends[0]

    def connection(url: str) -> http.client.HTTPConnection:
        pool = local.__dict__.setdefault("pool", {})
        if url not in pool:
            target = urlparse(url)
            pool[url] = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        return pool[url]

    def bucket_of(service: str, region: str, operation: str) -> tuple[str, str, str]:
        rate = RATES.get(SIGNING_TO_CLIENT.get(service, service), DEFAULT_RATE)
        return service, "global" if rate.per_account else region, operation if rate.per_operation else ""

    def over_rate(service: str, region: str, operation: str) -> bool:
        rate = RATES.get(SIGNING_TO_CLIENT.get(service, service), DEFAULT_RATE)
        key = bucket_of(service, region, operation)
        with lock:
            bucket = buckets.setdefault(key, TokenBucket(rate.per_second, time.monotonic, rate.burst))
            if bucket.wait_time() > 0:
                return True
            bucket.take()
            return False

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without this, Nagle's algorithm holds the body back until the
            # client's delayed ACK (40 ms) of the headers, which would add 40 ms to every call
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _control(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if body:
                settings.update(json.loads(body))
                buckets.clear()
            if self.path.endswith("/reset"):
                stats.clear()
                by_bucket.clear()
                cpu_at_reset[0] = time.process_time()
            answer = {**settings, **stats, "by_bucket": {"|".join(key): n for key, n in by_bucket.items()},
                      "cpu": time.process_time() - cpu_at_reset[0]}  # the proxy's own CPU seconds since the reset
            self._send(200, [("Content-Type", "application/json")], json.dumps(answer).encode())

        def _send(self, status: int, headers, payload: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            if self.path.startswith("/__bench/"):
                return self._control()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = _describe(self, body)
            if settings["latency"]:
                time.sleep(settings["latency"])
            operation = operation_of(request)
            with lock:
                stats["requests"] += 1
                by_bucket[bucket_of(request.service, request.region, operation)] += 1
            throttles = request.service not in ("monitoring", "sts")  # CloudWatch answers in CBOR: not faked here
            if settings["throttle"] and throttles and over_rate(request.service, request.region, operation):
                with lock:
                    stats["throttled"] += 1
                code = THROTTLE_CODES.get(request.service, "ThrottlingException" if request.target else "Throttling")
                status, content_type, payload, *headers = denied(request, code, "Rate exceeded")
                return self._send(400 if status == 403 else status, [("Content-Type", content_type), *sum(headers, [])],
                                  payload)
            key = (self.command, self.path, body, request.region, request.service, request.target)
            if settings["replay"] and key in answers:
                with lock:
                    stats["replayed"] += 1
                return self._send(*answers[key])
            url = backend_for(request.region)
            for attempt in (1, 2):  # a kept-alive connection the backend closed: once more on a new one
                upstream = connection(url)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    break
                except (http.client.HTTPException, OSError):
                    upstream.close()
                    local.pool.pop(url, None)
                    if attempt == 2:
                        raise
            answers[key] = (response.status, response.getheaders(), payload)
            self._send(response.status, response.getheaders(), payload)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    server.serve_forever()


def control(proxy: str, path: str = "stats", **settings) -> dict:
    data = json.dumps(settings).encode() if settings else None
    with urllib.request.urlopen(urllib.request.Request(f"{proxy}/__bench/{path}", data=data), timeout=10) as answer:
        return json.loads(answer.read())


@contextmanager
def estate_servers(motos: int):
    """`motos` moto servers and the proxy in front of them; yields the proxy's URL."""
    with ExitStack() as stack:
        backends = [stack.enter_context(moto_server()) for _ in range(motos)]
        port = free_port()
        command = [sys.executable, str(Path(__file__).resolve()), "--serve-proxy", str(port),
                   "--backends", ",".join(backends)]
        stack.enter_context(background_server(command, f"http://127.0.0.1:{port}/__bench/stats"))
        yield f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------------------------------- the estate


def build_estate(scale: int) -> Counter:
    """Many resources of many types in each region (through the proxy, with no latency); the counts made."""
    made = Counter()

    def tags(n: int, kind: str = "Key", value: str = "Value") -> list[dict]:
        return [{kind: "team", value: f"team-{n % 4}"}, {kind: "n", value: str(n)}]

    def build_region(index: int, region: str) -> Counter:
        made, session = Counter(), boto3.Session()  # a session each: making clients is not thread-safe

        def c(service):
            return session.client(service, region_name=region)

        vpc = c("ec2").create_vpc(CidrBlock=f"10.{index}.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": tags(index)}])["Vpc"]["VpcId"]
        subnets = [c("ec2").create_subnet(VpcId=vpc, CidrBlock=f"10.{index}.{n}.0/24",
                                          AvailabilityZone=f"{region}{'abc'[n % 3]}")["Subnet"]["SubnetId"]
                   for n in range(3)]
        made["AWS::EC2::Subnet"] += 3
        for n in range(4 * scale):
            c("ec2").create_security_group(GroupName=f"sg-{n}", Description="bench", VpcId=vpc)
            made["AWS::EC2::SecurityGroup"] += 1
        for n in range(12 * scale):
            c("sqs").create_queue(QueueName=f"queue-{n}", tags={"team": f"team-{n % 4}"})
            c("logs").create_log_group(logGroupName=f"/bench/{n}", tags={"team": f"team-{n % 4}"})
            c("ssm").put_parameter(Name=f"/bench/{n}", Value="v", Type="String", Tags=tags(n))
            made["AWS::SQS::Queue"] += 1
            made["AWS::Logs::LogGroup"] += 1
            made["AWS::SSM::Parameter"] += 1
        for n in range(8 * scale):
            c("sns").create_topic(Name=f"topic-{n}", Tags=tags(n))
            c("dynamodb").create_table(TableName=f"table-{n}", BillingMode="PAY_PER_REQUEST", Tags=tags(n),
                                       AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                                       KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
            c("kms").create_key(Tags=tags(n, "TagKey", "TagValue"))
            c("secretsmanager").create_secret(Name=f"secret-{n}", SecretString="x", Tags=tags(n))
            c("events").put_rule(Name=f"rule-{n}", ScheduleExpression="rate(1 day)", Tags=tags(n))
            c("ecr").create_repository(repositoryName=f"repo-{n}", tags=tags(n))
            for kind in ("AWS::SNS::Topic", "AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::SecretsManager::Secret",
                         "AWS::Events::Rule", "AWS::ECR::Repository"):
                made[kind] += 1
        for n in range(2):
            c("ecs").create_cluster(clusterName=f"cluster-{n}", tags=tags(n, "key", "value"))
        c("ecs").register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx",
                                                                                "memory": 128}])
        for n in range(8 * scale):
            c("ecs").create_service(cluster=f"cluster-{n % 2}", serviceName=f"service-{n}", taskDefinition="web",
                                    desiredCount=0, tags=tags(n, "key", "value"))
        made["AWS::ECS::Cluster"] += 2
        made["AWS::ECS::Service"] += 8 * scale
        for n in range(2):
            c("elbv2").create_load_balancer(Name=f"lb-{n}", Subnets=subnets[:2], Tags=tags(n))
        for n in range(4 * scale):
            c("elbv2").create_target_group(Name=f"tg-{n}", Protocol="HTTP", Port=80, VpcId=vpc, Tags=tags(n))
        made["AWS::ElasticLoadBalancingV2::LoadBalancer"] += 2
        made["AWS::ElasticLoadBalancingV2::TargetGroup"] += 4 * scale
        return made

    with ThreadPoolExecutor(len(REGIONS)) as pool:  # each region has a moto of its own: built side by side
        for part in pool.map(build_region, range(len(REGIONS)), REGIONS):
            made += part

    home = REGIONS[0]
    iam, s3, route53 = (boto3.client(s, region_name=home) for s in ("iam", "s3", "route53"))
    for n in range(12 * scale):
        iam.create_role(RoleName=f"role-{n}", AssumeRolePolicyDocument="{}", Tags=tags(n))
        made["AWS::IAM::Role"] += 1
    for n in range(4 * scale):
        iam.create_user(UserName=f"user-{n}", Tags=tags(n))
        made["AWS::IAM::User"] += 1
    for n in range(4 * scale):
        zone = route53.create_hosted_zone(Name=f"zone-{n}.example.com", CallerReference=str(n))["HostedZone"]["Id"]
        route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone.rsplit("/", 1)[-1],
                                         AddTags=tags(n))
        made["AWS::Route53::HostedZone"] += 1
    for n in range(4 * scale):
        region = REGIONS[n % len(REGIONS)]
        s3.create_bucket(Bucket=f"bench-bucket-{n}", **({} if region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": region}}))
        s3.put_bucket_tagging(Bucket=f"bench-bucket-{n}", Tagging={"TagSet": tags(n)})
        made["AWS::S3::Bucket"] += 1
    return made


# ------------------------------------------------------------------------------------------- the scans


class CallCounter:
    """Counts the calls a scan sends (every attempt), by (service, operation), with a before-send hook."""

    def __init__(self) -> None:
        self.calls = Counter()
        self._lock = threading.Lock()

    def attach(self, session):
        build = session._build_client

        def counted(key):
            client = build(key)
            client.meta.events.register("before-send.*.*", self._count)
            return client

        session._build_client = counted
        return session

    def _count(self, event_name: str = "", **_kwargs) -> None:
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.calls[service, operation] += 1


class PhaseTimes(ScanProgress):
    """The scan's phases (driftgraph/progress.py's hook) with the seconds each took."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._current, self._since = None, time.monotonic()

    def phase(self, name: str) -> None:
        now = time.monotonic()
        if self._current:
            self.times[self._current] = self.times.get(self._current, 0) + now - self._since
        self._current, self._since = name, now

    def done(self) -> dict[str, float]:
        self.phase("")
        return self.times


def scan(proxy: str, workers: int, db: Path, rates: bool = True, retry_mode: str = "standard", processes: int = 0):
    """One real scan of the estate; (seconds, calls by operation, CPU seconds of this process, scan row)."""
    from driftgraph.scan import ScanOptions, run_scan
    from scanner.clients import AwsSession

    counter = CallCounter()
    session = counter.attach(AwsSession(default_region=REGIONS[0], rates=RateLimits() if rates else None,
                                        retry_mode=retry_mode))
    options = ScanOptions(str(db), regions=REGIONS, workers=workers, maintenance=False, cloudtrail="off",
                          processes=processes)
    if db.exists():
        db.unlink()
    control(proxy, "reset")
    cpu, started = _cpu(), time.monotonic()
    phases = PhaseTimes()
    result = run_scan(options, session=session, progress=phases)
    result["phases"] = phases.done()
    stats = control(proxy)
    result["requests"] = stats.get("requests", 0)  # every process's calls (the counter sees this one's)
    result["by_bucket"] = stats.get("by_bucket", {})
    result["proxy_cpu"] = stats.get("cpu", 0.0)
    result["waited"] = dict(session.rates.waited) if session.rates is not None else {}
    return time.monotonic() - started, counter.calls, _cpu() - cpu, result


def profile_scan(proxy: str, workers: int, db: Path, report: Path) -> None:
    """One scan with every thread under cProfile on its own CPU clock (time.thread_time: a thread waiting for an
    answer or a token costs nothing), the threads' profiles summed into `report`: where the scan's CPU goes.
    (pyinstrument samples one thread, and wall time.)"""
    import cProfile
    import pstats

    profiles: list[cProfile.Profile] = []
    run = threading.Thread.run

    def profiled(thread: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.runcall(run, thread)

    threading.Thread.run = profiled
    main = cProfile.Profile(time.thread_time)
    try:
        seconds, _calls, cpu, result = main.runcall(scan, proxy, workers, db)
    finally:
        threading.Thread.run = run
    with report.open("w") as out:
        stats = pstats.Stats(main, stream=out)
        for profile in profiles:
            stats.add(profile)
        stats.sort_stats("tottime").print_stats(60)
        stats.sort_stats("cumulative").print_stats(120)
    print(f"profiled scan: {seconds:.1f} s, {result['requests']} calls, {cpu / result['requests'] * 1000:.2f} ms of "
          f"CPU a call (under the profiler); report in {report}", flush=True)


def _cpu() -> float:
    """CPU seconds of this process and of its listing processes (scan --processes) once they ended."""
    import resource

    return time.process_time() + sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) for f in
                                     ("ru_utime", "ru_stime"))


def rates_bound(by_bucket: dict[str, int]) -> tuple[float, str]:
    """The least time AWS's rates (scanner/rates.py) let a scan's calls take, however many workers: the slowest
    bucket's (its calls beyond the burst, at its refill rate); with that bucket's name."""
    slowest = (0.0, "none")
    for key, calls in by_bucket.items():
        service, region, operation = key.split("|")
        rate = RATES.get(SIGNING_TO_CLIENT.get(service, service), DEFAULT_RATE)
        seconds = max(0.0, calls - rate.burst) / rate.per_second
        slowest = max(slowest, (seconds, f"{service} {region}{' ' + operation if operation else ''}: {calls} calls"))
    return slowest


def calls_by_type(calls: Counter) -> dict[str, int]:
    """Each call's operation attributed to the catalog row that makes it (shared ones: to the first such row)."""
    import botocore.session

    from graph.resource_types import RESOURCE_TYPES

    models = botocore.session.get_session()
    owner: dict[tuple[str, str], str] = {}
    for row in RESOURCE_TYPES:
        model = models.get_service_model(row.service)
        names = {botocore.xform_name(name): name for name in model.operation_names}
        service_id = model.service_id.hyphenize()
        row_calls = [row.list] + [c for _, c in row.details] + [c for c in (row.tags and row.tags.call,
                                                                             row.tags and row.tags.bulk) if c]
        for call in row_calls:
            owner.setdefault((service_id, names[call.method]), row.type)
    by_type = Counter()
    for (service, operation), count in calls.items():
        by_type[owner.get((service, operation), f"{service}:{operation}")] += count
    return by_type


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every request (default 0.05)")
    parser.add_argument("--motos", type=int, default=3, help="moto servers behind the proxy (default 3)")
    parser.add_argument("--scale", type=int, default=2, help="the estate's size: about 280 resources a unit")
    parser.add_argument("--workers", default="1,32", help="worker counts to compare, the first the baseline")
    parser.add_argument("--throttle", action="store_true", help="also: a throttled estate, buckets vs retry modes")
    parser.add_argument("--processes", default="2", help="also: the last worker count with this many processes "
                                                         "(scan --processes), comma-separated; 1 for none")
    parser.add_argument("--replay", action=argparse.BooleanOptionalAction, default=True,
                        help="answer the timed scans from what moto answered a first, untimed scan (default): AWS's "
                             "servers are not on this machine's cores, moto's are; --no-replay asks moto each time")
    parser.add_argument("--before", metavar="CHECKOUT", help="also: the API calls another checkout's scanner (say, "
                                                             "the main branch) makes on the same estate")
    parser.add_argument("--profile", metavar="FILE", help="instead: one scan at the last worker count under "
                                                          "pyinstrument, its report written to FILE")
    parser.add_argument("--serve-proxy", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backends", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_proxy:
        return serve_proxy(args.serve_proxy, args.backends.split(","), list(REGIONS))
    workers = [int(w) for w in args.workers.split(",")]
    args.processes = [int(n) for n in args.processes.split(",")]
    with tempfile.TemporaryDirectory() as tmp, estate_servers(args.motos) as proxy, aws_environment(proxy):
        started = time.monotonic()
        made = build_estate(args.scale)
        print(f"estate: {sum(made.values())} resources of {len(made)} types in {len(REGIONS)} regions, built in "
              f"{time.monotonic() - started:.0f} s; latency {args.latency * 1000:.0f} ms, {args.motos} moto servers",
              flush=True)
        if args.replay:  # a first scan records every answer; the timed ones get them from memory, with the latency
            scan(proxy, max(workers), Path(tmp) / "bench.db")
        control(proxy, "reset", latency=args.latency, throttle=False, replay=args.replay)
        if args.profile:
            return profile_scan(proxy, workers[-1], Path(tmp) / "bench.db", Path(args.profile))
        rows, baseline = [], None
        # the last two: our token buckets off (the client's own limit, AWS's rates aside), and split into processes
        runs = [(count, 1, True) for count in workers] + [(workers[-1], 1, False)] + [
            (workers[-1], n, True) for n in args.processes if n > 1]
        for count, processes, rates in runs:
            seconds, calls, cpu, result = scan(proxy, count, Path(tmp) / "bench.db", rates, processes=processes)
            total = result["requests"]
            bound = total * args.latency / count
            paced, slowest = rates_bound(result["by_bucket"]) if rates else (0.0, "no buckets")
            baseline = baseline or seconds
            rows.append((count, seconds, total, bound, cpu, result))
            waits = ", ".join(f"{service} {waited:.1f} s" for service, waited in sorted(
                result["waited"].items(), key=lambda item: -item[1])[:4] if waited >= 0.5)
            print(f"workers {count:>3} x {processes} process{'es' if processes > 1 else ''}"
                  f"{'' if rates else ', no token buckets'}: {seconds:7.1f} s, {total} calls ({total / result['resource_count']:.2f} a "
                  f"resource), speedup {baseline / seconds:5.1f}x, bound {bound:6.1f} s, ratio to bound "
                  f"{seconds / bound:4.2f}, bound given AWS's rates {paced:.1f} s ({slowest}), ratio to the larger bound "
                  f"{seconds / max(bound, paced):4.2f}, client CPU {cpu / total * 1000:.2f} ms a call "
                  f"({cpu / seconds * 100:.0f}% of one core; CPU seconds: scan {cpu:.1f}, proxy "
                  f"{result['proxy_cpu']:.1f}, of 2 cores x {seconds:.1f} s); phases: " +
                  ", ".join(f"{name} {took:.1f} s" for name, took in result["phases"].items()) +
                  (f"; waited for tokens (summed over threads): {waits}" if waits else ""), flush=True)
        calls = scan(proxy, workers[-1], Path(tmp) / "bench.db")[1]  # one process: its counter sees every call
        print("\nAPI calls per resource by type:")
        print("| type | resources | calls | calls per resource |\n|---|---:|---:|---:|")
        by_type = calls_by_type(calls)
        for type_, count in sorted(by_type.items()):
            have = made.get(type_, 0)
            print(f"| {type_} | {have} | {count} | {count / have:.2f} |" if have else f"| {type_} | - | {count} | - |")
        if args.before:
            control(proxy, "reset", latency=0.0, throttle=False)
            regions = [argument for region in REGIONS for argument in ("--region", region)]
            env = {**os.environ, "PYTHONPATH": args.before, "PYTHONDONTWRITEBYTECODE": "1"}  # write nothing there
            subprocess.run([sys.executable, "-m", "driftgraph", "scan", "--db", str(Path(tmp) / "before.db"), *regions,
                            "--no-maintenance", "--cloudtrail", "off", "-q"], env=env, cwd=tmp, check=True,
                           capture_output=True)
            before = control(proxy).get("requests", 0)
            print(f"\n{args.before}'s scanner on the same estate: {before} API calls "
                  f"({before / rows[0][5]['resource_count']:.2f} a resource)", flush=True)
            control(proxy, "reset", latency=args.latency, replay=args.replay)
        if args.throttle:
            print("\nThrottled estate (the proxy answers 'slow down' above AWS's rates):")
            control(proxy, "reset", latency=args.latency, throttle=True)
            for name, rates, mode in (("token buckets + standard retry", True, "standard"),
                                      ("botocore adaptive retry", False, "adaptive"),
                                      ("botocore standard retry", False, "standard")):
                control(proxy, "reset", throttle=True)
                seconds, _calls, _cpu_seconds, result = scan(proxy, workers[-1], Path(tmp) / "bench.db", rates, mode)
                stats = control(proxy)
                print(f"  {name:32} {seconds:7.1f} s, {stats.get('requests', 0)} calls, {stats.get('throttled', 0)} "
                      f"throttled answers, scan status {result.get('status')}", flush=True)


if __name__ == "__main__":
    main()
