"""The diff's reader reads only what changed between two scans: over a history of scans that change, fail listings,
look at one account or one region only and are pruned, its snapshots give exactly the diff the whole scans give
(read here from the store's views, as driftgraph read them before), both ways round, with or without the counts
the store keeps of each scan."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter

import pytest

from graph.diff import Snapshot, diff_snapshots, read_snapshots
from graph.records import GLOBAL
from graph.report import loads, scan_row
from graph.store import ScanWriter, open_database, prune

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("eu-west-1", "us-east-1")
# security group rules are listed through their groups: a failed listing of groups keeps the rules as last seen
TYPES = {"AWS::SQS::Queue": "sqs", "AWS::SNS::Topic": "sns", "AWS::IAM::Role": "iam", "AWS::EC2::SecurityGroup": "ec2",
         "AWS::EC2::SecurityGroupIngress": "ec2"}
STATUSES = ("managed", "managed", "managed", "unmanaged", "unmanaged", "missing", "conflict", "unknown", "ignored")


def whole_snapshot(db, scan_id: int) -> Snapshot:
    """Every resource and drift row scan `scan_id` said, from the views (the reader the diff had before)."""
    row = scan_row(db, scan_id)
    scan = {"id": row["id"], "finished_at": row.get("finished_at"), "status": row.get("status"),
            "accounts": loads(row.get("accounts")) or [], "regions": loads(row.get("regions")) or []}
    resources = {r["id"]: r for r in db.query(
        "select id, type, account, region, name, status from scan_resources where scan_id = ?", [scan_id])}
    drift: dict = {}
    for d in db.query("select * from scan_drift where scan_id = ? order by resource_id, attribute, tool, source, "
                      "address", [scan_id]):
        if not d.get("ignored"):
            drift.setdefault((d["resource_id"], d["attribute"]),
                             {"declared": loads(d.get("declared")), "live": loads(d.get("live"))})
    listings = tuple({k: l.get(k) for k in ("account", "region", "type", "outcome", "call")}
                     for l in db.query("select * from listings where scan_id = ?", [scan_id]))
    return Snapshot(scan, resources, drift, listings)


def _resource(rng: random.Random, k: int) -> dict:
    type_ = list(TYPES)[k % len(TYPES)]
    account = ACCOUNTS[k % 2]
    region = GLOBAL if type_ == "AWS::IAM::Role" else REGIONS[(k // 2) % 2]
    return {"id": f"{type_}:{account}:{region}:r{k}", "type": type_, "service": TYPES[type_], "account": account,
            "region": region, "name": f"r{k}", "status": rng.choice(STATUSES)}


def _drift(rng: random.Random, resource: dict) -> list[dict]:
    """One or two owners' drift on an attribute or two; sometimes set aside by an ignore rule."""
    rows = []
    for attribute in rng.sample(("visibility_timeout", "tags.team", "display_name"), rng.choice((1, 2))):
        for owner in range(rng.choice((1, 1, 2))):
            rows.append({"resource_id": resource["id"], "attribute": attribute, "declared": rng.randrange(3),
                         "live": rng.randrange(3, 6), "tool": ("terraform", "cloudformation")[owner],
                         "source": f"state-{owner}", "address": f"a.{resource['name']}",
                         "ignored": "ignored by .driftgraphignore:1 (x)" if rng.random() < 0.15 else None})
    return rows


