"""`driftgraph merge`: a scan split into jobs (one per region, each with its own database) and merged is the scan
one job of every region writes, week after week; what cannot be merged is refused, naming the file."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import boto3
import pytest
from conftest import run_cli
from edge_servers import FORWARD, aws_proxy, denied, driftgraph, operation_of, scan_env

from driftgraph.demo import aws_environment, moto_server
from driftgraph.demo_estate import CDK_OUTS, a_week_later, build_estate
from graph.store import PER_SCAN, ScanWriter

ACCOUNT, EAST, WEST = "123456789012", "us-east-1", "eu-west-1"
QUIET = ["--no-maintenance", "--cloudtrail", "off", "-q"]  # moto implements neither (see conftest's estate_scan)
# Compared as they are: scan ids agree between the two databases, since both hold the same scans in the same order.
# Left out: a row's own number in its table, and a call's duration.
# raw_digest is of the rows as given: a scan gives them as listed, a merge as the jobs stored them
NOT_COMPARED = {"scan_id", "version", "duration_ms", "raw_digest"}
# An ignore file: the first rule matches only in eu-west-1, so the us-east-1 job alone finds it unused; the
# second matches nothing anywhere (one scan warns of it once).
IGNORE = "AWS::ECR::Repository:eu-manual-images\nAWS::SQS::Queue:no-such-queue-*\n"
# A template given without a region: one queue live in us-east-1 only, one live nowhere.
REGIONLESS = """Resources:
  Events:
    Type: AWS::SQS::Queue
    Properties: {QueueName: payments-events}
  Nowhere:
    Type: AWS::SQS::Queue
    Properties: {QueueName: nowhere-queue}
