"""The weekly summary's delivery: the Slack message built and POSTed to a local server, its failures as clear
errors that never show the webhook URL, and hostile names shown as text in Slack and in the GitHub issue."""

from __future__ import annotations

import html
import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from markdown_it import MarkdownIt

from driftgraph.notify import (GITHUB_BODY_LIMIT, NotifyError, github_code, github_issue_markdown,
                               github_issue_parts, post_slack, slack_message)

ACCOUNT = "123456789012"
HOSTILE = ["<!channel>", "<http://evil.example|click me>", "a & b <@U123>", "@octocat", "#123", "*bold* _it_ ~s~",
           "<img src=x onerror=alert(1)>", "`tick` ``two``", "pipe|name", "line\n## Injected\n- [x] done",
           "<details>", ":rocket:", "https://evil.example/x", "\u202egnp.exe", "\x1b[2Jcleared"]


def change(kind: str, name: str, type_: str = "AWS::SQS::Queue", **extra) -> dict:
    return {"id": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}", "type": type_, "account": ACCOUNT,
            "region": "us-east-1", "name": name, "change": kind, "before": None, "after": "unmanaged",
            "attribute": None, "declared": None, "live": None, **extra}


def weekly_document(names=("jobs",), diff=True) -> dict:
    """A driftgraph/weekly/1 document as /work/notes/weekly_contract.md shapes it, built by hand."""
    changes = [change("new_unmanaged", n) for n in names]
    changes += [change("new_missing", "gone-queue", after="missing"),
                change("new_drift", "orders", after="managed", attribute="visibility_timeout", declared=30, live=90),
                change("resolved_unmanaged", "adopted", before="unmanaged", after="managed")]
    return {
        "schema": "driftgraph/weekly/1", "generated_at": "2026-12-02T05:00:00+00:00", "since": "7d",
        "scan": {"id": 12, "finished_at": "2026-12-02T04:40:00+00:00", "status": "partial", "accounts": [ACCOUNT],
                 "regions": ["us-east-1", "eu-west-1"]},
        "from_scan": {"id": 9, "finished_at": "2026-11-25T04:40:00+00:00", "accounts": [ACCOUNT],
                      "regions": ["us-east-1", "eu-west-1"]} if diff else None,
        "headline": {"managed_percent": 81.5, "managed_percent_before": 79.0 if diff else None, "resources": 1234,
                     "unmanaged": 40, "missing": 2, "conflict": 1, "drifted": 5, "unknown": 3, "ignored": 7,
                     "baselined": 0},
        "trend": [{"scan": 7, "finished_at": "2026-11-18T04:40:00+00:00", "managed_percent": 75.0, "unmanaged": 50,
                   "missing": 3, "drifted": 4}],
        "diff": {"schema": "driftgraph/diff/1", "summary": {
            "new_unmanaged": len(names), "resolved_unmanaged": 1, "new_missing": 1, "resolved_missing": 0,
            "new_conflict": 0, "resolved_conflict": 0, "new_drift": 1, "resolved_drift": 0, "deleted": 0,
            "new_failed_listing": 0, "coverage_before": 79.0, "coverage_after": 81.5}, "changes": changes} if diff
        else None,
        "oldest_unmanaged": [{"id": "i-0abc", "type": "AWS::EC2::Instance", "name": names[0], "account": ACCOUNT,
                              "region": "us-east-1", "first_seen": "2026-10-22T04:40:00+00:00", "age_days": 41,
                              "creator": {"principal": f"arn:aws:iam::{ACCOUNT}:user/@octocat",
                                          "event_time": "2026-10-22T04:00:00Z", "source": "cloudtrail"}}],
        "breakdowns": {"team": [{"key": names[0], "resources": 10, "managed": 8, "unmanaged": 2, "missing": 0,
                                 "conflict": 0, "managed_percent": 80.0},
                                {"key": "untagged", "resources": 5, "managed": 1, "unmanaged": 4, "missing": 0,
                                 "conflict": 0, "managed_percent": 20.0}]},
        "required_tags": {"tags": ["owner", "team"], "count": 1, "violations": [
            {"id": "i-0abc", "type": "AWS::EC2::Instance", "name": names[0], "account": ACCOUNT,
             "region": "us-east-1", "missing": ["team"]}]},
        "not_listed": [{"account": ACCOUNT, "region": "eu-west-1", "type": "AWS::SQS::Queue",
                        "outcome": "access_denied", "error_code": "AccessDenied",
                        "message": "User is not authorized to perform sqs:ListQueues <@here>"}],
        "maintenance": [],
    }


