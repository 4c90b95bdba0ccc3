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


def _whole_document_report(db, scan_id: int) -> dict:
    """The report as it was built before it streamed: every owner, drift and parent row of the scan read into
    dicts by resource id, then the resources in one list. The reference the streamed report must equal."""
    from collections import Counter, defaultdict

    from graph.records import STATUSES
    from graph.report import SCHEMA, loads, managed_percent

    owners, drift, ignored = defaultdict(list), defaultdict(list), defaultdict(list)
    for row in db.query("select * from scan_owners where scan_id = ? order by tool, source, address", [scan_id]):
        owners[row["resource_id"]].append({k: row[k] for k in ("tool", "source", "address", "framework",
                                                               "construct_path")})
    for row in db.query("select * from scan_drift where scan_id = ? order by attribute", [scan_id]):
        entry = {"attribute": row["attribute"], "declared": loads(row["declared"]), "live": loads(row["live"]),
                 **{k: row[k] for k in ("tool", "source", "address")}}
        (ignored[row["resource_id"]].append({**entry, "ignored": row["ignored"]}) if row["ignored"]
         else drift[row["resource_id"]].append(entry))
    parents = {row["source_id"]: row["target_id"] for row in db.query(
        "select * from scan_edges where scan_id = ? and relation = 'belongs_to'", [scan_id])}
    resources = [{**{k: row[k] for k in ("id", "arn", "type", "account", "region", "name", "status", "reason",
                                         "rule")},
                  "parent": parents.get(row["id"]), "tags": loads(row["tags"]), "owners": owners.get(row["id"], []),
                  "drift": drift.get(row["id"], []), "ignored_drift": ignored.get(row["id"], [])}
                 for row in db.query("select * from scan_resources where scan_id = ? order by type, account, "
                                     "region, id", [scan_id])]
    scan = next(db.query("select * from scans where id = ?", [scan_id]))
    errors = [{k: row[k] for k in ("source", "kind", "message", "line", "account", "region", "type", "code")}
              for row in db.query("select * from scan_errors where scan_id = ? order by kind, source", [scan_id])]
    failed = [{k: row[k] for k in ("account", "region", "type", "outcome", "error_code", "message", "call", "count")}
              for row in sorted(db.query("select * from listings where scan_id = ? and outcome != 'ok'", [scan_id]),
                                key=lambda r: (r["type"] or "", r["call"] or ""))]
    by_status = Counter(r["status"] for r in resources)
    return {
        "schema": SCHEMA,
        "scan": {**{k: scan[k] for k in ("id", "started_at", "finished_at", "status")},
                 "accounts": loads(scan["accounts"]), "regions": loads(scan["regions"]),
                 "duration_seconds": scan["duration_seconds"], "driftgraph_version": scan["driftgraph_version"]},
        # one scan's report covers where that scan looked, all of it as old as the scan
        "picture": {"current": False, "scans": [scan_id],
                    "status": "complete" if scan["status"] == "complete" else "partial",
                    "oldest_finished_at": scan["finished_at"], "oldest_part": None,
                    "parts": [{"account": account, "region": region, "scan_id": scan_id,
                               "finished_at": scan["finished_at"], "status": scan["status"]}
                              for account, region in db.execute(
                                  "select account, region from scan_scopes where scan_id = ? and account is not null "
                                  "order by account, coalesce(region, '')", [scan_id])]},
        "summary": {"resources": len(resources), "by_status": {s: by_status.get(s, 0) for s in STATUSES},
                    "drifted_resources": sum(1 for r in resources if r["drift"]),
                    "drifted_attributes": sum(len(r["drift"]) for r in resources),
                    "ignored_drift_attributes": sum(len(r["ignored_drift"]) for r in resources),
                    "managed_percent": managed_percent(by_status), "failed_listings": len(failed),
                    "errors": sum(1 for e in errors if e["kind"] == "error"),
                    "warnings": sum(1 for e in errors if e["kind"] != "error")},
        "resources": resources,
        "stacks": [{**{k: row[k] for k in ("id", "name", "account", "region", "status", "framework", "parent_id",
                                           "description", "resource_count", "cdk_version", "synthesizer")},
                    "evidence": loads(row["evidence"]) or []}
                   for row in db.query("select * from stacks where scan_id = ? order by account, region, name",
                                       [scan_id])],
        "failed_listings": failed,
        "errors": errors,
        "sources": [{k: row[k] for k in ("path", "kind", "status", "resource_count", "message", "superseded_by")}
                    for row in db.query("select * from sources where scan_id = ? order by kind, path", [scan_id])],
    }


