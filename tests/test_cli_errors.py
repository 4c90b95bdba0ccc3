"""A scan that cannot write says so in one line and exits 1, leaving the database as it was: a directory it
cannot write to, a full disk (an RLIMIT_FSIZE a write runs into), a file that is not a database."""

from __future__ import annotations

import resource

import pytest
import sqlite_utils

from conftest import run_cli
from graph.store import check_database


def _scan(db, endpoint, **kwargs):
    return run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--type", "AWS::SQS::Queue", "--no-stacks"],
                   endpoint, check=False, **kwargs)


def test_a_database_in_a_place_that_cannot_be_written_is_a_clear_error(aws):
    result = _scan("/proc/driftgraph-test.db", aws)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "scan failed, database left as it was: /proc/driftgraph-test.db" in result.stderr


def test_a_full_disk_while_writing_is_a_clear_error_and_the_database_is_kept(aws, tmp_path):
    db = tmp_path / "g.db"
    assert _scan(db, aws).returncode == 0
    size = db.stat().st_size

    def small_files():  # in the child only: writes past the current size fail with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 2048, size + 2048))

    import boto3

    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    for n in range(60):
        sqs.create_queue(QueueName=f"disk-full-{n:02d}-" + "x" * 40)
    result = _scan(db, aws, preexec_fn=small_files)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "scan failed, database left as it was" in result.stderr
    check_database(db)  # the next open rolls back whatever the failed write left
    assert [r["id"] for r in sqlite_utils.Database(db).query("select id from scans")] == [1]
    assert db.stat().st_size == size


def test_a_db_that_is_not_ours_is_refused_before_the_scan_starts(tmp_path):
    import sqlite3

    from click.testing import CliRunner

    from driftgraph.cli import cli

    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    other = tmp_path / "app.db"
    sqlite3.connect(other).execute("create table orders (id)").connection.commit()
    for path in (text, other):
        before = path.read_bytes()
        # no AWS endpoint at all: the refusal must come before any call
        result = CliRunner().invoke(cli, ["scan", "--db", str(path), "--region", "us-east-1"],
                                    env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        assert result.exit_code == 1 and str(path) in result.output and "driftgraph writes only its own" in result.output
        assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db", "notes.txt"]


def test_max_input_mb_refuses_a_larger_state_and_names_the_option(aws, tmp_path):
    import json

    from graph.report import build_report
    from graph.store import open_database

    big = tmp_path / "big.tfstate"
    big.write_text(json.dumps({"version": 4, "serial": 1, "lineage": "l", "resources": [],
                               "outputs": {"padding": {"value": "x" * (2 * 2**20), "type": "string"}}}))
    db = tmp_path / "g.db"
    result = run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--type", "AWS::SQS::Queue", "--no-stacks",
                      "--tfstate", str(big), "--max-input-mb", "1"], aws)
    assert result.returncode == 0, result.stderr
    (row,) = build_report(open_database(db))["sources"]
    assert row["status"] == "refused" and "--max-input-mb" in row["message"]


def test_a_missing_template_path_is_an_error_row_like_a_missing_state(aws, tmp_path):
    from graph.report import build_report
    from graph.store import open_database

    db = tmp_path / "g.db"
    result = run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--type", "AWS::SQS::Queue", "--no-stacks",
                      "--cfn-template", str(tmp_path / "nope.yaml"), "--tfstate", str(tmp_path / "nope.tfstate")], aws)
    assert result.returncode == 0, result.stderr
    report = build_report(open_database(db))
    assert report["scan"]["status"] == "partial"
    statuses = {row["path"].rsplit("/", 1)[-1]: (row["kind"], row["status"]) for row in report["sources"]}
    assert statuses == {"nope.yaml": ("cloudformation_template", "error"), "nope.tfstate": ("terraform_state", "error")}


def test_a_template_folder_holding_no_template_is_an_error_row_like_a_state_folder(aws, tmp_path):
    """A folder given on purpose that holds nothing read is no empty estate: its resources are unknown."""
    import boto3

    from graph.report import build_report
    from graph.store import open_database

    boto3.client("sqs").create_queue(QueueName="empty-folder-q")
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "app.cfn").write_text("Resources: {}\n")
    db = tmp_path / "g.db"
    run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--type", "AWS::SQS::Queue", "--no-stacks",
             "--cfn-template", str(tmp_path / "empty"), "--cfn-template", str(tmp_path / "other")], aws)
    report = build_report(open_database(db))
    assert report["scan"]["status"] == "partial"
    rows = {row["path"].rsplit("/", 1)[-1]: row for row in report["sources"]}
    for name in ("empty", "other"):
        assert rows[name]["status"] == "error" and "no template (*.json" in rows[name]["message"], rows
    queue = next(r for r in report["resources"] if r["name"] == "empty-folder-q")
    assert queue["status"] == "unknown", queue


