"""Resources stored as versions: a scan that changes nothing stores nothing, any scan's rows read back exactly,
history (first seen, status since) carries across scans, and a scan of one place never ends another's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from graph.store import SCHEMA_VERSION, ScanWriter, open_database

ACCOUNT, OTHER = "111111111111", "222222222222"


def queue(name: str, status: str = "unmanaged", account: str = ACCOUNT, region: str = "eu-west-1", **extra) -> dict:
    return {"id": f"arn:aws:sqs:{region}:{account}:{name}", "type": "AWS::SQS::Queue", "service": "sqs",
            "account": account, "region": region, "name": name, "status": status, **extra}


def write_scan(db, resources, scopes=((ACCOUNT, "eu-west-1"),), owners=(), drift=(), edges=()) -> int:
    writer = ScanWriter(db)
    scan_id = writer.begin({"started_at": "2026-12-01T00:00:00+00:00", "status": "running"})
    writer.write_scopes(scopes)
    writer.write("resources", resources)
    writer.write("owners", owners)
    writer.write("edges", edges)
    writer.write("drift", drift)
    writer.finish({"status": "complete", "finished_at": "2026-12-01T00:01:00+00:00"})
    writer.commit()
    return scan_id


def said(db, scan_id: int) -> dict[str, str]:
    with sqlite3.connect(db) as connection:
        return dict(connection.execute("select name, status from scan_resources where scan_id = ?", [scan_id]))


def count(db, table: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(f"select count(*) from {table}").fetchone()[0]


def history(db, name: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("select status, from_scan, until_scan, first_seen, status_since from resources "
                                  "where name = ? order by version", [name]).fetchall()


def test_a_scan_that_changes_nothing_stores_no_resource_rows(tmp_path):
    db = tmp_path / "g.db"
    rows = [queue(f"q{n}", tags={"team": "a"}) for n in range(50)]
    owners = [{"resource_id": rows[0]["id"], "tool": "terraform", "source": "s.tfstate", "address": "aws_sqs_queue.q"}]
    first = write_scan(db, rows, owners=owners)
    stored = (count(db, "resources"), count(db, "owners"))
    second = write_scan(db, [dict(r) for r in reversed(rows)], owners=owners)
    assert (count(db, "resources"), count(db, "owners")) == stored == (50, 1)
    assert said(db, first) == said(db, second) == {f"q{n}": "unmanaged" for n in range(50)}
    with sqlite3.connect(db) as connection:
        assert connection.execute("select count(*) from scan_owners where scan_id = ?", [second]).fetchone()[0] == 1


def test_a_change_is_a_new_version_and_history_carries_over(tmp_path):
    db = tmp_path / "g.db"
    write_scan(db, [queue("a"), queue("b")])
    write_scan(db, [queue("a", tags={"team": "x"}), queue("b")])  # a tag: new version, same status
    owner = [{"resource_id": queue("a")["id"], "tool": "terraform", "source": "s", "address": "aws_sqs_queue.a"}]
    third = write_scan(db, [queue("a", "managed", tags={"team": "x"}), queue("b")], owners=owner)  # imported
    assert history(db, "a") == [("unmanaged", 1, 2, 1, 1), ("unmanaged", 2, 3, 1, 1), ("managed", 3, None, 1, 3)]
    assert history(db, "b") == [("unmanaged", 1, None, 1, 1)]
    assert said(db, 1) == said(db, 2) == {"a": "unmanaged", "b": "unmanaged"}
    assert said(db, third) == {"a": "managed", "b": "unmanaged"}


def test_a_resource_gone_from_a_scanned_place_ends_and_one_elsewhere_stays(tmp_path):
    db = tmp_path / "g.db"
    write_scan(db, [queue("here"), queue("gone"), queue("there", region="us-east-1")],
               scopes=[(ACCOUNT, "eu-west-1"), (ACCOUNT, "us-east-1")])
    # a scan of eu-west-1 alone: `gone` is gone, `there` (us-east-1) is not its business
    second = write_scan(db, [queue("here")], scopes=[(ACCOUNT, "eu-west-1")])
    assert said(db, second) == {"here": "unmanaged"}
    with sqlite3.connect(db) as connection:
        current = {row[0] for row in connection.execute("select name from current_resources")}
    assert current == {"here", "there"}
    assert history(db, "gone") == [("unmanaged", 1, 2, 1, 1)]
    # another account scanned into the same database ends nothing of the first
    write_scan(db, [queue("theirs", account=OTHER)], scopes=[(OTHER, "eu-west-1")])
    with sqlite3.connect(db) as connection:
        assert {row[0] for row in connection.execute("select name from current_resources")} == {"here", "there", "theirs"}
        # and each part of the picture says how old it is
        ages = connection.execute("select account, region, scan_id from current_scopes where account is not null "
                                  "and region is not null order by account, region").fetchall()
    assert ages == [(ACCOUNT, "eu-west-1", 2), (ACCOUNT, "us-east-1", 1), (OTHER, "eu-west-1", 3)]


def test_a_resource_missed_once_keeps_its_first_seen_and_status_since(tmp_path):
    db = tmp_path / "g.db"
    write_scan(db, [queue("flaky")])
    write_scan(db, [])  # its listing failed: the scan said nothing about it there
    write_scan(db, [queue("flaky")])
    assert history(db, "flaky") == [("unmanaged", 1, 2, 1, 1), ("unmanaged", 3, None, 1, 1)]


def test_drift_and_edges_belong_to_the_version_they_were_seen_with(tmp_path):
    db = tmp_path / "g.db"
    a = queue("a", "managed")
    drift = [{"resource_id": a["id"], "attribute": "visibility_timeout", "declared": 30, "live": 60, "tool": "terraform"}]
    write_scan(db, [a], drift=drift)
    write_scan(db, [a])  # drift went away: a new version without it
    write_scan(db, [a], drift=drift)  # and came back
    with sqlite3.connect(db) as connection:
        rows = connection.execute("select scan_id, attribute, live from scan_drift order by scan_id").fetchall()
    assert rows == [(1, "visibility_timeout", "60"), (3, "visibility_timeout", "60")]


def test_ten_unchanged_scans_take_little_more_room_than_one(tmp_path):
    db = tmp_path / "g.db"
    rows = [queue(f"queue-{n:05d}", tags={"team": "payments", "env": "prod"}, reason="live, declared by no source",
                  attributes={"visibility_timeout": 30, "delay_seconds": 0}) for n in range(3000)]
    write_scan(db, rows)
    one = db.stat().st_size
    for _ in range(9):
        write_scan(db, rows)
    assert count(db, "resources") == 3000
    assert db.stat().st_size <= 1.3 * one, (one, db.stat().st_size)


SCHEMA_1 = """
create table scans (id integer primary key, started_at text, finished_at text, status text, accounts text,
                    regions text, partition text, caller_arn text, driftgraph_version text, options text,
                    duration_seconds float, resource_count integer);
