"""Benchmark of the history readers, run on demand (never in tests): a database of N daily scans of a synthetic
estate with realistic churn, written through ScanWriter (the real store), then `driftgraph diff` and the weekly
report (build, Markdown, HTML, JSON) timed on it. Prints a Markdown table for the README/closing note.

    .venv/bin/python bench/history.py --resources 100000 --scans 10
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.diff import build_diff  # noqa: E402
from graph.records import GLOBAL  # noqa: E402
from graph.report import scan_summary  # noqa: E402
from graph.store import ScanWriter, open_database  # noqa: E402
from graph.weekly import build_weekly  # noqa: E402
from graph.weekly_render import render_weekly_html, render_weekly_markdown  # noqa: E402

ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
# (type, service, global, share of the estate)
TYPES = (("AWS::SQS::Queue", "sqs", False, 0.25), ("AWS::Lambda::Function", "lambda", False, 0.2),
         ("AWS::EC2::Instance", "ec2", False, 0.15), ("AWS::EC2::SecurityGroup", "ec2", False, 0.15),
         ("AWS::S3::Bucket", "s3", False, 0.1), ("AWS::SNS::Topic", "sns", False, 0.1),
         ("AWS::IAM::Role", "iam", True, 0.05))
STATUSES = (("managed", 0.6), ("unmanaged", 0.22), ("child", 0.05), ("default", 0.05), ("missing", 0.02),
            ("conflict", 0.02), ("ignored", 0.02), ("unknown", 0.02))
TEAMS = ("payments", "search", "platform", "data", "identity", "growth", "mobile", "infra")


def new_resource(rng: random.Random, n: int) -> dict:
    type_, service, is_global, _ = rng.choices(TYPES, [t[3] for t in TYPES])[0]
    region = GLOBAL if is_global else rng.choice(REGIONS)
    name = f"{service}-{n:07d}"
    tags = {} if rng.random() < 0.15 else {"team" if rng.random() < 0.8 else "Team": rng.choice(TEAMS)}
    if rng.random() < 0.7:
        tags["owner"] = f"person{rng.randrange(200)}"
    return {"id": f"arn:aws:{service}:{region}:{ACCOUNT}:{name}", "arn": f"arn:aws:{service}:{region}:{ACCOUNT}:{name}",
            "type": type_, "service": service, "account": ACCOUNT, "region": region, "name": name, "natural_id": name,
            "status": rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0], "reason": "synthetic", "rule": "bench", "tags": tags,
            "attributes": {"size": rng.randrange(1, 64), "enabled": True}}


def churn(rng: random.Random, estate: dict[str, dict], drift: dict[str, dict], next_n: int, rate: float) -> int:
    """One scan's worth of change: `rate` of the resources changed (status, tags or drift), a third of that
    many new, a fifth deleted. Returns the next resource number."""
    ids = list(estate)
    for id_ in rng.sample(ids, int(len(ids) * rate)):
        resource = dict(estate[id_])
        roll = rng.random()
        if roll < 0.4:  # adopted, or dropped from a state
            resource["status"] = {"unmanaged": "managed", "managed": "unmanaged"}.get(resource["status"], "managed")
        elif roll < 0.7:
            resource["tags"] = {**resource["tags"], "team": rng.choice(TEAMS)}
        elif resource["status"] == "managed":  # drift appears or goes
            if id_ in drift:
                del drift[id_]
            else:
                drift[id_] = {"resource_id": id_, "attribute": "size", "declared": 1, "live": 2, "tool": "terraform",
                              "source": "s3://states/prod.tfstate", "address": f"aws_thing.t{rng.randrange(10**6)}"}
        estate[id_] = resource
    for id_ in rng.sample(ids, int(len(ids) * rate / 5)):
        estate.pop(id_)
        drift.pop(id_, None)
    for _ in range(int(len(ids) * rate / 3)):
        resource = new_resource(rng, next_n)
        resource["status"] = "unmanaged"
        estate[resource["id"]] = resource
        next_n += 1
    return next_n


def write_scan(db: Path, started: datetime, estate: dict[str, dict], drift: dict[str, dict]) -> None:
    writer = ScanWriter(db)
    writer.begin({"started_at": started.isoformat(), "status": "running", "accounts": [ACCOUNT],
                  "regions": list(REGIONS)})
    writer.write_scopes([(ACCOUNT, r) for r in (*REGIONS, GLOBAL, None)])
    resources = list(estate.values())
    writer.write("resources", resources)
    writer.write("drift", list(drift.values()))
    writer.write("listings", [{"account": ACCOUNT, "region": GLOBAL if is_global else region, "type": type_,
                               "outcome": "ok", "count": 0}
                              for type_, _, is_global, _ in TYPES for region in REGIONS])
    writer.finish({"status": "complete", "finished_at": (started + timedelta(minutes=20)).isoformat(),
                   "summary": scan_summary([r["status"] for r in resources], len(drift))})
    writer.commit()


def build(db: Path, resources: int, scans: int, rate: float) -> list[float]:
    rng = random.Random(8)
    estate = {r["id"]: r for r in (new_resource(rng, n) for n in range(resources))}
    drift = {i: {"resource_id": i, "attribute": "size", "declared": 1, "live": 2, "tool": "terraform",
                 "source": "s3://states/prod.tfstate", "address": f"aws_thing.t{n}"}
             for n, i in enumerate(rng.sample([i for i, r in estate.items() if r["status"] == "managed"],
                                              resources // 50))}
    next_n, times = resources, []
    start = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
    for day in range(scans):
        if day:
            next_n = churn(rng, estate, drift, next_n, rate)
        began = time.monotonic()
        write_scan(db, start + timedelta(days=day), estate, drift)
        times.append(time.monotonic() - began)
        print(f"scan {day + 1}: {len(estate)} resources written in {times[-1]:.1f} s", file=sys.stderr, flush=True)
    return times


def timed(label: str, rows: list[str], function, *args, **kwargs):
    began = time.monotonic()
    result = function(*args, **kwargs)
    rows.append(f"| {label} | {time.monotonic() - began:.2f} s |")
    print(rows[-1], flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--scans", type=int, default=10)
    parser.add_argument("--churn", type=float, default=0.01, help="share of resources changed per scan")
    parser.add_argument("--db", type=Path, help="keep the database here (reused when it exists: timings only)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "history.db"
        print(f"| {args.scans} daily scans of {args.resources:,} resources, {args.churn:.0%} churn | time |")
        print("|---|---:|")
        if not db.exists():
            writes = build(db, args.resources, args.scans, args.churn)
            print(f"| write one scan (ScanWriter, median) | {sorted(writes)[len(writes) // 2]:.2f} s |")
        rows: list[str] = []
        database = open_database(db)
        diff = timed("diff, latest vs previous scan", rows, build_diff, database)
        timed("diff --since 7d", rows, build_diff, database, since=timedelta(days=7))
        weekly = timed("weekly report --since 7d (build)", rows, build_weekly, database, timedelta(days=7),
                       required_tags=("team", "owner"))
        markdown = timed("weekly Markdown (render)", rows, render_weekly_markdown, weekly)
        page = timed("weekly HTML (render)", rows, render_weekly_html, weekly)
        text = timed("weekly JSON (dump)", rows, json.dumps, weekly, indent=2)
        print(f"\n{len(diff['changes'])} changes in the last diff; weekly: {len(weekly['diff']['changes'])} changes, "
              f"{weekly['required_tags']['count']} tag violations; Markdown {len(markdown) // 1024} KiB, HTML "
              f"{len(page) // 1024} KiB, JSON {len(text) // 1024} KiB; database {db.stat().st_size // 2**20} MiB")


if __name__ == "__main__":
    main()