def test_a_db_that_cannot_be_written_fails_before_any_aws_call(tmp_path):
    from click.testing import CliRunner

    from driftgraph.cli import cli

    dangling = tmp_path / "gone.db"
    dangling.symlink_to(tmp_path / "nowhere" / "x.db")
    for path, why in ((dangling, "which does not exist"), (tmp_path / "no-such-folder" / "g.db", "does not exist")):
        # no AWS endpoint answers on port 9: the refusal must come before any call
        result = CliRunner().invoke(cli, ["scan", "--db", str(path), "--region", "us-east-1"],
                                    env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        assert result.exit_code == 1 and why in result.output and "Traceback" not in result.output, result.output


def test_a_database_another_process_holds_locked_is_named_as_busy(tmp_path, monkeypatch):
    import sqlite3

    import pytest

    from graph import store

    db = tmp_path / "g.db"
    writer = store.ScanWriter(db)
    writer.begin({"started_at": "now", "status": "running"})
    writer.commit()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.2)  # the wait, shortened; the verdict is what is tested
    try:
        with pytest.raises(store.DatabaseBusy, match="locked by another process"):
            store.check_database(db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_template_without_a_region_decides_nothing_by_the_shells_region(aws, tmp_path):
    import boto3

    from graph.report import build_report
    from graph.store import open_database

    boto3.client("sqs", endpoint_url=aws, region_name="eu-west-1").create_queue(QueueName="eu-only-q")
    template = tmp_path / "c.yaml"
    template.write_text('Conditions:\n  IsEU: !Equals [!Ref "AWS::Region", eu-west-1]\nResources:\n'
                        "  Q: {Type: AWS::SQS::Queue, Condition: IsEU, Properties: {QueueName: eu-only-q}}\n")
    db = tmp_path / "g.db"
    run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--region", "eu-west-1", "--type", "AWS::SQS::Queue",
             "--no-stacks", "--cfn-template", str(template)], aws)  # AWS_DEFAULT_REGION is us-east-1 here
    queue = next(r for r in build_report(open_database(db))["resources"] if r["name"] == "eu-only-q")
    assert queue["status"] == "managed", queue["reason"]


def test_a_location_that_exists_with_an_at_sign_is_a_path_not_a_region(tmp_path):
    from driftgraph.scan import split_template_region

    folder = tmp_path / "tpl@us-east-1"
    folder.mkdir()
    assert split_template_region(str(folder), None) == (str(folder), None)
    assert split_template_region(str(tmp_path / "other@eu-west-1"), None) == (str(tmp_path / "other"), "eu-west-1")
    assert split_template_region(str(tmp_path / "x@us-east-\u0661"), None)[1] is None, "an Arabic-Indic digit is no region"


def test_two_environments_sharing_a_lineage_leave_the_older_ones_resources_unknown(aws, tmp_path):
    import json

    import boto3

    from graph.report import build_report
    from graph.store import open_database

    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")

    def state(queue, serial):
        sqs.create_queue(QueueName=queue)
        attributes = {"id": f"https://sqs.us-east-1.amazonaws.com/123456789012/{queue}", "name": queue,
                      "arn": f"arn:aws:sqs:us-east-1:123456789012:{queue}", "tags": {}, "tags_all": {}}
        return json.dumps({"version": 4, "terraform_version": "1.9.8", "serial": serial,
                           "lineage": "aaaaaaaa-1111-2222-3333-444444444444", "outputs": {}, "resources": [
                               {"mode": "managed", "type": "aws_sqs_queue", "name": "q",
                                "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
                                "instances": [{"schema_version": 0, "attributes": attributes}]}]})

    (tmp_path / "env" / "prod").mkdir(parents=True)
    (tmp_path / "env" / "stage").mkdir()
    (tmp_path / "env" / "prod" / "terraform.tfstate").write_text(state("lin-prod-q", 10))
    (tmp_path / "env" / "stage" / "terraform.tfstate").write_text(state("lin-stage-q", 12))
    db = tmp_path / "g.db"
    run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--type", "AWS::SQS::Queue", "--no-stacks",
             "--tfstate", str(tmp_path / "env")], aws)
    report = build_report(open_database(db))
    by_name = {r["name"]: r for r in report["resources"]}
    assert by_name["lin-stage-q"]["status"] == "managed"
    assert by_name["lin-prod-q"]["status"] == "unknown" and "was set aside" in by_name["lin-prod-q"]["reason"]
    assert report["scan"]["status"] == "complete"
    assert any("lin-prod-q" in e["message"] for e in report["errors"] if e["kind"] == "warning")


@pytest.mark.parametrize("suffix, says", [("@us-east1", "'us-east1' is not a region name"), ("@", "no region after the @")])
def test_a_misspelt_template_region_is_a_usage_error_not_a_missing_file(tmp_path, suffix, says):
    from click.testing import CliRunner

    from driftgraph.cli import cli

    template = tmp_path / "app.yaml"
    template.write_text("Resources: {}\n")
    # no AWS endpoint answers on port 9: the refusal comes before any call
    result = CliRunner().invoke(cli, ["scan", "--db", str(tmp_path / "g.db"), "--cfn-template", f"{template}{suffix}"],
                                env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2 and says in result.output and "no such file" not in result.output, result.output
    assert not (tmp_path / "g.db").exists()