create table resources (scan_id integer, id text, arn text, type text, service text, account text, region text,
                        name text, natural_id text, status text, reason text, rule text, owner_tools text,
                        owner_count integer, drift_count integer, import_group integer, tags text, attributes text,
                        primary key (scan_id, id));
create table owners (scan_id integer, resource_id text, tool text, source text, address text);
create table edges (scan_id integer, source_id text, relation text, target_id text);
create table drift (scan_id integer, resource_id text, attribute text, declared text, live text, tool text,
                    source text, address text);
create table listings (scan_id integer, account text, region text, type text, outcome text, count integer);
create table meta (key text primary key, value text);
insert into meta values ('schema_version', '1');
"""


def test_a_schema_1_database_is_upgraded_with_its_history(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as connection:
        connection.executescript(SCHEMA_1)
        for scan_id, names in ((1, ("a", "b")), (2, ("a", "b")), (3, ("a",))):
            connection.execute("insert into scans (id, accounts, regions, status) values (?, ?, ?, 'complete')",
                               [scan_id, f'["{ACCOUNT}"]', '["eu-west-1"]'])
            for name in names:
                row = queue(name, "managed" if (scan_id, name) == (3, "a") else "unmanaged")
                connection.execute("insert into resources (scan_id, id, type, account, region, name, status) "
                                   "values (?, ?, ?, ?, ?, ?, ?)",
                                   [scan_id, row["id"], row["type"], ACCOUNT, "eu-west-1", name, row["status"]])
            connection.execute("insert into owners values (?, ?, 'terraform', 's', 'aws_sqs_queue.a')",
                               [scan_id, queue("a")["id"]])
    db_handle = open_database(db)
    assert db_handle["meta"].get("schema_version")["value"] == str(SCHEMA_VERSION)
    assert said(db, 1) == said(db, 2) == {"a": "unmanaged", "b": "unmanaged"}
    assert said(db, 3) == {"a": "managed"}
    assert history(db, "a") == [("unmanaged", 1, 3, 1, 1), ("managed", 3, None, 1, 3)]
    assert history(db, "b") == [("unmanaged", 1, 3, 1, 1)]
    with sqlite3.connect(db) as connection:
        assert connection.execute("select count(*) from scan_owners where scan_id = 2").fetchone()[0] == 1
        tables = {r[0] for r in connection.execute("select name from sqlite_master where type = 'table'")}
    assert not any(t.startswith("v1_") for t in tables)


@pytest.mark.parametrize("broken", ["digest = 0, raw_digest = 0", "until_scan = 1"])
def test_the_views_read_what_the_writer_wrote_not_a_guess(tmp_path, broken):
    """Tampering with the bookkeeping shows: the views are read from it, not recomputed."""
    db = tmp_path / "g.db"
    write_scan(db, [queue("a")])
    with sqlite3.connect(db) as connection:
        connection.execute(f"update resources set {broken}")
    second = write_scan(db, [queue("a")])
    # a wrong digest makes the same row a change; an ended version leaves the scan to start a new one
    assert count(db, "resources") == 2 and said(db, second) == {"a": "unmanaged"}


def test_prune_keeps_what_the_kept_scans_show_and_the_latest_of_every_place(tmp_path):
    from click.testing import CliRunner

    from driftgraph.cli import cli

    db = tmp_path / "g.db"
    write_scan(db, [queue("old"), queue("stays")])  # 1
    write_scan(db, [queue("stays")])  # 2: `old` deleted
    write_scan(db, [queue("far", account=OTHER)], scopes=[(OTHER, "eu-west-1")])  # 3: another account, once
    for _ in range(3):  # 4, 5, 6
        write_scan(db, [queue("stays", tags={"n": "changed"}), queue("new")])
    result = CliRunner().invoke(cli, ["prune", "--db", str(db), "--keep", "2", "--dry-run"])
    assert result.exit_code == 0 and "would drop 3 scans" in result.output
    assert count(db, "resources") == 5
    result = CliRunner().invoke(cli, ["prune", "--db", str(db), "--keep", "2"])
    assert result.exit_code == 0, result.output
    # kept: 5 and 6 (the last two) and 3 (the only scan of the other account); `old` and the first `stays` went
    assert said(db, 6) == said(db, 5) == {"stays": "unmanaged", "new": "unmanaged"}
    assert said(db, 3) == {"far": "unmanaged"} and said(db, 1) == {}
    with sqlite3.connect(db) as connection:
        assert {r[0] for r in connection.execute("select name from current_resources")} == {"stays", "new", "far"}
        assert [r[0] for r in connection.execute("select id from scans where pruned_at is not null")] == [1, 2, 4]
        # what stays keeps its history: first seen in scan 1, whose row (its time) is kept
        assert connection.execute("select first_seen from current_resources where name = 'stays'").fetchone() == (1,)
    assert history(db, "old") == []


def test_prune_takes_a_duration_and_refuses_nonsense(tmp_path):
    from click.testing import CliRunner

    from driftgraph.cli import cli

    db = tmp_path / "g.db"
    write_scan(db, [queue("a")])
    assert CliRunner().invoke(cli, ["prune", "--db", str(db), "--keep", "soon"]).exit_code == 2
    result = CliRunner().invoke(cli, ["prune", "--db", str(db), "--keep", "12w"])
    assert result.exit_code == 0 and "dropped 0 scans" in result.output


def test_a_failed_listing_keeps_what_was_last_seen_current_without_saying_it_again(tmp_path):
    db = tmp_path / "g.db"
    write_scan(db, [queue("hand"), queue("coded", "managed"), queue("ignored-by-failure", region="us-east-1")],
               scopes=[(ACCOUNT, "eu-west-1"), (ACCOUNT, "us-east-1")])
    writer = ScanWriter(db)  # scan 2: listing queues in eu-west-1 denied; the declared one cannot be told
    writer.begin({"status": "running"})
    writer.write_scopes([(ACCOUNT, "eu-west-1"), (ACCOUNT, "us-east-1")])
    writer.write("listings", [{"account": ACCOUNT, "region": "eu-west-1", "type": "AWS::SQS::Queue",
                               "outcome": "access_denied"}])
    writer.write("resources", [queue("coded", "unknown"), queue("ignored-by-failure", region="us-east-1")])
    writer.finish({"status": "partial"})
    writer.commit()
    assert said(db, 2) == {"coded": "unknown", "ignored-by-failure": "unmanaged"}
    assert said(db, 1) == {"hand": "unmanaged", "coded": "managed", "ignored-by-failure": "unmanaged"}
    with sqlite3.connect(db) as connection:
        current = dict(connection.execute("select name, status from current_resources"))
    assert current == {"hand": "unmanaged", "coded": "unknown", "ignored-by-failure": "unmanaged"}
    write_scan(db, [queue("hand"), queue("coded", "managed"), queue("ignored-by-failure", region="us-east-1")],
               scopes=[(ACCOUNT, "eu-west-1"), (ACCOUNT, "us-east-1")])
    assert said(db, 3) == said(db, 1)
    assert history(db, "hand") == [("unmanaged", 1, None, 1, 1)]  # one version all along, as last seen in scan 2
    assert history(db, "coded") == [("managed", 1, 2, 1, 1), ("unknown", 2, 3, 1, 2), ("managed", 3, None, 1, 3)]
    # a failed listing of a type in one region ends nothing there once a good scan says it is gone
    write_scan(db, [queue("coded", "managed")], scopes=[(ACCOUNT, "eu-west-1")])
    assert [row[2] for row in history(db, "hand")] == [4]


def test_a_resource_unknown_behind_the_same_failed_listing_twice_keeps_one_version_both_scans_say(tmp_path):
    db = tmp_path / "g.db"
    denied = {"account": ACCOUNT, "region": "eu-west-1", "type": "AWS::SQS::Queue", "outcome": "access_denied"}
    owner = {"tool": "terraform", "source": "s.tfstate", "address": "aws_sqs_queue.coded"}
    versions = []
    for _ in range(2):  # the same records twice: the listing still denied, the declared queue still unknown
        writer = ScanWriter(db)
        writer.begin({"status": "running"})
        writer.write_scopes([(ACCOUNT, "eu-west-1")])
        writer.write("listings", [denied])
        writer.write("resources", [queue("coded", "unknown", reason="its listing failed")])
        writer.write("owners", [{"resource_id": queue("coded")["id"], **owner}])
        writer.finish({"status": "partial"})
        writer.commit()
        versions.append(writer.versions)
    assert versions[1]["new"] == 0 and versions[1]["ended"] == 0 and versions[1]["unchanged"] == 1
    assert history(db, "coded") == [("unknown", 1, None, 1, 1)]
    assert said(db, 1) == said(db, 2) == {"coded": "unknown"}
    with sqlite3.connect(db) as connection:
        assert connection.execute("select count(*) from scan_owners where scan_id = 2").fetchone()[0] == 1
    # a third scan behind the same failure that no longer reports it keeps it as last seen, without saying it
    writer = ScanWriter(db)
    writer.begin({"status": "running"})
    writer.write_scopes([(ACCOUNT, "eu-west-1")])
    writer.write("listings", [denied])
    writer.finish({"status": "partial"})
    writer.commit()
    assert said(db, 3) == {} and history(db, "coded") == [("unknown", 1, None, 1, 1)]


def test_rows_given_differently_but_stored_alike_keep_their_version_and_the_next_scan_skips_cleaning(tmp_path):
    """The raw digest (rows as given) decides most scans; where it differs (rows in another order, other cleaning
    rules, a version an older driftgraph wrote) the stored content decides, and the raw digest is brought up to date."""
    db = tmp_path / "g.db"
    write_scan(db, [queue("a", tags={"team": "x", "env": "prod"})])
    with sqlite3.connect(db) as connection:
        first = connection.execute("select version, digest, raw_digest from resources").fetchone()
        connection.execute("update resources set raw_digest = null")  # as an older driftgraph left it...
        connection.execute("update resources set digest = ?", [_legacy_digest_of(connection)])  # ...with its digest
    writer = ScanWriter(db)
    writer.begin({"status": "running"})
    writer.write_scopes([(ACCOUNT, "eu-west-1")])
    writer.write("resources", [queue("a", tags={"env": "prod", "team": "x"})])  # the same tags, in another order
    writer.finish({"status": "complete"})
    writer.commit()
    assert writer.versions["new"] == 0 and writer.versions["unchanged"] == 1
    with sqlite3.connect(db) as connection:
        assert connection.execute("select version, digest from resources").fetchall() == [first[:2]]
        refreshed = connection.execute("select raw_digest from resources").fetchone()[0]
    assert refreshed is not None and refreshed != first[2]  # the tags' order is part of the rows as given


def _legacy_digest_of(connection) -> int:
    """The digest the version would carry had schema 2's first release written it (repr of the stored row)."""
    from graph.cleaning import legacy_digest
    from graph.store import CONTENT

    row = connection.execute(f"select {', '.join(CONTENT['resources'])} from resources").fetchone()
    return legacy_digest(tuple(row), ((), (), ()))