"""


def _regions(*regions: str) -> list[str]:
    return [argument for region in regions for argument in ("--region", region)]


def _deny_list_roles(request):
    return denied(request) if operation_of(request) == "ListRoles" else FORWARD


@pytest.fixture(scope="module")
def weeks(tmp_path_factory):
    """The demo estate (both regions, stacks, states, cloud assemblies) in a moto server of its own, scanned two
    weeks running both ways: one job over both regions into one.db, and one job per region (east.db, west.db, a
    second scan each the next week) merged into merged.db. In the first week the west job may not list IAM roles:
    the east job lists them, as one scan does."""
    work = tmp_path_factory.mktemp("merge")
    (work / "ignore").write_text(IGNORE)
    (work / "regionless.yaml").write_text(REGIONLESS)
    inputs = ["--tfstate", str(work / "terraform"), "--cfn-template", str(work / "regionless.yaml"),
              "--ignore-file", str(work / "ignore"), *[a for path in CDK_OUTS for a in ("--cdk-out", path)], *QUIET]
    one, east, west, merged = (work / name for name in ("one.db", "east.db", "west.db", "merged.db"))
    with moto_server() as endpoint:
        with aws_environment(endpoint):
            estate = build_estate(endpoint, work)

        def week(deny_west: bool) -> dict:
            run_cli(["scan", "--db", str(one), *_regions(EAST, WEST), *inputs], endpoint)
            run_cli(["scan", "--db", str(east), *_regions(EAST), *inputs], endpoint)
            if deny_west:
                # only IAM goes through the proxy: the queue URLs the other services answer with name moto itself
                with aws_proxy(endpoint, _deny_list_roles) as (proxy, _seen):
                    result = driftgraph(["scan", "--db", str(west), *_regions(WEST), *inputs],
                                        scan_env(endpoint, AWS_ENDPOINT_URL_IAM=proxy))
                    assert result.returncode == 0, result.stderr
            else:
                run_cli(["scan", "--db", str(west), *_regions(WEST), *inputs], endpoint)
            return {"merge": run_cli(["merge", str(merged), str(east), str(west)], endpoint)}

        first = week(deny_west=True)
        with aws_environment(endpoint):
            a_week_later(endpoint, work, estate)
        second = week(deny_west=False)
        yield {"one": one, "east": east, "west": west, "merged": merged, "first": first, "second": second,
               "endpoint": endpoint, "work": work}


def _rows(db: Path, table: str, scan_id: int) -> list[tuple]:
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in connection.execute(f"select * from [{table}] where scan_id = ?", [scan_id])]
    finally:
        connection.close()
    return sorted((tuple(sorted((k, v) for k, v in r.items() if k not in NOT_COMPARED)) for r in rows), key=repr)


# every table and view holding a scan's own rows
SCAN_TABLES = ("scan_resources", "scan_owners", "scan_edges", "scan_drift", "scan_scopes", *PER_SCAN)


def _scan(db: Path, scan_id: int) -> dict:
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        return dict(connection.execute("select * from scans where id = ?", [scan_id]).fetchone())
    finally:
        connection.close()


@pytest.mark.parametrize("scan_id", [1, 2])
@pytest.mark.parametrize("table", SCAN_TABLES)
def test_the_merged_scan_is_the_one_scan_of_every_region(weeks, table, scan_id):
    one, merged = _rows(weeks["one"], table, scan_id), _rows(weeks["merged"], table, scan_id)
    assert merged == one
    if table in ("scan_resources", "scan_owners", "listings", "sources", "stacks", "scan_scopes"):
        assert one, f"the estate gives {table} rows to compare"


@pytest.mark.parametrize("scan_id", [1, 2])
def test_the_merged_scans_row_sums_up_the_jobs(weeks, scan_id):
    one, merged = _scan(weeks["one"], scan_id), _scan(weeks["merged"], scan_id)
    for column in ("accounts", "partition", "resource_count", "summary", "status"):
        assert merged[column] == one[column], column
    assert json.loads(merged["regions"]) == [WEST, EAST]
    east, west = _scan(weeks["east"], scan_id), _scan(weeks["west"], scan_id)
    assert merged["started_at"] == min(east["started_at"], west["started_at"])
    assert merged["finished_at"] == max(east["finished_at"], west["finished_at"])
    inputs = json.loads(merged["options"])["merged"]
    assert [(i["database"], i["scan_id"], i["regions"]) for i in inputs] == [
        (str(weeks["east"]), scan_id, [EAST]), (str(weeks["west"]), scan_id, [WEST])]
    report = weeks["first" if scan_id == 1 else "second"]["merge"]
    assert f"scan {scan_id} complete" in report.stdout and "0 warnings" in report.stdout and not report.stderr


def test_a_global_listing_one_job_could_not_make_is_the_other_jobs(weeks):
    west = _scan(weeks["west"], 1)
    assert west["status"] == "partial", "the west job could not list IAM roles in the first week"
    assert _scan(weeks["merged"], 1)["status"] == "complete"
    connection = sqlite3.connect(weeks["merged"])
    assert connection.execute("select count(*) from scan_gaps").fetchone()[0] == 0
    managed = connection.execute("select count(*) from scan_resources where scan_id = 1 and type = 'AWS::IAM::Role' "
                                 "and status = 'managed'").fetchone()[0]
    connection.close()
    assert managed >= 5, "the roles the us-east-1 stacks declare are managed, as the east job saw them"


def test_a_second_week_merged_into_the_same_database_diffs_as_one_scan_does(weeks):
    def diff(db):
        result = run_cli(["diff", "--db", str(db), "--format", "json"], weeks["endpoint"])
        data = json.loads(result.stdout)
        return {k: v for k, v in data.items() if k not in ("from_scan", "to_scan")}, data

    one, one_whole = diff(weeks["one"])
    merged, merged_whole = diff(weeks["merged"])
    assert merged == one
    assert (merged_whole["from_scan"]["id"], merged_whole["to_scan"]["id"]) == (1, 2)
    changes = {(c["change"], c["name"]) for c in merged["changes"]}
    assert {("new_unmanaged", "incident-hotfix-queue"), ("resolved_unmanaged", "driftgraph-demo-scratch"),
            ("deleted", "/ops/by-hand"), ("new_drift", "platform-replica"), ("resolved_drift", "payments-events")} <= changes


def test_jobs_merged_again_are_refused_and_out_is_left_as_it_was(weeks, tmp_path):
    out = tmp_path / "again.db"
    shutil.copy(weeks["merged"], out)
    before = out.read_bytes()
    result = run_cli(["merge", str(out), str(weeks["east"]), str(weeks["west"])], weeks["endpoint"], check=False)
    assert result.returncode == 1
    assert f"{weeks['east']}: its scan of {ACCOUNT}/{EAST}" in result.stderr and "not newer than scan 2" in result.stderr
    assert out.read_bytes() == before


# ------------------------------------------------------------------------------------------------ a small estate


@pytest.fixture(scope="module")
def queues(tmp_path_factory):
    """Queues only, in a moto server of its own: `twin-queue` live in both regions, `west-only` in eu-west-1, and a
    template given without a region that declares both and `ghost-queue`, live nowhere."""
    work = tmp_path_factory.mktemp("queues")
    template = work / "queues.yaml"
    template.write_text("Resources:\n" + "".join(
        f"  {logical}:\n    Type: AWS::SQS::Queue\n    Properties: {{QueueName: {name}}}\n"
        for logical, name in (("Twin", "twin-queue"), ("West", "west-only"), ("Ghost", "ghost-queue"))))
    with moto_server() as endpoint:
        for region, names in ((EAST, ["twin-queue", "east-by-hand"]), (WEST, ["twin-queue", "west-only"])):
            sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint, aws_access_key_id="testing",
                               aws_secret_access_key="testing")
            for name in names:
                sqs.create_queue(QueueName=name)

        def scan(db: Path, *regions: str) -> Path:
            run_cli(["scan", "--db", str(db), *_regions(*regions), "--cfn-template", str(template), "--no-stacks",
                     "--type", "AWS::SQS::Queue", "--no-ignore-file", *QUIET], endpoint)
            return db

        yield {"endpoint": endpoint, "one": scan(work / "one.db", EAST, WEST), "east": scan(work / "east.db", EAST),
               "west": scan(work / "west.db", WEST), "work": work}


def _merge(queues, out: Path, *inputs, check=True):
    return run_cli(["merge", str(out), *map(str, inputs)], queues["endpoint"], check=check)


def test_a_declaration_without_region_reads_as_one_scan_reads_it(queues, tmp_path):
    out = tmp_path / "merged.db"
    _merge(queues, out, queues["east"], queues["west"])
    for table in SCAN_TABLES:
        assert _rows(out, table, 1) == _rows(queues["one"], table, 1), table
    connection = sqlite3.connect(out)
    found = dict(connection.execute("select name || ' ' || coalesce(region, '-'), status || ' ' || rule "
                                    "from scan_resources where scan_id = 1 and name like '%-queue' or name = 'west-only'"))
    connection.close()
    assert found == {
        f"twin-queue {EAST}": "unknown region_unknown",  # live in both regions: which one it declares is unknown
        f"twin-queue {WEST}": "unknown region_unknown",
        f"west-only {WEST}": "managed declared_and_live",  # the east job's "not found" for it is void
        "ghost-queue -": "unknown region_unknown",  # found by no job: not found in either region
    }


def test_two_jobs_that_scanned_one_region_are_refused_naming_both(queues, tmp_path):
    out = tmp_path / "merged.db"
    result = _merge(queues, out, queues["east"], queues["one"], check=False)
    assert result.returncode == 1
    assert f"{queues['east']} and {queues['one']} both scanned {ACCOUNT}/{EAST}" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def _foreign(tmp_path: Path, queues, kind: str) -> tuple[Path, str]:
    path = tmp_path / f"{kind}.db"
    if kind == "text":
        path.write_text("region,account\n")
        return path, "not an SQLite database"
    if kind == "empty":
        path.write_bytes(b"")
        return path, "holds no driftgraph scan"
    if kind == "other":
        sqlite3.connect(path).execute("create table customers (id)").connection.close()
        return path, "another application's SQLite database"
    shutil.copy(queues["west"], path)
    connection = sqlite3.connect(path)
    if kind == "newer":
        connection.execute("update meta set value = '99' where key = 'schema_version'")
        message = "written by a newer driftgraph (schema 99"
    else:  # "older"
        connection.execute("update meta set value = '1' where key = 'schema_version'")
        message = "written by an older driftgraph (schema 1)"
    connection.commit()
    connection.close()
    return path, message


@pytest.mark.parametrize("kind", ["text", "empty", "other", "newer", "older"])
def test_a_file_that_is_not_a_mergeable_database_is_refused_naming_it(queues, tmp_path, kind):
    path, message = _foreign(tmp_path, queues, kind)
    out = tmp_path / "merged.db"
    result = _merge(queues, out, queues["east"], path, check=False)
    assert result.returncode == 1, result.stdout
    assert str(path) in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_out_among_the_inputs_or_an_input_given_twice_is_refused(queues, tmp_path):
    copy = tmp_path / "east.db"
    shutil.copy(queues["east"], copy)
    result = _merge(queues, copy, copy, queues["west"], check=False)
    assert result.returncode == 2 and "is OUT itself" in result.stderr
    twice = _merge(queues, tmp_path / "out.db", queues["east"], queues["east"], check=False)
    assert twice.returncode == 1 and f"{queues['east']} is given twice" in twice.stderr


def test_out_that_is_another_applications_database_is_refused(queues, tmp_path):
    out, message = _foreign(tmp_path, queues, "other")
    result = _merge(queues, out, queues["east"], queues["west"], check=False)
    assert result.returncode == 1 and message in result.stderr


# ------------------------------------------------------------------------------------------------ made by hand


def _job(path: Path, account: str, region: str, resources: list[dict], owners: list[dict],
         tfstates: tuple[str, ...] = ("infra/",)) -> Path:
    """A job's database as a scan of `account` in `region` writes it: its scopes, listings and rows."""
    writer = ScanWriter(path)
    writer.begin({"started_at": "2026-01-05T06:00:00+00:00", "status": "running", "accounts": [account],
                  "regions": [region], "partition": "aws", "options": {"tfstates": list(tfstates)}})
    writer.write_scopes({(account, region), (account, "global"), (account, None)})
    writer.write("resources", resources)
    writer.write("owners", owners)
    writer.write("listings", [{"account": account, "region": r, "type": t, "outcome": "ok", "count": 1}
                              for r, t in ((region, "AWS::SQS::Queue"), ("global", "AWS::IAM::Role"))])
    writer.finish({"finished_at": "2026-01-05T06:01:00+00:00", "status": "complete"})
    writer.commit()
    return path


