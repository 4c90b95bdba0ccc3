"""One scan end to end: identity, live listing, IaC import, reconciliation, one atomic database write."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftgraph import __version__
from driftgraph.progress import ScanProgress
from graph.analysis import import_groups
from graph.reconcile import Graph, IgnoreRules, Node, Scope, reconcile
from graph.records import ImportResult, Listing, SourceError
from graph.resource_types import CATALOG, catalog_as_dicts
from graph.store import ScanWriter, check_database
from importers.cloudformation import import_stacks, import_template_files
from importers.terraform_state import load_terraform_states
from scanner.clients import DEFAULT_CALL_TIMEOUT, AwsSession, home_region
from scanner.live import count_listings, scan_live

log = logging.getLogger("driftgraph.scan")


@dataclass
class ScanOptions:
    db: str
    regions: tuple[str, ...] = ()
    tfstates: tuple[str, ...] = ()
    cfn_templates: tuple[str, ...] = ()
    profile: str | None = None
    ignore_file: str | None = None
    live_stacks: bool = True
    types: tuple[str, ...] = ()
    workers: int = 16
    call_timeout: float = DEFAULT_CALL_TIMEOUT  # seconds one AWS call may spend across its retries


def service_of(type_: str) -> str:
    """'sqs' for AWS::SQS::Queue and for aws_sqs_queue_policy; the catalog's client name where it has one."""
    row = CATALOG.get(type_)
    if row is not None:
        return row.service
    if "::" in type_:
        return type_.split("::")[1].lower()
    parts = type_.split("_")
    return parts[1] if len(parts) > 1 else type_


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def resource_rows(graph: Graph) -> list[dict[str, Any]]:
    groups = import_groups(graph.nodes, graph.edges)
    rows = []
    for node in graph.nodes:
        owners = node.declarations
        source = node.live or (owners[0] if owners else None)
        rows.append(
            {
                "id": node.key,
                "arn": node.arn,
                "type": node.type,
                "service": service_of(node.type),
                "account": node.account,
                "region": node.region,
                "name": node.name,
                "natural_id": node.natural_id,
                "status": node.status,
                "reason": node.reason,
                "rule": node.rule,
                "owner_tools": ",".join(sorted({o.owner.tool for o in owners})) or None,
                "owner_count": len(owners),
                "drift_count": len(node.drift),
                "import_group": groups.get(node.key),
                "tags": source.tags if source is not None else None,
                "attributes": node.live.attributes if node.live is not None else None,
            }
        )
    return rows


def owner_rows(nodes: list[Node]) -> list[dict[str, Any]]:
    return [
        {
            "resource_id": node.key,
            "tool": r.owner.tool,
            "source": r.owner.source,
            "address": r.owner.address,
            "framework": r.owner.framework,
            "stack_name": r.owner.stack_name,
            "declared_type": r.raw_type,
        }
        for node in nodes
        for r in node.declarations
    ]


def error_rows(errors: list[SourceError]) -> list[dict[str, Any]]:
    return [
        {
            "source": e.source,
            "kind": e.kind,
            "message": e.message,
            "line": e.line,
            "account": e.account,
            "region": e.region,
            "type": e.type,
            "code": e.code,
        }
        for e in errors
    ]


def listing_rows(listings: list[Listing]) -> list[dict[str, Any]]:
    return [
        {
            "account": l.account,
            "region": l.region,
            "type": l.type,
            "outcome": l.outcome,
            "count": l.count,
            "error_code": l.error_code,
            "message": l.message,
            "duration_ms": l.duration_ms,
            "call": l.call,
        }
        for l in listings
    ]


def run_scan(options: ScanOptions, session: AwsSession | None = None,
             progress: ScanProgress | None = None) -> dict[str, Any]:
    """Scan and write one scan into the database; returns the scan row. Raises on fatal problems
    (scanner.clients.RegionError for a region that is not the account's).

    `progress` hears of phases and listings (a live view on a terminal)."""
    progress = progress or ScanProgress()
    started_at, started = _now(), time.monotonic()
    check_database(options.db)  # refuse a file that is not ours before spending a scan on it
    ignore = None
    if options.ignore_file:
        path = Path(options.ignore_file)
        ignore = IgnoreRules(path.read_text().splitlines(), str(path))
    # identity and regions go to the profile's region, never the first --region (maybe an opt-in one not enabled)
    session = session or AwsSession(options.profile, home_region(options.regions), options.call_timeout)
    progress.phase("identity")
    identity = session.identity()
    account, partition = identity["account"], identity["partition"]
    regions = session.check_regions(options.regions) if options.regions else session.enabled_regions()
    log.info("scanning account %s in %d regions", account, len(regions))

    progress.phase("listing")
    progress.planned(count_listings(regions, options.types or None), regions)
    live = scan_live(session, account, partition, regions, options.types or None, options.workers,
                     on_listing=progress.listed)
    declared = ImportResult()
    if options.live_stacks:
        progress.phase("reading stacks")
        declared.extend(import_stacks(session, account, partition, regions))
    if options.cfn_templates:
        progress.phase("reading templates")
        declared.extend(import_template_files(list(options.cfn_templates), account, partition, regions[0]))
    if options.tfstates:
        progress.phase("reading states")
        declared.extend(
            load_terraform_states(list(options.tfstates), session, default_account=account, default_region=regions[0])
        )
    progress.phase("reconciling")
    scope = Scope({account}, set(regions), partition, live.listings)
    graph = reconcile(live.records, declared.records, scope, ignore)

    errors = declared.errors
    failed = [l for l in live.listings if l.outcome != "ok"]
    status = "partial" if failed or any(e.kind == "error" for e in errors) else "complete"
    resources = resource_rows(graph)

    progress.phase("writing")
    writer = ScanWriter(options.db)
    try:
        writer.begin(
            {
                "started_at": started_at,
                "status": "running",
                "accounts": [account],
                "regions": regions,
                "partition": partition,
                "caller_arn": identity["caller_arn"],
                "driftgraph_version": __version__,
                "options": {
                    "tfstates": list(options.tfstates),
                    "cfn_templates": list(options.cfn_templates),
                    "live_stacks": options.live_stacks,
                    "ignore_file": options.ignore_file,
                    "types": list(options.types),
                },
            }
        )
        writer.write("resources", resources)
        writer.write("owners", owner_rows(graph.nodes))
        writer.write("edges", [{"source_id": s, "relation": r, "target_id": t} for s, r, t in graph.edges])
        writer.write("drift", [{"resource_id": n.key, **d} for n in graph.nodes for d in n.drift])
        writer.write("listings", listing_rows(live.listings))
        writer.write("scan_errors", error_rows(errors))
        writer.write("stacks", declared.stacks)
        writer.write("stack_exports", declared.exports)
        writer.write("stack_imports", declared.imports)
        writer.write("sources", declared.sources)
        writer.write_catalog(catalog_as_dicts())
        scan = {
            "finished_at": _now(),
            "status": status,
            "duration_seconds": round(time.monotonic() - started, 3),
            "resource_count": len(resources),
        }
        writer.finish(scan)
        scan_id = writer.scan_id
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return {"id": scan_id, "account": account, "regions": regions, **scan, "errors": len(errors),
            "failed_listings": len(failed)}