def test_rows_marshal_cannot_digest_as_given_are_compared_cleaned_and_keep_their_version(tmp_path):
    import datetime as dt

    db = tmp_path / "g.db"
    made = dt.datetime(2026, 1, 2, 3, 4, 5)  # a value marshal cannot write: the raw digest is left out
    write_scan(db, [queue("a", attributes={"created": made})])
    second = write_scan(db, [queue("a", attributes={"created": made})])
    assert history(db, "a") == [("unmanaged", 1, None, 1, 1)] and said(db, second) == {"a": "unmanaged"}
    with sqlite3.connect(db) as connection:
        assert connection.execute("select attributes, raw_digest from resources").fetchone() == (
            '{"created": "2026-01-02 03:04:05"}', None)


def test_a_first_load_stored_batch_by_batch_keeps_every_row_with_its_own_version(tmp_path, monkeypatch):
    """A first scan into an empty store is stored a batch at a time as it is cleaned: the versions run on across
    batches and each resource's owners, edges and drift hang off its own version, as one batch would store them."""
    import graph.store as store

    names = [f"q{k:02d}" for k in range(11)]
    resources = [queue(name, status="managed") for name in names]
    owners = [{"resource_id": r["id"], "tool": "terraform", "address": f"aws_sqs_queue.{r['name']}"} for r in resources]
    edges = [{"source_id": r["id"], "relation": "uses", "target_id": f"key-of-{r['name']}"} for r in resources]
    drift = [{"resource_id": r["id"], "attribute": "delay_seconds", "declared": k, "live": k + 1}
             for k, r in enumerate(resources)]
    read = ("select r.name, o.address, e.target_id, d.declared from resources r join owners o on o.version = r.version "
            "join edges e on e.version = r.version join drift d on d.version = r.version order by r.name")
    stored = {}
    for rows_a_batch in (4, 1000):
        monkeypatch.setattr(store, "_STREAM_ROWS", rows_a_batch)
        db = tmp_path / f"batches-{rows_a_batch}.db"
        write_scan(db, resources, owners=owners, edges=edges, drift=drift)
        with sqlite3.connect(db) as connection:
            stored[rows_a_batch] = connection.execute(read).fetchall()
            assert [v for (v,) in connection.execute("select version from resources order by version")] == list(
                range(1, len(names) + 1))
    assert stored[4] == stored[1000]
    assert stored[4] == [(name, f"aws_sqs_queue.{name}", f"key-of-{name}", str(k)) for k, name in enumerate(names)]


