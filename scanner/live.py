"""Live AWS listing: runs the catalog's calls across regions and types and turns answers into records.

Fetching is dumb (paginate, describe, return); `to_record` is a pure transform of one listed item. Every
(account, region, type) listing ends as a `Listing` with its outcome, so a type that could not be listed is
known as such and never silently empty. A detail or tag call that failed for some items leaves what it would
have told unknown on those records (`failed_calls`, tags None), and one more `Listing` names the call.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from graph.drift import pick_values, search, tags_from_pairs
from graph.records import GLOBAL, LIVE, LISTING_OK, Listing, Record
from graph.redact import redact_text
from graph.resource_types import CATALOG, RESOURCE_TYPES, Call, ResourceType, format_arn, function
from scanner.clients import AwsSession, CallTimeout, ReadOnlyViolation, UnreadableAnswer
from scanner.rates import DEFAULT_RATE, RATES, THROTTLING_CODES

log = logging.getLogger("driftgraph.scanner")

ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
                 "UnauthorizedException", "NotAuthorized", "AuthFailure", "InvalidClientTokenId",
                 "UnrecognizedClientException", "OptInRequired")


@dataclass(frozen=True)
class Failure:
    outcome: str  # access_denied | throttled | error
    code: str
    message: str


def classify_failure(exc: Exception) -> Failure:
    """Name what went wrong with a call the way a reader of the report needs it."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "ClientError")
        message = redact_text(str(error.get("Message") or exc))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ACCESS_DENIED or "AccessDenied" in code or (status == 403 and code in ("403", "Forbidden")):
            return Failure("access_denied", "AccessDenied" if code == "403" else code, message)
        if code in THROTTLING_CODES:
            return Failure("throttled", code, message)
        if "<html" in message.lower() or code in ("", "Unknown"):
            # botocore found no AWS error in the body (an HTML page from a proxy or load balancer)
            message = f"HTTP {status} with no AWS error in the answer (an HTML page: a proxy or a wrong endpoint?)"
        return Failure("error", code or f"HTTP{status}", message)
    if isinstance(exc, CallTimeout) and exc.last_code in THROTTLING_CODES:
        # every attempt was answered, each time "slow down": throttled, with the budget's end in the message
        return Failure("throttled", exc.last_code, redact_text(str(exc)))
    if isinstance(exc, EndpointConnectionError):
        return Failure("error", "EndpointConnectionError", redact_text(str(exc)))
    if isinstance(exc, ReadOnlyViolation):
        return Failure("error", "ReadOnlyViolation", str(exc))
    if isinstance(exc, BotoCoreError):
        return Failure("error", type(exc).__name__, redact_text(str(exc)))
    # not a failed call but a failure of ours with its answer: named, never a traceback that ends the scan
    detail = " ".join(str(exc).split())[:200]
    return Failure("error", type(exc).__name__, redact_text(f"unexpected {type(exc).__name__}: {detail}"))


def _format_params(params: Any, item: dict) -> Any:
    """Fill a call's parameter templates from an item: '{QueueUrl}', ['{clusterArn}'], '{Table[TableArn]}'."""
    if isinstance(params, str):
        return params.format_map(item) if "{" in params else params
    if isinstance(params, list):
        return [_format_params(p, item) for p in params]
    if isinstance(params, dict):
        return {k: _format_params(v, item) for k, v in params.items()}
    return params


def call_and_collect(client, call: Call, params: dict) -> list[Any]:
    """All items a list call answers, following pagination when boto3 knows how."""
    if client.can_paginate(call.method):
        items: list[Any] = []
        for page in client.get_paginator(call.method).paginate(**params):
            found = search(call.path, page)
            items.extend(found if isinstance(found, list) else [] if found is None else [found])
        return items
    found = search(call.path, getattr(client, call.method)(**params))
    return found if isinstance(found, list) else [] if found is None else [found]


