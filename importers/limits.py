"""Bounds on one input (a template file, a deployed stack's template): its size and the time reading it may take.

A hostile or broken input must cost that input, never the scan: past a bound it becomes the input's error and
the other inputs still load.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from importers.inputs import MiB

# CloudFormation itself accepts at most 1 MB of template (from S3); ten times that is generous for any real one.
# (A Terraform state's limit, far larger, is importers.inputs.DEFAULT_MAX_BYTES.)
MAX_INPUT_BYTES = 10 * MiB
# Real templates take milliseconds; this is the backstop for work no static bound foresaw.
INPUT_TIME_BUDGET_S = 60.0


class BudgetExceeded(Exception):
    """Reading one input took longer than its time budget."""

    def __init__(self, what: str, seconds: float):
        self.what = what
        self.seconds = seconds
        super().__init__(f"{what}: stopped after the time budget of {seconds:g} s for one input")


@contextmanager
def time_budget(seconds: float | None, what: str) -> Iterator[None]:
    """Raise BudgetExceeded inside the block once `seconds` have passed.

    It uses SIGALRM (`signal.setitimer`), which only the main thread receives: in any other thread, on a
    platform without setitimer, or with no positive `seconds`, it is a no-op and the block runs unbounded.
    The static bounds (size, depth, alias expansion) still hold there. An outer budget is suspended inside
    the block and re-armed with what is left of it afterwards."""
    if (
        not seconds
        or seconds <= 0
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    fired = []

    def overrun(signum, frame):
        fired.append(True)
        raise BudgetExceeded(what, seconds)

    previous_handler = signal.signal(signal.SIGALRM, overrun)
    outer_remaining, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if outer_remaining > 0:
            # an outer budget that ran out meanwhile fires at once rather than never
            signal.setitimer(signal.ITIMER_REAL, max(outer_remaining - (time.monotonic() - started), 1e-6))
    if fired:
        # the block ended although the budget ran out: the alarm's exception was swallowed where it landed (a
        # garbage collector's finalizer running at that moment ignores exceptions). The input is still over budget.
        raise BudgetExceeded(what, seconds)