def _role(account: str, status: str, owners: int) -> dict:
    return {"id": f"arn:aws:iam::{account}:role/shared", "type": "AWS::IAM::Role", "account": account,
            "region": "global", "name": "shared", "natural_id": "shared", "status": status, "owner_count": owners,
            "owner_tools": "cloudformation" if owners else None, "attributes": {"path": "/"}, "drift_count": 0}


def _stack_owner(account: str, region: str, stack: str) -> dict:
    return {"resource_id": f"arn:aws:iam::{account}:role/shared", "tool": "cloudformation",
            "source": f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/1", "address": "SharedRole",
            "framework": "cloudformation", "stack_name": stack}


def test_a_global_resource_two_regions_stacks_declare_is_a_conflict(tmp_path):
    """Each job reads only its own regions' stacks: one scan would have seen both claims on the role."""
    from graph.merge import merge_jobs

    east = _job(tmp_path / "east.db", ACCOUNT, EAST, [_role(ACCOUNT, "managed", 1)],
                [_stack_owner(ACCOUNT, EAST, "east-app")])
    west = _job(tmp_path / "west.db", ACCOUNT, WEST, [_role(ACCOUNT, "managed", 1)],
                [_stack_owner(ACCOUNT, WEST, "west-app")])
    merged = merge_jobs([east, west])
    (role,) = merged.rows["resources"]
    assert (role["status"], role["rule"], role["owner_count"]) == ("conflict", "two_owners", 2)
    assert role["reason"] == ("claimed by CloudFormation stack east-app (SharedRole) and by "
                              "CloudFormation stack west-app (SharedRole)")
    assert len(merged.rows["owners"]) == 2 and merged.warnings == []


