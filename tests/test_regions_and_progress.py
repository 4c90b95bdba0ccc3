"""Which regions a scan talks to (each named region once; identity and region calls to the home region, never
the first scanned one) and what it shows while it works (a live view on a terminal, nothing on a pipe)."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import sqlite3
import subprocess
import sys
import threading

from rich.console import Console

from driftgraph.progress import LiveProgress, ScanProgress, scan_progress, wants_progress
import pytest

from edge_servers import FORWARD, aws_proxy, driftgraph, scan_env
from graph.records import Listing
from scanner.clients import AwsSession, home_region
from scanner.live import count_listings, scan_live

ACCOUNT = "123456789012"

# ------------------------------------------------------------------------------------------- regions


def test_a_region_named_twice_is_listed_once(aws, tmp_path):
    scan = scan_live(AwsSession(), ACCOUNT, "aws", ["us-east-1", "us-east-1"], ["AWS::SQS::Queue", "AWS::IAM::Role"])
    assert sorted((l.type, l.region) for l in scan.listings) == [("AWS::IAM::Role", "global"),
                                                                 ("AWS::SQS::Queue", "us-east-1")]
    assert count_listings(["us-east-1", "us-east-1"], ["AWS::SQS::Queue", "AWS::IAM::Role"]) == 2
    db = tmp_path / "twice.db"
    result = driftgraph(["scan", "--db", str(db), "--region", "us-east-1", "--region", "us-east-1", "--no-stacks",
                         "--type", "AWS::SQS::Queue"], scan_env(aws))
    assert result.returncode == 0, result.stderr
    connection = sqlite3.connect(db)
    assert connection.execute("select count(*) from listings").fetchone() == (1,)
    assert json.loads(connection.execute("select regions from scans").fetchone()[0]) == ["us-east-1"]


def test_identity_goes_to_the_home_region_never_the_first_scanned_one(monkeypatch):
    for key in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    assert AwsSession(None, home_region(["ap-east-1", "us-east-1"])).client("sts").meta.region_name == "us-east-1"
    assert AwsSession(None, home_region(["cn-north-1"])).client("sts").meta.region_name == "cn-north-1", \
        "another partition is reached through its own regions"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    assert AwsSession(None, home_region(["ap-east-1"])).client("sts").meta.region_name == "eu-west-2"
    assert AwsSession(None, home_region(["ap-east-1"])).client("ec2").meta.region_name == "eu-west-2"


def test_end_to_end_identity_and_regions_are_asked_in_the_home_region(moto_endpoint, tmp_path):
    for home, env in (("us-east-1", {"AWS_DEFAULT_REGION": None}), ("eu-west-2", {"AWS_DEFAULT_REGION": "eu-west-2"})):
        with aws_proxy(moto_endpoint, lambda request: FORWARD) as (endpoint, seen):
            result = driftgraph(["scan", "--db", str(tmp_path / f"{home}.db"), "--region", "eu-west-1", "--region",
                                 "us-east-1", "--no-stacks", "--type", "AWS::SQS::Queue"], scan_env(endpoint, **env))
        assert result.returncode == 0, result.stderr
        asked = {(r.service, r.action): r.region for r in seen if r.action in ("GetCallerIdentity", "DescribeRegions")}
        assert asked == {("sts", "GetCallerIdentity"): home, ("ec2", "DescribeRegions"): home}
        assert sorted(r.region for r in seen if r.action == "ListQueues") == ["eu-west-1", "us-east-1"]


UNREADABLE_REGIONS = {
    "no-region-list": b"<DescribeRegionsResponse><requestId>x</requestId></DescribeRegionsResponse>",
    "an-empty-region-list": b"<DescribeRegionsResponse><requestId>x</requestId><regionInfo/></DescribeRegionsResponse>",
    "a-region-without-a-name": b"<DescribeRegionsResponse><requestId>x</requestId><regionInfo><item><optInStatus>"
                               b"opt-in-not-required</optInStatus></item></regionInfo></DescribeRegionsResponse>",
    "a-name-that-is-no-region": b"<DescribeRegionsResponse><requestId>x</requestId><regionInfo><item><regionName>"
                                b"../../etc</regionName></item></regionInfo></DescribeRegionsResponse>",
}


def _regions_answered(body):
    return lambda request: (200, "text/xml", body) if request.action == "DescribeRegions" else FORWARD


@pytest.mark.parametrize("name", UNREADABLE_REGIONS)
def test_without_region_an_unreadable_region_list_is_a_clear_fatal_error_never_a_scan_of_nothing(moto_endpoint, tmp_path,
                                                                                               name):
    db = tmp_path / "x.db"
    with aws_proxy(moto_endpoint, _regions_answered(UNREADABLE_REGIONS[name])) as (endpoint, _):
        # a global type (listed in the first region): the case that raised IndexError
        result = driftgraph(["scan", "--db", str(db), "--no-stacks", "--type", "AWS::IAM::Role", "--type",
                             "AWS::SQS::Queue"], scan_env(endpoint))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    says = "lists no regions" if "list" in name else "lists a region without a region's name"
    assert f"scan failed, database left as it was: DescribeRegions: the answer {says}" in result.stderr, result.stderr
    assert not db.exists()


@pytest.mark.parametrize("body", UNREADABLE_REGIONS.values(), ids=UNREADABLE_REGIONS.keys())
def test_with_region_an_unreadable_region_list_checks_names_by_shape(moto_endpoint, tmp_path, body):
    with aws_proxy(moto_endpoint, _regions_answered(body)) as (endpoint, _):
        result = driftgraph(["scan", "--db", str(tmp_path / "x.db"), "--region", "us-east-1", "--no-stacks",
                             "--type", "AWS::SQS::Queue"], scan_env(endpoint))
    assert result.returncode == 0, result.stderr
    assert "checking region names by their shape only" in result.stderr, result.stderr
    assert "did you mean" not in result.stderr and "Traceback" not in result.stderr


def test_an_account_with_no_enabled_region_is_an_error_not_a_complete_scan(moto_endpoint, tmp_path):
    body = (b"<DescribeRegionsResponse><requestId>x</requestId><regionInfo><item><regionName>ap-east-1</regionName>"
            b"<optInStatus>not-opted-in</optInStatus></item></regionInfo></DescribeRegionsResponse>")
    with aws_proxy(moto_endpoint, _regions_answered(body)) as (endpoint, _):
        result = driftgraph(["scan", "--db", str(tmp_path / "x.db"), "--no-stacks", "--type", "AWS::SQS::Queue"],
                            scan_env(endpoint))
    assert result.returncode == 1, result.stdout
    assert "no region enabled for the account; name the regions to scan with --region" in result.stderr, result.stderr


# ------------------------------------------------------------------------------------------ progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_live_view_is_for_a_person_at_a_terminal_only():
    assert wants_progress(_Terminal(), {}) is True
    assert wants_progress(io.StringIO(), {}) is False, "a pipe or a file"
    assert wants_progress(_Terminal(), {"CI": "true"}) is False
    assert wants_progress(_Terminal(), {"TERM": "dumb"}) is False
    assert wants_progress(_Terminal(), {}, quiet=True) is False
    assert type(scan_progress(stream=io.StringIO(), environ={})) is ScanProgress


def test_the_live_view_shows_phase_listings_failures_and_regions():
    out = io.StringIO()
    with LiveProgress(Console(file=out, force_terminal=True, width=140)) as progress:
        progress.phase("listing")
        progress.planned(4, ["us-east-1", "eu-west-1", "eu-central-1", "ap-south-1"])
        progress.listed(Listing(ACCOUNT, "us-east-1", "AWS::SQS::Queue", "ok"))
        progress.listed(Listing(ACCOUNT, "us-east-1", "AWS::SNS::Topic", "access_denied"))
        progress.phase("writing")
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # without the terminal's style codes
    assert "listing" in shown and "writing" in shown
    assert "2/4 listings, 1 failed" in shown
    assert "4 regions (us-east-1, eu-west-1, eu-central-1 +1)" in shown


def test_the_live_view_shows_each_account_with_its_listings_failures_and_throttled_answers():
    from scanner.rates import RateLimits

    out = io.StringIO()
    rates = RateLimits()
    other = "444455556666"
    with LiveProgress(Console(file=out, force_terminal=True, width=140)) as progress:
        progress.phase("listing")
        progress.planned(5, ["us-east-1", "eu-west-1"], {ACCOUNT: (3, 2), other: (2, 1)})
        progress.watch(rates)
        progress.listed(Listing(ACCOUNT, "us-east-1", "AWS::SQS::Queue", "ok"))
        progress.listed(Listing(ACCOUNT, "eu-west-1", "AWS::SQS::Queue", "throttled"))
        progress.listed(Listing(other, "us-east-1", "AWS::SNS::Topic", "ok"))
        rates.throttled_answer(rates.key(ACCOUNT, "eu-west-1", "sqs"))
        rates.throttled_answer(rates.key(ACCOUNT, "eu-west-1", "sqs"))
        progress.phase("writing")
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    rows = {line.split()[0]: line.split()[1:] for line in shown.splitlines() if line.strip().startswith((ACCOUNT, other))}
    assert rows[ACCOUNT] == ["2", "2/3", "1", "2"], shown  # regions, listings done/planned, failed, throttled
    assert rows[other] == ["1", "1/2", "0", "0"], shown
    assert "2 accounts · 2 throttled answers" in shown
    assert "3/5 listings, 1 failed" in shown


def test_a_piped_scan_shows_no_progress(aws, tmp_path):
    result = driftgraph(["scan", "--db", str(tmp_path / "p.db"), "--region", "us-east-1", "--no-stacks",
                         "--type", "AWS::SQS::Queue"], scan_env(aws))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "stderr is a pipe: no progress, no escape codes"
    assert result.stdout.startswith("scan ") and "\x1b" not in result.stdout


def _scan_on_a_terminal(endpoint, db, **env) -> tuple[int, str]:
    """The scan with its stderr on a pseudo-terminal, as a person running it would have; returns what it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "driftgraph", "scan", "--db", str(db), "--region", "us-east-1",
                                "--no-stacks", "--type", "AWS::SQS::Queue"], env=scan_env(endpoint, TERM="xterm", **env),
                               stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    process.communicate(timeout=300)
    reader.join(timeout=10)
    os.close(leader)
    return process.returncode, shown.decode("utf-8", "replace")


def test_a_scan_on_a_terminal_shows_its_progress_unless_in_ci(aws, tmp_path):
    code, shown = _scan_on_a_terminal(aws, tmp_path / "t.db")
    assert code == 0, shown
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert "listings" in shown and "1 region (us-east-1)" in shown, shown
    code, shown = _scan_on_a_terminal(aws, tmp_path / "ci.db", CI="true")
    assert code == 0 and "listings" not in shown, shown
