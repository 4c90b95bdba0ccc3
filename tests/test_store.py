"""The store never loses a scan and never harms a file it does not own: one transaction per scan, written in
place (mode, owner and symlinks kept), turns between concurrent writers, foreign files refused."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import sqlite_utils

from graph.store import NotADriftgraphDatabase, ScanWriter, check_database, open_database


def _write_scan(path, name, hold=0.0):
    writer = ScanWriter(path)
    writer.begin({"started_at": name, "status": "running"})
    writer.write("resources", [{"id": name, "status": "unmanaged"}])
    time.sleep(hold)
    writer.finish({"status": "complete"})
    writer.commit()


def _scans(path):
    return [row["started_at"] for row in sqlite_utils.Database(path).query("select started_at from scans order by id")]


def test_concurrent_scans_take_turns_and_both_are_kept(tmp_path, caplog):
    db = tmp_path / "g.db"
    first = threading.Thread(target=_write_scan, args=(db, "first", 0.5))
    first.start()
    time.sleep(0.1)  # the first writer holds the lock and is mid-scan
    with caplog.at_level("WARNING", logger="driftgraph.store"):
        _write_scan(db, "second")
    first.join()
    assert _scans(db) == ["first", "second"]
    assert "another scan is writing to it; waiting for it to finish" in caplog.text, "a wait says why"


def test_a_reader_sees_the_last_committed_scan_while_the_next_is_written(tmp_path):
    db = tmp_path / "g.db"
    _write_scan(db, "good")
    writer = ScanWriter(db)
    writer.begin({"started_at": "half", "status": "running"})
    writer.write("resources", [{"id": "half", "status": "unmanaged"}])
    assert _scans(db) == ["good"]
    writer.abort()
    assert _scans(db) == ["good"]


def test_a_scan_killed_mid_write_leaves_the_last_good_database(tmp_path):
    db = tmp_path / "g.db"
    _write_scan(db, "good")
    script = textwrap.dedent(
        f"""
        import time
        from graph.store import ScanWriter
        writer = ScanWriter({str(db)!r})
        writer.begin({{"started_at": "killed", "status": "running"}})
        writer.write("resources", [{{"id": f"r{{n}}", "status": "unmanaged", "reason": "x" * 200}} for n in range(20000)])
        print("writing", flush=True)
        time.sleep(60)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    _write_scan(db, "next")  # the next writer rolls the dead one's journal back
    assert _scans(db) == ["good", "next"]
    connection = sqlite3.connect(db)
    assert connection.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert connection.execute("select count(*) from resources").fetchone()[0] == 2


def test_a_full_disk_mid_write_leaves_the_last_good_database(tmp_path):
    """RLIMIT_FSIZE makes writes past 2 MB fail with EFBIG, as a full disk fails them (Python ignores SIGXFSZ)."""
    db = tmp_path / "g.db"
    _write_scan(db, "good")
    size = db.stat().st_size
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))
        from graph.store import ScanWriter
        writer = ScanWriter({str(db)!r})
        try:
            writer.begin({{"started_at": "too big", "status": "running"}})
            writer.write("resources", [{{"id": f"r{{n}}", "status": "unmanaged", "reason": "x" * 500}} for n in range(20000)])
            writer.commit()
        except Exception as error:
            writer.abort()
            print(type(error).__name__, error)
            sys.exit(1)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "disk I/O error" in result.stdout or "full" in result.stdout
    # SQLite may leave the interrupted transaction's journal behind; the next open rolls it back
    assert check_database(db) is True
    assert _scans(db) == ["good"]
    assert db.stat().st_size == size and not (tmp_path / "g.db-journal").exists()
    assert sqlite3.connect(db).execute("pragma integrity_check").fetchone()[0] == "ok"


def test_a_scan_keeps_the_files_mode_and_its_symlink(tmp_path):
    target = tmp_path / "private" / "estate.db"
    target.parent.mkdir()
    _write_scan(target, "first")
    os.chmod(target, 0o600)
    link = tmp_path / "estate.db"
    link.symlink_to(target)
    _write_scan(link, "second")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600, "the inventory must not become world-readable"
    assert _scans(target) == ["first", "second"]


