"""The store never loses a scan: atomic replacement, turns between concurrent writers, stale copies cleaned."""

from __future__ import annotations

import threading
import time

import sqlite_utils

from graph.store import ScanWriter


def _write_scan(path, name, hold=0.0):
    writer = ScanWriter(path)
    writer.begin({"started_at": name, "status": "running"})
    writer.write("resources", [{"id": name, "status": "unmanaged"}])
    time.sleep(hold)
    writer.finish({"status": "complete"})
    writer.commit()


def test_concurrent_scans_take_turns_and_both_are_kept(tmp_path):
    db = tmp_path / "g.db"
    first = threading.Thread(target=_write_scan, args=(db, "first", 0.5))
    first.start()
    time.sleep(0.1)  # the first writer holds the lock and is mid-scan
    _write_scan(db, "second")
    first.join()
    scans = [row["started_at"] for row in sqlite_utils.Database(db).query("select started_at from scans order by id")]
    assert scans == ["first", "second"]


def test_a_killed_scans_working_copy_is_cleaned_up_by_the_next(tmp_path):
    db = tmp_path / "g.db"
    _write_scan(db, "good")
    stale = tmp_path / "g.db.tmp-999999"
    stale.write_bytes(b"half a database")
    _write_scan(db, "next")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.db", "g.db.lock"]
