"""The report says what is true and nothing a hostile name can rewrite: Markdown escapes what it quotes,
inputs set aside are listed with why, and `--fail-on` / `--scan` refuse what they do not understand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from driftgraph.cli import cli
from graph.report import build_report, escape_markdown, render_markdown
from graph.store import ScanWriter, open_database

HOSTILE = {
    "name": "<script>alert('name')</script>",
    "tag": '<img src=x onerror="alert(1)">',
    "link": "[click me](javascript:alert(1))",
    "emphasis": "**loud** _quiet_ `code`",
    "cell": "a | b",
}


def _scan(path, resources, sources=(), listings=()):
    writer = ScanWriter(path)
    writer.begin({"started_at": "2026-12-01T00:00:00+00:00", "status": "running", "accounts": ["123456789012"],
                  "regions": ["us-east-1"]})
    writer.write("resources", resources)
    writer.write("sources", list(sources))
    writer.write("listings", list(listings))
    writer.finish({"finished_at": "2026-12-01T00:01:00+00:00", "status": "complete", "duration_seconds": 1.0})
    writer.commit()


def _resource(name, status="unmanaged", tags=None, reason="no Terraform state or CloudFormation stack declares it"):
    return {"id": f"arn:aws:sqs:us-east-1:123456789012:{name}", "type": "AWS::SQS::Queue", "account": "123456789012",
            "region": "us-east-1", "name": name, "status": status, "reason": reason, "rule": "no_owner", "tags": tags}


def test_markdown_quotes_hostile_names_and_tags_as_text(tmp_path):
    db = tmp_path / "g.db"
    _scan(db, [_resource(HOSTILE["name"], tags={"x": HOSTILE["tag"]}),
               _resource(HOSTILE["link"], status="unknown", reason=HOSTILE["tag"]),
               _resource(HOSTILE["emphasis"], status="unknown", reason=HOSTILE["cell"])])
    text = render_markdown(build_report(open_database(db)))
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "<strong>" not in html and "<em>" not in html and "<code>" not in html
    # ... and what a reader sees is the text as it was written
    for value in (HOSTILE["name"], HOSTILE["tag"], HOSTILE["link"], HOSTILE["emphasis"]):
        shown = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        assert shown in html, value
    rows = [line for line in text.splitlines() if "a \\| b" in line]
    assert rows and all(line.count(" | ") == 3 for line in rows), "a pipe in a value does not make a column"


@pytest.mark.parametrize("text", ["aws_sqs_queue.jobs", "arn:aws:sqs:us-east-1:123456789012:q-1", "platform/api-key"])
def test_ordinary_names_are_left_readable(text):
    assert escape_markdown(text) == text


def test_inputs_set_aside_are_listed_with_what_superseded_them(tmp_path):
    db = tmp_path / "g.db"
    sources = [
        {"path": "states/new.tfstate", "kind": "terraform_state", "status": "loaded", "resource_count": 3},
        {"path": "states/old.tfstate", "kind": "terraform_state", "status": "superseded", "resource_count": 2,
         "message": "same lineage, older serial 4 < 7", "superseded_by": "states/new.tfstate"},
        {"path": "states/v1.tfstate", "kind": "terraform_state", "status": "refused", "message": "format version 1"},
    ]
    _scan(db, [_resource("q")], sources)
    report = build_report(open_database(db))
    by_path = {row["path"]: row for row in report["sources"]}
    assert by_path["states/old.tfstate"]["superseded_by"] == "states/new.tfstate"
    text = render_markdown(report)
    section = text.split("## Inputs not read, or read with a caveat (2)", 1)[1]
    assert "states/old.tfstate | superseded | superseded by states/new.tfstate" in section
    assert "states/v1.tfstate | refused | format version 1" in section
    assert "states/new.tfstate" not in section.split("states/old.tfstate")[0]


def test_failed_detail_calls_are_reported_with_the_call_and_how_many_resources(tmp_path):
    db = tmp_path / "g.db"
    _scan(db, [_resource("q")], listings=[
        {"account": "123456789012", "region": "us-east-1", "type": "AWS::SQS::Queue", "outcome": "ok", "count": 3},
        {"account": "123456789012", "region": "us-east-1", "type": "AWS::SQS::Queue", "outcome": "access_denied",
         "count": 3, "error_code": "AccessDenied", "message": "not authorized", "call": "ListQueueTags"}])
    report = build_report(open_database(db))
    (failed,) = report["failed_listings"]
    assert (failed["call"], failed["count"]) == ("ListQueueTags", 3)
    assert "| AWS::SQS::Queue | ListQueueTags (3 resources) |" in render_markdown(report)


def test_fail_on_refuses_words_it_does_not_know_and_reads_any_case(tmp_path):
    db = tmp_path / "g.db"
    _scan(db, [_resource("q")])
    runner = CliRunner()
    typo = runner.invoke(cli, ["report", "--db", str(db), "--fail-on", "unmanagd,mising"])
    assert typo.exit_code == 2 and "unmanagd" in typo.output and "mising" in typo.output
    upper = runner.invoke(cli, ["report", "--db", str(db), "--fail-on", "UNMANAGED, Drift"])
    assert upper.exit_code == 3, upper.output
    assert runner.invoke(cli, ["report", "--db", str(db), "--fail-on", "missing"]).exit_code == 0


def test_a_scan_id_must_be_a_real_scan(tmp_path):
    db = tmp_path / "g.db"
    _scan(db, [_resource("q")])
    runner = CliRunner()
    assert runner.invoke(cli, ["report", "--db", str(db), "--scan", "0"]).exit_code == 2
    assert runner.invoke(cli, ["report", "--db", str(db), "--scan", "99999999999999999999"]).exit_code == 2
    missing = runner.invoke(cli, ["report", "--db", str(db), "--scan", "7"])
    assert missing.exit_code == 1 and "no scan with id 7" in missing.output
    data = json.loads(runner.invoke(cli, ["report", "--db", str(db), "--scan", "1", "--format", "json"]).output)
    assert data["scan"]["id"] == 1


def test_the_report_is_never_written_over_its_database_and_a_full_disk_is_one_line(tmp_path):
    db = tmp_path / "g.db"
    _scan(db, [_resource("q")])
    before = db.read_bytes()
    link = tmp_path / "link.db"
    link.symlink_to(db)
    runner = CliRunner()
    for target in (db, link):
        result = runner.invoke(cli, ["report", "--db", str(db), "--format", "json", "-o", str(target)])
        assert result.exit_code == 2 and "is the database itself" in result.output
    assert db.read_bytes() == before
    full = runner.invoke(cli, ["report", "--db", str(db), "-o", "/dev/full"])
    assert full.exit_code == 1 and "cannot write the report: No space left on device" in full.output
    written = tmp_path / "r.md"
    assert runner.invoke(cli, ["report", "--db", str(db), "-o", str(written)]).exit_code == 0
    assert written.read_text().startswith("# driftgraph report: scan 1")


def test_the_json_report_is_strict_json_even_when_a_value_is_not_a_number(tmp_path):
    db = tmp_path / "g.db"
    writer = ScanWriter(db)
    writer.begin({"started_at": "now", "status": "running"})
    writer.write("resources", [_resource("q", status="managed")])
    writer.write("drift", [{"resource_id": _resource("q")["id"], "attribute": "visibility_timeout",
                            "declared": float("nan"), "live": float("inf"), "tool": "terraform"}])
    writer.commit()
    text = CliRunner().invoke(cli, ["report", "--db", str(db), "--format", "json"]).output

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    data = json.loads(text, parse_constant=refuse)
    (drift,) = data["resources"][0]["drift"]
    assert (drift["declared"], drift["live"]) == ("nan", "inf")


def test_a_database_an_older_driftgraph_wrote_still_reports(tmp_path):
    import sqlite3

    db = tmp_path / "g.db"
    _scan(db, [_resource("q")], listings=[{"account": "1", "region": "r", "type": "AWS::SQS::Queue",
                                           "outcome": "access_denied", "error_code": "AccessDenied"}])
    connection = sqlite3.connect(db)
    for table, column in (("listings", "call"), ("resources", "rule"), ("scans", "driftgraph_version"),
                          ("sources", "superseded_by")):
        connection.execute(f"alter table {table} drop column {column}")  # as a database written before them
    connection.commit()
    connection.close()
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["failed_listings"][0]["call"] is None and data["resources"][0]["rule"] is None


def test_terminal_and_direction_controls_in_names_are_shown_not_acted_on(tmp_path):
    db = tmp_path / "g.db"
    hostile = "ghost-\x1b[2J\x1b[1;1H| spoof |\u202etxt.exe\x00\u2028\x85\x9b31m"
    _scan(db, [_resource(hostile, tags={"x": "\x1b]52;c;cGF5bG9hZA==\x07"})])
    text = render_markdown(build_report(open_database(db)))
    for acting in ("\x1b", "\u202e", "\x00", "\u2028", "\x85", "\x9b", "\x07"):
        assert acting not in text, repr(acting)
    shown = MarkdownIt("commonmark").enable("table").render(text)
    assert "\\u001b[2J" in shown and "\\u202etxt.exe" in shown, "a reader sees what the name holds"


def test_log_lines_show_terminal_controls_as_text(capsys):
    import logging

    from driftgraph.cli import _setup_logging

    _setup_logging(0)
    logging.getLogger("driftgraph.test").warning("cannot read states/\x1b[2Jevil.tfstate")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\u001b[2Jevil.tfstate" in err