def test_names_that_look_like_globs_touch_nothing_else(tmp_path):
    """A database named like a pattern is just a name: nothing beside it is ever deleted."""
    folder = tmp_path / "g"
    folder.mkdir()
    neighbours = ["est1.db", "est2.db", "est1.db.tmp-123", "other.txt"]
    for name in neighbours:
        (folder / name).write_text("someone else's")
    for name in ("est[12].db", "*"):
        _write_scan(folder / name, name)
    for name in neighbours:
        assert (folder / name).read_text() == "someone else's"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*neighbours, "est[12].db", "est[12].db.lock", "*", "*.lock"])


def test_another_applications_database_is_refused_and_left_as_it_was(tmp_path):
    db = tmp_path / "app.db"
    connection = sqlite3.connect(db)
    connection.execute("create table customers (id integer primary key, name text)")
    connection.execute("insert into customers (name) values ('ada')")
    connection.commit()
    connection.close()
    before = db.read_bytes()
    with pytest.raises(NotADriftgraphDatabase, match="another application's SQLite database .*customers"):
        ScanWriter(db)
    with pytest.raises(NotADriftgraphDatabase):
        open_database(db)
    assert db.read_bytes() == before
    assert not (tmp_path / "app.db.lock").exists()


@pytest.mark.parametrize("content", [b"hello, I am a text file\n", b"SQLite format 3\x00" + b"\x00" * 84])
def test_a_file_that_is_no_database_is_refused(tmp_path, content):
    db = tmp_path / "notes.db"
    db.write_bytes(content)
    with pytest.raises(NotADriftgraphDatabase, match="notes.db"):
        ScanWriter(db)
    assert db.read_bytes() == content


def test_an_empty_file_or_empty_database_is_a_new_one(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    assert check_database(empty) is False
    _write_scan(empty, "first")
    assert check_database(empty) is True
    blank = tmp_path / "blank.db"
    sqlite3.connect(blank).execute("pragma user_version = 0").close()
    _write_scan(blank, "first")
    assert _scans(blank) == ["first"]


def test_an_older_database_gains_the_columns_added_since(tmp_path):
    db = tmp_path / "old.db"
    _write_scan(db, "old")
    connection = sqlite3.connect(db)
    connection.execute("alter table listings drop column call")
    connection.commit()
    connection.close()
    writer = ScanWriter(db)
    writer.begin({"started_at": "new", "status": "running"})
    writer.write("listings", [{"account": "1", "region": "r", "type": "t", "outcome": "access_denied", "call": "ListQueueTags"}])
    writer.commit()
    assert [r["call"] for r in sqlite_utils.Database(db).query("select call from listings")] == ["ListQueueTags"]


def test_a_database_whose_schema_version_is_not_a_number_is_named(tmp_path):
    db = tmp_path / "g.db"
    _write_scan(db, "first")
    connection = sqlite3.connect(db)
    connection.execute("update meta set value = 'abc' where key = 'schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(NotADriftgraphDatabase, match="g.db: its schema version is not a number"):
        check_database(db)


def test_a_huge_value_is_stored_cut_and_two_huge_ids_stay_apart(tmp_path):
    from graph.cleaning import MAX_TEXT_CHARS

    db = tmp_path / "g.db"
    writer = ScanWriter(db)
    writer.begin({"started_at": "now", "status": "running"})
    huge = "n" * (3 * MAX_TEXT_CHARS)
    writer.write("resources", [{"id": huge + "1", "name": huge, "status": "unmanaged"},
                               {"id": huge + "2", "name": huge, "status": "unmanaged"}])
    writer.commit()
    rows = list(sqlite_utils.Database(db).query("select id, name from resources"))
    assert len({r["id"] for r in rows}) == 2
    assert all(len(r["name"]) < MAX_TEXT_CHARS + 100 and "characters, sha256" in r["name"] for r in rows)


@pytest.mark.parametrize("edges", [[("a", "uses")], [("a", "uses", "b"), ("c", "uses")],
                                   [{"source_id": "a", "relation": "uses", "target_id": "b"}, ("c", "uses")]])
def test_a_row_given_as_a_tuple_of_the_wrong_width_is_refused_and_nothing_is_written(tmp_path, edges):
    """Tuples are read by position: one of the wrong width, alone or among right ones or dicts, would put values
    under the wrong columns, so the scan stops with the table and its columns named and the database unchanged."""
    db = tmp_path / "g.db"
    writer = ScanWriter(db)
    writer.begin({"status": "running"})
    writer.write("edges", edges)
    with pytest.raises(ValueError, match=r"an? edges row given as a tuple has 3 values: source_id, relation, target_id"):
        writer.finish({"status": "complete"})
    writer.abort()
    assert not check_database(db)
