"""Partial failure is visible, never silent; bad input is named; a failed scan never harms the last good database.

The AccessDenied here is real: a moto server with IAM enforcement on, and a scanner user whose policy
denies DynamoDB, exactly as a too-narrow policy would on AWS."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import boto3
import pytest

from driftgraph.demo import moto_server
from driftgraph.demo_estate import TerraformState
from graph.store import ScanWriter


@pytest.fixture(scope="module")
def guarded_moto(tmp_path_factory):
    with moto_server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "9"}) as endpoint:
        yield _guarded_estate(endpoint, tmp_path_factory.mktemp("partial"))


def _guarded_estate(endpoint, workdir):
    def client(service, keys=None):
        keys = keys or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint, **keys)

    # the nine unauthenticated actions make an admin and two scanners; everything after is checked by IAM
    iam = client("iam")
    keys = {}
    for user, statement in {
        "admin": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        "scanner": [{"Effect": "Allow", "Action": ["ec2:Describe*", "sqs:List*", "sqs:Get*", "s3:List*", "s3:Get*",
                                                   "iam:List*", "cloudformation:Describe*", "cloudformation:List*",
                                                   "cloudformation:Get*", "sts:GetCallerIdentity"], "Resource": "*"},
                    {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}],
        "no-stacks": [{"Effect": "Allow", "Action": ["sqs:List*", "sqs:Get*", "dynamodb:List*", "dynamodb:Describe*",
                                                     "sts:GetCallerIdentity"], "Resource": "*"}],
    }.items():
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statement}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    admin = lambda service: client(service, keys["admin"])  # noqa: E731
    admin("sqs").create_queue(QueueName="kept-queue")
    admin("sqs").create_queue(QueueName="hand-queue")
    admin("dynamodb").create_table(TableName="hidden-table", BillingMode="PAY_PER_REQUEST",
                                   AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                                   KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    state = TerraformState("partial")
    state.add("aws_sqs_queue", "kept", {"id": "https://sqs.us-east-1.amazonaws.com/123456789012/kept-queue",
                                        "arn": "arn:aws:sqs:us-east-1:123456789012:kept-queue", "name": "kept-queue",
                                        "visibility_timeout_seconds": 30, "tags": {}, "tags_all": {}})
    state.add("aws_dynamodb_table", "hidden", {"id": "hidden-table", "name": "hidden-table",
                                               "arn": "arn:aws:dynamodb:us-east-1:123456789012:table/hidden-table",
                                               "billing_mode": "PAY_PER_REQUEST", "hash_key": "k", "tags": {}, "tags_all": {}})
    state.write(workdir / "states" / "good.tfstate")
    (workdir / "states" / "truncated.tfstate").write_text('{"version": 4, "terraform_version": "1.9.8",\n "resources": [\n  {"mode": "managed", ')
    (workdir / "states" / "future.tfstate").write_text(json.dumps({"version": 5, "resources": []}))
    (workdir / "good-only").mkdir()
    state.write(workdir / "good-only" / "good.tfstate")
    return {"endpoint": endpoint, "scanner": keys["scanner"], "no-stacks": keys["no-stacks"], "workdir": workdir}


def _scan(guarded_moto, db, *extra, user="scanner"):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL": guarded_moto["endpoint"], "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": guarded_moto[user]["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": guarded_moto[user]["aws_secret_access_key"],
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    command = [sys.executable, "-m", "driftgraph", "scan", "--db", str(db), "--region", "us-east-1",
               "--type", "AWS::SQS::Queue", "--type", "AWS::DynamoDB::Table", *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _report(db):
    from graph.report import build_report
    from graph.store import open_database

    return build_report(open_database(db))


def test_denied_listing_is_recorded_and_its_declared_resources_are_unknown(guarded_moto, tmp_path):
    db = tmp_path / "g.db"
    result = _scan(guarded_moto, db, "--tfstate", str(guarded_moto["workdir"] / "states"))
    assert result.returncode == 0, result.stderr
    report = _report(db)
    assert report["scan"]["status"] == "partial"
    (failed,) = report["failed_listings"]
    assert (failed["type"], failed["outcome"], failed["error_code"]) == ("AWS::DynamoDB::Table", "access_denied", "AccessDenied")
    by_name = {r["name"]: r for r in report["resources"]}
    assert by_name["hidden-table"]["status"] == "unknown", "a type that could not be listed is never missing"
    assert "AccessDenied" in by_name["hidden-table"]["reason"]
    assert by_name["kept-queue"]["status"] == "managed", "the other inputs still load"
    from graph.report import render_markdown

    assert "## Failed listings (1)" in render_markdown(report) and "access_denied (AccessDenied)" in render_markdown(report)


def test_bad_state_files_are_named_and_the_good_one_still_loads(guarded_moto, tmp_path):
    db = tmp_path / "g.db"
    _scan(guarded_moto, db, "--tfstate", str(guarded_moto["workdir"] / "states"))
    errors = {e["source"].rsplit("/", 1)[-1]: e for e in _report(db)["errors"] if e["kind"] == "error" and e["source"].endswith("tfstate")}
    assert set(errors) == {"truncated.tfstate", "future.tfstate"}
    assert errors["truncated.tfstate"]["line"] == 3
    assert "truncated.tfstate" in errors["truncated.tfstate"]["message"]
    assert "version 5" in errors["future.tfstate"]["message"]
    sources = {row["path"].rsplit("/", 1)[-1]: row["status"]
               for row in sqlite3.connect(db).execute("select path, status from sources") for row in [dict(path=row[0], status=row[1])]}
    assert sources["good.tfstate"] == "loaded"


def test_a_failed_scan_leaves_the_last_good_database_as_it_was(guarded_moto, tmp_path):
    db = tmp_path / "g.db"
    assert _scan(guarded_moto, db).returncode == 0
    before = db.read_bytes()
    # bad credentials: the scan fails before writing anything
    env_keys = guarded_moto["scanner"]
    guarded_moto["scanner"] = {"aws_access_key_id": "AKIANOTAREALKEY00000", "aws_secret_access_key": "x" * 40}
    try:
        failed = _scan(guarded_moto, db)
    finally:
        guarded_moto["scanner"] = env_keys
    assert failed.returncode == 1 and "database left as it was" in failed.stderr
    assert db.read_bytes() == before
    # a crash while writing: the working copy is dropped, the database untouched
    writer = ScanWriter(db)
    writer.begin({"started_at": "now", "status": "running"})
    writer.write("resources", [{"id": "half-written", "status": "unmanaged"}])
    writer.abort()
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.db", "g.db.lock"]


def test_an_unreadable_state_makes_what_it_could_declare_unknown_never_unmanaged(guarded_moto, tmp_path):
    db = tmp_path / "g.db"
    assert _scan(guarded_moto, db, "--tfstate", str(guarded_moto["workdir"] / "good-only")).returncode == 0
    assert {r["name"]: r["status"] for r in _report(db)["resources"]}["hand-queue"] == "unmanaged"
    assert _scan(guarded_moto, db, "--tfstate", str(guarded_moto["workdir"] / "states")).returncode == 0
    report = _report(db)
    hand = {r["name"]: r for r in report["resources"]}["hand-queue"]
    assert hand["status"] == "unknown" and hand["rule"] == "owner_source_failed"
    assert "truncated.tfstate" in hand["reason"] or "future.tfstate" in hand["reason"]
    assert report["scan"]["status"] == "partial"
    assert {r["name"]: r["status"] for r in report["resources"]}["kept-queue"] == "managed"


def test_denied_stack_reads_make_what_stacks_could_declare_unknown(guarded_moto, tmp_path):
    db = tmp_path / "g.db"
    result = _scan(guarded_moto, db, "--tfstate", str(guarded_moto["workdir"] / "good-only"), user="no-stacks")
    assert result.returncode == 0, result.stderr
    report = _report(db)
    hand = {r["name"]: r for r in report["resources"]}["hand-queue"]
    assert hand["status"] == "unknown" and "DescribeStacks" in hand["reason"] and "AccessDenied" in hand["reason"]
    assert report["scan"]["status"] == "partial"
