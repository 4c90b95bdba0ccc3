"""What a scan is doing, shown as a live line on a terminal's stderr, and nothing at all on a pipe or in CI."""

from __future__ import annotations

import os
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

    def planned(self, listings: int, regions: list[str]) -> None:
        pass

    def listed(self, listing: Listing) -> None:
        pass


class LiveProgress(ScanProgress):
    """A rich progress line: phase, listings done of total, failed listings, regions, elapsed time.

    Transient: it is gone when the scan ends, so the summary line stands alone."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
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
            transient=True,
        )
        self._task = self._progress.add_task("starting", total=None, failed=0, regions="")
        self.done = self.failed = 0

    def __enter__(self) -> "LiveProgress":
        self._progress.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._progress.stop()

    def phase(self, name: str) -> None:
        self._progress.update(self._task, description=name)
        self._progress.refresh()

    def planned(self, listings: int, regions: list[str]) -> None:
        shown = ", ".join(regions[:3]) + (f" +{len(regions) - 3}" if len(regions) > 3 else "")
        label = f"{len(regions)} region{'s' if len(regions) != 1 else ''} ({shown})"
        self._progress.update(self._task, total=listings, completed=0, regions=label)

    def listed(self, listing: Listing) -> None:
        self.done += 1
        self.failed += listing.outcome != LISTING_OK
        self._progress.update(self._task, completed=self.done, failed=self.failed)


def scan_progress(quiet: bool = False, stream: IO[str] | None = None,
                  environ: Mapping[str, str] = os.environ) -> ScanProgress:
    """The live view when a person watches stderr, else the quiet one."""
    import sys

    stream = stream if stream is not None else sys.stderr
    return LiveProgress() if wants_progress(stream, environ, quiet) else ScanProgress()