def test_the_streamed_json_report_is_the_whole_document_byte_for_byte(tmp_path):
    from graph_fixture import build_fixture_db

    db = build_fixture_db(tmp_path / "estate.db")
    # and a scan of another account with a child resource (its parent) and drift an ignore rule set aside
    writer = ScanWriter(db)
    writer.begin({"started_at": "2026-12-01T00:00:00+00:00", "status": "running", "accounts": ["999999999999"],
                  "regions": ["us-east-1"]})
    queue = {**_resource("parent-queue", status="managed"), "account": "999999999999"}
    policy = {**_resource("parent-queue-policy", status="child"), "account": "999999999999",
              "type": "AWS::SQS::QueuePolicy", "id": "parent-queue-policy"}
    writer.write("resources", [queue, policy])
    writer.write("owners", [{"resource_id": queue["id"], "tool": "terraform", "source": "s3://b/k.tfstate",
                             "address": "aws_sqs_queue.q"}])
    writer.write("edges", [{"source_id": policy["id"], "relation": "belongs_to", "target_id": queue["id"]}])
    writer.write("drift", [{"resource_id": queue["id"], "attribute": attribute, "declared": 30, "live": 60,
                            "tool": "terraform", "source": "s3://b/k.tfstate", "address": "aws_sqs_queue.q",
                            "ignored": why} for attribute, why in (("delay_seconds", None),
                                                                   ("visibility_timeout", "ignored by x:1 (rule)"))])
    writer.finish({"finished_at": "2026-12-01T00:01:00+00:00", "status": "complete"})
    writer.commit()
    graph = open_database(db)
    scans = [row[0] for row in graph.execute("select id from scans order by id")]
    assert len(scans) >= 3
    seen = set()
    for scan_id in scans:
        expected = _whole_document_report(graph, scan_id)
        seen |= {part for r in expected["resources"] for part in ("owners", "drift", "ignored_drift", "parent")
                 if r[part]}
        result = CliRunner().invoke(cli, ["report", "--db", str(db), "--format", "json", "--scan", str(scan_id)])
        assert result.exit_code == 0, result.output
        assert result.output == json.dumps(expected, indent=2) + "\n"
        assert json.loads(result.output) == build_report(graph, scan_id)
    assert seen == {"owners", "drift", "ignored_drift", "parent"}  # the fixture has each of them somewhere
    # written to a file alike
    out = tmp_path / "report.json"
    assert CliRunner().invoke(cli, ["report", "--db", str(db), "--format", "json", "-o", str(out)]).exit_code == 0
    shown = CliRunner().invoke(cli, ["report", "--db", str(db), "--format", "json"])
    assert out.read_text() == shown.output and json.loads(shown.output) == build_report(graph)


def test_a_streamed_report_of_a_scan_without_resources_is_still_the_whole_document(tmp_path):
    db = tmp_path / "g.db"
    _scan(db, [])
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--format", "json", "--scan", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["resources"] == []
    assert result.output == json.dumps(_whole_document_report(open_database(db), 1), indent=2) + "\n"