def _merge_pages(pages: Iterable[dict]) -> dict:
    """One answer from its pages: lists (the items) joined, anything else as the first page said it."""
    merged: dict = {}
    for page in pages:
        for key, value in page.items():
            if key not in merged:
                merged[key] = value
            elif isinstance(value, list) and isinstance(merged[key], list):
                merged[key] = merged[key] + value
    return merged


def call_one(client, call: Call, params: dict) -> Any:
    """One describe-style answer, every page of it (tags may come ten a page); None when the service says
    there is nothing (a `missing_ok` code)."""
    try:
        if client.can_paginate(call.method):
            return search(call.path, _merge_pages(client.get_paginator(call.method).paginate(**params)))
        return search(call.path, getattr(client, call.method)(**params))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in call.missing_ok:
            return None
        raise


# --------------------------------------------------------------------------------------- the transform

TAGS_KEY = "__tags__"  # where an item keeps what its tag call answered


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def to_record(
    row: ResourceType, item: dict, account: str, region: str, partition: str, failed_calls: Iterable[str] = ()
) -> Record | None:
    """One live record from one listed (and described) item; None when the row's `keep` rule drops it.

    `failed_calls` names the detail and tag calls that failed for the item: what they would have told is
    unknown, so tags they would have given are None (unknown), never {} (none)."""
    failed_calls = tuple(sorted(set(failed_calls)))
    keep = function(row.keep)
    if keep and not keep(item):
        return None
    natural_id = search(row.id, item)
    if natural_id is None:
        return None
    natural_id = str(natural_id).lower() if row.lowercase_id else str(natural_id)
    if row.scope == "global":
        region = GLOBAL
    elif row.scope == "global_list" and "Region" in item:
        region = item["Region"]  # None when no call told it: unknown, never the listing's region
    arn = record_arn(row, item, natural_id, account, region, partition)
    tags = None
    raw_tags = (item.get(TAGS_KEY) if row.tags.call else search(row.tags.path, item)) if row.tags else None
    # Unknown when the tag call failed or was not made, or when tags ride on a detail call that failed (none
    # came with the item).
    tags_unknown = row.tags is not None and (
        TAGS_KEY not in item if row.tags.call else raw_tags is None and bool(failed_calls)
    )
    if row.tags and not tags_unknown:
        if row.tags.key == "map":
            tags = dict(raw_tags or {})
        else:
            tags = tags_from_pairs(raw_tags or [], row.tags.key, row.tags.value)
    name = search(row.name, item) if row.name else None
    # a `Name` tag names what has no name of its own (an instance, a VPC); where the identifier is the name (a
    # queue, a bucket), a tag must not make one resource read as another
    name_tag = (tags or {}).get("Name") if not row.cloudformation_name else None
    name = name or name_tag or natural_id
    aliases = {str(a) for path in row.aliases for a in _as_list(search(path, item)) if a}
    if arn:
        aliases.add(arn)
    aliases.discard(natural_id)
    edges = tuple(
        (edge.relation, edge.target, str(value))
        for edge in row.edges
        for value in _as_list(search(edge.path, item))
        if value
    )
    default = function(row.default)
    default_reason = default(item) if default else None
    return Record(
        source_kind=LIVE,
        type=row.type,
        account=account,
        region=region,
        natural_id=natural_id,
        arn=arn,
        name=str(name),
        aliases=tuple(sorted(aliases)),
        tags=tags,
        attributes=pick_values(row, LIVE, item),
        edges=edges,
        raw_type=row.type,
        is_default=bool(default_reason),
        default_reason=default_reason,
        note=_live_note(row, item),
        failed_calls=failed_calls,
    )


def record_arn(row: ResourceType, item: dict, natural_id: str, account: str, region: str | None,
               partition: str) -> str | None:
    """The resource's ARN: the item's own, else the row's template over its natural id."""
    arn = search(row.arn_field, item) if row.arn_field else None
    return arn or format_arn(row, partition, region if region not in (GLOBAL, None) else "", account, natural_id)


