"""Ignore files say what they do: unreadable bytes and broken patterns are named with file and line, Terraform
type names work, a `#` inside a pattern is part of it, a rule that matches nothing is reported, and a reason
never quotes a secret."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from driftgraph.cli import cli
from driftgraph.scan import read_ignore_file
from graph.reconcile import IgnoreRules, reconcile
from reconcile_records import live, scope


def _statuses(rules, *records):
    return {n.natural_id: (n.status, n.reason) for n in reconcile(list(records), [], scope(), rules).nodes}


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    path = tmp_path / "rules.ignore"
    path.write_bytes(b"AWS::SQS::Queue:tmp-*\n# caf\xe9\n")
    with pytest.raises(ValueError, match=r"rules\.ignore:2: not UTF-8"):
        read_ignore_file(str(path))
    result = CliRunner().invoke(cli, ["scan", "--db", str(tmp_path / "g.db"), "--ignore-file", str(path)])
    assert result.exit_code == 1 and "rules.ignore:2" in result.output
    assert not (tmp_path / "g.db").exists()


@pytest.mark.parametrize("line, complaint", [
    ("AWS::SQS::Queue:[", "unclosed '\\['"),
    ("tag:", "names no key"),
    ("tag:=prod", "names no key"),
    ("AWS::SQS::Queue:", "empty pattern"),
    ("just words", "cannot read the ignore rule"),
])
def test_rules_that_could_never_match_are_refused_with_file_and_line(line, complaint):
    with pytest.raises(ValueError, match=rf"x\.ignore:2: .*{complaint}"):
        IgnoreRules(["# first line", line], "x.ignore")


def test_terraform_type_names_and_hashes_inside_patterns_match():
    rules = IgnoreRules(["aws_sqs_queue:legacy-*", "AWS::SNS::Topic:build#*", "  # an indented comment"], "x.ignore")
    found = _statuses(rules, live("AWS::SQS::Queue", "legacy-1"), live("AWS::SNS::Topic", "build#42"),
                      live("AWS::SNS::Topic", "build"))
    assert found["legacy-1"][0] == "ignored" and "x.ignore:1 (aws_sqs_queue:legacy-*)" in found["legacy-1"][1]
    assert found["build#42"][0] == "ignored"
    assert found["build"][0] == "unmanaged"


def test_a_rule_that_matches_nothing_is_reported():
    rules = IgnoreRules(["AWS::SQS::Queu:*", "AWS::SQS::Queue:q"], "x.ignore")
    _statuses(rules, live("AWS::SQS::Queue", "q"))
    assert [(r.line, r.text()) for r in rules.unused()] == [(1, "AWS::SQS::Queu:*")]


def test_an_ignore_reason_never_quotes_a_secret_tag():
    rules = IgnoreRules(["tag:db_password=*", "tag:team=sandbox"], "x.ignore")
    found = _statuses(rules, live("AWS::SQS::Queue", "q", tags={"db_password": "hunter2-secret"}),
                      live("AWS::SQS::Queue", "r", tags={"team": "sandbox"}))
    assert found["q"][0] == "ignored" and "hunter2" not in found["q"][1] and "db_password=<redacted>" in found["q"][1]
    assert "tag:team=sandbox" in found["r"][1]
    written = IgnoreRules(["tag:api_token=hunter2*"], "x.ignore")
    assert "hunter2" not in _statuses(written, live("AWS::SQS::Queue", "s", tags={"api_token": "hunter2x"}))["s"][1]


def test_an_ignore_file_that_is_a_fifo_or_endless_is_refused_without_reading_it(tmp_path):
    import os

    fifo = tmp_path / "rules.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="rules.fifo: cannot read the ignore file"):
        read_ignore_file(str(fifo))  # would block forever if opened for reading
    with pytest.raises(ValueError, match="cannot read the ignore file: a character device, not a regular file"):
        read_ignore_file("/dev/zero")  # would read forever


def test_errors_about_a_broken_rule_do_not_quote_it():
    for line in ("tag:db_password=IGNSECRET60[", "AWS:SQS:Queue:x password=IGNSECRET63"):
        with pytest.raises(ValueError) as raised:
            IgnoreRules([line], "x.ignore")
        assert "IGNSECRET" not in str(raised.value) and "x.ignore:1" in str(raised.value)
    rules = IgnoreRules(["AWS::SQS::Queue:password=IGNSECRET61"], "x.ignore")
    assert "IGNSECRET61" not in rules.rules[0].text()


# --- gitignore-style syntax, table-driven: (rules, resource, ignored?) ---------------------------------------
Q, B, LG = "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::Logs::LogGroup"
QUEUE_ARN = "arn:aws:sqs:us-east-1:111122223333:"


@pytest.mark.parametrize("rules, resource, ignored", [
    # types: CloudFormation and Terraform names, globs over either
    (["AWS::S3::Bucket:logs-*"], (B, "logs-2024"), True),
    (["AWS::S3::Bucket:logs-*"], (B, "prod-logs"), False),
    (["aws_s3_bucket:logs-*"], (B, "logs-2024"), True),
    (["aws_s3_*:logs-*"], (B, "logs-2024"), True),
    (["AWS::S3::*:logs-*"], (B, "logs-2024"), True),
    (["AWS::SQS::Queue:logs-*"], (B, "logs-2024"), False),
    # * and ** span '/' and ':' (an id is one string); ? is one character; [...] a set
    (["AWS::Logs::LogGroup:/aws/lambda/*"], (LG, "/aws/lambda/a/b"), True),
    (["AWS::Logs::LogGroup:/aws/**"], (LG, "/aws/lambda/a"), True),
    (["*:arn:aws:sqs:*:*:test-*"], (Q, "test-1", QUEUE_ARN + "test-1"), True),
    (["AWS::SQS::Queue:arn:aws:sqs:*"], (Q, "jobs", QUEUE_ARN + "jobs"), True),
    (["AWS::SQS::Queue:q?"], (Q, "q1"), True),
    (["AWS::SQS::Queue:q?"], (Q, "q10"), False),
    (["AWS::SQS::Queue:q[0-9]"], (Q, "q7"), True),
    (["AWS::SQS::Queue:q[!0-9]"], (Q, "q7"), False),
    (["AWS::SQS::Queue:q[!0-9]"], (Q, "qa"), True),
    (["AWS::SQS::Queue:Q"], (Q, "q"), False),  # case counts
    # escapes: \* \? \[ are the characters themselves; a # or ! inside a pattern is part of it
    (["AWS::SQS::Queue:a\\*"], (Q, "a*"), True),
    (["AWS::SQS::Queue:a\\*"], (Q, "ab"), False),
    (["AWS::SQS::Queue:a\\[1]"], (Q, "a[1]"), True),
    (["AWS::SQS::Queue:\\#1"], (Q, "#1"), True),
    (["AWS::SQS::Queue:a!b"], (Q, "a!b"), True),
    # blank lines, comments (indented too), trailing spaces trimmed unless escaped
    (["", "   ", "# AWS::SQS::Queue:q", "  # AWS::SQS::Queue:q"], (Q, "q"), False),
    (["AWS::SQS::Queue:q   "], (Q, "q"), True),
    (["AWS::SQS::Queue:q\\ "], (Q, "q"), False),
    (["AWS::SQS::Queue:q\\ "], (Q, "q "), True),
    (["AWS::SQS::Queue:q\r"], (Q, "q"), True),
    # the last rule that matches decides; ! takes back, a later rule ignores again
    (["AWS::SQS::Queue:*", "!AWS::SQS::Queue:keep-*"], (Q, "keep-1"), False),
    (["AWS::SQS::Queue:*", "!AWS::SQS::Queue:keep-*"], (Q, "tmp-1"), True),
    (["AWS::SQS::Queue:*", "!AWS::SQS::Queue:keep-*", "AWS::SQS::Queue:keep-old"], (Q, "keep-old"), True),
    (["!AWS::SQS::Queue:q", "AWS::SQS::Queue:*"], (Q, "q"), True),
    (["*:*", "!tag:keep=true"], (Q, "q", None, {"keep": "true"}), False),
    (["*:*", "!tag:keep=true"], (Q, "q", None, {"keep": "no"}), True),
    (["!AWS::SQS::Queue:q"], (Q, "q"), False),
    # an attribute rule never ignores the resource
    (["AWS::SQS::Queue:q:visibility_timeout"], (Q, "q"), False),
])
def test_ignore_syntax(rules, resource, ignored):
    type_, natural_id, arn, tags = (*resource, None, None)[:4]
    found = _statuses(IgnoreRules(rules, "t.ignore"), live(type_, natural_id, arn=arn, tags=tags))
    assert (found[natural_id][0] == "ignored") is ignored, found[natural_id]


@pytest.mark.parametrize("line, type_, glob, attribute", [
    ("AWS::SQS::Queue:jobs:visibility_timeout", Q, "jobs", "visibility_timeout"),
    ("aws_sqs_queue:jobs:visibility_timeout", "aws_sqs_queue", "jobs", "visibility_timeout"),
    ("AWS::SQS::Queue:jobs-*:tags", Q, "jobs-*", "tags"),
    ("AWS::SQS::Queue:jobs:tags.cost-*", Q, "jobs", "tags.cost-*"),
    ("AWS::SQS::Queue:jobs:tags.team:owner", Q, "jobs", "tags.team:owner"),  # a tag key may hold ':'
    # ARN ids: every ':' is the id's until one is followed by an attribute the type compares
    (f"AWS::SQS::Queue:{QUEUE_ARN}jobs", Q, QUEUE_ARN + "jobs", None),
    (f"AWS::SQS::Queue:{QUEUE_ARN}jobs:visibility_timeout", Q, QUEUE_ARN + "jobs", "visibility_timeout"),
    ("AWS::SQS::Queue:arn:aws:sqs:*:*:*", Q, "arn:aws:sqs:*:*:*", None),
    ("*:arn:aws:sqs:*:*:test-*", "*", "arn:aws:sqs:*:*:test-*", None),
    ("AWS::IAM::Role:arn:aws:iam::111122223333:role/app:max_session_duration", "AWS::IAM::Role",
     "arn:aws:iam::111122223333:role/app", "max_session_duration"),
    ("AWS::IAM::Role:arn:aws:iam::111122223333:role/path/app", "AWS::IAM::Role",
     "arn:aws:iam::111122223333:role/path/app", None),
    ("AWS::S3::Bucket:arn:aws:s3:::logs-*:versioning", B, "arn:aws:s3:::logs-*", "versioning"),
    # a name the type does not compare is part of the id; `\:` keeps a ':' in the id whatever follows
    ("AWS::SQS::Queue:jobs:instance_type", Q, "jobs:instance_type", None),
    (f"AWS::SQS::Queue:{QUEUE_ARN}delay_seconds", Q, QUEUE_ARN[:-1], "delay_seconds"),
    (f"AWS::SQS::Queue:{QUEUE_ARN[:-1]}\\:delay_seconds", Q, QUEUE_ARN[:-1] + "\\:delay_seconds", None),
    ("AWS::SQS::Queue:visibility_timeout", Q, "visibility_timeout", None),  # nothing before it: an id
    ("AWS::SQS::Queue:jobs:", Q, "jobs:", None),
])
def test_what_follows_the_type_is_an_id_then_maybe_an_attribute(line, type_, glob, attribute):
    (rule,) = IgnoreRules([line], "t.ignore").rules
    assert (rule.type_or_key, rule.glob, rule.attribute) == (type_, glob, attribute)


def test_an_escaped_colon_keeps_an_arn_whole():
    rules = IgnoreRules([f"AWS::SQS::Queue:{QUEUE_ARN[:-1]}\\:delay_seconds"], "t.ignore")
    found = _statuses(rules, live(Q, "delay_seconds", arn=QUEUE_ARN + "delay_seconds"))
    assert found["delay_seconds"][0] == "ignored"


@pytest.mark.parametrize("line, complaint", [
    ("AWS::SQS::Queue:q\\", "trailing '\\\\' escapes nothing"),
    ("AWS::SQS::Queue:q:tags.[", "unclosed '\\['"),
    ("!", "cannot read the ignore rule"),
    ("!tag:", "names no key"),
    ("\\!AWS::SQS::Queue:q", "cannot read the ignore rule"),  # a type never starts with '!'
])
def test_more_rules_that_could_never_match_are_refused_with_file_and_line(line, complaint):
    with pytest.raises(ValueError, match=rf"x\.ignore:1: .*{complaint}"):
        IgnoreRules([line], "x.ignore")


def test_a_misspelt_attribute_is_hinted_at_when_its_rule_matches_nothing():
    rules = IgnoreRules(["AWS::SQS::Queue:q:visiblity_timeout"], "x.ignore")
    _statuses(rules, live(Q, "q"))
    (unused,) = rules.unused()
    assert "visiblity_timeout was meant as an attribute" in unused.unused_message()
    assert "visibility_timeout" in unused.unused_message()


def test_the_old_import_path_still_works():
    from graph.ignore import IgnoreRules as moved
    from graph.reconcile import IgnoreRules as old

    assert moved is old


# --- TYPE:ID:attribute: drift on one attribute set aside, the resource keeps its status -------------------------
def _drifted(rules, name="q", arn=None):
    """A queue Terraform declares, live with another visibility timeout, delay and team tag than declared."""
    from reconcile_records import tf

    records_live = [live(Q, name, arn=arn, tags={"team": "b", "cost": "x"},
                         attributes={"visibility_timeout": "90", "delay_seconds": "5"})]
    declared = [tf(Q, name, f"aws_sqs_queue.{name}", tags={"team": "a", "cost": "y"},
                   attributes={"visibility_timeout": 30, "delay_seconds": 0})]
    (node,) = reconcile(records_live, declared, scope(), IgnoreRules(rules, "ops.ignore") if rules else None).nodes
    return node, {d["attribute"]: d["ignored"] for d in node.drift}


def test_an_attribute_rule_marks_that_drift_ignored_and_leaves_the_rest():
    node, drift = _drifted(["AWS::SQS::Queue:q:visibility_timeout"])
    assert node.status == "managed" and node.rule == "declared_and_live"
    assert drift == {"visibility_timeout": "ignored by ops.ignore:1 (AWS::SQS::Queue:q:visibility_timeout)",
                     "delay_seconds": None, "tags.team": None, "tags.cost": None}
    assert sorted(d["attribute"] for d in node.counted_drift) == ["delay_seconds", "tags.cost", "tags.team"]
    untouched, drift = _drifted(None)
    assert set(drift.values()) == {None} and len(untouched.counted_drift) == 4


def test_attribute_rules_on_arn_ids_tags_and_negation():
    arn = QUEUE_ARN + "q"
    _, drift = _drifted([f"AWS::SQS::Queue:{arn}:delay_seconds", "aws_sqs_queue:*:tags.t*"], arn=arn)
    assert [a for a, why in drift.items() if why] == ["delay_seconds", "tags.team"]
    # `tags` is every tag; a later `!TYPE:ID` takes back every attribute of that resource, a later rule again one
    _, drift = _drifted(["AWS::SQS::Queue:*:tags", "!AWS::SQS::Queue:q", "AWS::SQS::Queue:q:tags.cost"])
    assert [a for a, why in drift.items() if why] == ["tags.cost"]
    _, drift = _drifted(["AWS::SQS::Queue:*:tags", "!AWS::SQS::Queue:q:tags.team"])
    assert [a for a, why in drift.items() if why] == ["tags.cost"]


def test_an_attribute_rule_on_a_resource_without_drift_is_not_unused():
    rules = IgnoreRules(["AWS::SQS::Queue:q:visibility_timeout", "AWS::SQS::Queue:other:visibility_timeout"])
    _statuses(rules, live(Q, "q"))
    assert [r.line for r in rules.unused()] == [2]


def test_ignored_drift_is_stored_marked_and_counted_nowhere(tmp_path):
    """Through the scan's rows, the one writer, the report and the diff: the row is there, marked with its rule;
    drift_count, the report's drift counts (--fail-on drift) and new-drift leave it out."""
    from driftgraph.scan import resource_rows
    from graph.diff import build_diff
    from graph.report import build_report, render_markdown
    from graph.store import ScanWriter, open_database

    db = tmp_path / "g.db"
    for rules in (None, ["AWS::SQS::Queue:q:visibility_timeout"]):
        node, _ = _drifted(rules)
        from graph.reconcile import Graph

        writer = ScanWriter(db)
        writer.begin({"started_at": "2024-01-01T00:00:00+00:00", "status": "running", "accounts": ["111122223333"],
                      "regions": ["us-east-1"]})
        writer.write("resources", resource_rows(Graph([node], [])))
        writer.write("drift", [{"resource_id": node.key, **d} for d in node.drift])
        writer.write("listings", [{"account": "111122223333", "region": "us-east-1", "type": Q, "outcome": "ok"}])
        writer.finish({"finished_at": "2024-01-01T00:00:01+00:00", "status": "complete"})
        writer.commit()
    graph = open_database(db)
    stored = {r["attribute"]: r["ignored"] for r in graph.query("select * from scan_drift where scan_id = 2")}
    assert stored["visibility_timeout"] == "ignored by ops.ignore:1 (AWS::SQS::Queue:q:visibility_timeout)"
    assert stored["delay_seconds"] is None
    assert [r["drift_count"] for r in graph.query("select drift_count from scan_resources order by scan_id")] == [4, 3]
    report = build_report(graph, 2)
    (resource,) = report["resources"]
    assert resource["status"] == "managed" and "visibility_timeout" not in {d["attribute"] for d in resource["drift"]}
    assert [(d["attribute"], d["ignored"]) for d in resource["ignored_drift"]] == [
        ("visibility_timeout", "ignored by ops.ignore:1 (AWS::SQS::Queue:q:visibility_timeout)")]
    assert (report["summary"]["drifted_attributes"], report["summary"]["ignored_drift_attributes"]) == (3, 1)
    assert "Drift set aside by ignore rules (1 attributes)" in render_markdown(report)
    # scan 1 counted it, scan 2 sets it aside: it is no drift in scan 2, so it reads as gone, never as new
    changes = [(c["change"], c["attribute"]) for c in build_diff(graph, 1, 2)["changes"]]
    assert changes == [("resolved_drift", "visibility_timeout")]
    assert [(c["change"], c["attribute"]) for c in build_diff(graph, 2, 1)["changes"]] == [
        ("new_drift", "visibility_timeout")]


