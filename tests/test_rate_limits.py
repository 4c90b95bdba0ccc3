"""Token buckets per (account, region, service) (scanner/rates.py), with a fake clock: no test waits for time."""

from __future__ import annotations

import threading

import boto3
import pytest

from edge_servers import FORWARD, aws_proxy, point_boto3_at, throttled
from scanner.clients import AwsSession, ScanCancelled
from graph.resource_types import CATALOG
from scanner.live import start_order
from scanner.rates import RATES, Cancelled, Clock, RateLimits


class FakeClock(Clock):
    """Time that moves only when the test says: a waiter waits until `advance` wakes it, never for real time."""

    def __init__(self) -> None:
        self.time = 0.0
        self.limits: list[RateLimits] = []
        self.waits: list[float] = []
        self.waiting = threading.Event()

    def now(self) -> float:
        return self.time

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        self.waits.append(seconds)
        self.waiting.set()
        condition.wait()  # until `advance` or a cancel wakes it

    def advance(self, seconds: float) -> None:
        self.time += seconds
        for limits in self.limits:
            limits.wake()


@pytest.fixture()
def clock():
    return FakeClock()


def limits_on(clock: FakeClock) -> RateLimits:
    limits = RateLimits(clock=clock)
    clock.limits.append(limits)
    return limits


class Taker(threading.Thread):
    """Takes one token on a thread of its own: what a scan's worker does before sending a call."""

    def __init__(self, take) -> None:
        super().__init__(daemon=True)
        self.take, self.error, self.done = take, None, threading.Event()

    def run(self) -> None:
        try:
            self.take()
        except BaseException as error:  # noqa: BLE001 - the test looks at what it was
            self.error = error
        self.done.set()


def blocked(taker: Taker, clock: FakeClock) -> bool:
    """True once the taker waits for its token (it asked the clock to wait) and has not finished."""
    assert clock.waiting.wait(10), "the taker never waited"
    return not taker.done.is_set()


def test_burst_then_refill_rate(clock):
    limits = limits_on(clock)
    key = limits.key("111122223333", "eu-west-1", "ec2", "DescribeInstances")
    ec2 = RATES["ec2"]
    assert [limits.take(key) for _ in range(int(ec2.burst))] == [0.0] * int(ec2.burst)  # the burst goes at once
    assert clock.waits == []
    taker = Taker(lambda: limits.take(key))
    taker.start()
    assert blocked(taker, clock)
    assert clock.waits[-1] == pytest.approx(1 / ec2.per_second)  # the next token is due one refill later
    clock.advance(0.5 / ec2.per_second)  # half way: not yet
    assert not taker.done.wait(0.2)
    clock.advance(0.5 / ec2.per_second)
    assert taker.done.wait(10) and taker.error is None
    # a second later, one second's refill is there, and no more
    clock.advance(1.0)
    assert [limits.take(key) for _ in range(int(ec2.per_second))] == [0.0] * int(ec2.per_second)
    assert limits.sent["ec2"] == ec2.burst + 1 + ec2.per_second


def test_keys_are_independent(clock):
    limits = limits_on(clock)
    account, other = "111122223333", "444455556666"
    spent = limits.key(account, "us-east-1", "sqs")
    for _ in range(int(RATES["sqs"].burst)):
        limits.take(spent)
    assert limits._bucket(spent).wait_time() > 0
    # another region, another account, another service: each its own bucket, full
    for key in (limits.key(account, "eu-west-1", "sqs"), limits.key(other, "us-east-1", "sqs"),
                limits.key(account, "us-east-1", "sns")):
        assert limits.take(key) == 0.0
    # EC2 throttles each operation apart; Route 53 and IAM one bucket for the account in every region
    assert limits.key(account, "us-east-1", "ec2", "DescribeVpcs") != limits.key(account, "us-east-1", "ec2",
                                                                               "DescribeSubnets")
    assert limits.key(account, "us-east-1", "sqs", "ListQueues") == limits.key(account, "us-east-1", "sqs",
                                                                              "ListQueueTags")
    assert limits.key(account, "us-east-1", "route53") == limits.key(account, "eu-west-1", "route53")
    assert limits.key(account, "us-east-1", "iam") == limits.key(account, "ap-south-1", "iam")


def test_a_blocked_thread_wakes_when_its_token_is_due(clock):
    limits = limits_on(clock)
    key = limits.key("111122223333", "global", "route53")
    for _ in range(int(RATES["route53"].burst)):
        limits.take(key)
    first, second = Taker(lambda: limits.take(key)), Taker(lambda: limits.take(key))
    first.start()
    assert blocked(first, clock)
    clock.waiting.clear()
    second.start()
    assert blocked(second, clock)
    clock.advance(1 / RATES["route53"].per_second)  # one token: one of them goes, the other waits for the next
    assert first.done.wait(10) or second.done.wait(10)
    assert not (first.done.wait(0.2) and second.done.wait(0.2))
    clock.advance(1 / RATES["route53"].per_second)
    assert first.done.wait(10) and second.done.wait(10)
    assert first.error is None and second.error is None
    assert limits.waited["route53"] > 0