def test_owners_and_edges_given_as_tuples_are_stored_and_redacted_as_the_same_rows_given_as_dicts(tmp_path):
    """Rows of a versioned table may come as tuples of its content columns (a third of a dict's memory): they are
    cleaned (a credential in a Terraform address masked) and stored exactly as the same rows given as dicts."""
    from graph.store import CONTENT

    resources = [queue("orders", status="managed"), queue("billing", status="managed")]
    owners = [{"resource_id": r["id"], "tool": "terraform", "source": "s3://acme/prod.tfstate",
               "address": f'aws_sqs_queue.q["{r["name"]} AKIAIOSFODNN7EXAMPLE"]', "framework": "terraform"}
              for r in resources]
    edges = [{"source_id": resources[0]["id"], "relation": "sends_to", "target_id": resources[1]["id"]}]
    read = {table: f"select {', '.join(CONTENT[table])} from {table} order by 1, 2" for table in ("owners", "edges")}
    stored = {}
    for form in ("dicts", "tuples"):
        db = tmp_path / f"{form}.db"
        if form == "dicts":
            write_scan(db, resources, owners=owners, edges=edges)
        else:
            write_scan(db, resources, owners=[tuple(map(o.get, CONTENT["owners"])) for o in owners],
                       edges=[tuple(map(e.get, CONTENT["edges"])) for e in edges])
        with sqlite3.connect(db) as connection:
            stored[form] = {table: connection.execute(sql).fetchall() for table, sql in read.items()}
    assert stored["tuples"] == stored["dicts"]
    assert len(stored["tuples"]["owners"]) == 2 and len(stored["tuples"]["edges"]) == 1
    assert not any("AKIAIOSFODNN7EXAMPLE" in str(row) for row in stored["tuples"]["owners"])
    assert all("orders" in row[3] or "billing" in row[3] for row in stored["tuples"]["owners"])