def write_history(db, seed: int, scans: int = 9) -> None:
    """`scans` scans of a changing estate of two accounts and two regions: statuses and drift that change,
    resources that come and go, listings that fail (a whole type, or one detail call), and scans of one account
    or one region only."""
    rng = random.Random(seed)
    estate = {k: _resource(rng, k) for k in range(60)}
    drift = {k: _drift(rng, r) for k, r in estate.items() if r["status"] == "managed" and rng.random() < 0.4}
    next_k = len(estate)
    for day in range(scans):
        for k in rng.sample(sorted(estate), 12):  # a day's changes
            roll = rng.random()
            if roll < 0.25:
                del estate[k]
                drift.pop(k, None)
            elif roll < 0.6:
                estate[k] = {**estate[k], "status": rng.choice(STATUSES)}
            else:
                drift[k] = _drift(rng, estate[k]) if rng.random() < 0.7 else []
        for _ in range(5):
            estate[next_k] = _resource(rng, next_k)
            next_k += 1
        accounts = list(ACCOUNTS) if day % 4 != 2 else [rng.choice(ACCOUNTS)]
        regions = list(REGIONS) if day % 5 != 3 else [rng.choice(REGIONS)]
        places = {(a, r) for a in accounts for r in (*regions, GLOBAL)}
        failed = {(a, r, t) for a, r in places for t in TYPES if rng.random() < 0.1}
        detail_failed = {(a, r, t) for a, r in places for t in TYPES if rng.random() < 0.05}
        reported = {k: r for k, r in estate.items() if (r["account"], r["region"]) in places}
        writer = ScanWriter(db)
        writer.begin({"started_at": f"2026-11-{day + 1:02d}T09:00:00+00:00", "status": "running",
                      "accounts": accounts, "regions": regions})
        writer.write_scopes([(a, r) for a, r in places] + [(a, None) for a in accounts])
        writer.write("listings", [
            {"account": a, "region": r, "type": t, "outcome": "access_denied" if (a, r, t) in failed else "ok"}
            for a, r in sorted(places) for t in TYPES] + [
            {"account": a, "region": r, "type": t, "outcome": "throttled", "call": "GetAttributes"}
            for a, r, t in sorted(detail_failed)])
        writer.write("resources", list(reported.values()))
        writer.write("drift", [d for k in reported for d in drift.get(k, ())])
        writer.finish({"status": "partial" if failed else "complete",
                       "finished_at": f"2026-11-{day + 1:02d}T09:05:00+00:00"})
        writer.commit()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_changed_versions_give_the_diff_the_whole_scans_give(tmp_path, seed):
    db_path = tmp_path / "history.db"
    write_history(db_path, seed)
    db = open_database(db_path)
    scans = [row[0] for row in db.execute("select id from scans order by id")]
    seen = Counter()
    for before in scans:
        for after in scans:
            if before == after:
                continue
            expected = diff_snapshots(whole_snapshot(db, before), whole_snapshot(db, after))
            assert diff_snapshots(*read_snapshots(db, before, after)) == expected, (before, after)
            seen.update(c["change"] for c in expected["changes"])
    # the history exercises every kind of change a scan of resources can make
    assert {"new_unmanaged", "resolved_unmanaged", "new_missing", "resolved_missing", "new_conflict",
            "resolved_conflict", "new_drift", "resolved_drift", "deleted", "new_failed_listing"} <= set(seen)


def test_without_the_counts_of_either_scan_the_diff_is_the_same(tmp_path):
    db_path = tmp_path / "history.db"
    write_history(db_path, 4, scans=5)
    db = open_database(db_path)
    expected = {(a, b): diff_snapshots(whole_snapshot(db, a), whole_snapshot(db, b)) for a in (1, 3, 5)
                for b in (1, 3, 5) if a != b}
    with sqlite3.connect(db_path) as connection:  # as a database written before the store kept them
        connection.execute("delete from scan_counts where scan_id in (3, 5)")
    for (a, b), diff in expected.items():
        assert diff_snapshots(*read_snapshots(db, a, b)) == diff, (a, b)


def test_the_counts_of_each_scan_are_what_it_said_and_a_prune_keeps_the_diff(tmp_path):
    db_path = tmp_path / "history.db"
    write_history(db_path, 5, scans=6)
    db = open_database(db_path)

    def stored(scan_id):
        return sorted(db.execute("select account, region, type, status, resources from scan_counts "
                                 "where scan_id = ?", [scan_id]))

    for scan_id in range(1, 7):
        assert stored(scan_id) == sorted(db.execute(
            "select account, region, type, status, count(*) from scan_resources where scan_id = ? "
            "group by 1, 2, 3, 4", [scan_id])) != []
    expected = diff_snapshots(whole_snapshot(db, 4), whole_snapshot(db, 6))
    prune(db_path, {4, 5, 6})
    db = open_database(db_path)
    assert stored(1) == [] and stored(6) != []
    assert diff_snapshots(*read_snapshots(db, 4, 6)) == expected