def test_cancel_wakes_sleepers(clock):
    limits = limits_on(clock)
    session = AwsSession(default_region="us-east-1", rates=limits, account="111122223333")
    take = lambda: session._take_token("route53", "us-east-1", event_name="before-send.route-53.ListHostedZones")  # noqa: E731
    for _ in range(int(RATES["route53"].burst)):
        take()
    taker = Taker(take)
    taker.start()
    assert blocked(taker, clock)
    session.cancel()  # no time passes: the cancel alone wakes it, and it stops
    assert taker.done.wait(10)
    assert isinstance(taker.error, ScanCancelled)
    with pytest.raises(Cancelled):
        limits.take(limits.key("111122223333", "us-east-1", "route53"), cancelled=lambda: True)


def test_every_attempt_takes_a_token_and_a_throttled_answer_empties_the_bucket(moto_endpoint, monkeypatch):
    """Through botocore's own path against moto: each call takes a token of its session's account and service;
    a session of a role in that account shares the buckets; an answer that throttles anyway empties the bucket."""
    attempts = []

    def answer(request):
        if request.action == "ListQueues":
            attempts.append(request)
            if len(attempts) == 1:
                return throttled(request)
        return FORWARD

    with aws_proxy(moto_endpoint, answer) as (url, _seen):
        point_boto3_at(monkeypatch, url)
        session = AwsSession(default_region="us-east-1", call_timeout=20)
        account = session.identity()["account"]
        assert session.account == account
        session.client("sqs").list_queues()
        assert len(attempts) == 2  # throttled once, then answered
        assert session.rates.sent["sqs"] == 2 and session.rates.throttled["sqs"] == 1
        key = session.rates.key(account, "us-east-1", "sqs")
        assert session.rates._bucket(key).tokens < RATES["sqs"].burst - 1  # emptied, then refilling
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="rates-reader", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        assumed = session.assume_role(role)
        assert assumed.rates is session.rates and assumed.account == account
        assumed.client("sqs", "eu-west-1").list_queues()
        assert session.rates.sent["sqs"] == 3
        assert session.rates._bucket(session.rates.key(account, "eu-west-1", "sqs")).tokens == RATES["sqs"].burst - 1


# ------------------------------------------------------------------------------------ lanes (scanner/live.py)


def test_a_lane_leaves_the_pool_to_other_services():
    """A listing's per-item calls take at most their lane's width of the pool: a service whose calls wait (for
    tokens, or a slow answer) never holds the workers another service's items could use."""
    from concurrent.futures import ThreadPoolExecutor

    from scanner.live import lane_width, run_in_lane

    pool = ThreadPoolExecutor(max_workers=4)
    release, started = threading.Event(), []
    width = 2

    def slow(n):
        started.append(n)
        release.wait(30)
        return n

    try:
        slow_lane = Taker(lambda: run_in_lane(pool, slow, list(range(10)), width))
        slow_lane.start()
        other = run_in_lane(pool, lambda n: n * 10, list(range(6)), 2)  # answered while the slow lane waits
        assert other == [0, 10, 20, 30, 40, 50]
        assert len(started) == width, "the slow lane has only its width of the pool"
        release.set()
        assert slow_lane.done.wait(30) and slow_lane.error is None
        assert sorted(started) == list(range(10))
    finally:
        release.set()
        pool.shutdown()
    assert lane_width("elasticache", 32) < lane_width("ec2", 32) <= 32 and lane_width("route53", 1) == 1


def test_listings_that_aws_rates_make_longest_start_first():
    # per-item calls at a slow refill (ECR's tag call each, 10 a second) before faster ones (SNS's attributes, 15),
    # and any listing with calls per item before one that only pages through a list
    order = {t: start_order(CATALOG[t]) for t in ("AWS::ECR::Repository", "AWS::SNS::Topic", "AWS::EC2::VPC",
                                                  "AWS::Logs::LogGroup")}
    assert order["AWS::ECR::Repository"] < order["AWS::SNS::Topic"] < order["AWS::EC2::VPC"]
    # log groups' tags come from the Tagging API: a list-only listing, however slow its service's bucket
    assert order["AWS::SNS::Topic"] < order["AWS::Logs::LogGroup"]
    # a parent whose children are listed per item (ECS services per cluster) counts as making calls per item
    assert start_order(CATALOG["AWS::ECS::Cluster"], has_children=True) < order["AWS::EC2::VPC"]


def test_sessions_share_one_parsed_copy_of_the_service_models():
    first, second = AwsSession(default_region="us-east-1"), AwsSession(default_region="us-east-1", rates=None)
    loader = first._session._session.get_component("data_loader")
    assert second._session._session.get_component("data_loader") is loader
    assert first._session._session.get_service_model("sqs") is not None
    cached = len(loader._cache)
    second._session._session.get_service_model("sqs")  # the second session parses nothing again
    assert len(loader._cache) == cached