def _live_note(row: ResourceType, item: dict) -> str | None:
    """Facts the classification quirks read that are not attributes: kept small and free of secrets."""
    facts = {
        "AWS::EC2::SecurityGroup": lambda i: "default-group" if i.get("GroupName") == "default" else None,
        "AWS::EC2::RouteTable": lambda i: "main" if any(a.get("Main") for a in i.get("Associations", [])) else None,
        "AWS::EC2::Volume": lambda i: "delete-on-termination"
        if any(a.get("DeleteOnTermination") for a in i.get("Attachments", []))
        else None,
        "AWS::EC2::NetworkInterface": lambda i: "primary"
        if (i.get("Attachment") or {}).get("DeviceIndex") == 0 and (i.get("Attachment") or {}).get("InstanceId")
        else None,
    }
    fact = facts.get(row.type)
    return fact(item) if fact else None


# ---------------------------------------------------------------------------------------- the fetching


@dataclass
class LiveScan:
    records: list[Record]
    listings: list[Listing]


def operation_name(client, call: Call) -> str:
    """The API's name for a call ('ListQueueTags' for list_queue_tags), as IAM and the error messages say it."""
    return client.meta.method_to_api_mapping.get(call.method, call.method)


ANSWER_MISMATCH = "AnswerMismatch"
# Threads listing at once (and as many describing): measured best by bench/latency.py on 2 cores behind 50 ms
# (README, Benchmarks); the token buckets keep any count within AWS's rates.
DEFAULT_WORKERS = 32


def identity_problem(call: Call, answer: Any, item: dict, operation: str) -> str | None:
    """Why a detail or tag answer is not about the listed item (None when it is): merging an answer about
    another resource would give this one that resource's attributes, and hide the listed one."""
    for answer_path, item_path in call.identity:
        listed = search(item_path, item)
        if listed is None:
            continue
        answered = search(answer_path, answer) if answer is not None else None
        if answered is None:
            return f"{operation} answered without naming the listed {listed}"
        if str(answered) != str(listed):
            return f"{operation} answered about {answered}, not the listed {listed}"
    return None


def row_calls(row: ResourceType, tags_call: bool = True) -> list[tuple[str, Call]]:
    """The row's detail calls, then its tag call (under TAGS_KEY): (key the answer is merged under, call)."""
    calls = [(key, call) for key, call in row.details]
    if tags_call and row.tags and row.tags.call:
        calls.append((TAGS_KEY, row.tags.call))
    return calls


def _merge(row: ResourceType, item: dict, key: str, answer: Any) -> dict:
    """The item with one detail or tag answer merged in, under its key."""
    if key == TAGS_KEY:
        return {**item, TAGS_KEY: search(row.tags.path, answer) if answer is not None else []}
    if key == "":
        return {**item, **(answer or {})}
    return {**item, key: answer}


def _describe(client, row: ResourceType, item: dict, calls: list[tuple[str, Call]],
              failures: list[tuple[str, Failure]] | None = None) -> tuple[dict, list[tuple[str, Failure]]]:
    """Run the per-item `calls` for one item; a call that fails adds nothing (never a default) and is returned as
    (operation, failure), so the item is kept with that part unknown. A call whose parameters come from a detail
    call that failed is not made: what it would have read is unknown, and it did not fail."""
    failures = list(failures or ())
    for key, call in calls:
        if call.unless and call.unless in item and item[call.unless]:
            continue
        if key == TAGS_KEY and TAGS_KEY in item:  # a bulk answer gave them already
            continue
        operation = operation_name(client, call)
        try:
            params = _format_params(dict(call.params), item)
        except (KeyError, IndexError, TypeError) as exc:
            if not failures:  # else its parameters were to come from a detail call that failed: not made
                failures.append((operation, classify_failure(exc)))
            continue
        try:
            answer = call_one(client, call, params)
        except Exception as exc:  # any failure of one item's call: that item's detail is unknown, the rest carry on
            failures.append((operation, classify_failure(exc)))
            continue
        mismatch = identity_problem(call, answer, item, operation)
        if mismatch:
            failures.append((operation, Failure("error", ANSWER_MISMATCH, redact_text(mismatch))))
            continue
        item = _merge(row, item, key, answer)
    return item, failures


