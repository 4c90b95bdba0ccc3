"""Pending maintenance on RDS and ElastiCache resources, as each region's API tells it: rows, and one listing a call.

AWS schedules some maintenance (an RDS system update, an ElastiCache security update) without an event on the
Health dashboard; the services' own APIs say what is pending. `scan_maintenance` asks them in every region and
returns one row per pending action and one `Listing` per call, so a region whose call failed is known as such
(unknown), never read as "no maintenance". Fetching is dumb (paginate, return); the rows are a pure transform.

RDS: DescribePendingMaintenanceActions (instances and clusters, Aurora, DocumentDB and Neptune alike).
ElastiCache: DescribeUpdateActions (service updates per cluster or replication group that are not applied),
then, only when some are pending, DescribeServiceUpdates for what each update is and whether ElastiCache
applies it on its own. DescribeDBInstances' PendingModifiedValues (changes a user asked for, waiting for the
window) are not maintenance AWS schedules, and the catalog already makes that call: no second one is made here.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable

from graph.records import LISTING_OK, Listing
from graph.redact import redact_text
from graph.resource_types import CATALOG, Call, format_arn
from scanner.clients import AwsSession, UnreadableAnswer
from scanner.live import Failure, call_and_collect, classify_failure

# The `type` of the maintenance listings. No catalog type: a failed maintenance call says nothing about which
# resources exist, so it must never make a type's resources unknown (Scope) nor its drift uncertain (diff).
RDS_MAINTENANCE = "maintenance:rds"
ELASTICACHE_MAINTENANCE = "maintenance:elasticache"

DESCRIBE_PENDING_MAINTENANCE = Call("describe_pending_maintenance_actions", path="PendingMaintenanceActions")
# An update action is pending until it is `complete` or `not-applicable`; a service update that is `cancelled`
# or `expired` can no longer be applied. Asked of the service, and checked again on the answer.
PENDING_UPDATE_STATUSES = ("not-applied", "waiting-to-start", "in-progress", "stopping", "stopped", "scheduling",
                           "scheduled")
DESCRIBE_UPDATE_ACTIONS = Call(
    "describe_update_actions",
    {"ServiceUpdateStatus": ["available"], "UpdateActionStatus": list(PENDING_UPDATE_STATUSES)},
    path="UpdateActions",
)
DESCRIBE_SERVICE_UPDATES = Call("describe_service_updates", {"ServiceUpdateStatus": ["available"]},
                                path="ServiceUpdates")

RDS_TYPES = {"db": "AWS::RDS::DBInstance", "cluster": "AWS::RDS::DBCluster"}  # an RDS ARN's resource kind
# the graph types pending maintenance is read for: `scan --type` without any of them reads none
MAINTAINED_TYPES = frozenset({*RDS_TYPES.values(), "AWS::ElastiCache::CacheCluster", "AWS::ElastiCache::ReplicationGroup"})

# The columns of a maintenance row (the `maintenance` table, besides scan_id), in order.
COLUMNS = ("account", "region", "resource", "resource_id", "type", "action", "description", "status", "apply_after",
           "forced_apply_date", "recommended_apply_by", "opt_in_status", "severity", "source")


@dataclass
class MaintenanceResult:
    rows: list[dict[str, Any]]
    listings: list[Listing]


# --------------------------------------------------------------------------------------- the transforms


def _iso(value: Any) -> str | None:
    """A date as ISO 8601 in UTC (botocore gives aware datetimes); None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return value.isoformat()
    return str(value)


def _earliest(*values: Any) -> str | None:
    dates = [v for v in values if isinstance(v, dt.datetime)]
    return _iso(min(dates, key=lambda d: d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc))) if dates else None


def _text(value: Any) -> str | None:
    return redact_text(str(value)) if value not in (None, "") else None


def rds_resource_type(arn: str) -> str | None:
    """AWS::RDS::DBInstance for arn:aws:rds:us-east-1:123:db:name, AWS::RDS::DBCluster for ...:cluster:name."""
    parts = arn.split(":", 6)
    return RDS_TYPES.get(parts[5]) if len(parts) == 7 and parts[0] == "arn" and parts[2] == "rds" else None


