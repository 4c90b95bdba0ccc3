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
