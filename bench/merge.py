"""A scan split by account and merged, at scale, run on demand (never in tests): the synthetic estate of
bench/scale.py scanned as one job per account (each job its own database: that account's live resources and every
declaration, as `driftgraph scan` in a CI matrix or an Indexed Job sees them), then `driftgraph merge` of the jobs in
a process of its own. Prints each job's time, the merge's time, CPU and peak RSS, and the statuses of the merged
scan against those of one scan of the whole estate (`--compare`; the tests hold the rows themselves equal).

    .venv/bin/python bench/merge.py --n 200000 --compare

What it answers: whether more machines make a large estate quicker than one. Split over machines, a scan takes the
slowest job plus the merge.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import Estate, give_back_freed_memory, megabytes, one_scan, warm_up  # noqa: E402


def statuses(db: Path) -> dict[str, int]:
    """Current resources by status in the database's latest scan."""
    with sqlite3.connect(db) as connection:
        return dict(connection.execute(
            "select status, count(*) from resources where until_scan is null group by status order by status"))


def run_measured(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one child process, from its own resource usage."""
    began = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {process.returncode}")
    return time.perf_counter() - began, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="live records, and as many declared")
    parser.add_argument("--compare", action="store_true", help="also scan the whole estate in one job")
    parser.add_argument("--dir", type=Path, help="keep the databases in this folder (replaced)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        warm_up(Path(tmp) / "warm-up.db")
        estate = Estate(args.n)
        jobs: list[Path] = []
        print(f"{args.n:,} live + {args.n:,} declared records, {len(estate.accounts)} accounts, one job each")
        print()
        print("| job | resources | scan (reconcile / rows / store) | database |")
        print("|---|---:|---:|---:|")
        for account in estate.accounts:
            db = folder / f"job-{account}.db"
            db.unlink(missing_ok=True)
            timings: dict[str, list[float]] = {}
            written = one_scan(estate.job(account), db, 1, timings)
            print(f"| account {account} | {written['resources']:,} | {timings['scan'][0]:.1f} s "
                  f"({timings['reconcile'][0]:.1f} / {timings['rows'][0]:.1f} / {timings['store'][0]:.1f}) "
                  f"| {megabytes(db):,.0f} MiB |", flush=True)
            jobs.append(db)
            give_back_freed_memory()
        whole = None
        if args.compare:
            whole = folder / "one-scan.db"
            whole.unlink(missing_ok=True)
            timings = {}
            written = one_scan(estate, whole, 1, timings)
            print(f"| one scan of the whole estate | {written['resources']:,} | {timings['scan'][0]:.1f} s "
                  f"({timings['reconcile'][0]:.1f} / {timings['rows'][0]:.1f} / {timings['store'][0]:.1f}) "
                  f"| {megabytes(whole):,.0f} MiB |", flush=True)
        estate = None
        give_back_freed_memory()
        out = folder / "merged.db"
        out.unlink(missing_ok=True)
        wall, cpu, peak = run_measured([sys.executable, "-m", "driftgraph", "merge", str(out), *map(str, jobs)])
        merged = statuses(out)
        print()
        print(f"`driftgraph merge` of {len(jobs)} jobs: {wall:.1f} s, {cpu:.1f} CPU s, peak RSS {peak:,.0f} MB, "
              f"{sum(merged.values()):,} resources, {megabytes(out):,.0f} MiB")
        if whole is not None:
            one = statuses(whole)
            print("merged statuses " + ("equal those of one scan" if one == merged else
                                        f"DIFFER from one scan's: merged {merged}, one scan {one}"))


if __name__ == "__main__":
    main()
