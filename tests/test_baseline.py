"""Baselines: a scan's findings written as a reviewable file and read back exactly; a broken file is named with
its line; `report --fail-on new-... --baseline FILE` fails only for findings the file does not list, and keeps
the listed ones visible, marked baselined."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from conftest import run_cli
from markdown_it import MarkdownIt

from driftgraph.cli import cli
from driftgraph.demo import aws_environment, moto_server
from driftgraph.demo_estate import TerraformState
from graph.baseline import Finding, mark_baselined, parse_baseline, render_baseline, report_findings
from graph.store import ScanWriter

ACCOUNT, REGION = "123456789012", "us-east-1"
ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"


def _resource(name, status, drift=(), ignored_drift=(), id_=None):
    owners = [] if status == "unmanaged" else [{"tool": "terraform", "source": "s.tfstate",
                                                  "address": f"aws_sqs_queue.{name}"}]
    return {"id": id_ or ARN + name, "type": "AWS::SQS::Queue", "account": ACCOUNT, "region": REGION, "name": name,
            "status": status, "owners": owners,
            "drift": [{"attribute": a, "declared": 1, "live": 2, "tool": "terraform", "address": f"aws_sqs_queue.{name}"}
                      for a in drift],
            "ignored_drift": [{"attribute": a, "ignored": "ignored by x:1 (rule)"} for a in ignored_drift]}


def _report(*resources):
    return {"scan": {"id": 7, "finished_at": "2026-01-02T03:04:05+00:00", "accounts": [ACCOUNT], "regions": [REGION],
                     "status": "complete"},
            "resources": list(resources)}


ODD_ID = 'TYPE:1:r:has space#and"quote\u202e'  # quoted in the file, read back as written


def _estate():
    return _report(
        _resource("by-hand", "unmanaged"),
        _resource("gone", "missing"),
        _resource("twice", "conflict", drift=["delay_seconds"]),
        _resource("coded", "managed", drift=["visibility_timeout", "tags.team", "visibility_timeout"],
                  ignored_drift=["delay_seconds"]),
        _resource("scratch", "ignored"),
        _resource("odd", "unmanaged", id_=ODD_ID),
    )


def test_a_baseline_reads_back_as_the_findings_it_was_written_from():
    report = _estate()
    text = render_baseline(report)
    baseline = parse_baseline(text.splitlines(), "b.txt")
    assert set(baseline.lines) == {f for f, _ in report_findings(report)} == {
        Finding("unmanaged", ARN + "by-hand"), Finding("unmanaged", ODD_ID), Finding("missing", ARN + "gone"),
        Finding("conflict", ARN + "twice"), Finding("drift", ARN + "twice", "delay_seconds"),
        Finding("drift", ARN + "coded", "visibility_timeout"), Finding("drift", ARN + "coded", "tags.team"),
    }, "ignored resources and ignored drift are no findings; two owners' drift on one attribute is one"
    findings = [line for line in text.splitlines() if line and not line.startswith("#")]
    odd = f'unmanaged "TYPE:1:r:has space#and\\"quote\\u202e"  # AWS::SQS::Queue odd in {ACCOUNT}/{REGION}'
    assert findings[:2] == [odd, f"unmanaged {ARN}by-hand  # AWS::SQS::Queue by-hand in {ACCOUNT}/{REGION}"]
    assert [line.split()[0] for line in findings] == ["unmanaged", "unmanaged", "missing", "conflict", "drift",
                                                      "drift", "drift"], "sorted by kind, then id and attribute"
    assert f"drift {ARN}coded tags.team  # AWS::SQS::Queue coded in {ACCOUNT}/{REGION}; declared by terraform " \
           "aws_sqs_queue.coded" in findings
    assert "--baseline FILE" in text and "Delete a line" in text and "From scan 7" in text
    assert render_baseline(report) == text, "the same scan writes the same file"


def test_a_report_marks_what_the_baseline_lists_and_names_what_it_does_not():
    report = _estate()
    lines = render_baseline(report).splitlines()
    kept = [line for line in lines if "by-hand" not in line and "tags.team" not in line]
    kept.append(f"missing {ARN}long-gone")
    marked = mark_baselined(report, parse_baseline(kept, "b.txt"))
    resources = {r["name"]: r for r in marked["resources"]}
    assert resources["by-hand"]["baselined"] is False and resources["gone"]["baselined"] is True
    assert {d["attribute"]: d["baselined"] for d in resources["coded"]["drift"]} == {
        "visibility_timeout": True, "tags.team": False}
    assert [(f["kind"], f["name"], f["attribute"]) for f in marked["baseline"]["new"]] == [
        ("unmanaged", "by-hand", None), ("drift", "coded", "tags.team")]
    assert marked["baseline"]["resolved"] == [{"kind": "missing", "id": ARN + "long-gone", "attribute": None,
                                               "line": len(kept)}]
    assert (marked["baseline"]["listed"], marked["baseline"]["baselined"]) == (6, 5)
    assert len(marked["resources"]) == 6, "nothing baselined or ignored leaves the report"


@pytest.mark.parametrize("line, complaint", [
    ("unmanged arn:x", "the first word 'unmanged' is not a finding kind"),
    ("arn:aws:sqs:x unmanaged", "the first word is not a finding kind"),
    ("unmanaged", "1 values where 2 belong \\(unmanaged RESOURCE-ID\\)"),
    ("unmanaged a b", "3 values where 2 belong"),
    ("drift arn:x", "2 values where 3 belong \\(drift RESOURCE-ID ATTRIBUTE\\)"),
    ('unmanaged "unterminated', "not a valid JSON string"),
    ('unmanaged "a"b', "must be followed by a space"),
    ('unmanaged a"b', "must be written as a JSON string"),
    ('unmanaged ""', "an empty value"),
])
def test_a_broken_baseline_line_is_named_with_file_and_line(line, complaint):
    with pytest.raises(ValueError, match=rf"^b\.txt:3: .*{complaint}"):
        parse_baseline(["# header", "", line], "b.txt")


def _database(path: Path, resources: list[dict]) -> None:
    writer = ScanWriter(path)
    writer.begin({"started_at": "2026-01-01T00:00:00+00:00", "status": "running", "accounts": [ACCOUNT],
                  "regions": [REGION]})
    writer.write("resources", [{k: r[k] for k in ("id", "type", "account", "region", "name", "status")}
                               for r in resources])
    writer.finish({"finished_at": "2026-01-01T00:01:00+00:00", "status": "complete"})
    writer.commit()


def test_the_baseline_command_refuses_to_replace_a_file_and_report_refuses_a_broken_one(tmp_path):
    db, file = tmp_path / "g.db", tmp_path / "accepted.baseline"
    _database(db, [_resource("by-hand", "unmanaged"), _resource("coded", "managed")])
    runner = CliRunner()
    written = runner.invoke(cli, ["baseline", "--db", str(db), "-o", str(file)])
    assert written.exit_code == 0 and "1 findings of scan 1 (1 unmanaged) written to" in written.output
    assert file.read_text().count(f"unmanaged {ARN}by-hand") == 1
    again = runner.invoke(cli, ["baseline", "--db", str(db), "-o", str(file)])
    assert again.exit_code == 1 and "exists: give --force" in again.output
    assert runner.invoke(cli, ["baseline", "--db", str(db), "-o", str(file), "--force"]).exit_code == 0
    assert runner.invoke(cli, ["baseline", "--db", str(db), "-o", str(db), "--force"]).exit_code == 2, \
        "never onto the database"

    gate = ["report", "--db", str(db), "--fail-on", "new-unmanaged", "--baseline", str(file)]
    assert runner.invoke(cli, gate).exit_code == 0
    file.write_text(file.read_text() + "unmanaged\n")
    broken = runner.invoke(cli, gate)
    assert broken.exit_code == 1 and f"{file}:{len(file.read_text().splitlines())}: 1 values" in broken.output
    file.write_bytes(b"# caf\xe9\n")
    assert f"{file}:1: not UTF-8" in runner.invoke(cli, gate).output


def test_markdown_shows_new_baselined_and_gone_findings_as_text(tmp_path):
    db, file = tmp_path / "g.db", tmp_path / "b"
    name = "<img src=x onerror=alert(1)>"
    _database(db, [_resource("by-hand", "unmanaged"), _resource(name, "unmanaged")])
    file.write_text(f"unmanaged {ARN}by-hand\nmissing {ARN}long-gone\n")
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--baseline", str(file), "--fail-on",
                                      "new-unmanaged"])
    assert result.exit_code == 3
    assert "### New: not in the baseline (1)" in result.output
    assert "### Baselined: accepted, still there (1)" in result.output
    assert "### In the baseline, no longer found (1)" in result.output
    assert "<img" not in MarkdownIt("commonmark").enable("table").render(result.stdout)


def _queue_state(name: str, visibility: int) -> dict:
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
    return {"id": url, "url": url, "arn": ARN + name, "name": name, "visibility_timeout_seconds": visibility,
            "message_retention_seconds": 345600, "delay_seconds": 0, "max_message_size": 262144,
            "receive_wait_time_seconds": 0, "fifo_queue": False, "content_based_deduplication": False,
            "sqs_managed_sse_enabled": True, "policy": "", "redrive_policy": "", "tags": {}, "tags_all": {}}


def test_baseline_then_a_hand_made_queue_fails_the_gate_naming_it(tmp_path):
    """The CI story: scan with the working directory's .driftgraphignore, write a baseline, the gate passes;
    someone makes a queue by hand, the next scan's gate fails naming it; what is ignored or baselined stays
    visible as such throughout."""
    db, accepted, states = tmp_path / "estate.db", tmp_path / "driftgraph.baseline", tmp_path / "terraform"
    state = TerraformState("baseline")
    state.add("aws_sqs_queue", "coded", _queue_state("coded", visibility=30))
    state.write(states / "terraform.tfstate")
    (tmp_path / ".driftgraphignore").write_text(
        "# scratch queues come and go\nAWS::SQS::Queue:scratch-*\naws_sqs_queue:coded:visibility_timeout\n")
    scan = ["scan", "--db", str(db), "--region", REGION, "--no-stacks", "--type", "AWS::SQS::Queue",
            "--tfstate", str(states), "-q"]
    gate = ["report", "--db", str(db), "--format", "json", "--fail-on", "new-unmanaged,new-drift,drift",
            "--baseline", str(accepted)]
    with moto_server() as endpoint, aws_environment(endpoint):
        sqs = boto3.client("sqs")
        sqs.create_queue(QueueName="coded", Attributes={"VisibilityTimeout": "90"})  # drift, set aside by the rule
        sqs.create_queue(QueueName="old-by-hand")
        sqs.create_queue(QueueName="scratch-1")
        scanned = run_cli(scan, endpoint, cwd=tmp_path)
        assert "ignore rules from .driftgraphignore" in scanned.stdout
        written = run_cli(["baseline", "--db", str(db), "-o", str(accepted)], endpoint, cwd=tmp_path)
        assert "1 findings of scan 1 (1 unmanaged)" in written.stderr
        assert f"unmanaged {ARN}old-by-hand  # AWS::SQS::Queue old-by-hand in {ACCOUNT}/{REGION}" in \
            accepted.read_text()

        passed = run_cli(gate, endpoint, check=False, cwd=tmp_path)
        assert passed.returncode == 0, passed.stderr
        report = json.loads(passed.stdout)
        resources = {r["name"]: r for r in report["resources"]}
        assert resources["old-by-hand"]["status"] == "unmanaged" and resources["old-by-hand"]["baselined"] is True
        assert resources["scratch-1"]["status"] == "ignored" and ".driftgraphignore:2" in resources["scratch-1"]["reason"]
        assert resources["coded"]["status"] == "managed" and resources["coded"]["drift"] == []
        assert [d["attribute"] for d in resources["coded"]["ignored_drift"]] == ["visibility_timeout"]
        assert report["baseline"]["new"] == [] and report["baseline"]["baselined"] == 1

        sqs.create_queue(QueueName="new-by-hand")
        run_cli(scan, endpoint, cwd=tmp_path)
        failed = run_cli(gate, endpoint, check=False, cwd=tmp_path)
        assert failed.returncode == 3 and "found: new-unmanaged" in failed.stderr
        assert f"new since the baseline: unmanaged AWS::SQS::Queue new-by-hand in {ACCOUNT}/{REGION}" in failed.stderr
        assert "old-by-hand" not in failed.stderr
        names = {r["name"]: r["baselined"] for r in json.loads(failed.stdout)["resources"]}
        assert names["old-by-hand"] is True and names["new-by-hand"] is False

        # without the working directory's rules, the attribute's drift counts again
        bare = run_cli([*scan, "--no-ignore-file"], endpoint, cwd=tmp_path)
        assert "ignore rules" not in bare.stdout
        drift = run_cli(gate, endpoint, check=False, cwd=tmp_path)
    assert drift.returncode == 3 and "found: drift, new-drift, new-unmanaged" in drift.stderr
    assert "new since the baseline: drift visibility_timeout AWS::SQS::Queue coded" in drift.stderr