def _batch_params(params: Any, items: list[dict]) -> Any:
    """A batched call's parameters for a chunk of items: a list's one template takes every item's value, the
    rest is formatted from the first item (items are grouped by those first)."""
    if isinstance(params, list) and len(params) == 1 and isinstance(params[0], str) and "{" in params[0]:
        return [params[0].format_map(item) for item in items]
    if isinstance(params, dict):
        return {k: _batch_params(v, items) for k, v in params.items()}
    return _format_params(params, items[0])


def _scalar_params(params: Any, item: dict) -> str:
    """What must agree for items to share one batched call (the cluster of ECS services)."""
    if isinstance(params, dict):
        return repr(sorted((k, _scalar_params(v, item)) for k, v in params.items()
                           if not (isinstance(v, list) and len(v) == 1)))
    return repr(_format_params(params, item))


def batch_chunks(call: Call, items: list[int], described: list[dict]) -> list[list[int]]:
    """Indexes of the items grouped by the parameters they must share, in chunks of at most `call.batch`."""
    groups: dict[str, list[int]] = {}
    for n in items:
        groups.setdefault(_scalar_params(dict(call.params), described[n]), []).append(n)
    return [group[i:i + call.batch] for group in groups.values() for i in range(0, len(group), call.batch)]


def _describe_batch(client, row: ResourceType, key: str, call: Call, chunk: list[dict]
                    ) -> list[tuple[dict, tuple[str, Failure] | None]]:
    """One batched call for a chunk of items: each item with its entry merged in, or the failure for it (the call
    failed, or its answer has no entry naming the item)."""
    operation = operation_name(client, call)
    try:
        answer = call_one(client, Call(call.method, path=call.entries or "@", missing_ok=call.missing_ok),
                          _batch_params(dict(call.params), chunk))
    except Exception as exc:  # the chunk's calls failed: each item's detail is unknown, the rest carry on
        failure = classify_failure(exc)
        return [(item, (operation, failure)) for item in chunk]
    entries = answer if isinstance(answer, list) else []
    out = []
    for item in chunk:
        entry = next((e for e in entries if isinstance(e, dict) and all(
            search(item_path, item) is not None and str(search(entry_path, e)) == str(search(item_path, item))
            for entry_path, item_path in call.identity)), None)
        if entry is None:
            listed = next((search(p, item) for _, p in call.identity), "item")
            out.append((item, (operation, Failure("error", ANSWER_MISMATCH,
                                                  redact_text(f"{operation} answered without naming the listed {listed}")))))
            continue
        out.append((_merge(row, item, key, search(call.path, entry)), None))
    return out


def failed_call_listings(
    account: str, region: str, type_: str, failures: Iterable[tuple[str, Failure]], duration_ms: int = 0
) -> list[Listing]:
    """One listing per failed detail or tag operation: its most common failure and how many items it failed for."""
    by_operation: dict[str, list[Failure]] = {}
    for operation, failure in failures:
        by_operation.setdefault(operation, []).append(failure)
    listings = []
    for operation, failed in sorted(by_operation.items()):
        (outcome, code), _ = Counter((f.outcome, f.code) for f in failed).most_common(1)[0]
        message = next(f.message for f in failed if (f.outcome, f.code) == (outcome, code))
        listings.append(Listing(account, region, type_, outcome, len(failed), code, message, duration_ms, call=operation))
    return listings