def test_a_global_resource_one_job_saw_unowned_is_the_owning_jobs(tmp_path):
    from graph.merge import merge_jobs

    east = _job(tmp_path / "east.db", ACCOUNT, EAST, [_role(ACCOUNT, "unmanaged", 0)], [])
    west = _job(tmp_path / "west.db", ACCOUNT, WEST, [_role(ACCOUNT, "managed", 1)],
                [_stack_owner(ACCOUNT, WEST, "west-app")])
    (role,) = merge_jobs([east, west]).rows["resources"]
    assert (role["status"], role["owner_count"]) == ("managed", 1)


def test_jobs_of_two_accounts_merge_side_by_side(tmp_path):
    from graph.merge import merge_jobs, write_merged

    other = "210987654321"
    first = _job(tmp_path / "a.db", ACCOUNT, EAST, [_role(ACCOUNT, "unmanaged", 0)], [])
    second = _job(tmp_path / "b.db", other, EAST, [_role(other, "unmanaged", 0)], [])
    merged = merge_jobs([first, second])
    assert merged.scan["accounts"] == [ACCOUNT, other] and merged.scan["regions"] == [EAST]
    scan_id = write_merged(tmp_path / "out.db", merged)
    connection = sqlite3.connect(tmp_path / "out.db")
    found = sorted(connection.execute("select account, region from scan_scopes where scan_id = ? and region = ?",
                                      [scan_id, EAST]))
    roles = connection.execute("select count(*) from current_resources").fetchone()[0]
    connection.close()
    assert found == [(ACCOUNT, EAST), (other, EAST)] and roles == 2