# --- a local Slack ----------------------------------------------------------------------------------------------


@contextmanager
def slack_server(status: int = 200, body: bytes = b"ok", hold: bool = False, location: str | None = None):
    """An incoming-webhook endpoint on loopback; yields its URL (with a token-like path) and what it received."""
    received: list[dict] = []
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "headers": dict(self.headers), "body": data})
            if hold:
                release.wait(30)
                return
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/T0001/B0002/s3cr3tT0kenXYZ", received
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_message_is_posted_as_json_and_arrives_as_built():
    payload = slack_message(weekly_document())
    with slack_server() as (url, received):
        post_slack(url, payload)
    assert len(received) == 1
    request = received[0]
    assert request["path"] == "/services/T0001/B0002/s3cr3tT0kenXYZ"
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert json.loads(request["body"]) == payload


def test_the_message_says_coverage_its_change_the_new_findings_and_what_could_not_be_listed():
    payload = slack_message(weekly_document(names=[f"queue-{i}" for i in range(8)]))
    text = "\n".join(block["text"]["text"] for block in payload["blocks"] if block["type"] == "section")
    assert payload["blocks"][0]["text"]["text"] == "driftgraph weekly: 81.5% managed"
    assert "81.5% managed (+2.5 points since scan 9: 79%)" in text
    assert "*Now:* 1234 resources · 40 unmanaged · 2 missing · 1 conflict · 5 drifted · 3 unknown" in text
    assert "*New since scan 9:* 8 unmanaged · 1 missing · 0 conflict · 1 drift" in text
    assert "new unmanaged: `queue-0` (AWS::SQS::Queue, 123456789012 us-east-1)" in text
    assert "`queue-4`" in text and "`queue-5`" not in text and "…and 5 more" in text  # 8 + 1 + 1 new, 5 shown
    assert "*Could not list:* 1 listing (AWS::SQS::Queue in 123456789012/eu-west-1: access_denied)" in text
    assert "*Missing required tags* (owner, team): 1 resource" in text
    assert payload["text"] == ("driftgraph weekly: 81.5% managed (+2.5 points since scan 9: 79%); "
                               "8 new unmanaged, 1 newly missing, 0 new conflict, 1 new drift")


def test_a_first_week_has_nothing_to_compare_with_and_says_so():
    payload = slack_message(weekly_document(diff=False))
    text = json.dumps(payload)
    assert "no earlier scan to compare with" in text and "New since" not in text
    assert "driftgraph weekly: 81.5% managed (no earlier scan to compare with)" == payload["text"]


def test_hostile_names_stay_text_in_slack():
    payload = slack_message(weekly_document(names=HOSTILE[:5]))
    texts = [block["text"] for block in payload["blocks"] if block["type"] == "section"]
    texts += [e for block in payload["blocks"] if block["type"] == "context" for e in block["elements"]]
    for text in texts:
        assert text["type"] == "mrkdwn" and text["verbatim"] is True  # no auto-linked @here, #channel or URL
        assert "<" not in text["text"] and ">" not in text["text"]  # nothing Slack reads as a mention or link
    shown = html.unescape("\n".join(t["text"] for t in texts))  # as Slack displays it
    for name in HOSTILE[:5]:
        assert name in shown
    assert "&lt;!channel&gt;" in json.dumps(payload)
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    assert "<" not in payload["text"] and "channel" not in payload["text"]


def test_slack_sections_stay_within_slacks_limit_whatever_the_names():
    payload = slack_message(weekly_document(names=["x" * 10_000 + str(i) for i in range(500)]))
    for block in payload["blocks"]:
        text = block.get("text") or {}
        assert len(text.get("text", "")) <= 3000
    assert "…" in payload["blocks"][2]["text"]["text"]


