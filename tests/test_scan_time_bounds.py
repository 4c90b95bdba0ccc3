"""An endpoint that never answers cannot hold a scan: every call has a time budget, and Ctrl-C ends the scan
at once with exit 130, leaving the last good database as it was. End to end through `python -m driftgraph`.

Time bounds below are generous and only prove "does not hang": without the budget one silent call holds the
scan for 8 attempts of 60 s, and a scan waiting for its calls in flight outlives the bounds by far."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from graph.store import ScanWriter
from edge_servers import aws_proxy, driftgraph, identity_only, scan_env, silent_endpoint

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


def _interrupt_when(process: subprocess.Popen, ready, what: str) -> float:
    """SIGINT once `ready()` says the scan is where the test wants it (a call in flight); returns the time sent."""
    deadline = time.monotonic() + 120
    while not ready():
        assert process.poll() is None, f"the scan ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"never got to {what}"
        time.sleep(0.1)
    time.sleep(1.0)  # let the calls settle into their socket reads
    process.send_signal(signal.SIGINT)
    return time.monotonic()


def _scan_process(db, endpoint, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "driftgraph", "scan", "--db", str(db), "--region", "us-east-1", *extra],
                            env=scan_env(endpoint), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_interrupted(process: subprocess.Popen, sent: float, db, before: bytes) -> None:
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("Ctrl-C did not end the scan")
    elapsed = time.monotonic() - sent
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "database left as it was" in stderr, stderr
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