class TagIndex:
    """Tags from the Resource Groups Tagging API: one paginated GetResources per region for every type whose row
    names a `tagging` filter, in place of a tag call per item. Fetched once, by the first listing that needs the
    region's (the others wait for it). GetResources answers every resource that has (or had) tags, so one it does
    not name has none. When it fails, `tags_in` is None and the listings fall back to their per-item tag calls:
    tags are then known, or unknown, never "none" for want of an answer."""

    def __init__(self, session: AwsSession, rows: Iterable[ResourceType]) -> None:
        self.session = session
        self.filters = sorted({row.tags.tagging for row in rows if row.tags and row.tags.tagging})
        self._regions: dict[str, Future] = {}
        self._lock = threading.Lock()

    def tags_in(self, region: str) -> dict[str, list[dict]] | None:
        """ARN -> [{'Key', 'Value'}] for every resource of the filtered types the region's GetResources names, or
        None when it failed."""
        if not self.filters:
            return None
        with self._lock:
            future = self._regions.get(region)
            mine = future is None
            if mine:
                future = self._regions[region] = Future()
        if mine:
            try:
                future.set_result(self._fetch(region))
            except Exception as exc:  # any failure: the per-item tag calls answer instead
                log.warning("GetResources in %s failed (%s); asking each resource for its tags instead", region,
                            classify_failure(exc).message)
                future.set_result(None)
            except BaseException as exc:  # cancelled: the waiting listings stop too
                future.set_exception(exc)
                raise
        return future.result()

    def _fetch(self, region: str) -> dict[str, list[dict]]:
        client = self.session.client("resourcegroupstaggingapi", region)
        found: dict[str, list[dict]] = {}
        for chunk in range(0, len(self.filters), 100):  # at most 100 filters a call
            pages = client.get_paginator("get_resources").paginate(
                ResourceTypeFilters=self.filters[chunk:chunk + 100], ResourcesPerPage=100)
            for page in pages:
                for mapping in page.get("ResourceTagMappingList") or []:
                    if isinstance(mapping, dict) and mapping.get("ResourceARN"):
                        found[mapping["ResourceARN"]] = mapping.get("Tags") or []
        return found


def _bulk_tags(client, row: ResourceType, bulk: Call) -> dict[tuple[str, ...], Any]:
    """Every item's tags from one account-wide call, keyed by the item's identity values; {} when it failed (each
    item then asks for its own)."""
    try:
        entries = call_and_collect(client, Call(bulk.method, bulk.params, path=bulk.entries), dict(bulk.params))
    except Exception as exc:  # any failure: the per-item tag calls answer instead
        log.warning("%s failed (%s); asking each %s for its tags instead", operation_name(client, bulk),
                    classify_failure(exc).message, row.type)
        return {}
    return {tuple(str(search(entry_path, entry)) for entry_path, _ in bulk.identity): search(row.tags.path, entry)
            for entry in entries if isinstance(entry, dict)
            if all(search(entry_path, entry) is not None for entry_path, _ in bulk.identity)}


def _tags_in_row_shape(row: ResourceType, pairs: list[dict]) -> Any:
    """GetResources' [{'Key', 'Value'}] as the row's own tag call would have answered them."""
    if row.tags.key == "map":
        return {p.get("Key"): p.get("Value") for p in pairs}
    return [{row.tags.key: p.get("Key"), row.tags.value: p.get("Value")} for p in pairs]