def test_a_declaration_in_another_jobs_account_is_that_jobs_and_is_never_read_from_the_others(tmp_path):
    """Every job reads every declaration, so each reports the other account's declarations as outside its scan: the
    job that scanned that account speaks for them, and the merge does not hold the other job's copies at all (at
    a million resources they would be a third of its memory)."""
    from graph.merge import merge_jobs

    other = "210987654321"
    queue = {"id": f"arn:aws:sqs:{EAST}:{other}:orders", "type": "AWS::SQS::Queue", "account": other,
             "region": EAST, "name": "orders", "natural_id": "orders", "owner_count": 1, "owner_tools": "terraform",
             "drift_count": 0}
    owner = {"resource_id": queue["id"], "tool": "terraform", "source": "infra/prod.tfstate",
             "address": "aws_sqs_queue.orders"}
    first = _job(tmp_path / "a.db", ACCOUNT, EAST, [_role(ACCOUNT, "unmanaged", 0), {
        **queue, "status": "unknown", "rule": "outside_scan"}], [owner])
    second = _job(tmp_path / "b.db", other, EAST, [{**queue, "status": "managed", "rule": "one_owner"}], [owner])
    merged = merge_jobs([first, second])
    by_id = {row["id"]: row for row in merged.rows["resources"]}
    assert by_id[queue["id"]]["status"] == "managed" and len(merged.rows["owners"]) == 1
    held = [set(job.resources) for job in merged.inputs]
    assert held == [{_role(ACCOUNT, "unmanaged", 0)["id"]}, {queue["id"]}]


def test_stack_references_read_back_as_the_importer_reads_them():
    from graph.merge import references_from_rows
    from importers.stack_links import references_from_rows as importers_reading

    rows = [{"stack_id": "a", "kind": "ssm_reads", "name": "/x", "region": None},
            {"stack_id": "a", "kind": "ssm_reads", "name": "/x", "region": None},
            {"stack_id": "a", "kind": "cross_region_reads", "name": "/cdk/exports/a/1", "region": WEST},
            {"stack_id": "b", "kind": "cross_region_writes", "name": "/cdk/exports/a/1", "region": EAST},
            {"stack_id": "b", "kind": "nested", "name": "Child", "region": None},
            {"stack_id": "b", "kind": "bootstrap", "name": "/cdk-bootstrap/q/version", "region": None},
            {"stack_id": "c", "kind": "ssm_writes", "name": "/y", "region": None},
            {"stack_id": "c", "kind": "unresolved", "name": "Fn::Sub", "region": None},
            {"stack_id": "c", "kind": "no_such_kind", "name": "z", "region": None}]
    assert references_from_rows(rows) == importers_reading(rows)