def test_the_readme_sample_reads_as_documented():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    sample = readme.split("```gitignore\n", 1)[1].split("```", 1)[0].splitlines()
    rules = IgnoreRules(sample, "README")
    assert [(r.negated, r.kind, r.attribute) for r in rules.rules] == [
        (False, "id", None), (True, "id", None), (False, "id", None), (False, "id", None), (False, "tag", None),
        (False, "id", "desired_count"), (False, "id", "tags.cost-*")]
    assert rules.rules[-1].glob == "arn:aws:sqs:us-east-1:123456789012:jobs"


def test_scan_reads_the_working_directory_s_driftgraphignore_unless_told_not_to(tmp_path, monkeypatch):
    """Found by name in the working directory, and read before any AWS call: a broken one fails the scan with
    its file and line, nothing written; --no-ignore-file skips it, and the two flags together are a usage error."""
    from driftgraph.scan import find_ignore_file

    monkeypatch.chdir(tmp_path)
    assert find_ignore_file() is None
    (tmp_path / ".driftgraphignore").write_text("# ours\nAWS::SQS::Queue:[\n")
    assert find_ignore_file() == ".driftgraphignore"
    runner = CliRunner()
    result = runner.invoke(cli, ["scan", "--db", "g.db", "--region", "us-east-1"])
    assert result.exit_code == 1 and ".driftgraphignore:2: unclosed '['" in result.output
    assert not (tmp_path / "g.db").exists()
    both = runner.invoke(cli, ["scan", "--db", "g.db", "--ignore-file", ".driftgraphignore", "--no-ignore-file"])
    assert both.exit_code == 2 and "cannot be combined" in both.output
    (tmp_path / ".driftgraphignore").unlink()
    (tmp_path / ".driftgraphignore").mkdir()
    assert "cannot read the ignore file" in runner.invoke(cli, ["scan", "--db", "g.db"]).output, \
        "anything by that name counts: a folder is an error, never skipped unsaid"
