"""What a scan is doing, shown as a live view on a terminal's stderr, and nothing at all on a pipe or in CI."""

from __future__ import annotations

import os
import time
from typing import IO, Any, Mapping

from graph.records import LISTING_OK, Listing


def wants_progress(stream: IO[str], environ: Mapping[str, str] = os.environ, quiet: bool = False) -> bool:
    """A live view only for a person watching: a terminal, not a pipe, a file, CI's log or a dumb terminal."""
    if quiet or environ.get("CI") or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class ScanProgress:
    """Hears of a scan's phases and listings; this one keeps quiet (pipes, CI, --quiet, library callers)."""

    def __enter__(self) -> "ScanProgress":
        return self

    def __exit__(self, *_exc: Any) -> None:
        pass

    def phase(self, name: str) -> None:
        pass

    def planned(self, listings: int, regions: list[str], accounts: Mapping[str, tuple[int, int]] | None = None) -> None:
        """`listings` in all over `regions`; `accounts`: each account's (listings, regions)."""

    def listed(self, listing: Listing) -> None:
        pass

    def watch(self, rates: Any) -> None:
        """The scan's token buckets (scanner/rates.py RateLimits): what throttled, per account."""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class LiveProgress(ScanProgress):
    """A rich live view: a progress line (phase, listings done of total, failed listings, regions, elapsed time)
    and, under it, one row per account: its regions, listings done of its total, failed, throttled answers.

    Transient: it is gone when the scan ends, so the summary line stands alone."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("listings, {task.fields[failed]} failed · {task.fields[regions]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task = self._progress.add_task("starting", total=None, failed=0, regions="")
        self._live = Live(Group(self._progress, self), console=self.console, transient=True, refresh_per_second=4)
        self.done = self.failed = 0
        self.accounts: dict[str, dict[str, int]] = {}  # account -> planned, regions, done, failed
        self.rates: Any = None
        self.started = time.monotonic()

    def __enter__(self) -> "LiveProgress":
        self._live.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._live.stop()

    def phase(self, name: str) -> None:
        self._progress.update(self._task, description=name)
        self._live.refresh()

    def planned(self, listings: int, regions: list[str], accounts: Mapping[str, tuple[int, int]] | None = None) -> None:
        shown = ", ".join(regions[:3]) + (f" +{len(regions) - 3}" if len(regions) > 3 else "")
        label = f"{_plural(len(regions), 'region')} ({shown})"
        self._progress.update(self._task, total=listings, completed=0, regions=label)
        for account, (count, region_count) in (accounts or {}).items():
            self.accounts[account] = {"planned": count, "regions": region_count, "done": 0, "failed": 0}

    def listed(self, listing: Listing) -> None:
        self.done += 1
        self.failed += listing.outcome != LISTING_OK
        row = self.accounts.setdefault(listing.account, {"planned": 0, "regions": 0, "done": 0, "failed": 0})
        row["done"] += 1
        row["failed"] += listing.outcome != LISTING_OK
        self._progress.update(self._task, completed=self.done, failed=self.failed)

    def watch(self, rates: Any) -> None:
        self.rates = rates

    def __rich__(self) -> Any:
        """The accounts table, drawn afresh at every refresh (rich calls this)."""
        from rich.table import Table

        throttled = getattr(self.rates, "throttled_accounts", None) or {}
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="dim")
        for column, justify in (("account", "left"), ("regions", "right"), ("listings", "right"),
                                ("failed", "right"), ("throttled", "right")):
            table.add_column(column, justify=justify)
        for account, row in sorted(self.accounts.items()):
            done = f"{row['done']}/{row['planned']}" if row["planned"] else str(row["done"])
            table.add_row(account, str(row["regions"]), done, str(row["failed"]), str(throttled.get(account, 0)))
        waited = sum(getattr(self.rates, "waited", {}).values()) if self.rates is not None else 0.0
        table.caption = (f"{_plural(len(self.accounts), 'account')} · {sum(throttled.values())} throttled answers · "
                         f"{waited:.1f} s waited for AWS's rates · {time.monotonic() - self.started:.0f} s elapsed")
        return table


def scan_progress(quiet: bool = False, stream: IO[str] | None = None,
                  environ: Mapping[str, str] = os.environ) -> ScanProgress:
    """The live view when a person watches stderr, else the quiet one."""
    import sys

    stream = stream if stream is not None else sys.stderr
    return LiveProgress() if wants_progress(stream, environ, quiet) else ScanProgress()
