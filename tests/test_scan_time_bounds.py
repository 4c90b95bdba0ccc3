"""An endpoint that never answers, or trickles its answer, cannot hold a scan: every call has a time budget that
bounds reading its answer too, and Ctrl-C or SIGTERM ends the scan at once (exit 130, 143), leaving the last
good database as it was. End to end through `python -m driftgraph`.

Time bounds below are generous and only prove "does not hang": without the budget one silent call holds the
scan for 8 attempts of 60 s, a trickled answer for a second a byte, and a scan waiting for its calls in flight
outlives the bounds by far."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from graph.store import ScanWriter
from edge_servers import (FORWARD, IDENTITY, Trickle, aws_proxy, denied, driftgraph, identity_only,
                          operation_of, scan_env, silent_endpoint)
from scanner.clients import AwsSession, CallTimeout
from scanner.live import scan_live

SQS_ONLY = ["--region", "us-east-1", "--type", "AWS::SQS::Queue", "--no-stacks"]


def _existing_database(path):
    """A database holding one finished scan, as a previous run would have left it."""
    writer = ScanWriter(path)
    writer.begin({"started_at": "2026-01-01T00:00:00+00:00", "status": "running"})
    writer.write("resources", [{"id": "earlier", "type": "AWS::SQS::Queue", "status": "unmanaged"}])
    writer.finish({"status": "complete", "resource_count": 1})
    writer.commit()
    return path.read_bytes()


def test_a_silent_endpoint_ends_the_scan_within_the_call_budget(tmp_path):
    db = tmp_path / "estate.db"
    before = _existing_database(db)
    with silent_endpoint() as (endpoint, _):
        started = time.monotonic()
        result = driftgraph(["scan", "--db", str(db), *SQS_ONLY, "--call-timeout", "2"], scan_env(endpoint), timeout=240)
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "scan failed, database left as it was" in result.stderr
    assert "GetCallerIdentity: no answer within 2 s" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 60, f"a 2 s budget took {elapsed:.0f} s"
    assert db.read_bytes() == before


def test_a_listing_whose_calls_never_answer_fails_within_the_budget_and_the_scan_goes_on(tmp_path):
    db = tmp_path / "estate.db"
    with aws_proxy(None, identity_only) as (endpoint, _):
        started = time.monotonic()
        result = driftgraph(["scan", "--db", str(db), *SQS_ONLY, "--call-timeout", "2"], scan_env(endpoint), timeout=240)
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 60, f"a 2 s budget took {elapsed:.0f} s"
    from graph.report import build_report
    from graph.store import open_database

    report = build_report(open_database(db))
    assert report["scan"]["status"] == "partial"
    (failed,) = report["failed_listings"]
    assert (failed["type"], failed["outcome"], failed["error_code"]) == ("AWS::SQS::Queue", "error", "CallTimeout")
    assert "ListQueues: no answer within 2 s" in failed["message"]


def _interrupt_when(process: subprocess.Popen, ready, what: str, how=signal.SIGINT) -> float:
    """SIGINT (or `how`) once `ready()` says the scan is where the test wants it (a call in flight); returns the
    time sent."""
    deadline = time.monotonic() + 120
    while not ready():
        assert process.poll() is None, f"the scan ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"never got to {what}"
        time.sleep(0.1)
    time.sleep(1.0)  # let the calls settle into their socket reads
    process.send_signal(how)
    return time.monotonic()


VPCS = b"<DescribeVpcsResponse><requestId>x</requestId><vpcSet/></DescribeVpcsResponse>" + b" " * 200


def test_an_answer_trickled_a_byte_at_a_time_is_cut_off_at_the_call_budget(monkeypatch):
    """Each byte arrives well within the read timeout; the whole would take 130 s."""
    def answer(request):
        if operation_of(request) == "DescribeVpcs":
            return Trickle(200, "text/xml", VPCS, interval=0.5)
        return identity_only(request)

    with aws_proxy(None, answer) as (endpoint, seen):
        for key, value in scan_env(endpoint).items():
            monkeypatch.setenv(key, value)
        started = time.monotonic()
        scan = scan_live(AwsSession(call_timeout=2), "123456789012", "aws", ["us-east-1"], ["AWS::EC2::VPC"])
        elapsed = time.monotonic() - started
    (listing,) = scan.listings
    assert (listing.outcome, listing.error_code) == ("error", "CallTimeout"), listing
    assert "DescribeVpcs: no answer within 2 s" in listing.message
    assert "was still arriving when the call's time ran out" in listing.message, listing.message
    assert elapsed < 40, f"a 2 s budget took {elapsed:.0f} s"


def test_a_trickled_identity_answer_ends_the_scan_within_the_budget(tmp_path):
    def answer(request):
        return Trickle(200, "text/xml", IDENTITY, interval=0.5) if request.action == "GetCallerIdentity" else FORWARD

    with aws_proxy(None, answer) as (endpoint, _):
        started = time.monotonic()
        result = driftgraph(["scan", "--db", str(tmp_path / "x.db"), *SQS_ONLY, "--call-timeout", "2"], scan_env(endpoint),
                            timeout=240)
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "GetCallerIdentity: no answer within 2 s" in result.stderr, result.stderr
    assert elapsed < 60, f"a 2 s budget took {elapsed:.0f} s"


def test_throttling_past_the_budget_is_recorded_as_throttled_with_the_last_answer(monkeypatch):
    def answer(request):
        operation = operation_of(request)
        if operation in ("ListQueues", "DescribeVpcs"):
            time.sleep(0.4)  # eight attempts take longer than the budget: the budget ends the call
        if operation == "ListQueues":
            return denied(request, "ThrottlingException", "Rate exceeded")
        if operation == "DescribeVpcs":
            reply = denied(request, "RequestLimitExceeded", "Request limit exceeded.")
            return 503, *reply[1:]
        return identity_only(request)

    with aws_proxy(None, answer) as (endpoint, seen):
        for key, value in scan_env(endpoint).items():
            monkeypatch.setenv(key, value)
        scan = scan_live(AwsSession(call_timeout=2), "123456789012", "aws", ["us-east-1"],
                         ["AWS::SQS::Queue", "AWS::EC2::VPC"])
    listings = {l.type: l for l in scan.listings}
    for type_, code, message in (("AWS::SQS::Queue", "ThrottlingException", "Rate exceeded"),
                                 ("AWS::EC2::VPC", "RequestLimitExceeded", "Request limit exceeded.")):
        listing = listings[type_]
        assert (listing.outcome, listing.error_code) == ("throttled", code), listing
        assert message in listing.message and "--call-timeout" in listing.message, listing.message
    assert sum(operation_of(r) == "ListQueues" for r in seen) > 1, "throttling was retried within the budget"


def test_a_call_timeout_says_what_the_attempts_met():
    answered = CallTimeout("ListQueues", 2, 4, "Rate exceeded", last_code="ThrottlingException")
    assert str(answered) == ("ListQueues: --call-timeout of 2 s ran out after 4 attempts, each answered with an error "
                             "worth retrying; the last: ThrottlingException: Rate exceeded")
    silent = CallTimeout("ListQueues", 2, 1, "Read timeout on endpoint URL")
    assert str(silent) == "ListQueues: no answer within 2 s (1 attempt; --call-timeout): Read timeout on endpoint URL"


def _interactive_signals() -> None:
    """Ctrl-C as a terminal delivers it: a test run started in the background (`make test &`, nohup) has SIGINT
    ignored, which its children inherit and Python then respects, as it should for a user's nohup."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _scan_process(db, endpoint, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "driftgraph", "scan", "--db", str(db), "--region", "us-east-1", *extra],
                            env=scan_env(endpoint), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_interactive_signals)