def list_type(
    session: AwsSession,
    row: ResourceType,
    account: str,
    region: str,
    partition: str,
    parent_items: list[dict] | None = None,
    describe_pool: ThreadPoolExecutor | None = None,
    tag_index: TagIndex | None = None,
) -> tuple[list[dict], list[Record], list[Listing]]:
    """List one type in one region: items (for child listings), records, and the listing outcome followed by one
    listing per detail or tag call that failed for some items.

    Per-item describe and tag calls go to `describe_pool` when given: a pool of its own, so a listing that
    waits for its items can never starve the pool it runs in."""
    started = time.monotonic()
    listing_region = region if row.scope == "regional" else GLOBAL
    try:
        client = session.client(row.service, region if row.scope == "regional" else session.region_name)
        if row.parent:
            raw = []
            for parent in parent_items or []:
                params = {**row.list.params, **_format_params(dict(row.parent[1]), parent)}
                raw += [(item, parent) for item in call_and_collect(client, row.list, params)]
        else:
            raw = [(item, None) for item in call_and_collect(client, row.list, dict(row.list.params))]
    except Exception as exc:  # any failure, even an answer botocore cannot parse: a failed listing, never a crash
        failure = classify_failure(exc)
        elapsed = int((time.monotonic() - started) * 1000)
        listing = Listing(account, listing_region, row.type, failure.outcome, 0, failure.code, failure.message, elapsed)
        return [], [], [listing]  # the failed listing itself is the record of it
    normalize, finish = function(row.normalize), function(row.finish)
    index_tags = None
    if row.tags and row.tags.tagging and row.scope == "regional" and tag_index is not None and raw:
        index_tags = tag_index.tags_in(region)
    calls = row_calls(row, tags_call=index_tags is None)
    batched = [(key, call) for key, call in calls if call.batch]
    per_item = [(key, call) for key, call in calls if not call.batch]

    bulk = row.tags.bulk if row.tags and row.tags.bulk and index_tags is None and len(raw) >= row.tags.bulk_from else None
    bulk_tags = _bulk_tags(client, row, bulk) if bulk else {}

    def prepare(pair: tuple[Any, dict | None]) -> dict:
        item, parent = pair
        item = normalize(item) if normalize else dict(item)
        if parent is not None:
            item = {**{k: v for k, v in parent.items() if isinstance(v, str)}, **item}
        if bulk_tags:
            name = tuple(str(search(item_path, item)) for _, item_path in bulk.identity)
            if name in bulk_tags:
                item = {**item, TAGS_KEY: bulk_tags[name]}
        return item

    def describe(pair: tuple[dict, list[tuple[str, Failure]]]) -> tuple[dict, list[tuple[str, Failure]]]:
        item, failures = _describe(client, row, pair[0], per_item, pair[1]) if per_item else pair
        if index_tags is not None:
            natural_id = search(row.id, item)
            arn = record_arn(row, item, str(natural_id), account, region, partition) if natural_id is not None else None
            item = {**item, TAGS_KEY: _tags_in_row_shape(row, index_tags.get(arn) or [])}
        return (finish(item) if finish else item), failures

    def pooled(work: Callable, parts: list) -> list:
        if describe_pool is not None and len(parts) > 1:
            return run_in_lane(describe_pool, work, parts, lane_width(row.service, describe_pool._max_workers))
        return [work(part) for part in parts]

    try:
        prepared = [(prepare(pair), []) for pair in raw]
        for key, call in batched:  # each batched call over every item, before the per-item calls
            items_now = [item for item, _ in prepared]
            chunks = batch_chunks(call, list(range(len(items_now))), items_now)
            answers = pooled(lambda chunk: _describe_batch(client, row, key, call, [items_now[n] for n in chunk]),
                             chunks)
            for chunk, answered in zip(chunks, answers):
                for n, (item, failure) in zip(chunk, answered):
                    prepared[n] = (item, prepared[n][1] + ([failure] if failure else []))
        described = pooled(describe, prepared) if per_item else [describe(pair) for pair in prepared]
        items = [item for item, _ in described]
        nameless = unnamed_items(row, items)
        if nameless:
            raise UnreadableAnswer(operation=operation_name(client, row.list), detail=(
                f"{nameless} of the {len(items)} items it listed give no {row.id}: an answer driftgraph cannot read "
                "(a resource it cannot name would read as missing)"))
        records = [
            r for r in (to_record(row, item, account, region, partition, (op for op, _ in failures))
                        for item, failures in described)
            if r is not None
        ]
    except Exception as exc:  # a normalize or finish function met an item it does not know: the listing failed
        failure = classify_failure(exc)
        elapsed = int((time.monotonic() - started) * 1000)
        return [], [], [Listing(account, listing_region, row.type, failure.outcome, 0, failure.code, failure.message,
                                elapsed)]
    elapsed = int((time.monotonic() - started) * 1000)
    listing = Listing(account, listing_region, row.type, LISTING_OK, len(records), None, None, elapsed)
    failed_calls = failed_call_listings(account, listing_region, row.type,
                                        (f for _, failures in described for f in failures), elapsed)
    return items, records, [listing, *failed_calls]


