"""A large first load is split with a worker process (graph.store._LoadWorker): what it stores must be exactly what
one process stores, the next scan must find it unchanged, and a worker that fails must cost only time."""

from __future__ import annotations

import logging
import sqlite3

import pytest

import graph.store as store
from graph.store import CONTENT, ScanWriter

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def _rows(n: int) -> dict[str, list]:
    """n resources of several kinds, some with secrets in names, reasons, tags and attributes, with owners, edges
    and drift."""
    columns = CONTENT["resources"]
    resources, owners, edges, drift = [], [], [], []
    for i in range(n):
        values = {"id": f"arn:aws:sqs:us-east-1:111111111111:q-{i}" if i % 7 else f"key-{AWS_KEY}-{i}",
                  "arn": f"arn:aws:sqs:us-east-1:111111111111:q-{i}", "type": "AWS::SQS::Queue", "service": "sqs",
                  "account": "111111111111", "region": ("us-east-1", "eu-west-1")[i % 2],
                  "name": f"q-{i}" if i % 5 else f"db_password=hunter2zebra{i}", "natural_id": f"q-{i}",
                  "status": ("managed", "unmanaged", "drifted")[i % 3],
                  "reason": f"declared by Terraform state s3://acme/{i % 13}.tfstate (aws_sqs_queue.q[{i}])",
                  "owner_count": i % 3, "drift_count": i % 2,
                  "tags": {"Team": ("payments", "search")[i % 2], **({"api_token": "abc123"} if i % 11 == 0 else {})},
                  "attributes": {"VisibilityTimeout": i % 60, "Policy": f"token {AWS_KEY}" if i % 17 == 0 else "x"},
                  "aliases": (f"https://sqs.us-east-1.amazonaws.com/111111111111/q-{i}",) if i % 4 else None}
        resources.append(tuple(values.get(column) for column in columns))
        for k in range(i % 3):
            owners.append((values["id"], "terraform", f"s3://acme/{i % 13}.tfstate", f"aws_sqs_queue.q[{i}]#{k}",
                           None, None, "aws_sqs_queue", None))
        if i % 2:
            edges.append((values["id"], "uses", f"arn:aws:kms:us-east-1:111111111111:key/{i % 9}"))
        if i % 10 == 0:
            drift.append({"resource_id": values["id"], "attribute": "visibility_timeout", "declared": 30,
                          "live": i % 60, "tool": "terraform", "source": "s3://acme/x.tfstate", "address": "q"})
    return {"resources": resources, "owners": owners, "edges": edges, "drift": drift}


def _scan(db, rows: dict[str, list], day: int = 1) -> dict[str, int]:
    writer = ScanWriter(db)
    writer.begin({"started_at": f"2026-12-0{day}T00:00:00+00:00", "status": "running"})
    writer.write_scopes({("111111111111", "us-east-1"), ("111111111111", "eu-west-1")})
    for table, table_rows in rows.items():
        writer.write(table, table_rows)
    writer.finish({"status": "complete"})
    writer.commit()
    return writer.versions


def _stored(db) -> dict[str, list]:
    connection = sqlite3.connect(db)
    try:
        return {table: connection.execute(f"select * from [{table}] order by 1, 2, 3").fetchall()
                for table in ("resources", "owners", "edges", "drift")}
    finally:
        connection.close()


@pytest.fixture
def small_batches(monkeypatch):
    """A first load of a few thousand rows takes the parallel path, in several batches."""
    monkeypatch.setattr(store, "_BULK_ROWS", 100)
    monkeypatch.setattr(store, "_CLEAN_ROWS", 250)
    monkeypatch.setattr(store, "_STREAM_ROWS", 400)


