"""One account's listing split across processes by region, for `scan --processes N`.

boto3 spends 1-3 ms of CPU on every call (signing, serialising, parsing) and holds the GIL while it does, so one
process tops out near one core however many threads wait on the network. Each process here lists its share of the
regions (the first also the global types) with threads of its own, its own clients and its own token buckets (a
region's buckets live in the one process that lists it; the per-account buckets of IAM and Route 53 with the global
types), and sends each listing back as it ends (the live view keeps moving) and then its records.

The processes are spawned, never forked (a fork would copy the scan's threads' locks and its clients' open
connections), and get the session's credentials as they are now; a session of an assumed role gets the
credentials it was assumed from and the role, and assumes it again, so that its credentials refresh past the
role's hour as the parent's do. A process that fails ends the scan as an error, and Ctrl-C ends every process
at once.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from typing import Callable, Iterable

from botocore.credentials import Credentials

from graph.records import Listing
from scanner.clients import AwsSession
from scanner.live import LiveScan, scan_live


def split_regions(regions: list[str], processes: int) -> list[list[str]]:
    """The regions dealt out to at most `processes` parts, the first region (where the global types are listed)
    in the first part."""
    parts = [regions[n::processes] for n in range(max(1, processes))]
    return [part for part in parts if part]


def _list_part(spec: dict, part: int, regions: list[str], messages) -> None:
    """A process's work: its regions' listings, each sent as it ends, then the records."""
    try:
        credentials = Credentials(*spec.pop("credentials")) if spec.get("credentials") else None
        session = AwsSession(credentials=credentials, **spec.pop("session"))
        role = spec.pop("role", None)
        if role is not None:
            session = session.assume_role(*role)
        scanned = scan_live(session, on_listing=lambda listing: messages.put(("listing", listing)),
                            regions=regions, global_types=part == 0, **spec)
        messages.put(("done", (part, scanned)))
    except BaseException:  # noqa: BLE001 - said to the parent, which ends the scan with it
        messages.put(("error", traceback.format_exc(limit=5)))


def process_session(session: AwsSession) -> dict:
    """How a spawned process makes `session` again: its settings and its credentials as they are now, or for an
    assumed role's session, the credentials it was assumed from and the role to assume again."""
    role = None
    if session.assumed_from is not None:
        source, role_arn, session_name = session.assumed_from
        role, session = (role_arn, session_name), source
    frozen = session._session.get_credentials()
    frozen = frozen.get_frozen_credentials() if frozen is not None else None
    return {"session": {"default_region": session.region_name, "call_timeout": session.call_timeout,
                        "max_pages": session.max_pages, "account": session.account, "retry_mode": session.retry_mode,
                        "profile": None if frozen else session.profile},
            "credentials": tuple(frozen) if frozen else None, "role": role}


def scan_live_in_processes(session: AwsSession, account: str, partition: str, regions: list[str],
                           types: Iterable[str] | None, workers: int, processes: int,
                           on_listing: Callable[[Listing], None] | None = None) -> LiveScan:
    """`scan_live` of one account with its regions split across `processes` spawned processes; the same records
    and listings, in region order."""
    parts = split_regions(list(regions), processes)
    spec = {**process_session(session), "account": account, "partition": partition,
            "types": list(types) if types else None, "workers": workers, "scanned_regions": list(regions)}
    if spec["role"] is None:
        spec["session"]["account"] = account  # the account the credentials are in (an assumed one names its own)
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    children = [context.Process(target=_list_part, args=(dict(spec, session=dict(spec["session"])), n, part, messages),
                                daemon=True)
                for n, part in enumerate(parts)]
    results: dict[int, LiveScan] = {}
    try:
        for child in children:
            child.start()
        finished = 0
        while finished < len(children):
            try:
                kind, value = messages.get(timeout=1.0)
            except queue.Empty:
                if not any(child.is_alive() for child in children) and messages.empty():
                    raise RuntimeError("a listing process ended without its records") from None
                continue
            if kind == "listing":
                if on_listing is not None and value.call is None:
                    on_listing(value)
            elif kind == "done":
                results[value[0]] = value[1]
                finished += 1
            else:
                raise RuntimeError(f"a listing process failed:\n{value}")
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join(timeout=10)
    merged = LiveScan([], [])
    for n in sorted(results):
        merged.records += results[n].records
        merged.listings += results[n].listings
    return merged