def test_a_tuple_row_of_the_wrong_width_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tuple has 3 values"):
        write_scan(tmp_path / "g.db", [queue("orders")], edges=[("a", "b")])


def test_a_schema_2_database_gets_the_read_model_when_opened(tmp_path):
    """A database a driftgraph before the read model wrote (schema 2: no summaries, no read indexes) is upgraded
    when opened, so the summaries the dashboard and canned queries read hold its current picture at once."""
    db = tmp_path / "g.db"
    write_scan(db, [queue("a"), queue("b", status="managed"), {**queue("c"), "import_group": "g1"}])
    with sqlite3.connect(db) as connection:
        for table in ("current_counts", "current_components", "scan_counts", "version_counts"):
            connection.execute(f"drop table {table}")
        connection.execute("update meta set value = '2' where key = 'schema_version'")
    handle = open_database(db)
    assert handle["meta"].get("schema_version")["value"] == str(SCHEMA_VERSION)
    counts = {row["status"]: row["resources"] for row in handle.query(
        "select status, sum(resources) as resources from current_counts group by status")}
    assert counts == {"unmanaged": 2, "managed": 1}
    assert [(row["import_group"], row["size"]) for row in handle.query("select * from current_components")] == [("g1", 1)]


def test_digests_a_hand_edited_database_holds_are_no_digests_not_a_crash(tmp_path):
    """A stored digest that is no 64-bit number matches nothing: the resource is compared cleaned and, its digest
    unreadable, stored as a new version; the scan completes."""
    db = tmp_path / "g.db"
    write_scan(db, [queue("a"), queue("b")])
    with sqlite3.connect(db) as connection:
        connection.execute("update resources set digest = 'not a number', raw_digest = 2.5 where name = 'a'")
        connection.execute("update resources set digest = 99999999999999999999 where name = 'b'")
    second = write_scan(db, [queue("a"), queue("b")])
    assert said(db, second) == {"a": "unmanaged", "b": "unmanaged"}
    assert [row[1:3] for row in history(db, "a")] == [(1, 2), (2, None)]
    assert [row[1:3] for row in history(db, "b")] == [(1, None)]  # its raw digest still finds it


