"""`driftgraph demo` replaces only what an earlier demo made: a real inventory at --db, or a folder of the
user's where the demo would write its states, is refused unless --force."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from driftgraph.cli import cli
from driftgraph.demo import DEMO_META, ESTATE_MARK, claim_demo_paths, estate_folder
from graph.store import ScanWriter


def _database(path, meta=None):
    writer = ScanWriter(path)
    writer.begin({"started_at": "now", "status": "running"})
    if meta:
        writer.write_meta(dict([meta]))
    writer.commit()


def test_an_inventory_at_db_is_refused_and_kept(tmp_path):
    inventory = tmp_path / "estate.db"
    _database(inventory)
    before = inventory.read_bytes()
    result = CliRunner().invoke(cli, ["demo", "--no-serve", "--db", str(inventory)])
    assert result.exit_code == 1 and "is not a demo database" in result.output and "--force" in result.output
    assert inventory.read_bytes() == before
    notes = tmp_path / "notes.db"
    notes.write_text("my notes")
    assert CliRunner().invoke(cli, ["demo", "--no-serve", "--db", str(notes)]).exit_code == 1
    assert notes.read_text() == "my notes"


def test_a_demo_database_is_replaced_and_force_replaces_anything(tmp_path):
    demo = tmp_path / "demo.db"
    _database(demo, DEMO_META)
    claim_demo_paths(demo, force=False)
    assert not demo.exists() and (estate_folder(demo) / ESTATE_MARK).exists()
    other = tmp_path / "other.db"
    _database(other)
    claim_demo_paths(other, force=True)
    assert not other.exists()


def test_a_folder_of_the_users_where_the_demo_writes_states_is_refused(tmp_path):
    db = tmp_path / "driftgraph.db"
    folder = estate_folder(db)
    folder.mkdir()
    (folder / "terraform.tfstate").write_text("{}")
    with pytest.raises(click.ClickException, match="was not made by `driftgraph demo`"):
        claim_demo_paths(db, force=False)
    assert (folder / "terraform.tfstate").read_text() == "{}"


def test_a_demo_port_in_use_fails_at_once_with_a_clear_error(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["demo", "--db", str(tmp_path / "d.db"), "--port", str(port)])
    assert result.exit_code == 1 and f"port {port} on 127.0.0.1 is in use" in result.output
    assert not (tmp_path / "d.db").exists(), "nothing was built for a demo that cannot be served"
    assert CliRunner().invoke(cli, ["demo", "--port", "99999"]).exit_code == 2


def test_a_demo_db_in_a_place_that_cannot_hold_it_is_one_clear_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for db in (afile / "d.db", "/proc/driftgraph-demo/d.db"):
        result = CliRunner().invoke(cli, ["demo", "--no-serve", "--db", str(db)])
        assert result.exit_code == 1 and "cannot make the demo at" in result.output, result.output


def test_the_demo_runs_end_to_end_and_prints_its_path_as_written(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "[bold]odd" / "d.db"
    result = subprocess.run([sys.executable, "-m", "driftgraph", "demo", "--no-serve", "--db", str(db)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"database: {db}" in result.stdout.replace("\n", ""), "rich wraps lines, never eats a [bold]"
    assert db.exists() and "Traceback" not in result.stderr
    # it ends with the CDK audit's summary and the codify output of its unmanaged resources, in its own folder
    flat = " ".join(result.stdout.split())
    # 13 hand-made resources a week back; then one more made by hand and a bucket adopted by a state, and the log
    # group deleted: 12 to import today, and the diff between the two scans says each change
    assert "v1 wave 0: legacy-platform" in flat and "codify --format terraform: 12 resources to import" in flat
    assert "diff: 1 new_unmanaged, 1 resolved_unmanaged, 1 new_drift, 1 resolved_drift, 1 deleted" in flat
    codified = db.parent / "d-estate" / "codify"
    imports = "".join(p.read_text() for p in (codified / "terraform").rglob("imports.tf"))
    assert imports.count("import {") == 12
    assert (codified / "cloudformation" / "blockers.json").exists()