def _assert_interrupted(process: subprocess.Popen, sent: float, db, before: bytes, code=130, said="interrupted") -> None:
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("Ctrl-C did not end the scan")
    elapsed = time.monotonic() - sent
    assert process.returncode == code, stderr
    assert said in stderr and "database left as it was" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    # the calls in flight have a 30 s read timeout: ending well before it proves nobody waited for them
    assert elapsed < 15, f"the scan took {elapsed:.0f} s to stop after Ctrl-C"
    assert db.read_bytes() == before


def test_ctrl_c_while_the_identity_call_hangs_exits_130_and_leaves_the_database(tmp_path):
    db = tmp_path / "estate.db"
    before = _existing_database(db)
    with silent_endpoint() as (endpoint, held):
        process = _scan_process(db, endpoint, "--type", "AWS::SQS::Queue")
        sent = _interrupt_when(process, lambda: len(held) > 0, "the identity call")
        _assert_interrupted(process, sent, db, before)


def test_ctrl_c_while_every_listing_hangs_exits_130_at_once_and_leaves_the_database(tmp_path):
    db = tmp_path / "estate.db"
    before = _existing_database(db)
    with aws_proxy(None, identity_only) as (endpoint, seen):
        process = _scan_process(db, endpoint)  # every type: sixteen workers blocked in socket reads
        sent = _interrupt_when(process, lambda: sum(r.action not in ("GetCallerIdentity", "DescribeRegions")
                                                    for r in seen) >= 16, "the listings")
        _assert_interrupted(process, sent, db, before)


def test_sigterm_while_every_listing_hangs_exits_143_at_once_and_leaves_the_database(tmp_path):
    """SIGTERM (a service manager, `kill`, a CI job cancelled) is handled as Ctrl-C is."""
    db = tmp_path / "estate.db"
    before = _existing_database(db)
    with aws_proxy(None, identity_only) as (endpoint, seen):
        process = _scan_process(db, endpoint, "--type", "AWS::SQS::Queue", "--type", "AWS::EC2::VPC")
        sent = _interrupt_when(process, lambda: any(r.action == "ListQueues" for r in seen), "the listings",
                               how=signal.SIGTERM)
        _assert_interrupted(process, sent, db, before, code=143, said="terminated (SIGTERM)")