def test_a_500_from_slack_is_a_clear_error_without_the_url():
    with slack_server(status=500, body=b"internal_error at /services/T0001/B0002/s3cr3tT0kenXYZ") as (url, _):
        with pytest.raises(NotifyError) as error:
            post_slack(url, {"text": "hi"})
    message = str(error.value)
    assert message.startswith("Slack refused the message: HTTP 500: internal_error")
    assert "s3cr3tT0ken" not in message and "127.0.0.1" not in message


def test_a_404_says_what_slack_said():
    with slack_server(status=404, body=b"no_service") as (url, _):
        with pytest.raises(NotifyError, match=r"HTTP 404: no_service$"):
            post_slack(url, {"text": "hi"})


def test_a_server_that_never_answers_is_a_timeout_not_a_hang():
    with slack_server(hold=True) as (url, received):
        started = time.monotonic()
        with pytest.raises(NotifyError) as error:
            post_slack(url, {"text": "hi"}, timeout=0.5)
        elapsed = time.monotonic() - started
    assert "no answer from Slack within 0.5 s" in str(error.value) and "s3cr3tT0ken" not in str(error.value)
    assert len(received) == 1
    assert elapsed < 20  # generous: proves it does not hang, not how fast it gives up


def test_a_redirect_is_not_followed_and_is_an_error():
    with slack_server() as (target, arrived):
        with slack_server(status=302, body=b"", location=target) as (url, _):
            with pytest.raises(NotifyError, match="redirect"):
                post_slack(url, {"text": "hi"})
    assert arrived == []


def test_a_closed_port_is_a_clear_error_without_the_url():
    with slack_server() as (url, _):
        pass  # the server is gone: its port refuses connections
    with pytest.raises(NotifyError) as error:
        post_slack(url, {"text": "hi"}, timeout=5)
    assert str(error.value).startswith("could not reach Slack") and "s3cr3tT0ken" not in str(error.value)


@pytest.mark.parametrize("url", ["http://hooks.slack.example/services/T/B/s3cr3t", "file:///etc/passwd",
                                 "ftp://hooks.slack.example/s3cr3t", "hooks.slack.example/services/s3cr3t",
                                 "http://[::1/s3cr3t"])
def test_only_https_webhooks_are_posted_to(url):
    with pytest.raises(NotifyError) as error:
        post_slack(url, {"text": "hi"})
    assert "s3cr3t" not in str(error.value) and "passwd" not in str(error.value)


# --- GitHub -----------------------------------------------------------------------------------------------------

PARSER = MarkdownIt("commonmark").enable("table")


def inline_tokens(markdown: str):
    for token in PARSER.parse(markdown):
        yield token
        yield from token.children or []


def test_the_issue_has_a_title_line_checkboxes_and_folds_long_lists():
    names = [f"queue-{i:02}" for i in range(25)]
    text = github_issue_markdown(weekly_document(names=names))
    title, blank, body = text.split("\n", 2)
    assert (title, blank) == ("driftgraph weekly, 2026-12-02: 81.5% managed (+2.5 points), 25 new unmanaged, "
                              "1 newly missing, 0 new conflict, 1 new drift", "")
    assert (title, body) == github_issue_parts(weekly_document(names=names))
    assert "## New unmanaged resources (25)" in body
    assert "- [ ] `queue-00` (`AWS::SQS::Queue`, `123456789012` / `us-east-1`)" in body
    assert "<details><summary>15 more items</summary>\n\n- [ ] `queue-10`" in body
    assert "`visibility_timeout` declared `30`, live `90`" in body
    assert "| unmanaged | 40 | 25 | 1 |" in body
    assert "## Could not be listed (1)" in body and "`access_denied` `AccessDenied`" in body
    assert ("- `queue-00` (`AWS::EC2::Instance`, `123456789012` / `us-east-1`): 41 days, created by "
            "`arn:aws:iam::123456789012:user/@octocat`") in body