def test_jobs_that_read_other_inputs_are_warned_of(tmp_path):
    from graph.merge import merge_jobs, write_merged

    east = _job(tmp_path / "east.db", ACCOUNT, EAST, [], [])
    west = _job(tmp_path / "west.db", ACCOUNT, WEST, [], [], tfstates=("infra/", "s3://states/prod/"))
    merged = merge_jobs([east, west])
    assert merged.warnings == [f"{west} read other inputs than {east} (tfstates): each job's resources were "
                               "reconciled against its own, and can disagree"]
    write_merged(tmp_path / "out.db", merged)
    # a merge of merged databases compares the inputs of their jobs
    again = _job(tmp_path / "north.db", ACCOUNT, "eu-north-1", [], [])
    assert merge_jobs([tmp_path / "out.db", again]).warnings == []


def test_a_bucket_a_state_places_in_another_jobs_region_is_the_live_one(tmp_path):
    """A bucket's ARN names no region: one scan matches the state's bucket to the live one by its name, wherever
    the state says it is; the job of the region the state names found it `missing` there."""
    from graph.merge import merge_jobs

    bucket = {"id": "arn:aws:s3:::logs", "type": "AWS::S3::Bucket", "account": ACCOUNT, "name": "logs",
              "natural_id": "logs", "owner_count": 1, "owner_tools": "terraform", "drift_count": 0}
    owner = {"resource_id": "arn:aws:s3:::logs", "tool": "terraform", "source": "infra/terraform.tfstate",
             "address": "aws_s3_bucket.logs", "framework": "terraform"}
    east = _job(tmp_path / "east.db", ACCOUNT, EAST, [{**bucket, "region": EAST, "status": "managed",
                                                       "rule": "declared_and_live", "attributes": {}}], [owner])
    west = _job(tmp_path / "west.db", ACCOUNT, WEST, [{**bucket, "region": WEST, "status": "missing",
                                                       "rule": "declared_not_live"}], [owner])
    for order in ([east, west], [west, east]):
        merged = merge_jobs(order)
        assert [(r["region"], r["status"]) for r in merged.rows["resources"]] == [(EAST, "managed")]
        assert len(merged.rows["owners"]) == 1 and merged.warnings == []


def test_jobs_that_read_a_state_differently_are_warned_of(tmp_path):
    from graph.merge import merge_jobs

    def job(name: str, region: str, serial: int) -> Path:
        path = _job(tmp_path / name, ACCOUNT, region, [], [])
        writer = ScanWriter(path)  # the state the job read, as a second scan of its database records it
        writer.begin({"started_at": "2026-01-05T07:00:00+00:00", "status": "running", "accounts": [ACCOUNT],
                      "regions": [region], "partition": "aws", "options": {"tfstates": ["infra/"]}})
        writer.write_scopes({(ACCOUNT, region)})
        writer.write("sources", [{"path": "infra/terraform.tfstate", "kind": "terraform_state", "status": "loaded",
                                  "serial": serial}])
        writer.finish({"finished_at": "2026-01-05T07:01:00+00:00", "status": "complete"})
        writer.commit()
        return path

    same = merge_jobs([job("a.db", EAST, 7), job("b.db", WEST, 7)])
    assert same.warnings == [] and len(same.rows["sources"]) == 1
    changed = merge_jobs([job("c.db", EAST, 7), job("d.db", WEST, 8)])
    assert changed.warnings == ["the jobs read terraform_state infra/terraform.tfstate differently (a file changed "
                                "while they ran?): each job's resources were reconciled against what it read"]


def test_out_in_a_folder_that_does_not_exist_is_refused_saying_so(queues, tmp_path):
    out = tmp_path / "no-such-folder" / "estate.db"
    result = _merge(queues, out, queues["east"], queues["west"], check=False)
    assert result.returncode == 1 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_out_and_the_inputs_can_come_from_the_configuration_file(queues, tmp_path):
    (tmp_path / "jobs").mkdir()
    for name in ("east", "west"):
        shutil.copy(queues[name], tmp_path / "jobs" / f"{name}.db")
    config = tmp_path / "driftgraph.toml"
    config.write_text('[merge]\nout = "estate.db"\ninputs = ["jobs/east.db", "jobs/west.db"]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli(["--config", str(config), "merge"], queues["endpoint"], cwd=elsewhere)
    assert f"-> {tmp_path / 'estate.db'}" in result.stdout, "paths in the file are relative to the file's folder"
    assert _rows(tmp_path / "estate.db", "scan_resources", 1) == _rows(queues["one"], "scan_resources", 1)
