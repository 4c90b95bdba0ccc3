"""The weekly report (`driftgraph/weekly/1`): an estate scanned a week apart with changes between, reported
exactly; its trend, ages, breakdowns and required tags; tables other parts of a scan write, read only where they
exist; Markdown and HTML that show a planted `<script>` as text; `report --since` end to end through moto."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from graph.records import GLOBAL
from graph.report import scan_summary
from graph.store import ScanWriter, open_database
from graph.weekly import build_weekly
from graph.weekly_render import render_weekly_html, render_weekly_markdown, sparkline

A, EU = "111111111111", "eu-west-1"
WEEK = timedelta(days=7)
PLANTED = "<script>alert(1)</script>"
HAND_NAME = '<script>alert("name")</script>'
SERVICES = {"AWS::SQS::Queue": "sqs", "AWS::S3::Bucket": "s3", "AWS::IAM::Role": "iam", "AWS::SNS::Topic": "sns",
            "AWS::Lambda::Function": "lambda"}
LISTED = tuple(SERVICES)  # every scan lists these in eu-west-1 (the IAM role globally)


def resource(name: str, status: str, type_: str = "AWS::SQS::Queue", tags: dict | None = None, **extra) -> dict:
    region = GLOBAL if type_ == "AWS::IAM::Role" else EU
    id_ = f"arn:aws:sqs:{EU}:{A}:{name}" if type_ == "AWS::SQS::Queue" else f"{type_}:{A}:{region}:{name}"
    return {"id": id_, "type": type_, "service": SERVICES[type_], "account": A, "region": region, "name": name,
            "status": status, "tags": tags, **extra}


def write_scan(db, started: str, resources: list[dict], drift=(), failed=(), summary=True, accounts=(A,),
               regions=(EU,)) -> int:
    """One scan as driftgraph writes it: scopes, resources, drift, a listing per type (`failed`: (type, outcome)
    pairs that failed), and scans.summary unless `summary` is False (a scan written before it was stored)."""
    writer = ScanWriter(db)
    scan_id = writer.begin({"started_at": started, "status": "running", "accounts": list(accounts),
                            "regions": list(regions)})
    writer.write_scopes([(a, r) for a in accounts for r in (*regions, GLOBAL, None)])
    writer.write("resources", resources)
    writer.write("drift", drift)
    outcomes = dict(failed)
    writer.write("listings", [
        {"account": a, "region": GLOBAL if t == "AWS::IAM::Role" else r, "type": t, "outcome": outcomes.get(t, "ok"),
         "error_code": "AccessDenied" if t in outcomes else None, "count": 0,
         "message": f"{t}: not authorized" if t in outcomes else None}
        for a in accounts for r in regions for t in LISTED])
    finish = {"status": "partial" if failed else "complete",
              "finished_at": (datetime.fromisoformat(started) + timedelta(minutes=5)).isoformat()}
    if summary:
        finish["summary"] = scan_summary([r["status"] for r in resources], len({d["resource_id"] for d in drift}))
    writer.finish(finish)
    writer.commit()
    return scan_id


CODED_DRIFT = {"resource_id": f"arn:aws:sqs:{EU}:{A}:q-coded", "attribute": "visibility_timeout", "declared": 30,
               "live": 90, "tool": "terraform", "source": "infra/terraform.tfstate", "address": "aws_sqs_queue.coded"}


@pytest.fixture
def week(tmp_path):
    """Three scans of one account and region: Monday, Friday (written before scans kept a summary), and the next
    Monday, a week after the first: a queue adopted, a bucket deleted, two queues made by hand (one with planted
    markup, one whose tags could not be read), a declared topic gone, drift on a coded queue, Lambda denied."""
    db = tmp_path / "estate.db"
    before = [
        resource("q-old", "unmanaged", tags={"team": "payments"}),
        resource("q-fixed", "unmanaged", tags={"Team": "search"}),
        resource("q-coded", "managed", tags={"team": "payments", "owner": "ana"}),
        resource("bucket-doomed", "unmanaged", "AWS::S3::Bucket", tags={}),
        resource("aws-service-role", "default", "AWS::IAM::Role", tags={}),
    ]
    write_scan(db, "2026-11-16T09:00:00+00:00", before)
    write_scan(db, "2026-11-20T09:00:00+00:00",
               before + [resource("q-mid", "unmanaged", tags={"team": "search", "owner": "bo"})], summary=False)
    write_scan(db, "2026-11-23T09:00:00+00:00", [
        resource("q-old", "unmanaged", tags={"team": "payments"}),
        resource("q-fixed", "managed", tags={"Team": "search"}),
        resource("q-coded", "managed", tags={"team": "payments", "owner": "ana"}),
        resource("q-mid", "unmanaged", tags={"team": "search", "owner": "bo"}),
        resource(HAND_NAME, "unmanaged", tags={"team": PLANTED}),
        resource("q-notags", "unmanaged", tags=None),
        resource("topic-gone", "missing", "AWS::SNS::Topic", tags={"team": "payments"}),
        resource("q-tmp", "ignored", tags={}),
        resource("aws-service-role", "default", "AWS::IAM::Role", tags={}),
    ], drift=[CODED_DRIFT], failed=[("AWS::Lambda::Function", "access_denied")])
    return db


def weekly(db, since=WEEK, **kwargs) -> dict:
    return build_weekly(open_database(db), since, **{"required_tags": ("team", "owner"), **kwargs})


def _scan(id_: int, day: int, status: str = "complete") -> dict:
    return {"id": id_, "started_at": f"2026-11-{day}T09:00:00+00:00", "finished_at": f"2026-11-{day}T09:05:00+00:00",
            "status": status, "accounts": [A], "regions": [EU]}


QUEUE = "AWS::SQS::Queue"
HAND_ID = f"arn:aws:sqs:{EU}:{A}:{HAND_NAME}"
NO_CREATORS = ("Creators not looked up by the latest scan (scan --cloudtrail off, or a scan older than the lookup): "
               "a creator is shown only where an earlier scan found one.")
NO_MAINTENANCE = ("Pending maintenance not read: scan 3 did not ask RDS and ElastiCache (scan --no-maintenance, or a "
                  "scan older than the question), so none is shown.")


def test_a_week_of_changes_is_reported_exactly(week):
    doc = weekly(week)
    assert list(doc) == ["schema", "generated_at", "since", "scan", "from_scan", "headline", "trend", "diff",
                         "oldest_unmanaged", "team_tag", "breakdowns", "required_tags", "not_listed", "maintenance",
                         "notes"]
    assert (doc["schema"], doc["since"], doc["team_tag"]) == ("driftgraph/weekly/1", "7d", "team")
    assert doc["scan"] == _scan(3, 23, "partial") and doc["from_scan"] == _scan(1, 16)
    assert doc["headline"] == {
        "managed_percent": 28.6, "managed_percent_before": 25.0, "resources": 9, "managed": 2, "unmanaged": 4,
        "missing": 1, "conflict": 0, "drifted": 1, "unknown": 0, "ignored": 1, "baselined": 0,
        "by_status": {"managed": 2, "unmanaged": 4, "missing": 1, "conflict": 0, "child": 0, "default": 1,
                      "ignored": 1, "unknown": 0}}
    assert doc["trend"] == [  # scan 2 has no summary: counted from its rows
        {"scan": 1, "finished_at": "2026-11-16T09:05:00+00:00", "status": "complete", "managed_percent": 25.0,
         "resources": 5, "unmanaged": 3, "missing": 0, "drifted": 0},
        {"scan": 2, "finished_at": "2026-11-20T09:05:00+00:00", "status": "complete", "managed_percent": 20.0,
         "resources": 6, "unmanaged": 4, "missing": 0, "drifted": 0},
        {"scan": 3, "finished_at": "2026-11-23T09:05:00+00:00", "status": "partial", "managed_percent": 28.6,
         "resources": 9, "unmanaged": 4, "missing": 1, "drifted": 1}]
    diff = doc["diff"]
    assert diff["schema"] == "driftgraph/diff/1" and (diff["from_scan"]["id"], diff["to_scan"]["id"]) == (1, 3)
    assert [(c["change"], c["type"], c["name"], c["before"], c["after"], c["attribute"], c["declared"], c["live"])
            for c in diff["changes"]] == [
        ("new_unmanaged", QUEUE, HAND_NAME, None, "unmanaged", None, None, None),
        ("new_unmanaged", QUEUE, "q-mid", None, "unmanaged", None, None, None),
        ("new_unmanaged", QUEUE, "q-notags", None, "unmanaged", None, None, None),
        ("resolved_unmanaged", QUEUE, "q-fixed", "unmanaged", "managed", None, None, None),
        ("new_missing", "AWS::SNS::Topic", "topic-gone", None, "missing", None, None, None),
        ("new_drift", QUEUE, "q-coded", "managed", "managed", "visibility_timeout", 30, 90),
        ("deleted", "AWS::S3::Bucket", "bucket-doomed", "unmanaged", None, None, None, None),
        ("new_failed_listing", "AWS::Lambda::Function", None, "ok", "access_denied", None, None, None),
    ]
    assert doc["oldest_unmanaged"] == [
        {"id": f"arn:aws:sqs:{EU}:{A}:q-old", "type": QUEUE, "name": "q-old", "account": A, "region": EU,
         "first_seen": "2026-11-16T09:00:00+00:00", "age_days": 7, "age_at_least": True,
         "unmanaged_since": "2026-11-16T09:00:00+00:00", "creator": None},
        {"id": f"arn:aws:sqs:{EU}:{A}:q-mid", "type": QUEUE, "name": "q-mid", "account": A, "region": EU,
         "first_seen": "2026-11-20T09:00:00+00:00", "age_days": 3, "age_at_least": False,
         "unmanaged_since": "2026-11-20T09:00:00+00:00", "creator": None},
        {"id": HAND_ID, "type": QUEUE, "name": HAND_NAME, "account": A, "region": EU,
         "first_seen": "2026-11-23T09:00:00+00:00", "age_days": 0, "age_at_least": False,
         "unmanaged_since": "2026-11-23T09:00:00+00:00", "creator": None},
        {"id": f"arn:aws:sqs:{EU}:{A}:q-notags", "type": QUEUE, "name": "q-notags", "account": A, "region": EU,
         "first_seen": "2026-11-23T09:00:00+00:00", "age_days": 0, "age_at_least": False,
         "unmanaged_since": "2026-11-23T09:00:00+00:00", "creator": None},
    ]

    def row(key, resources, managed=0, unmanaged=0, missing=0, drifted=0, percent=None):
        return {"key": key, "resources": resources, "managed": managed, "unmanaged": unmanaged, "missing": missing,
                "conflict": 0, "drifted": drifted, "managed_percent": percent}

    assert doc["breakdowns"] == {
        "account": [row(A, 9, 2, 4, 1, 1, 28.6)],
        "region": [row(EU, 8, 2, 4, 1, 1, 28.6), row(GLOBAL, 1)],
        "service": [row("sqs", 7, 2, 4, 0, 1, 33.3), row("iam", 1), row("sns", 1, missing=1, percent=0.0)],
        # `Team` is the team tag too; unreadable tags are their own row, never "untagged"
        "team": [row("payments", 3, 1, 1, 1, 1, 33.3), row("search", 2, 1, 1, percent=50.0),
                 row("(tags not read)", 1, unmanaged=1, percent=0.0), row(PLANTED, 1, unmanaged=1, percent=0.0),
                 row("untagged", 2)],
    }
    assert doc["required_tags"] == {
        "tags": ["team", "owner"], "count": 3, "by_tag": {"team": 1, "owner": 3}, "checked": 5, "tags_not_read": 1,
        "violations": [
            {"id": HAND_ID, "type": QUEUE, "name": HAND_NAME, "account": A, "region": EU, "status": "unmanaged",
             "missing": ["owner"], "other_case": []},
            # monitoring filters on the exact key: `Team` does not carry `team`, and the report says it is there
            {"id": f"arn:aws:sqs:{EU}:{A}:q-fixed", "type": QUEUE, "name": "q-fixed", "account": A, "region": EU,
             "status": "managed", "missing": ["team", "owner"], "other_case": ["Team"]},
            {"id": f"arn:aws:sqs:{EU}:{A}:q-old", "type": QUEUE, "name": "q-old", "account": A, "region": EU,
             "status": "unmanaged", "missing": ["owner"], "other_case": []},
        ]}
    assert doc["not_listed"] == [{"account": A, "region": EU, "type": "AWS::Lambda::Function",
                                  "outcome": "access_denied", "error_code": "AccessDenied",
                                  "message": "AWS::Lambda::Function: not authorized", "call": None, "count": 0}]
    assert doc["maintenance"] == [] and doc["notes"] == [NO_CREATORS, NO_MAINTENANCE]


def test_ages_run_to_now_when_given_and_generated_at_is_it(week):
    now = datetime(2026, 12, 2, 5, 0, tzinfo=timezone.utc)
    doc = weekly(week, now=now)
    assert doc["generated_at"] == "2026-12-02T05:00:00+00:00"
    assert [r["age_days"] for r in doc["oldest_unmanaged"]] == [15, 11, 8, 8]


def test_the_team_tag_is_configurable_and_its_case_ignored(week):
    doc = weekly(week, team_tag="OWNER")
    assert [(r["key"], r["resources"]) for r in doc["breakdowns"]["team"]] == [
        ("untagged", 6), ("(tags not read)", 1), ("bo", 1), ("ana", 1)]
    assert doc["team_tag"] == "OWNER"


def test_no_scan_old_enough_means_no_comparison_and_a_note_saying_so(week):
    doc = weekly(week, since=timedelta(days=30))
    assert (doc["from_scan"], doc["diff"], doc["headline"]["managed_percent_before"]) == (None, None, None)
    assert doc["since"] == "30d"
    assert doc["notes"][0] == ("No scan of these accounts and regions finished at least 30d before scan 3: nothing "
                               "to compare with, so nothing is reported new or fixed.")
    assert [p["scan"] for p in doc["trend"]] == [1, 2, 3], "the trend does not need a comparison"
    no_window = weekly(week, since=None)
    assert (no_window["since"], no_window["from_scan"], no_window["diff"]) == (None, None, None)
    assert no_window["notes"] == [NO_CREATORS, NO_MAINTENANCE], "no window asked: nothing to say about one"
    shorter = weekly(week, since=timedelta(hours=60))
    assert shorter["from_scan"]["id"] == 2 and shorter["since"] == "60h"


def test_the_report_of_an_earlier_scan(week):
    doc = weekly(week, scan_id=2, since=timedelta(days=4))
    assert (doc["scan"]["id"], doc["from_scan"]["id"]) == (2, 1)
    assert [p["scan"] for p in doc["trend"]] == [1, 2]
    assert [c["name"] for c in doc["diff"]["changes"]] == ["q-mid"]


def test_the_trend_is_the_last_twelve_scans_and_reaches_back_before_the_compared_scan(tmp_path):
    db = tmp_path / "daily.db"
    start = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
    for day in range(30):  # one scan a day, a queue more each day
        write_scan(db, (start + timedelta(days=day)).isoformat(),
                   [resource(f"q{n}", "unmanaged" if n % 2 else "managed") for n in range(day + 2)],
                   summary=day % 3 != 0)
    write_scan(db, start.isoformat(), [resource("elsewhere", "unmanaged")], regions=("us-east-1",))
    assert [p["scan"] for p in weekly(db, since=None, scan_id=30)["trend"]] == list(range(19, 31))
    # 21 days back is scan 9: the trend shows it and the four scans before it; another region's scan is no point
    doc = weekly(db, since=timedelta(days=21), scan_id=30)
    assert doc["from_scan"]["id"] == 9
    assert [p["scan"] for p in doc["trend"]] == list(range(5, 31))
    counted, stored = doc["trend"][0], doc["trend"][1]  # scan 5 (day 4) has no summary, scan 6 does
    assert (counted["resources"], counted["unmanaged"], counted["managed_percent"]) == (6, 3, 50.0)
    assert (stored["resources"], stored["unmanaged"], stored["managed_percent"]) == (7, 3, 57.1)


def test_a_pruned_scan_without_a_summary_is_left_out_of_the_trend_and_never_compared_with(week):
    with sqlite3.connect(week) as connection:  # what `driftgraph prune` leaves of a scan: its scans row alone
        connection.execute("delete from scan_scopes where scan_id in (1, 2)")
    doc = weekly(week)
    assert [p["scan"] for p in doc["trend"]] == [1, 3], "scan 1 kept its summary"
    assert (doc["from_scan"], doc["diff"]) == (None, None)
    assert doc["notes"][:2] == [
        "Scan 1, the one to compare with, was pruned: nothing is reported new or fixed.",
        "Scans 2 are left out of the trend: pruned before scans kept a summary."]


def test_baselined_findings_are_counted_and_still_shown(week):
    doc = weekly(week, baseline=[("unmanaged", f"arn:aws:sqs:{EU}:{A}:q-old"),
                                 ("drift", CODED_DRIFT["resource_id"], "visibility_timeout"),
                                 ("unmanaged", "arn:aws:sqs:eu-west-1:111111111111:not-there"),
                                 ("drift", CODED_DRIFT["resource_id"], "another_attribute")])
    assert doc["headline"]["baselined"] == 2
    assert doc["headline"]["unmanaged"] == 4 and doc["headline"]["drifted"] == 1
    assert doc["oldest_unmanaged"][0]["name"] == "q-old"


def _add_tables(db) -> None:
    """Rows in the tables other parts of a scan write (pending maintenance, who made each resource), and the
    latest scan's options saying it asked for them."""
    with sqlite3.connect(db) as connection:
        connection.execute("""update scans set options = '{"maintenance": true, "cloudtrail": "lookup"}' """
                           "where id = 3")
        rows = [(3, A, EU, "db-late", "arn:rds:db-late", "AWS::RDS::DBInstance", "system-update", "OS patch",
                 "2026-12-20T00:00:00+00:00", None, "next-maintenance", None, "rds"),
                (3, A, EU, "cache-soon", "arn:ec:cache-soon", "AWS::ElastiCache::ReplicationGroup", "service-update",
                 PLANTED, None, "2026-12-05T00:00:00+00:00", None, "important", "elasticache"),
                (3, A, EU, "db-whenever", "arn:rds:db-whenever", "AWS::RDS::DBInstance", "db-upgrade", "minor", None,
                 None, None, None, "rds"),
                (1, A, EU, "db-old", "arn:rds:db-old", "AWS::RDS::DBInstance", "system-update", "applied since",
                 "2026-11-17T00:00:00+00:00", None, None, None, "rds")]
        connection.executemany("insert into maintenance (scan_id, account, region, resource, resource_id, type, action, "
                               "description, apply_after, forced_apply_date, opt_in_status, severity, source) "
                               "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        old = f"arn:aws:sqs:{EU}:{A}:q-old"
        connection.executemany("insert into creators (resource_id, principal, event_name, event_time, event_source, "
                               "source, event_id) values (?, ?, ?, ?, ?, ?, ?)", [
            (old, "arn:aws:iam::111111111111:user/late", "CreateQueue", "2026-11-10T00:00:00Z", "sqs.amazonaws.com",
             "cloudtrail", "e2"),
            (old, "arn:aws:iam::111111111111:user/first", "CreateQueue", "2026-11-01T00:00:00Z", "sqs.amazonaws.com",
             "cloudtrail", "e1"),
            (HAND_ID, PLANTED, "CreateQueue", None, "sqs.amazonaws.com", "cloudtrail", "e3")])


def test_maintenance_and_creators_are_read_where_their_tables_exist(week):
    _add_tables(week)
    doc = weekly(week)
    assert [(m["resource"], m["action"], m["apply_after"], m["forced_apply_date"]) for m in doc["maintenance"]] == [
        ("cache-soon", "service-update", None, "2026-12-05T00:00:00+00:00"),  # the soonest first
        ("db-late", "system-update", "2026-12-20T00:00:00+00:00", None),
        ("db-whenever", "db-upgrade", None, None),  # no date: last
    ], "the latest scan's rows only"
    assert doc["maintenance"][0] == {
        "account": A, "region": EU, "resource": "cache-soon", "resource_id": "arn:ec:cache-soon",
        "type": "AWS::ElastiCache::ReplicationGroup", "action": "service-update", "description": PLANTED,
        "apply_after": None, "forced_apply_date": "2026-12-05T00:00:00+00:00", "opt_in_status": None,
        "severity": "important", "source": "elasticache"}
    creators = {r["name"]: r["creator"] for r in doc["oldest_unmanaged"]}
    assert creators == {
        "q-old": {"principal": "arn:aws:iam::111111111111:user/first", "event_name": "CreateQueue",
                  "event_time": "2026-11-01T00:00:00Z", "source": "cloudtrail"},
        "q-mid": None, "q-notags": None,
        HAND_NAME: {"principal": PLANTED, "event_name": "CreateQueue", "event_time": None, "source": "cloudtrail"}}
    assert doc["notes"] == []


class Page(HTMLParser):
    """What a browser would build of the page: its elements, their attributes and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]

    def handle_data(self, data):
        self.text.append(data)


def _page(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def test_the_html_page_is_self_contained_and_shows_planted_markup_as_text(week):
    _add_tables(week)
    text = render_weekly_html(weekly(week))
    page = _page(text)
    assert text.startswith("<!doctype html>") and "script" not in page.tags
    assert {"svg", "polyline", "polygon", "circle", "style"} <= set(page.tags)
    assert page.tags.count("svg") == 1 and "@media print" in text
    for tag, name, value in page.attributes:  # nothing fetched: no link, image, font or frame from anywhere
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        assert name not in ("src", "href") and not name.startswith("on"), (tag, name, value)
        assert name == "xmlns" or "http" not in (value or ""), (tag, name, value)
    assert "url(" not in text and "@import" not in text
    shown = " ".join("".join(page.text).split())
    assert PLANTED in shown and HAND_NAME in shown, "planted markup shows as the text it is"
    assert text.count("&lt;script&gt;") >= 5  # tag value, name, creator, maintenance description, changes
    for heading in ("What changed since scan 1", "Oldest unmanaged (4 of 4)", "Required tags", "Not listed (1)",
                    "Pending maintenance (3)", "By team"):
        assert heading in shown, heading
    assert "28.6%" in shown and "25.0% at scan 1" in shown and "+3.6 points" in shown


def test_direction_and_terminal_controls_in_a_name_show_as_escapes(tmp_path):
    db = tmp_path / "spoof.db"
    write_scan(db, "2026-11-16T09:00:00+00:00", [resource("invoice\u202efdp.exe\x1b[2J", "unmanaged", tags={})])
    doc = weekly(db, since=None)
    page, markdown = render_weekly_html(doc), render_weekly_markdown(doc)
    for text in (page, markdown):
        assert "\u202e" not in text and "\x1b" not in text
    assert "invoice\\u202efdp.exe\\u001b[2J" in page
    assert "invoice\\\\u202efdp.exe\\\\u001b\\[2J" in markdown  # Markdown escapes the backslash and the bracket


def test_the_html_lists_every_change_of_the_week(week):
    shown = " ".join(" ".join(_page(render_weekly_html(weekly(week))).text).split())
    for expected in ("New unmanaged 3", "No longer unmanaged 1", "Newly missing 1", "New drift 1", "Deleted 1",
                     "Listings that newly failed 1", "q-mid", "q-notags", "q-fixed", "topic-gone", "bucket-doomed",
                     "visibility_timeout 30 90", "AWS::Lambda::Function list 111111111111/eu-west-1 access_denied"):
        assert expected in shown, expected


def test_markdown_says_what_changed_and_escapes_what_aws_said(week):
    _add_tables(week)
    text = render_weekly_markdown(weekly(week))
    assert text.startswith("# driftgraph weekly report: scan 3\n")
    assert "Managed: **28.6%** of the resources code could own (25.0% at scan 1, +3.6 points)." in text
    for heading in ("## What changed since scan 1", "### New unmanaged (3)", "### No longer unmanaged (1)",
                    "### Newly missing (1)", "### New drift (1)", "### Deleted (1)", "### Listings that newly failed (1)",
                    "## Oldest unmanaged (4 of 4)", "## By team (tag team)", "## Pending maintenance (3)"):
        assert heading in text, heading
    assert "| AWS::SQS::Queue | q-coded | 111111111111/eu-west-1 | visibility_timeout | 30 | 90 |" in text
    assert "| AWS::SQS::Queue | q-old | 111111111111/eu-west-1 | 2026-11-16 09:00 UTC | ≥ 7 |" in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "| &lt;script&gt;alert(\"name\")&lt;/script&gt; |" in text
    assert "| AWS::SQS::Queue | q-fixed | 111111111111/eu-west-1 | managed | team, owner | Team |" in text


def test_long_lists_are_cut_and_say_how_many_more(tmp_path):
    db = tmp_path / "many.db"
    write_scan(db, "2026-11-16T09:00:00+00:00", [resource(f"q{n:03d}", "unmanaged", tags={}) for n in range(250)])
    doc = weekly(db, since=None)
    assert doc["required_tags"]["count"] == 250 and len(doc["required_tags"]["violations"]) == 250
    assert "_50 more not shown: `--format json` lists them all._" in render_weekly_markdown(doc)
    assert "50 more not shown" in "".join(_page(render_weekly_html(doc)).text)


def test_sparkline():
    assert sparkline([0.0, 50.0, 100.0, None, 12.5]) == "▁▅█ ▂"


def _report(db, *args):
    from driftgraph.cli import cli

    return CliRunner().invoke(cli, ["report", "--db", str(db), *args], catch_exceptions=False)


def test_report_since_writes_the_weekly_and_without_it_the_report_stays(week, tmp_path):
    weekly_json = json.loads(_report(week, "--since", "7d", "--format", "json").output)
    assert weekly_json["schema"] == "driftgraph/weekly/1" and weekly_json["from_scan"]["id"] == 1
    assert json.loads(_report(week, "--format", "json").output)["schema"] == "driftgraph/report/1"
    assert _report(week).output.startswith("# driftgraph report: scan 3\n")
    out = tmp_path / "weekly.html"
    assert _report(week, "--since", "7d", "--format", "html", "-o", str(out)).exit_code == 0
    assert "What changed since scan 1" in out.read_text()
    # html without --since: the weekly page of the scan, with no comparison
    page = _report(week, "--format", "html").output
    assert "Weekly report · scan 3" in page and "What changed" not in page and "give --since 7d" in page
    assert _report(week, "--since", "7d").output.startswith("# driftgraph weekly report: scan 3\n")


def test_report_since_keeps_fail_on_as_it_was(week):
    result = _report(week, "--since", "7d", "--format", "json", "--fail-on", "new-unmanaged,missing")
    assert result.exit_code == 3 and "found: missing, new-unmanaged" in result.output
    assert json.loads(result.output.split("found:")[0])["schema"] == "driftgraph/weekly/1"
    assert _report(week, "--since", "7d", "--fail-on", "conflict").exit_code == 0


@pytest.mark.parametrize("since", ["7x", "0d", "-7d"])
def test_a_bad_since_is_a_usage_error(week, since):
    result = _report(week, "--since", since)
    assert result.exit_code == 2 and "--since" in result.output


def test_a_week_of_a_moto_estate_lists_the_hand_made_queue_as_new_unmanaged(tmp_path):
    """End to end: two scans of a moto estate, a queue made by hand between them, the scans a week apart."""
    import boto3

    from conftest import run_cli
    from driftgraph.demo import moto_server
    from driftgraph.demo_estate import TerraformState

    db, states, region = tmp_path / "estate.db", tmp_path / "terraform", "us-east-1"
    with moto_server() as endpoint:
        sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint, aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        url = sqs.create_queue(QueueName="coded", tags={"team": "payments"})["QueueUrl"]
        sqs.create_queue(QueueName="old-by-hand")
        state = TerraformState("weekly")
        state.add("aws_sqs_queue", "coded", {"id": url, "url": url, "name": "coded",
                                             "arn": f"arn:aws:sqs:{region}:123456789012:coded",
                                             "tags": {"team": "payments"}, "tags_all": {"team": "payments"}})
        state.write(states / "terraform.tfstate")
        scan = ["scan", "--db", str(db), "--region", region, "--tfstate", str(states), "-q", "--no-stacks",
                "--type", "AWS::SQS::Queue"]
        run_cli(scan, endpoint)
        sqs.create_queue(QueueName="made-by-hand", tags={"team": PLANTED})
        run_cli(scan, endpoint)
        with sqlite3.connect(db) as connection:  # a week between the two scans
            connection.execute("update scans set finished_at = '2026-11-16T09:05:00+00:00', "
                               "started_at = '2026-11-16T09:00:00+00:00' where id = 1")
            connection.execute("update scans set finished_at = '2026-11-23T09:05:00+00:00', "
                               "started_at = '2026-11-23T09:00:00+00:00' where id = 2")
        markdown = run_cli(["report", "--db", str(db), "--since", "7d", "--format", "markdown"], endpoint).stdout
        html = run_cli(["report", "--db", str(db), "--since", "7d", "--format", "html"], endpoint).stdout
    new = markdown.split("### New unmanaged (1)\n\n")[1].split("\n\n")[0].splitlines()
    assert new == ["| type | name | where | before | after |", "|---|---|---|---|---|",
                   "| AWS::SQS::Queue | made-by-hand | 123456789012/us-east-1 |  | unmanaged |"]
    assert "| New unmanaged | 1 |" in markdown and "| Deleted | 0 |" in markdown
    assert "Managed: **33.3%** of the resources code could own (50.0% at scan 1, -16.7 points)." in markdown
    assert "| AWS::SQS::Queue | old-by-hand | 123456789012/us-east-1 | 2026-11-16 09:00 UTC | ≥ 7 |" in markdown
    page = _page(html)
    assert "script" not in page.tags and PLANTED in "".join(page.text)
    assert "made-by-hand" in "".join(page.text)
