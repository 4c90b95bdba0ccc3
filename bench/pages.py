"""Benchmark of what a person waits for in Datasette, run on demand (never in tests): every canned query (with
typical parameters), the landing page, a resource page and the table pages of the main tables and views (their
configured facets included), HTML and JSON, each through Datasette's real request path (`datasette.client`, the
app `driftgraph serve` runs, plugins and metadata included); then `driftgraph report --format json` in a
subprocess, its time and peak RSS. Prints a table against the 500 ms goal of issue 9 and what misses it.

    .venv/bin/python bench/scale.py --n 1000000 --scans 2 --db /tmp/pages1m.db   # make the database (minutes)
    .venv/bin/python bench/pages.py /tmp/pages1m.db
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driftgraph.serve import CONFIG_DIR, database_name, make_app  # noqa: E402

GOAL_MS = 500.0
TABLES = ("resources", "current_resources", "owners", "edges", "drift", "listings")
RUNS = 3  # timed requests per page after one warm-up: the median is reported, the first too (a cold cache)


def typical_parameters(db: Path) -> dict[str, dict[str, str]]:
    """Parameters a person would give each canned query that takes some, read from the database itself."""
    connection = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        def one(sql: str) -> str:
            row = connection.execute(sql).fetchone()
            return row[0] if row and row[0] is not None else ""

        unmanaged = connection.execute(
            "select account, region, type from resources where until_scan is null and status = 'unmanaged' "
            "limit 1").fetchone() or ("", "", "")
        resource = one("select id from resources where until_scan is null and status = 'managed' "
                       "and drift_count > 0 limit 1")
        stack = one("select name from stacks order by scan_id desc limit 1") or "app-0001"
    finally:
        connection.close()
    return {
        "unmanaged": {"account": unmanaged[0], "region": unmanaged[1], "type": unmanaged[2]},
        "unmanaged (all)": {"account": "", "region": "", "type": ""},
        "resource": {"id": resource},
        "stack": {"name": stack},
        "-/resource": {"id": resource},
    }


def pages(db: Path) -> list[tuple[str, str]]:
    """(label, path) of every page timed."""
    name = database_name(db)
    metadata = yaml.safe_load((CONFIG_DIR / "metadata.yaml").read_text(encoding="utf-8"))
    queries = metadata["databases"]["driftgraph"]["queries"]
    params = typical_parameters(db)
    found = [("landing page (dashboard)", f"/{name}"), ("resource page", f"/{name}/-/resource?"
                                                        f"{urlencode(params['-/resource'])}")]
    for query, spec in queries.items():
        variants = [(query, params.get(query))]
        if query == "unmanaged":
            variants.append(("unmanaged (all)", params["unmanaged (all)"]))
        for label, given in variants:
            wanted = set(_named_parameters(spec["sql"]))
            if wanted and given is None:
                given = {p: "" for p in wanted}
            suffix = f"?{urlencode(given)}" if given else ""
            found.append((f"query {label}", f"/{name}/{query}{suffix}"))
            found.append((f"query {label} .json", f"/{name}/{query}.json{suffix}"))
    for table in TABLES:
        found.append((f"table {table}", f"/{name}/{table}"))
        found.append((f"table {table} .json", f"/{name}/{table}.json"))
    found.append(("table current_resources, status=unmanaged", f"/{name}/current_resources?status=unmanaged"))
    return found


def _named_parameters(sql: str) -> list[str]:
    return re.findall(r"(?<!:):(\w+)", sql)


def time_pages(db: Path, runs: int) -> list[dict]:
    app = make_app(db)

    async def run() -> list[dict]:
        await app.invoke_startup()  # as `driftgraph serve` does before it listens
        seconds = server_comparison(db)
        print(f"  the server's own comparison of the latest scan (\"what changed\"), made between pages: "
              f"{seconds:.2f} s after start", file=sys.stderr, flush=True)
        results = []
        for label, path in pages(db):
            times, status = [], None
            for _ in range(runs + 1):
                began = time.perf_counter()
                response = await app.client.get(path)
                times.append((time.perf_counter() - began) * 1000)
                status = response.status_code
                body = response.text
            timed_out = "took longer than" in body or "interrupted" in body.lower()
            results.append({"label": label, "path": path, "status": status, "first_ms": times[0],
                            "median_ms": statistics.median(times[1:]), "timed_out": timed_out})
            print(f"  {label}: {results[-1]['median_ms']:.0f} ms", file=sys.stderr, flush=True)
        return results

    return asyncio.run(run())


def server_comparison(db: Path, wait_s: float = 120.0) -> float:
    """Seconds until the server's thread has compared the latest scan (the dashboard plugin's startup hook), so
    that the dashboard's first load below is the first load after a scan landed on a running server."""
    from datasette.plugins import pm

    plugin = next(m for m in pm.get_plugins() if getattr(m, "__name__", "") == "driftgraph_pages.py")
    began = time.perf_counter()
    while time.perf_counter() - began < wait_s and str(db.resolve()) not in plugin._last_diff:
        time.sleep(0.01)
    return time.perf_counter() - began


def time_report(db: Path) -> dict:
    """`driftgraph report --format json` in its own process: wall time, peak RSS (ru_maxrss of the child), bytes."""
    out = db.with_name(db.stem + "-report.json")
    began = time.perf_counter()
    command = [sys.executable, "-c", "import resource, sys, runpy; sys.argv = ['driftgraph'] + sys.argv[1:]; "
               "from driftgraph.cli import cli\ntry:\n    cli()\nexcept SystemExit as e:\n"
               "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); raise",
               "report", "--db", str(db), "--format", "json", "-o", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"report failed: {done.stderr}")
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    size = out.stat().st_size
    out.unlink()
    return {"seconds": seconds, "peak_mb": peak_kb / 1024, "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", type=Path, help="a database bench/scale.py --db wrote (or any driftgraph database)")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--no-report", action="store_true", help="time the pages only")
    args = parser.parse_args()
    connection = sqlite3.connect(f"{args.db.resolve().as_uri()}?mode=ro", uri=True)
    current = connection.execute("select count(*) from resources where until_scan is null").fetchone()[0]
    versions = connection.execute("select count(*) from resources").fetchone()[0]
    connection.close()
    print(f"{args.db}: {current:,} current resources, {versions:,} versions, "
          f"{args.db.stat().st_size / 2**20:,.0f} MiB", flush=True)
    results = time_pages(args.db, args.runs)
    print()
    print(f"| page ({current:,} current resources) | first | median of {args.runs} | goal {GOAL_MS:.0f} ms |")
    print("|---|---:|---:|---|")
    missed = []
    for r in results:
        ok = r["status"] == 200 and not r["timed_out"] and r["median_ms"] <= GOAL_MS
        note = "met" if ok else ("MISSED" + (f" (HTTP {r['status']})" if r["status"] != 200 else "")
                                  + (" (a part timed out)" if r["timed_out"] else ""))
        if not ok:
            missed.append(r["label"])
        print(f"| {r['label']} | {r['first_ms']:.0f} ms | {r['median_ms']:.0f} ms | {note} |")
    if not args.no_report:
        report = time_report(args.db)
        print(f"| `driftgraph report --format json` ({report['bytes'] / 2**20:,.0f} MiB) | "
              f"{report['seconds']:.1f} s | peak RSS {report['peak_mb']:,.0f} MB | |")
    print()
    print(f"{len(results) - len(missed)} of {len(results)} pages within {GOAL_MS:.0f} ms"
          + (f"; missed: {', '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
