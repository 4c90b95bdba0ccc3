"""`driftgraph diff`: scans of a moto estate with changes between them, compared exactly; a failed listing and a
scan of another region never read as deletions."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from conftest import run_cli
from edge_servers import FORWARD, aws_proxy, denied, operation_of

from driftgraph.demo import moto_server
from driftgraph.demo_estate import TerraformState

ACCOUNT, REGION, WEST = "123456789012", "us-east-1", "eu-west-1"
TYPES = ["--type", "AWS::SQS::Queue", "--type", "AWS::S3::Bucket"]


def _queue_state(name: str, visibility: int = 30) -> dict:
    """A queue as the AWS provider 5.x writes it in a state."""
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
    return {"id": url, "url": url, "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", "name": name,
            "visibility_timeout_seconds": visibility, "message_retention_seconds": 345600, "delay_seconds": 0,
            "max_message_size": 262144, "receive_wait_time_seconds": 0, "fifo_queue": False,
            "content_based_deduplication": False, "sqs_managed_sse_enabled": True, "policy": "",
            "redrive_policy": "", "tags": {}, "tags_all": {}}


def _write_state(folder: Path, queues: list[str]) -> None:
    state = TerraformState("diff")
    for name in queues:
        state.add("aws_sqs_queue", name.replace("-", "_"), _queue_state(name))
    state.write(folder / "terraform.tfstate")


def _deny_list_queues(request):
    return denied(request) if operation_of(request) == "ListQueues" else FORWARD


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Five scans into one database, in a moto server of its own (its queues must not reach other tests):
    1 the start; 2 a queue made by hand, one adopted by a state, one deleted, an attribute changed; 3 the
    attribute changed back; 4 the SQS listing denied and a bucket deleted; 5 another region only."""
    work = tmp_path_factory.mktemp("diff")
    db, states = work / "estate.db", work / "terraform"
    with moto_server() as endpoint:
        def client(service, region=REGION):
            return boto3.client(service, region_name=region, endpoint_url=endpoint, aws_access_key_id="testing",
                                aws_secret_access_key="testing")

        def scan(through=endpoint, region=REGION):
            run_cli(["scan", "--db", str(db), "--region", region, "--tfstate", str(states), "-q", *TYPES], through)

        sqs, s3 = client("sqs"), client("s3")
        old = sqs.create_queue(QueueName="old-by-hand")["QueueUrl"]
        sqs.create_queue(QueueName="adopted")
        coded = sqs.create_queue(QueueName="coded", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        s3.create_bucket(Bucket="diff-kept-bucket")
        s3.create_bucket(Bucket="diff-doomed-bucket")
        _write_state(states, ["coded"])
        scan()

        sqs.create_queue(QueueName="by-hand")
        _write_state(states, ["coded", "adopted"])
        sqs.delete_queue(QueueUrl=old)
        sqs.set_queue_attributes(QueueUrl=coded, Attributes={"VisibilityTimeout": "90"})
        scan()

        sqs.set_queue_attributes(QueueUrl=coded, Attributes={"VisibilityTimeout": "30"})
        scan()

        s3.delete_bucket(Bucket="diff-doomed-bucket")
        with aws_proxy(endpoint, _deny_list_queues) as (proxy, _seen):
            scan(through=proxy)

        client("sqs", WEST).create_queue(QueueName="west-queue")
        scan(region=WEST)
        yield {"db": db, "endpoint": endpoint}


def _diff(history, *args, check=True):
    return run_cli(["diff", "--db", str(history["db"]), *args], history["endpoint"], check=check)


def _json(history, *args) -> dict:
    return json.loads(_diff(history, *args, "--format", "json").stdout)


def _changes(diff: dict) -> list[tuple]:
    return [(c["change"], c["type"], c["name"], c["before"], c["after"], c["attribute"], c["declared"], c["live"])
            for c in diff["changes"]]


def test_a_week_of_changes_is_listed_exactly(history):
    diff = _json(history, "--from", "1", "--to", "2")
    queue = "AWS::SQS::Queue"
    assert _changes(diff) == [
        ("new_unmanaged", queue, "by-hand", None, "unmanaged", None, None, None),
        ("resolved_unmanaged", queue, "adopted", "unmanaged", "managed", None, None, None),
        ("new_drift", queue, "coded", "managed", "managed", "visibility_timeout", 30, 90),
        ("deleted", queue, "old-by-hand", "unmanaged", None, None, None, None),
    ]
    assert diff["schema"] == "driftgraph/diff/1"
    assert (diff["from_scan"]["id"], diff["to_scan"]["id"]) == (1, 2)
    assert diff["from_scan"]["accounts"] == [ACCOUNT] and diff["to_scan"]["regions"] == [REGION]
    assert diff["compared"] == {"accounts": [ACCOUNT], "regions": [REGION], "not_compared": []}
    summary = diff["summary"]
    assert (summary["coverage_before"], summary["coverage_after"]) == (20.0, 40.0)  # 1 of 5, then 2 of 5
    assert {k: v for k, v in summary.items() if v and not k.startswith("coverage")} == {
        "new_unmanaged": 1, "resolved_unmanaged": 1, "new_drift": 1, "deleted": 1}
    assert diff["changes"][0]["id"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:by-hand"
    assert (diff["changes"][0]["account"], diff["changes"][0]["region"]) == (ACCOUNT, REGION)


def test_an_attribute_changed_back_is_resolved_drift_and_the_default_from_is_the_previous_scan(history):
    diff = _json(history, "--to", "3")  # from: scan 2, the previous scan of the same account and region
    assert diff["from_scan"]["id"] == 2
    assert _changes(diff) == [
        ("resolved_drift", "AWS::SQS::Queue", "coded", "managed", "managed", "visibility_timeout", 30, 90)]
    assert _changes(_json(history, "--from", "1", "--to", "3")) == [
        ("new_unmanaged", "AWS::SQS::Queue", "by-hand", None, "unmanaged", None, None, None),
        ("resolved_unmanaged", "AWS::SQS::Queue", "adopted", "unmanaged", "managed", None, None, None),
        ("deleted", "AWS::SQS::Queue", "old-by-hand", "unmanaged", None, None, None, None),
    ], "drift that came and went between the two scans compared is no change"


def test_a_listing_that_fails_never_reads_as_deletion_or_resolution(history):
    diff = _json(history, "--from", "3", "--to", "4")
    assert _changes(diff) == [
        ("deleted", "AWS::S3::Bucket", "diff-doomed-bucket", "unmanaged", None, None, None, None),
        ("new_failed_listing", "AWS::SQS::Queue", None, "ok", diff["changes"][1]["after"], None, None, None),
    ], "queues the failed listing could not see are neither deleted nor resolved; buckets are still compared"
    assert diff["changes"][1]["after"] != "ok"
    assert diff["compared"]["not_compared"] == [
        {"account": ACCOUNT, "region": REGION, "type": "AWS::SQS::Queue", "reason": "after scan (4): a call failed"}]
    # over the compared scope only (the buckets, no code owns them), not the queues the listing could not see
    assert (diff["summary"]["coverage_before"], diff["summary"]["coverage_after"]) == (0.0, 0.0)
    # the listing answers again: what it could not see in between is not new either
    back = _json(history, "--from", "4", "--to", "3")
    assert [c["change"] for c in back["changes"]] == ["new_unmanaged"]  # the bucket: it is back in the earlier scan


def test_scans_of_other_regions_do_not_make_each_other_deleted(history):
    result = _diff(history, "--to", "5", check=False)
    assert result.returncode == 1 and "no scan earlier than scan 5" in result.stderr and "--from" in result.stderr
    diff = _json(history, "--from", "3", "--to", "5")
    assert diff["changes"] == [], "neither the us-east-1 queues are deleted nor the eu-west-1 queue new"
    assert diff["compared"]["regions"] == []
    assert {(s["region"], s["reason"]) for s in diff["compared"]["not_compared"] if s["type"] is None} == {
        (REGION, "region scanned only in the before scan (3)"), (WEST, "region scanned only in the after scan (5)")}


def test_since_picks_the_latest_scan_finished_that_long_before(history, tmp_path):
    db = tmp_path / "aged.db"
    shutil.copy(history["db"], db)
    now = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    connection = sqlite3.connect(db)
    for scan_id, days in ((1, 14), (2, 8), (3, 6), (4, 0)):  # scans a week or so apart, made by the test
        connection.execute("update scans set finished_at = ? where id = ?",
                           [(now - timedelta(days=days)).isoformat(), scan_id])
    connection.commit()
    connection.close()
    aged = {**history, "db": db}
    assert _json(aged, "--to", "4", "--since", "7d")["from_scan"]["id"] == 2
    assert _json(aged, "--to", "4", "--since", "2w")["from_scan"]["id"] == 1
    assert _json(aged, "--to", "4", "--since", "24h")["from_scan"]["id"] == 3
    too_far = _diff(aged, "--to", "4", "--since", "3w", check=False)
    assert too_far.returncode == 1 and "no scan earlier than scan 4 finished at least 21 days" in too_far.stderr


@pytest.mark.parametrize("args", [["--since", "7x"], ["--since", "0d"], ["--since", "-7d"],
                                  ["--from", "1", "--since", "7d"]])
def test_a_bad_duration_or_from_with_since_is_a_usage_error(history, args):
    result = _diff(history, "--to", "2", *args, check=False)
    assert result.returncode == 2, result.stderr
    assert "--since" in result.stderr


def test_markdown_says_what_changed_and_what_was_not_compared(history, tmp_path):
    out = tmp_path / "diff.md"
    _diff(history, "--from", "1", "--to", "2", "-o", str(out))
    text = out.read_text()
    assert text.startswith("# driftgraph diff: scan 1 to scan 2\n")
    assert "Managed: 20.0% then, 40.0% now" in text
    for heading in ("## New unmanaged (1)", "## No longer unmanaged (1)", "## New drift (1)", "## Deleted (1)"):
        assert heading in text
    assert "| AWS::SQS::Queue | coded | 123456789012/us-east-1 | visibility_timeout | 30 | 90 |" in text
    failed = _diff(history, "--from", "3", "--to", "4").stdout
    assert "## Listings that newly failed (1)" in failed and "## Not compared (1)" in failed


def _snapshot(scan_id: int, statuses: dict[str, str], listings=(("AWS::SQS::Queue", "ok", None),)):
    from graph.diff import Snapshot

    resources = {name: {"id": name, "type": "AWS::SQS::Queue", "account": ACCOUNT, "region": REGION, "name": name,
                        "status": status} for name, status in statuses.items()}
    return Snapshot({"id": scan_id, "finished_at": None, "accounts": [ACCOUNT], "regions": [REGION]}, resources, {},
                    tuple({"account": ACCOUNT, "region": REGION, "type": t, "outcome": o, "call": c}
                          for t, o, c in listings))


def test_missing_and_conflict_come_and_go_and_a_failed_detail_call_leaves_its_type_uncompared():
    from graph.diff import diff_snapshots

    before = _snapshot(1, {"ghost": "missing", "gone-ghost": "missing", "shared": "conflict", "lost": "managed",
                           "claimed": "unmanaged", "unseen": "unknown"})
    after = _snapshot(2, {"ghost": "missing", "shared": "managed", "lost": "missing", "claimed": "conflict",
                          "fresh-ghost": "missing"})
    assert [(c["change"], c["name"], c["before"], c["after"]) for c in diff_snapshots(before, after)["changes"]] == [
        ("resolved_unmanaged", "claimed", "unmanaged", "conflict"),
        ("new_missing", "fresh-ghost", None, "missing"),
        ("new_missing", "lost", "managed", "missing"),
        ("resolved_missing", "gone-ghost", "missing", None),
        ("new_conflict", "claimed", "unmanaged", "conflict"),
        ("resolved_conflict", "shared", "conflict", "managed"),
    ], "a declaration that was never live (missing, unknown) and is gone is never `deleted`"
    detail_failed = _snapshot(3, {}, listings=(("AWS::SQS::Queue", "ok", None),
                                               ("AWS::SQS::Queue", "access_denied", "GetQueueAttributes")))
    diff = diff_snapshots(after, detail_failed)
    assert [(c["change"], c["name"], c["after"]) for c in diff["changes"]] == [
        ("new_failed_listing", "GetQueueAttributes", "access_denied")]
    assert diff_snapshots(detail_failed, detail_failed)["changes"] == [], "a failure already there is not new"


def test_fail_on_new_unmanaged_passes_until_a_hand_made_resource_appears(tmp_path):
    """The CI gate: red only for what appeared since the previous scan of the same accounts and regions."""
    import boto3

    from conftest import run_cli
    from driftgraph.demo import aws_environment, moto_server

    db = tmp_path / "gate.db"
    scan = ["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks", "--type", "AWS::SQS::Queue"]
    gate = ["report", "--db", str(db), "--format", "json", "--fail-on", "new-unmanaged,new-drift"]
    with moto_server() as endpoint, aws_environment(endpoint):
        sqs = boto3.client("sqs")
        sqs.create_queue(QueueName="gate-old-by-hand")
        run_cli(scan, endpoint)
        first = run_cli(gate, endpoint, check=False)  # nothing to compare with: every finding is new
        assert first.returncode == 3 and "every finding counts as new" in first.stderr
        run_cli(scan, endpoint)
        assert run_cli(gate, endpoint, check=False).returncode == 0  # the same hand-made queue is not new
        sqs.create_queue(QueueName="gate-new-by-hand")
        run_cli(scan, endpoint)
        after = run_cli(gate, endpoint, check=False)
    assert after.returncode == 3 and "found: new-unmanaged" in after.stderr
    assert run_cli(["report", "--db", str(db), "--fail-on", "new-unmanagd"], endpoint, check=False).returncode == 2