def rds_rows(items: list[dict], account: str, region: str) -> list[dict[str, Any]]:
    """One row per pending action of each resource DescribePendingMaintenanceActions names.

    The resource's graph id is its ARN (graph/reconcile.py node_key): the ARN DescribeDBInstances and
    DescribeDBClusters give, which is the ResourceIdentifier here. An ARN of another kind keeps its row, with
    no type and no graph id."""
    rows = []
    for number, item in enumerate(items, 1):
        arn = item.get("ResourceIdentifier") if isinstance(item, dict) else None
        if not isinstance(arn, str) or not arn:
            raise UnreadableAnswer(operation="DescribePendingMaintenanceActions",
                                   detail=f"item {number} names no ResourceIdentifier: an answer driftgraph cannot read")
        type_ = rds_resource_type(arn)
        for detail in item.get("PendingMaintenanceActionDetails") or []:
            if not isinstance(detail, dict) or not detail.get("Action"):
                raise UnreadableAnswer(operation="DescribePendingMaintenanceActions",
                                       detail=f"a pending action of {redact_text(arn)} names no Action")
            rows.append({
                "account": account,
                "region": region,
                "resource": arn,
                "resource_id": arn if type_ else None,
                "type": type_,
                "action": detail["Action"],
                "description": _text(detail.get("Description")),
                "status": None,
                # the first date on which AWS applies it without being asked (in a window after AutoAppliedAfter,
                # at once on ForcedApply, on CurrentApply once opted in); None: only when someone applies it
                "apply_after": _earliest(detail.get("AutoAppliedAfterDate"), detail.get("ForcedApplyDate"),
                                         detail.get("CurrentApplyDate")),
                "forced_apply_date": _iso(detail.get("ForcedApplyDate")),
                "recommended_apply_by": None,
                "opt_in_status": detail.get("OptInStatus") or None,
                "severity": None,
                "source": "DescribePendingMaintenanceActions",
            })
    return sorted(rows, key=_order)


def elasticache_rows(actions: list[dict], service_updates: dict[str, dict] | None, account: str, region: str,
                     partition: str) -> list[dict[str, Any]]:
    """One row per pending update action (per replication group, or per cluster outside one).

    `service_updates` maps each update's name to what DescribeServiceUpdates said of it; None when that call
    failed: descriptions are then unknown and so is whether ElastiCache applies the update on its own
    (`apply_after` None). The graph id is the ARN the catalog's template gives the group or cluster: the ARN
    DescribeReplicationGroups and DescribeCacheClusters answer."""
    rows = []
    for number, action in enumerate(actions, 1):
        if not isinstance(action, dict):
            raise UnreadableAnswer(operation="DescribeUpdateActions", detail=f"item {number} is not an update action")
        if action.get("UpdateActionStatus") not in (None, *PENDING_UPDATE_STATUSES):
            continue  # complete, or not applicable: nothing pending (an endpoint that did not filter)
        if action.get("ServiceUpdateStatus") not in (None, "available"):
            continue  # cancelled or expired: it can no longer be applied
        name = action.get("ServiceUpdateName")
        group, cluster = action.get("ReplicationGroupId"), action.get("CacheClusterId")
        if not name or not (group or cluster):
            raise UnreadableAnswer(operation="DescribeUpdateActions", detail=(
                f"item {number} names no {'ServiceUpdateName' if not name else 'ReplicationGroupId or CacheClusterId'}: "
                "an answer driftgraph cannot read"))
        type_ = "AWS::ElastiCache::ReplicationGroup" if group else "AWS::ElastiCache::CacheCluster"
        row = CATALOG[type_]
        resource = str(group or cluster)
        update = (service_updates or {}).get(name, {})
        apply_by = action.get("ServiceUpdateRecommendedApplyByDate") or update.get("ServiceUpdateRecommendedApplyByDate")
        automatic = update.get("AutoUpdateAfterRecommendedApplyByDate") is True
        rows.append({
            "account": account,
            "region": region,
            "resource": resource,
            "resource_id": format_arn(row, partition, region, account, resource.lower() if row.lowercase_id else resource),
            "type": type_,
            "action": name,
            "description": _text(update.get("ServiceUpdateDescription")),
            "status": action.get("UpdateActionStatus"),
            # ElastiCache applies an auto-update in a maintenance window after its recommended apply-by date
            "apply_after": _iso(apply_by) if automatic else None,
            "forced_apply_date": None,
            "recommended_apply_by": _iso(apply_by),
            "opt_in_status": None,
            "severity": action.get("ServiceUpdateSeverity") or update.get("ServiceUpdateSeverity"),
            "source": "DescribeUpdateActions",
        })
    return sorted(rows, key=_order)


def _order(row: dict[str, Any]) -> tuple:
    return (row["region"], row["resource"], row["action"])