def test_hostile_names_stay_inert_in_the_issue():
    body = github_issue_markdown(weekly_document(names=HOSTILE))
    tokens = list(inline_tokens(body))
    code = " ".join(t.content for t in tokens if t.type == "code_inline")
    for name in HOSTILE:
        shown = name.replace("\n", " ").replace("\u202e", "\\u202e").replace("\x1b", "\\u001b")
        assert shown in code or shown.replace("|", "\\|") in code, name
    text = " ".join(t.content for t in tokens if t.type == "text")
    for inert in ("@octocat", "#123", "evil.example", "Injected", "onerror", ":rocket:", "bold", "channel"):
        assert inert not in text, inert  # outside code GitHub would link, mention, render or format it
    html_tokens = {t.content.strip() for t in tokens if t.type in ("html_inline", "html_block")}
    allowed = ("<details>", "</details>", "<summary>", "</summary>", "<sub>", "</sub>")
    for chunk in html_tokens:
        stripped = chunk
        for tag in allowed:
            stripped = stripped.replace(tag, "")
        assert "<" not in stripped, chunk  # only our own folding tags are HTML
    assert not [t for t in tokens if t.type in ("link_open", "image", "em_open", "strong_open") and
                t.type != "strong_open"], "no link, image or emphasis from a name"
    assert [line for line in body.splitlines() if line.startswith("## ")] == [
        "## New unmanaged resources (15)", "## Newly missing resources (1)", "## New drift (1)",
        "## Oldest unmanaged (1)", "## Missing required tags (1)", "## Could not be listed (1)"]
    assert not [line for line in body.splitlines() if line.startswith("- [x]")]


@pytest.mark.parametrize("value, expected", [
    ("plain", "`plain`"), ("a`b", "``a`b``"), ("`x`", "`` `x` ``"), ("``", "``` `` ```"), (" pad ", "`  pad  `"),
    ("", "*(none)*"), (None, "*(none)*"), ("a\nb", "`a b`"),
])
def test_code_spans_show_any_text_as_written(value, expected):
    assert github_code(value) == expected
    if value and value.strip():
        parsed = [t for t in inline_tokens(expected) if t.type == "code_inline"]
        assert [t.content for t in parsed] == [value.replace("\n", " ")]


def test_a_table_cell_escapes_the_pipe_and_the_issue_fits_githubs_limit():
    assert github_code("a|b", in_table=True) == "`a\\|b`"
    body = github_issue_parts(weekly_document(names=["n" * 140 + str(i) for i in range(3000)]))[1]
    assert len(body) <= GITHUB_BODY_LIMIT
    assert "more items, not listed here (see the report)" in body


def test_an_earlier_scan_without_coverage_is_named_not_hidden():
    weekly = weekly_document()
    weekly["headline"]["managed_percent_before"] = None
    weekly["headline"]["managed_percent"] = None
    payload = slack_message(weekly)
    assert payload["blocks"][0]["text"]["text"] == "driftgraph weekly: n/a managed"
    assert "*Coverage:* n/a managed (scan 9: no coverage to compare with)" in payload["blocks"][1]["text"]["text"]
    assert github_issue_parts(weekly)[0].startswith("driftgraph weekly, 2026-12-02: n/a managed, 1 new unmanaged")


def test_report_since_delivers_the_weekly_summary_to_slack_and_a_github_issue_file(tmp_path):
    """Through the CLI: the weekly of the fixture database is posted to a local webhook named by an environment
    variable, and written as an issue file; the URL never shows in the output."""
    from click.testing import CliRunner

    from driftgraph.cli import cli
    from graph_fixture import build_fixture_db

    db = build_fixture_db(tmp_path / "estate.db")
    issue = tmp_path / "weekly-issue.md"
    with slack_server() as (url, received):
        result = CliRunner().invoke(cli, ["--no-config", "report", "--db", str(db), "--since", "1d", "--format",
                                          "json", "--slack-webhook-env", "TEST_SLACK_URL", "--github-issue",
                                          str(issue)], env={"TEST_SLACK_URL": url})
    assert result.exit_code == 0, result.output
    weekly = json.loads(result.stdout)
    assert weekly["schema"] == "driftgraph/weekly/1"
    assert len(received) == 1 and json.loads(received[0]["body"]) == slack_message(weekly)
    assert issue.read_text() == github_issue_markdown(weekly)
    assert "s3cr3tT0ken" not in result.output
    # the variable unset: a clear error naming it, after the report itself was written
    result = CliRunner().invoke(cli, ["--no-config", "report", "--db", str(db), "--since", "1d",
                                      "--slack-webhook-env", "TEST_SLACK_URL"], env={"TEST_SLACK_URL": None})
    assert result.exit_code == 1 and "TEST_SLACK_URL" in result.output