# The longest a call is expected to take (AWS answers in 20-250 ms): a lane keeps enough calls in flight to spend
# its service's tokens as fast as they refill at that latency, and no more.
LANE_LATENCY = 0.25


def lane_width(service: str, workers: int) -> int:
    """How many of one listing's per-item calls may be in the describe pool at once: enough to keep the service's
    token bucket (scanner/rates.py) busy, so that a slow or throttled service (ElastiCache's 10 a second) does not
    hold the workers other services' items could use, as a plain pool would, every worker waiting for its token."""
    return max(1, min(workers, math.ceil(RATES.get(service, DEFAULT_RATE).per_second * LANE_LATENCY) + 1))


def run_in_lane(pool: ThreadPoolExecutor, work: Callable, parts: list, width: int) -> list:
    """`work` over `parts` in `pool`, at most `width` of them in the pool at once (each that ends lets in the
    next), the results in order; the first failure is raised once all have ended."""
    futures: list[Future] = []
    in_flight: set[Future] = set()
    for part in parts:
        while len(in_flight) >= width:
            _, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
        future = pool.submit(work, part)
        futures.append(future)
        in_flight.add(future)
    wait(in_flight)
    return [future.result() for future in futures]


def unnamed_items(row: ResourceType, items: list[dict]) -> int:
    """How many listed items (of those the row keeps) give no id: every id comes from the list call (or its
    normalize function), so a listed item without one means the answer is not one we can read."""
    keep = function(row.keep)
    return sum(1 for item in items if (not keep or keep(item)) and search(row.id, item) is None)


def plan_tasks(rows: Iterable[ResourceType], regions: Iterable[str], global_types: bool = True
               ) -> list[tuple[str, ResourceType]]:
    """(region, type) pairs to list: regional types in every region (each region once), global ones once (none
    when `global_types` is False: another part of a split scan lists them).

    Types listed per parent item (ECS services per cluster) ride along with their parent's task."""
    regions = list(dict.fromkeys(regions))
    if not regions:
        raise ValueError("no region to scan")
    tasks = []
    for row in rows:
        if row.parent:
            continue
        if row.scope == "regional":
            tasks += [(region, row) for region in regions]
        elif global_types:
            tasks.append((regions[0], row))
    return tasks


def start_order(row: ResourceType, has_children: bool = False) -> tuple[bool, float]:
    """When a listing should start, earliest first: the listings that make calls per item (or per parent: ECS
    services per cluster) before those that only page through a list, and among them the ones whose service AWS
    lets refill slowest (scanner/rates.py). A scan takes at least as long as its slowest bucket needs for its calls
    (80 ECR repositories at 10 a second: 6 s however many workers), so that bucket should start spending at once,
    not after the quick listings queued before it in catalog order (longest job first)."""
    tag_call_each = bool(row.tags and row.tags.call and not row.tags.tagging)  # the Tagging API answers the others
    per_item = bool(row.details) or tag_call_each or has_children
    return not per_item, RATES.get(row.service, DEFAULT_RATE).per_second


def _rows(types: Iterable[str] | None) -> list[ResourceType]:
    rows = [CATALOG[t] for t in dict.fromkeys(types)] if types else list(RESOURCE_TYPES)
    problems = orphan_types(row.type for row in rows)
    if problems:
        raise ValueError("; ".join(problems))
    return rows