# ---------------------------------------------------------------------------------------- the fetching


def _operation(client, call: Call) -> str:
    return client.meta.method_to_api_mapping.get(call.method, call.method)


def _listing(account: str, region: str, type_: str, operation: str, started: float, count: int = 0,
             failure: Failure | None = None) -> Listing:
    elapsed = int((time.monotonic() - started) * 1000)
    if failure is None:
        return Listing(account, region, type_, LISTING_OK, count, None, None, elapsed, call=operation)
    return Listing(account, region, type_, failure.outcome, count, failure.code, failure.message, elapsed, call=operation)


def scan_rds(session: AwsSession, account: str, region: str) -> MaintenanceResult:
    """One region's pending RDS maintenance; any failure, even an answer we cannot read, is a failed listing."""
    started = time.monotonic()
    try:
        client = session.client("rds", region)
        rows = rds_rows(call_and_collect(client, DESCRIBE_PENDING_MAINTENANCE, dict(DESCRIBE_PENDING_MAINTENANCE.params)),
                        account, region)
    except Exception as exc:  # any failure is that region's listing failing, never a crash of the scan
        return MaintenanceResult([], [_listing(account, region, RDS_MAINTENANCE, "DescribePendingMaintenanceActions",
                                               started, failure=classify_failure(exc))])
    return MaintenanceResult(rows, [_listing(account, region, RDS_MAINTENANCE, "DescribePendingMaintenanceActions",
                                             started, len(rows))])


def scan_elasticache(session: AwsSession, account: str, region: str, partition: str) -> MaintenanceResult:
    """One region's pending ElastiCache service updates. When DescribeServiceUpdates fails the update actions
    are kept, with what it would have told unknown, and its listing counts the rows left so."""
    started = time.monotonic()
    try:
        client = session.client("elasticache", region)
        actions = call_and_collect(client, DESCRIBE_UPDATE_ACTIONS, dict(DESCRIBE_UPDATE_ACTIONS.params))
        rows = elasticache_rows(actions, {}, account, region, partition)  # readable, and pending?
    except Exception as exc:
        return MaintenanceResult([], [_listing(account, region, ELASTICACHE_MAINTENANCE, "DescribeUpdateActions",
                                               started, failure=classify_failure(exc))])
    listings = [_listing(account, region, ELASTICACHE_MAINTENANCE, "DescribeUpdateActions", started, len(rows))]
    if not rows:
        return MaintenanceResult(rows, listings)  # nothing pending: nothing to describe
    started = time.monotonic()
    try:
        updates = call_and_collect(client, DESCRIBE_SERVICE_UPDATES, dict(DESCRIBE_SERVICE_UPDATES.params))
        by_name = {u["ServiceUpdateName"]: u for u in updates if isinstance(u, dict) and u.get("ServiceUpdateName")}
    except Exception as exc:
        listings.append(_listing(account, region, ELASTICACHE_MAINTENANCE, "DescribeServiceUpdates", started, len(rows),
                                 failure=classify_failure(exc)))
        return MaintenanceResult(elasticache_rows(actions, None, account, region, partition), listings)
    listings.append(_listing(account, region, ELASTICACHE_MAINTENANCE, "DescribeServiceUpdates", started, len(by_name)))
    return MaintenanceResult(elasticache_rows(actions, by_name, account, region, partition), listings)


def scan_maintenance(session: AwsSession, account: str, partition: str, regions: list[str],
                     workers: int = 8) -> MaintenanceResult:
    """Pending RDS and ElastiCache maintenance in every region, concurrently across region x service; rows and
    listings in region order (RDS first), whatever order the calls ended in.

    Ctrl-C (KeyboardInterrupt) cancels the session, so every worker stops at its next call, and returns at
    once without waiting for calls in flight."""
    regions = list(dict.fromkeys(regions))
    if not regions:
        raise ValueError("no region to scan")
    tasks: list[Callable[[], MaintenanceResult]] = []
    for region in regions:
        tasks.append(lambda region=region: scan_rds(session, account, region))
        tasks.append(lambda region=region: scan_elasticache(session, account, region, partition))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="maintenance")
    done: dict[int, MaintenanceResult] = {}
    try:
        parts: dict[Future, int] = {pool.submit(task): n for n, task in enumerate(tasks)}
        pending = set(parts)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                done[parts[future]] = future.result()
    except BaseException:
        session.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    result = MaintenanceResult([], [])
    for n in range(len(tasks)):
        result.rows += done[n].rows
        result.listings += done[n].listings
    return result