@pytest.mark.parametrize("scenario", [
    test_a_scan_that_changes_nothing_stores_no_resource_rows,
    test_a_change_is_a_new_version_and_history_carries_over,
    test_a_resource_gone_from_a_scanned_place_ends_and_one_elsewhere_stays,
    test_a_failed_listing_keeps_what_was_last_seen_current_without_saying_it_again,
    test_a_resource_unknown_behind_the_same_failed_listing_twice_keeps_one_version_both_scans_say,
    test_rows_given_differently_but_stored_alike_keep_their_version_and_the_next_scan_skips_cleaning,
    test_rows_marshal_cannot_digest_as_given_are_compared_cleaned_and_keep_their_version,
], ids=lambda scenario: scenario.__name__[len("test_"):])
def test_ids_that_share_a_hash_are_told_apart_by_their_digests(tmp_path, monkeypatch, scenario):
    """The writer finds an id's current versions by the id's hash: with every id under one hash, each scenario
    still keeps, ends and versions exactly what it does otherwise."""
    import graph.store

    monkeypatch.setattr(graph.store, "_id_key", lambda id_: 0)
    scenario(tmp_path)


_SUMMARY_SCENARIOS = [
    test_a_change_is_a_new_version_and_history_carries_over,
    test_a_resource_gone_from_a_scanned_place_ends_and_one_elsewhere_stays,
    test_a_failed_listing_keeps_what_was_last_seen_current_without_saying_it_again,
    test_a_resource_unknown_behind_the_same_failed_listing_twice_keeps_one_version_both_scans_say,
    test_rows_given_differently_but_stored_alike_keep_their_version_and_the_next_scan_skips_cleaning,
    test_prune_keeps_what_the_kept_scans_show_and_the_latest_of_every_place,
]


