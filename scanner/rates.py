"""Token buckets per (account, region, service) at AWS's request rates, so a scan stays under the API limit.

AWS throttles each account per region and per service (EC2 per operation, Route 53 and IAM per account) with
token buckets of its own. A scan that sends faster than they refill is answered "slow down", and retrying
with back-off wastes more time than never having sent too early. So every call takes a token from a bucket
that mirrors AWS's before it is sent (`RateLimits.take`, a botocore `before-send` hook on every client of the
session, scanner/clients.py), every attempt included. An answer that throttles anyway (another tool in the
account spends the same budget) empties that bucket, so the other threads slow down too, and botocore's
retries (with the session's time budget) handle the call itself.

The rates are data, in one table: `RATES`. Each row says where its figure comes from: `documented` names the
AWS page; `guess` is a conservative figure where AWS publishes none (the service throttles, but does not say
at what rate), well under what scans are seen to reach in practice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping

GLOBAL_REGION = "global"
# The error codes AWS answers "slow down" with (live.py classifies a listing that ends with one as throttled).
THROTTLING_CODES = ("Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
                    "SlowDown", "RequestThrottled", "ProvisionedThroughputExceededException")  # the bucket of a service AWS throttles per account, whatever the region


@dataclass(frozen=True)
class Rate:
    """One service's bucket: `burst` tokens at most, `per_second` added back each second.

    `per_account`: one bucket for the account in every region (Route 53, IAM, Organizations).
    `per_operation`: each operation has a bucket of its own (EC2's request token buckets)."""

    burst: float
    per_second: float
    source: str  # "documented: <page>" or "guess: <why>"
    per_account: bool = False
    per_operation: bool = False


# boto3 client name -> its bucket. Figures for reads (describe, list, get), which is all a scan sends.
RATES: Mapping[str, Rate] = {
    "ec2": Rate(100, 20, "documented: EC2 API reference, 'Request throttling for the Amazon EC2 API': "
                         "non-mutating actions, a bucket of 100 per action, refilled 20 a second", per_operation=True),
    "autoscaling": Rate(40, 20, "guess: Auto Scaling publishes no rate; describes shared with the console"),
    "route53": Rate(10, 5, "documented: Route 53 developer guide, 'Throttling for Amazon Route 53 API requests': "
                           "an account bucket of 50 refilled 10 a second (5 a second before 2025); we take half: "
                           "that bucket is shared with every other tool in the account", per_account=True),
    "iam": Rate(20, 10, "guess: IAM publishes no request rate (its security blog, 'How to monitor and query IAM "
                        "resources at scale', describes token buckets per API without figures); list and get calls "
                        "are seen throttled near 15-20 a second per account", per_account=True),
    "sts": Rate(100, 50, "documented: IAM user guide, 'IAM and AWS STS quotas': 600 requests a second per account "
                         "and region; we send one identity call per account"),
    "organizations": Rate(10, 5, "guess: Organizations publishes no per-operation rate; ListAccounts pages of 20",
                          per_account=True),
    "resourcegroupstaggingapi": Rate(10, 5, "guess: the Tagging API publishes no rate; GetResources pages are large "
                                            "(100 resources), so a few calls cover a region"),
    "lambda": Rate(15, 15, "documented: Lambda developer guide, 'Lambda quotas': control plane API requests "
                           "(excluding invocation, GetFunction, GetPolicy) 15 a second across all APIs"),
    "ecs": Rate(50, 20, "documented: ECS developer guide, 'Request throttling for the Amazon ECS API': cluster read "
                        "actions (DescribeClusters, ListClusters) a bucket of 50 refilled 20 a second; service and "
                        "task definition reads are at least that"),
    "elbv2": Rate(40, 10, "documented: ELB user guide, 'Request throttling for the ELB API': non-mutating actions "
                          "(Describe*) a bucket of 40 refilled 10 a second per account and region, version 2's API a "
                          "bucket of its own (docs.aws.amazon.com/elasticloadbalancing/latest/userguide/"
                          "elb-api-throttling.html); services calling ELB for the account (EC2, ECS, Auto Scaling, "
                          "CloudFormation) have buckets of their own"),
    "kms": Rate(50, 25, "documented: KMS developer guide, 'Request quotas': a quota per operation, per account and "
                        "region, shared with everything using the keys; we keep well under the management operations'"),
    "logs": Rate(10, 5, "documented: CloudWatch Logs quotas: DescribeLogGroups 10 transactions a second per "
                        "account and region, ListTagsLogGroup 10 a second; half, shared with the console"),
    "cloudwatch": Rate(20, 9, "documented: CloudWatch quotas: DescribeAlarms 9 transactions a second"),
    "sqs": Rate(50, 20, "guess: SQS quotas (SQS developer guide, 'Quotas related to queues') publish no rate for "
                        "ListQueues or GetQueueAttributes (its data plane is near unlimited); tagging actions are 5 a "
                        "second per account, and ListQueueTags is sent only when the Tagging API failed"),
    "sns": Rate(30, 15, "documented: SNS API reference, ListTopics (docs.aws.amazon.com/sns/latest/api/"
                        "API_ListTopics.html): 'throttled at 30 transactions per second'; "
                        "we take half (15 a second, a second's burst), the rest left to the account's own tools"),
    "dynamodb": Rate(100, 50, "documented: DynamoDB developer guide, 'Best practices for managing the control plane': "
                              "control plane requests throttled at 2,500 a second; we take 50, leaving the rest to "
                              "the account's own clients"),
    "kinesis": Rate(10, 5, "documented: Kinesis Data Streams quotas: ListStreams 5 transactions a second, "
                           "ListTagsForStream 5 a second per account"),
    "s3": Rate(50, 25, "guess: S3 publishes data plane rates per prefix (3,500 reads a second), none for bucket "
                       "configuration reads; a conservative figure"),
    "rds": Rate(40, 20, "guess: RDS throttles describes per account and region but publishes no figure"),
    "elasticache": Rate(20, 10, "guess: ElastiCache publishes no rate"),
    "efs": Rate(20, 10, "guess: EFS publishes no rate for DescribeFileSystems"),
    "ecr": Rate(20, 10, "guess: ECR user guide, 'Amazon ECR service quotas' (docs.aws.amazon.com/AmazonECR/latest/"
                        "userguide/service-quotas.html), gives per-API rates only for the image push and pull calls (GetAuthorizationToken, BatchGetImage, PutImage, ...; the lowest "
                        "10 a second), none for DescribeRepositories or ListTagsForResource"),
    "ssm": Rate(20, 10, "guess: Systems Manager's quota page gives GetParameter rates, none for "
                        "DescribeParameters; a conservative figure"),
    "secretsmanager": Rate(50, 25, "documented: Secrets Manager quotas: ListSecrets 50 requests a second"),
    "events": Rate(25, 25, "documented: EventBridge user guide, 'Amazon EventBridge quotas' (CloudWatch Events "
                           "limits, docs.aws.amazon.com/AmazonCloudWatch/latest/events/cloudwatch_limits_cwe.html): "
                           "every API but PutEvents 50 requests a second per account and region by default; "
                           "we take half, the rest left to the account's own tools (a burst the page does not give: "
                           "one second's worth)"),
    "cloudformation": Rate(40, 10, "guess: CloudFormation publishes no describe rate; a stack's reads "
                                   "(ListStackResources, GetTemplate) come in bursts after DescribeStacks"),
}
# CloudTrail LookupEvents is paced by scanner/cloudtrail.py itself, at its documented 2 a second per account and
# region; a second bucket here would only count the same calls twice.
UNPACED = frozenset({"cloudtrail"})
DEFAULT_RATE = Rate(20, 10, "guess: a service not in the table")


class Clock:
    """Time for the buckets: the monotonic clock, and waiting on a condition for at most some seconds."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        condition.wait(seconds)


class TokenBucket:
    """At most `burst` calls at once, then `rate` a second: AWS's own token bucket, mirrored."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic, burst: float = 1.0) -> None:
        if not rate > 0:
            raise ValueError(f"a rate of {rate} calls a second allows no call")
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.stamp = burst, clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self) -> float:
        """Seconds until a call may go."""
        self._refill()
        return 0.0 if self.tokens >= 1 - 1e-9 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens -= 1

    def drain(self) -> None:
        """AWS said "slow down": what we thought was left is not."""
        self._refill()
        self.tokens = min(self.tokens, 0.0)