def test_a_first_load_split_with_a_worker_stores_what_one_process_stores(tmp_path, monkeypatch, small_batches):
    rows = _rows(3000)
    monkeypatch.setattr(store, "_PARALLEL_ROWS", 10**9)
    one = _scan(tmp_path / "one.db", rows)
    monkeypatch.setattr(store, "_PARALLEL_ROWS", 1000)
    two = _scan(tmp_path / "two.db", rows)
    assert one == two == {"new": 3000, "ended": 0, "unchanged": 0, "carried": 0}
    expected, got = _stored(tmp_path / "one.db"), _stored(tmp_path / "two.db")
    assert len(got["resources"]) == 3000 and len(got["owners"]) == 3000 and got["drift"]
    assert got == expected
    text = repr(got)
    assert AWS_KEY not in text and "hunter2zebra" not in text and "abc123" not in text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".two.db.load-")] == []
    # the next scan of the same estate finds every resource as the worker stored it: nothing new
    assert _scan(tmp_path / "two.db", rows, day=2) == {"new": 0, "ended": 0, "unchanged": 3000, "carried": 0}


@pytest.mark.parametrize("failure, said", [
    ({"_WORKER_CODE": "import sys; sys.stderr.write('worker gave up\\n'); sys.exit(3)"}, "worker gave up"),
    # reads nothing, answers nothing: stopped after its time
    ({"_WORKER_CODE": "import time; time.sleep(600)", "_WORKER_SECONDS": 1.0, "_WORKER_SECONDS_A_ROW": 0.0},
     "no answer after 1 s"),
    ({"sys.executable": "no-such-python"}, "no worker process for the first load"),
], ids=["exits", "hangs", "cannot start"])
def test_a_worker_that_fails_costs_only_time(tmp_path, monkeypatch, small_batches, caplog, failure, said):
    """Its half is loaded by the scan itself, the same rows as one process stores; the warning says why; no file
    of the worker's is left."""
    rows = _rows(2000)
    monkeypatch.setattr(store, "_PARALLEL_ROWS", 10**9)
    _scan(tmp_path / "one.db", rows)
    monkeypatch.setattr(store, "_PARALLEL_ROWS", 1000)
    for name, value in failure.items():
        if name == "sys.executable":
            monkeypatch.setattr(store.sys, "executable", str(tmp_path / value))
        else:
            monkeypatch.setattr(store, name, value)
    with caplog.at_level(logging.WARNING, logger="driftgraph.store"):
        assert _scan(tmp_path / "two.db", rows)["new"] == 2000
    assert _stored(tmp_path / "two.db") == _stored(tmp_path / "one.db")
    assert said in caplog.text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".two.db.load-")] == []


def test_a_worker_file_left_by_a_killed_scan_is_removed_by_the_next(tmp_path):
    db = tmp_path / "g.db"
    _scan(db, _rows(10))
    stale, other = tmp_path / ".g.db.load-abc12_yz.db", tmp_path / ".other.db.load-abc12_yz.db"
    stale.write_bytes(b"half a load")
    other.write_bytes(b"another database's")
    _scan(db, _rows(10), day=2)
    assert not stale.exists() and other.exists()


def test_a_bulk_first_load_ends_with_every_index_a_small_one_has(tmp_path, monkeypatch, small_batches):
    """A bulk load drops the versioned tables' indexes (and the read model's on them) and builds them after."""
    monkeypatch.setattr(store, "_PARALLEL_ROWS", 1000)
    _scan(tmp_path / "bulk.db", _rows(2000))
    _scan(tmp_path / "small.db", _rows(20))

    def indexes(db):
        with sqlite3.connect(db) as connection:
            return sorted(connection.execute("select name, tbl_name, sql from sqlite_master where type = 'index' "
                                             "and sql is not null"))
    assert len(indexes(tmp_path / "small.db")) > 10
    assert indexes(tmp_path / "bulk.db") == indexes(tmp_path / "small.db")


def test_what_a_failed_worker_says_is_redacted_before_it_is_logged(tmp_path, monkeypatch, small_batches, caplog):
    monkeypatch.setattr(store, "_PARALLEL_ROWS", 1000)
    monkeypatch.setattr(store, "_WORKER_CODE",
                        "import sys; sys.stderr.write('ValueError: db_password=hunter2zebra\\n'); sys.exit(1)")
    with caplog.at_level(logging.WARNING, logger="driftgraph.store"):
        _scan(tmp_path / "two.db", _rows(2000))
    assert "db_password=" in caplog.text and "hunter2zebra" not in caplog.text