@pytest.mark.parametrize("scenario", _SUMMARY_SCENARIOS, ids=lambda scenario: scenario.__name__[len("test_"):])
def test_summaries_brought_up_to_date_by_a_scan_equal_summaries_counted_again(tmp_path, monkeypatch, scenario):
    """A scan adds what it changed to the counts of the scan before it: after every commit of each scenario, the
    summaries it wrote are those a count of every current version writes."""
    import graph.store

    refresh = graph.store.refresh_summaries
    updated = []

    def both(connection, scan=None):
        def tables():
            return {table: sorted(connection.execute(f"select * from {table}"), key=repr)
                    for table in ("current_counts", "current_components", "scan_counts", "version_counts")}
        updated.append(scan is not None and graph.store._updated_counts(connection, *scan) is not None)
        refresh(connection, scan)
        brought = tables()
        refresh(connection)  # counted again, from every current version
        assert brought == tables()
        assert brought["version_counts"] == sorted(connection.execute(  # every version, whichever way it was counted
            "select account, region, type, status, count(*) from resources group by 1, 2, 3, 4"), key=repr)

    monkeypatch.setattr(graph.store, "refresh_summaries", both)
    scenario(tmp_path)
    assert any(updated[1:])  # the scans after the first were brought up to date, not counted again


def test_summaries_of_another_scan_are_counted_again(tmp_path):
    """Counts the scan before did not write (an older driftgraph's, edited by hand) are not added to."""
    db = tmp_path / "g.db"
    write_scan(db, [queue("a", tags={"team": 7}), queue("b")])
    with sqlite3.connect(db) as connection:
        connection.execute("update current_counts set resources = resources + 5")
        connection.execute("update meta set value = '0' where key = 'summaries_of_scan'")
    write_scan(db, [queue("a", tags={"team": 7}), queue("c")])
    with sqlite3.connect(db) as connection:
        assert connection.execute("select name from current_resources order by name").fetchall() == [("a",), ("c",)]
        assert connection.execute("select team, resources from current_counts order by team").fetchall() == [
            (None, 1), ("7", 1)]