class Cancelled(Exception):
    """Raised in a thread waiting for a token once the scan is cancelled."""


class RateLimits:
    """The buckets of one scan, shared by every session of an account (its own, a role's, a profile's).

    Thread-safe: one condition guards every bucket (taking a token is a few arithmetic operations), and a thread
    that must wait sleeps on it until its token is due, or until `wake` (a cancelled scan)."""

    def __init__(self, rates: Mapping[str, Rate] = RATES, clock: Clock | None = None) -> None:
        self.rates = rates
        self.clock = clock or Clock()
        self._buckets: dict[tuple[str, str, str, str], TokenBucket] = {}
        self._condition = threading.Condition()
        self.waited = Counter()  # seconds spent waiting for tokens, per service
        self.throttled = Counter()  # answers that throttled anyway, per service
        self.throttled_accounts = Counter()  # and per account (the live view shows them)
        self.sent = Counter()  # tokens taken, per service

    def key(self, account: str | None, region: str, service: str, operation: str = "") -> tuple[str, str, str, str]:
        rate = self.rates.get(service, DEFAULT_RATE)
        return (account or "?", GLOBAL_REGION if rate.per_account else region, service,
                operation if rate.per_operation else "")

    def _bucket(self, key: tuple[str, str, str, str]) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = self.rates.get(key[2], DEFAULT_RATE)
            bucket = self._buckets[key] = TokenBucket(rate.per_second, self.clock.now, rate.burst)
        return bucket

    def take(self, key: tuple[str, str, str, str], cancelled: Callable[[], bool] = lambda: False) -> float:
        """Take a token from the key's bucket, waiting until one is due; the seconds waited. Raises Cancelled
        when `cancelled()` turns true while waiting (`wake` makes the waiter look)."""
        if key[2] in UNPACED:
            return 0.0
        started = None
        with self._condition:
            bucket = self._bucket(key)
            while True:
                if cancelled():
                    raise Cancelled()
                due = bucket.wait_time()
                if due <= 0:
                    bucket.take()
                    self.sent[key[2]] += 1
                    break
                if started is None:
                    started = self.clock.now()
                self.clock.wait(self._condition, due)
            waited = self.clock.now() - started if started is not None else 0.0
            if waited:
                self.waited[key[2]] += waited
        return waited

    def throttled_answer(self, key: tuple[str, str, str, str]) -> None:
        """An answer throttled anyway: the bucket is empty, whatever it held."""
        with self._condition:
            self._bucket(key).drain()
            self.throttled[key[2]] += 1
            self.throttled_accounts[key[0]] += 1

    def wake(self) -> None:
        """Wake every thread waiting for a token, to look again (the clock moved, or the scan was cancelled)."""
        with self._condition:
            self._condition.notify_all()

    def rate(self, service: str) -> Rate:
        return self.rates.get(service, DEFAULT_RATE)