def _queue(account, region, name, status="unmanaged"):
    return {"id": f"arn:aws:sqs:{region}:{account}:{name}", "type": "AWS::SQS::Queue", "account": account,
            "region": region, "name": name, "status": status, "reason": "r", "rule": "no_owner", "tags": None}


def _scan_of(path, day, places, resources, status="complete", listings=()):
    """A scan that looked at `places` (account, region) on 2026-11-`day` and found `resources` there."""
    writer = ScanWriter(path)
    writer.begin({"started_at": f"2026-11-{day:02d}T00:00:00+00:00", "status": "running",
                  "accounts": sorted({a for a, _ in places}), "regions": sorted({r for _, r in places})})
    writer.write_scopes(places, complete=True)
    writer.write("resources", resources)
    writer.write("listings", list(listings))
    writer.finish({"finished_at": f"2026-11-{day:02d}T00:10:00+00:00", "status": status, "duration_seconds": 600.0})
    writer.commit()


def test_the_report_reads_the_current_picture_and_says_how_old_each_part_is(tmp_path):
    """Scans of one account's two regions, then of one region again (partial: a listing failed), then of another
    account: the report shows every account and region as its latest scan saw it, never only the latest scan's,
    says which scan each part comes from and when, and is partial because a scan it is made of was."""
    db, a, b = tmp_path / "g.db", "111111111111", "222222222222"
    _scan_of(db, 1, [(a, "us-east-1"), (a, "eu-west-1")], [_queue(a, "us-east-1", "q1"), _queue(a, "eu-west-1", "q2")])
    failed = {"account": a, "region": "eu-west-1", "type": "AWS::SNS::Topic", "outcome": "access_denied",
              "error_code": "AccessDenied", "message": "no", "count": None, "call": None}
    _scan_of(db, 8, [(a, "eu-west-1")], [_queue(a, "eu-west-1", "q2", "managed"), _queue(a, "eu-west-1", "q3")],
             status="partial", listings=[failed])
    _scan_of(db, 9, [(b, "us-east-1")], [_queue(b, "us-east-1", "q4", "managed")])
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {(r["name"], r["status"]) for r in report["resources"]} == {
        ("q1", "unmanaged"), ("q2", "managed"), ("q3", "unmanaged"), ("q4", "managed")}
    assert report["summary"]["by_status"]["unmanaged"] == 2 and report["summary"]["failed_listings"] == 1
    assert [f["type"] for f in report["failed_listings"]] == ["AWS::SNS::Topic"]
    seen = report["picture"]
    assert seen["current"] and seen["scans"] == [1, 2, 3] and seen["status"] == "partial"
    assert {(p["account"], p["region"]): p["scan_id"] for p in seen["parts"]} == {
        (a, "us-east-1"): 1, (a, "eu-west-1"): 2, (b, "us-east-1"): 3}
    assert seen["oldest_part"] == f"{a}/us-east-1" and seen["oldest_finished_at"] == "2026-11-01T00:10:00+00:00"
    assert report["scan"]["id"] == 3  # the latest scan's row, as before
    text = CliRunner().invoke(cli, ["report", "--db", str(db)]).output
    assert "pieced from scans 1, 2, 3 (partial)" in text and f"oldest part ({a}/us-east-1)" in text
    # one scan's own report, as that scan saw it
    one = json.loads(CliRunner().invoke(cli, ["report", "--db", str(db), "--format", "json", "--scan", "3"]).output)
    assert [r["name"] for r in one["resources"]] == ["q4"]
    assert one["picture"]["scans"] == [3] and not one["picture"]["current"] and one["picture"]["status"] == "complete"
    # a gate judges the picture: the unmanaged queues of the account scanned before fail it, though the latest
    # scan alone found none
    gate = ["report", "--db", str(db), "--format", "json", "--fail-on", "unmanaged"]
    assert CliRunner().invoke(cli, gate).exit_code == 3
    assert CliRunner().invoke(cli, [*gate, "--scan", "3"]).exit_code == 0