def orphan_types(types: Iterable[str]) -> list[str]:
    """Types asked for without the parent type they are listed per (ECS services per cluster), which would list
    nothing: each named with the type to add."""
    types = list(types)
    return [f"{t} is listed per {CATALOG[t].parent[0]}: add --type {CATALOG[t].parent[0]}"
            for t in types if CATALOG[t].parent and CATALOG[t].parent[0] not in types]


def count_listings(regions: Iterable[str], types: Iterable[str] | None = None) -> int:
    """How many (account, region, type) listings a scan makes, child listings included: the progress total."""
    rows = _rows(types)
    children = Counter(row.parent[0] for row in rows if row.parent)
    return sum(1 + children[row.type] for _, row in plan_tasks(rows, regions))


def scan_live(
    session: AwsSession,
    account: str,
    partition: str,
    regions: list[str],
    types: Iterable[str] | None = None,
    workers: int = DEFAULT_WORKERS,
    on_listing: Callable[[Listing], None] | None = None,
    global_types: bool = True,
    scanned_regions: Iterable[str] | None = None,
) -> LiveScan:
    """List every catalog type (or the ones named) in every region, concurrently across region x type.

    `on_listing` hears of each listing as it ends, on the calling thread. Ctrl-C (KeyboardInterrupt) cancels
    the session, so every worker stops at its next call, and returns at once without waiting for calls in
    flight. A part of a scan split across processes (scanner/processes.py) lists its `regions` only, the global
    types when `global_types`, and keeps the buckets of any of the whole scan's `scanned_regions`."""
    rows = _rows(types)
    children = {row.parent[0]: [] for row in rows if row.parent}
    for row in rows:
        if row.parent:
            children[row.parent[0]].append(row)
    wanted_regions = set(scanned_regions or regions)

    def run(task: tuple[str, ResourceType]) -> LiveScan:
        region, row = task
        items, records, listings = list_type(session, row, account, region, partition, describe_pool=describe_pool,
                                             tag_index=tag_index)
        listing = listings[0]
        if row.scope == "global_list":  # a bucket whose region is unknown may be in a scanned one
            records = [r for r in records if r.region in wanted_regions or r.region is None]
        for child in children.get(row.type, []):
            if listing.outcome != LISTING_OK:
                listings.append(Listing(account, region, child.type, listing.outcome, 0, listing.error_code,
                                        f"its parent {row.type} could not be listed", 0))
                continue
            _, child_records, child_listings = list_type(
                session, child, account, region, partition, parent_items=items, describe_pool=describe_pool,
                tag_index=tag_index)
            records += child_records
            listings += child_listings
        log.debug("listed %s in %s: %s (%d)", row.type, region, listing.outcome, len(records))
        return LiveScan(records, listings)

    tasks = plan_tasks(rows, regions, global_types)
    tag_index = TagIndex(session, rows)
    describe_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="describe")
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="list")
    parts: dict[Future, int] = {}
    done: dict[int, LiveScan] = {}
    try:
        # started longest first; the results are still put together in plan order, whatever order they end in
        starts = sorted(range(len(tasks)), key=lambda n: start_order(tasks[n][1], tasks[n][1].type in children))
        parts = {pool.submit(run, tasks[n]): n for n in starts}
        pending = set(parts)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                done[parts[future]] = part = future.result()
                for listing in part.listings:
                    if on_listing is not None and listing.call is None:
                        on_listing(listing)
    except BaseException:
        # Ctrl-C or a failure: stop every worker at its next call and leave without waiting for calls in flight
        session.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        describe_pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    describe_pool.shutdown()
    result = LiveScan([], [])
    for n in range(len(tasks)):  # in task order, whatever order they ended in
        result.records += done[n].records
        result.listings += done[n].listings
    return result