def test_the_cleaning_rules_cover_the_cleaning_code_and_content_columns_and_nothing_else_of_the_store(
        tmp_path, monkeypatch):
    """A raw digest stays good across an upgrade that changes no cleaning rule (an index, a summary, the writer):
    the rules digest covers graph.cleaning, graph.redact and the versioned tables' content columns, not the rest
    of graph.store, so that such an upgrade does not make the next scan clean a million rows again."""
    import graph.cleaning
    import graph.redact
    import graph.store
    from graph.cleaning import rules_digest
    from graph.store import CONTENT, RULES

    assert rules_digest(CONTENT) == RULES

    def edited(module) -> str:
        copy = tmp_path / Path(module.__file__).name
        copy.write_text(Path(module.__file__).read_text() + "\n# an edit\n")
        return str(copy)

    monkeypatch.setattr(graph.store, "__file__", edited(graph.store))
    assert rules_digest(CONTENT) == RULES  # the rest of the store: no rule
    for module in (graph.cleaning, graph.redact):
        with monkeypatch.context() as patched:
            patched.setattr(module, "__file__", edited(module))
            assert rules_digest(CONTENT) != RULES, module.__name__
    assert rules_digest({**CONTENT, "resources": (*CONTENT["resources"], "owner_team")}) != RULES


def test_the_current_views_of_per_scan_tables_show_the_latest_scan_of_each_place_over_a_long_history(tmp_path):
    """current_stacks and its kin read only the scans latest somewhere (so they do not slow with the history):
    the rows they give are those of the plain rule, each place's latest scan, a row of no region its account's
    latest scan, a row of no account the latest scan."""
    db = tmp_path / "g.db"

    def scan(places, stacks, listings):
        writer = ScanWriter(db)
        writer.begin({"started_at": "2026-12-01T00:00:00+00:00", "status": "running"})
        writer.write_scopes(places)
        writer.write("resources", [])
        writer.write("stacks", stacks)
        writer.write("listings", listings)
        writer.finish({"status": "complete", "finished_at": "2026-12-01T00:01:00+00:00"})
        writer.commit()

    def stack(name, account, region):
        return {"id": f"arn:{account}:{region}:{name}", "name": name, "account": account, "region": region}

    def listing(account, region, outcome="ok"):
        return {"account": account, "region": region, "type": "AWS::SQS::Queue", "outcome": outcome}

    for week in range(6):  # a weekly history: A's Ireland every week, B's Virginia every other week
        places = [(ACCOUNT, "eu-west-1")] + ([(OTHER, "us-east-1")] if week % 2 == 0 else [])
        scan(places, [stack(f"a{week}", ACCOUNT, "eu-west-1"), stack(f"n{week}", None, None)]
             + ([stack(f"b{week}", OTHER, "us-east-1"), stack(f"r{week}", OTHER, None)] if week % 2 == 0 else []),
             [listing(a, r) for a, r in places])
    # the latest: A alone, its Ireland listing failed
    scan([(ACCOUNT, "eu-west-1")], [stack("a-last", ACCOUNT, "eu-west-1")],
         [listing(ACCOUNT, "eu-west-1", "AccessDenied")])

    with sqlite3.connect(db) as connection:
        for table in ("stacks", "listings"):
            plain = connection.execute(
                f"select * from {table} x where x.scan_id = coalesce((select max(c.scan_id) from scan_scopes c "
                "where c.account is x.account and (x.region is null or c.region is x.region) and x.account is not "
                "null), (select max(id) from scans)) order by rowid").fetchall()
            assert connection.execute(f"select * from current_{table} order by rowid").fetchall() == plain
        names = {row[0] for row in connection.execute("select name from current_stacks")}
    assert names == {"a-last", "b4", "r4"}  # the latest of A; B's latest (week 4); no stack of no account now
