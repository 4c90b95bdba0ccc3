"""Where a first scan's CPU goes, run on demand (never in tests): the synthetic estate of bench/scale.py through
the same pipeline, with the store's load worker turned off so that every part runs in this process and is timed
here (the worker's share would otherwise be one figure, its process's total). Prints each part's CPU seconds and,
for the parts compiled code could take over, the least time the rest would take on this machine's cores: how much
a rewrite of one part could buy before anyone writes it.

    .venv/bin/python bench/breakdown.py --n 400000

Each part is timed with this thread's CPU clock around the store's own functions (graph.store and graph.cleaning:
the cleaning of rows, the raw and stored digests, the inserts, the index builds, the summaries). The digests are timed a call at a
time, two calls a resource: what timing a call costs (measured first, 1.6-2.2 µs) is taken off them and off the
total. Part of that cost falls outside the timed span, so the digests may read up to half of it low (about 2 s at
1M) and the rest of the store as much high.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import graph.cleaning as cleaning  # noqa: E402
import graph.store as store  # noqa: E402
from scale import Estate, cores, one_scan, warm_up  # noqa: E402

CLEANING, DIGESTS, INSERTS = "cleaning (redaction, JSON)", "digests", "inserts"
# the store's functions timed, by the part of the work they are: (the module calling it, function name, part)
TIMED = ((store, "batch_cleaner", CLEANING), (store, "column_batcher", CLEANING), (store, "raw_digester", DIGESTS),
         (cleaning, "digest", DIGESTS), (store, "_insert_versions", INSERTS), (store, "_create_indexes", "index builds"),
         (store, "refresh_summaries", "summaries"))
# the parts a compiled path could replace, each alone and together: what the rest of the work still costs
COMPILABLE = ((CLEANING,), (DIGESTS,), (CLEANING, DIGESTS), (CLEANING, DIGESTS, INSERTS))
# the store's functions that give back the function doing the work (timed are the calls of what they make)
FACTORIES = {"batch_cleaner", "column_batcher", "raw_digester"}


class PartClock:
    """CPU seconds of this thread by part; a part entered again from inside itself is counted once."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._inside: dict[str, int] = defaultdict(int)

    def timed(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._inside[part]:
                return function(*args, **kwargs)
            self._inside[part] += 1
            began = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[part] += time.thread_time() - began
                self.calls[part] += 1
                self._inside[part] -= 1
        return call

    def install(self) -> None:
        """The store's functions replaced by timed ones (module globals: the caller looks them up at each call)."""
        for module, name, part in TIMED:
            original = getattr(module, name)
            if name in FACTORIES:
                setattr(module, name, lambda *a, _made=original, _part=part, **k: self.timed(_part, _made(*a, **k)))
            else:
                setattr(module, name, self.timed(part, original))


def cost_of_a_timed_call(calls: int = 200_000) -> float:
    """CPU seconds one timed call adds, inside its part's figure and outside it (the wrapper, the clock)."""
    nothing = PartClock().timed("probe", lambda: None)
    began = time.thread_time()
    for _ in range(calls):
        nothing()
    bare = time.thread_time()
    for _ in range(calls):
        pass
    return max(0.0, (bare - began) - (time.thread_time() - bare)) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400_000, help="live records, and as many declared")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(Path(tmp) / "warm-up.db")
        estate = Estate(args.n)
        store._PARALLEL_ROWS = float("inf")  # no load worker: the whole store in this process
        clock = PartClock()
        clock.install()
        timings: dict[str, list[float]] = {}
        first = one_scan(estate, Path(tmp) / "breakdown.db", 1, timings)
    per_call = cost_of_a_timed_call()
    timing = {part: calls * per_call for part, calls in clock.calls.items()}
    parts = {"reconcile + classification": timings["cpu reconcile"][0], "row builders": timings["cpu rows"][0],
             **{part: seconds - timing[part] for part, seconds in clock.seconds.items()}}
    parts["the rest of the store"] = timings["cpu store"][0] - sum(clock.seconds.values())
    total = timings["cpu"][0] - sum(timing.values())
    n = cores()
    print(f"first scan of {args.n:,} live + {args.n:,} declared records ({first['resources']:,} resources, "
          f"{first['owners']:,} owners, {first['edges']:,} edges), the store in one process: {timings['scan'][0]:.1f} s, "
          f"{total:.1f} CPU s (less {sum(timing.values()):.1f} s of timing: {per_call * 1e6:.2f} us a timed call)")
    print()
    print("| part | CPU s | share |")
    print("|---|---:|---:|")
    for part, seconds in parts.items():
        print(f"| {part} | {seconds:.1f} | {seconds / total:.0%} |")
    print(f"| all | {total:.1f} | |")
    print()
    print(f"| if these cost nothing | CPU s left | the least on {n} cores |")
    print("|---|---:|---:|")
    print(f"| (nothing) | {total:.1f} | {total / n:.1f} s |")
    for free in COMPILABLE:
        left = total - sum(parts[part] for part in free)
        print(f"| {' + '.join(free)} | {left:.1f} | {left / n:.1f} s |")


if __name__ == "__main__":
    main()
