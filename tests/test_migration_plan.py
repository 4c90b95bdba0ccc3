"""`driftgraph plan` on the demo estate: the migration worksheet agrees with what codify writes."""

from __future__ import annotations

import json
import re
import sqlite3

from conftest import run_cli


def test_the_worksheet_lists_every_unmanaged_resource_once_with_the_import_id_codify_writes(estate_scan, tmp_path):
    db, endpoint = str(estate_scan["db"]), estate_scan["endpoint"]
    plan = json.loads(run_cli(["plan", "--db", db, "--format", "json"], endpoint).stdout)
    assert plan["schema"] == "driftgraph/plan/1"
    listed = [r for g in plan["groups"] for r in g["resources"]]
    unmanaged = {r["id"] for r in estate_scan["report"]["resources"] if r["status"] == "unmanaged"}
    assert sorted(r["id"] for r in listed) == sorted(unmanaged)
    assert plan["summary"]["resources"] == len(unmanaged) == sum(g["size"] for g in plan["groups"])
    out = tmp_path / "codified"
    run_cli(["codify", "--db", db, "--format", "terraform", "--out", str(out)], endpoint)
    written = dict(re.findall(r'to\s*=\s*(\S+)\s+id\s*=\s*"([^"]+)"', "".join(
        p.read_text() for p in out.rglob("imports.tf"))))
    assert sorted(written.values()) == sorted(r["terraform_import_id"] for r in listed)
    for group in plan["groups"]:  # each group's files are the folder codify wrote
        assert all((out / f.split("/", 1)[1]).is_file() for f in group["files"])
    # the scan stored the same ids, for the worksheet's canned query
    with sqlite3.connect(db) as connection:
        stored = dict(connection.execute("select id, import_id from scan_resources where status = 'unmanaged' and "
                                         "scan_id = (select max(id) from scans)"))
    assert stored == {r["id"]: r["terraform_import_id"] for r in listed}
    assert any(b["type"] == "AWS::SSM::Parameter" for b in plan["blockers"]["cloudformation"])


def test_the_worksheet_renders_as_markdown_and_a_page_with_nothing_fetched(estate_scan):
    db, endpoint = str(estate_scan["db"]), estate_scan["endpoint"]
    markdown = run_cli(["plan", "--db", db], endpoint).stdout
    assert markdown.startswith("# driftgraph migration plan") and "## 01-" in markdown
    assert "Cannot be imported with cloudformation" in markdown
    page = run_cli(["plan", "--db", db, "--format", "html"], endpoint).stdout
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page.split("<body>")[0]
    around = json.loads(run_cli(["plan", "--db", db, "--format", "json", "--around", "bastion-by-hand", "--depth", "1"],
                                endpoint).stdout)
    assert {r["type"] for g in around["groups"] for r in g["resources"]} == {
        "AWS::EC2::Instance", "AWS::EC2::SecurityGroup", "AWS::EC2::EIP"}
