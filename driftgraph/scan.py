"""One scan end to end: identity, live listing, IaC import, reconciliation, one atomic database write."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftgraph import __version__
from driftgraph.progress import ScanProgress
from graph.analysis import import_groups
from graph.codify import unmanaged_import_ids
from graph.ignore import DEFAULT_IGNORE_FILE, IgnoreRules
from graph.reconcile import Graph, Node, Scope, reconcile
from graph.records import (
    CLOUDFORMATION,
    GLOBAL,
    TERRAFORM,
    FailedSource,
    ImportResult,
    Listing,
    UNMANAGED,
    SourceError,
    bulk_work,
    source_row,
)
from graph.redact import redact_text
from graph.report import scan_summary
from graph.resource_types import CATALOG, catalog_as_dicts
from graph.stack_deps import StackEdge, dependency_graph, graph_edges, upgrade_waves
from graph.store import CONTENT, ScanWriter, check_database, check_writable, open_database
from importers.cdk_assembly import match_assemblies, read_assemblies
from importers.cloudformation import DESCRIBE_STACKS_SOURCE, import_stacks, import_template_files
from importers.inputs import InputProblem, read_file
from importers.stack_links import references_from_rows
from importers.terraform_backends import backend_locations
from importers.terraform_code import code_records, read_terraform_code
from importers.terraform_state import load_terraform_states
from scanner.accounts import (
    CALL_SOURCES,
    AccountOptions,
    AccountsError,
    ScanAccount,
    option_problems,
    reach_accounts,
    unreached_listings,
)
from scanner.clients import DEFAULT_CALL_TIMEOUT, AwsSession, home_region
from scanner.live import DEFAULT_WORKERS, LiveScan, count_listings, scan_live
from scanner.processes import scan_live_in_processes
from scanner.cloudtrail import OFF as CLOUDTRAIL_OFF
from scanner.cloudtrail import CreatorResult, find_creators
from scanner.maintenance import MAINTAINED_TYPES, MaintenanceResult, scan_maintenance

log = logging.getLogger("driftgraph.scan")


@dataclass
class ScanOptions:
    db: str
    regions: tuple[str, ...] = ()
    tfstates: tuple[str, ...] = ()
    cfn_templates: tuple[str, ...] = ()  # PATH or PATH@REGION
    cfn_template_region: str | None = None  # the region of templates given without one
    profile: str | None = None  # one profile (a scan of its account); several accounts: `profiles`
    ignore_file: str | None = None
    live_stacks: bool = True
    types: tuple[str, ...] = ()
    workers: int = DEFAULT_WORKERS
    processes: int = 1  # processes each account's regions are split across (scanner/processes.py)
    meta: tuple[tuple[str, str], ...] = ()  # facts about the database to record with the scan (demo: ...)
    max_input_mb: int | None = None  # the largest input file read (None: each importer's default)
    call_timeout: float = DEFAULT_CALL_TIMEOUT  # seconds one AWS call may spend across its retries
    tf_dirs: tuple[str, ...] = ()  # Terraform code (.tf) folders: what is written but not applied, import blocks
    cdk_outs: tuple[str, ...] = ()  # CDK cloud assemblies (cdk.out folders) to match to the deployed stacks
    maintenance: bool = True  # read pending RDS and ElastiCache maintenance (scanner/maintenance.py)
    # record the scan as run at this time (the demo's first scan, a week back; tests of ages): never from the CLI
    recorded_at: dt.datetime | None = None
    # who made new unmanaged resources (scanner/cloudtrail.py): "lookup" (event history), "off", or s3://bucket/prefix
    cloudtrail: str = "lookup"
    # many accounts in one scan (scanner/accounts.py): the organization's (--org, assuming --role-name in each),
    # roles to assume (--account-role), profiles (--profile, each an account), accounts left out
    org: bool = False
    role_name: str | None = None
    account_roles: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    exclude_accounts: tuple[str, ...] = ()

    def account_options(self) -> AccountOptions:
        profiles = self.profiles or ((self.profile,) if self.profile else ())
        return AccountOptions(org=self.org, role_name=self.role_name, account_roles=self.account_roles,
                              profiles=profiles, exclude=self.exclude_accounts)


def service_of(type_: str) -> str:
    """'sqs' for AWS::SQS::Queue and for aws_sqs_queue_policy; the catalog's client name where it has one."""
    row = CATALOG.get(type_)
    if row is not None:
        return row.service
    if "::" in type_:
        return type_.split("::")[1].lower()
    parts = type_.split("_")
    return parts[1] if len(parts) > 1 else type_


REGION_NAME = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")  # matched whole (fullmatch): no trailing newline


def new_unmanaged(db: str, resources: list[tuple]) -> list[dict[str, Any]]:
    """The scan's unmanaged resources the database does not already know as unmanaged, nor knows the creator of:
    whose creator CloudTrail is asked for (every unmanaged one on a first scan, up to the lookup cap)."""
    known: set[str] = set()
    if check_database(db):
        database = open_database(db)
        try:
            known = {row[0] for row in database.execute("select id from current_resources where status = 'unmanaged'")}
            if database["creators"].exists():  # a database older than the creators table has found none
                known |= {row[0] for row in database.execute("select resource_id from creators where status = 'found'")}
        finally:
            database.close()
    return [resource_dict(row) for row in resources if row[_STATUS] == UNMANAGED and row[_ID] not in known]


def maintenance_wanted(types: tuple[str, ...]) -> bool:
    """Pending maintenance is read unless `--type` leaves out every RDS and ElastiCache type."""
    return not types or any(t in MAINTAINED_TYPES for t in types)


def split_template_region(location: str, default: str | None) -> tuple[str, str | None]:
    """'templates/app.yaml@eu-west-1' -> ('templates/app.yaml', 'eu-west-1'); an '@' not followed by a region
    name is part of the path, and so is one when the whole location exists as it is. Without a region,
    `default` (--cfn-template-region) or None: unknown."""
    path, at, region = location.rpartition("@")
    if at and path and REGION_NAME.fullmatch(region) and not os.path.lexists(location):
        return path, region
    return location, default


def template_records(result: ImportResult, explicit_region: bool) -> ImportResult:
    """A template file is not deployed anywhere we know of unless its region was given: its resources then
    name no region, so they match a live resource in any scanned region and are never `missing` in one."""
    if explicit_region:
        return result
    result.records = [
        r if r.region == GLOBAL else dataclasses.replace(r, region=None, arn=_own_arn(r))
        for r in result.records
    ]
    return result


def _own_arn(record) -> str | None:
    """The ARN a record keeps when its place is not known: only one its natural id is itself."""
    return record.arn if record.natural_id and record.natural_id.startswith("arn:") else None


def accountless_records(result: ImportResult) -> ImportResult:
    """In a scan of several accounts a template file names no account: an ARN made up with none would name no
    resource, so only an ARN the template wrote itself is kept."""
    result.records = [r if r.account is not None else dataclasses.replace(r, arn=_own_arn(r)) for r in result.records]
    return result


def failed_owner_sources(sources: list[dict[str, Any]], template_regions: dict[str, str | None]) -> list[FailedSource]:
    """Every state file or template file that could not be read, as an owner source whose declarations are
    unknown: it could have declared any resource (a template file, any in its region when given)."""
    failed = []
    for row in sources:
        if row["status"] not in ("error", "refused"):
            continue
        if row["kind"] == "terraform_state":
            failed.append(FailedSource(row["path"], TERRAFORM, row.get("message") or row["status"]))
        elif row["kind"] == "cloudformation_template":
            region = template_regions.get(row["path"])
            failed.append(FailedSource(row["path"], CLOUDFORMATION, row.get("message") or row["status"], region=region))
    return failed


IGNORE_FILE_MAX_BYTES = 1 << 20  # a rules file, not data: a megabyte of rules is already far too many


def find_ignore_file(directory: str | os.PathLike = ".") -> str | None:
    """The `.driftgraphignore` of `directory` (the working directory: where a repository keeps it, beside
    .gitignore), or None. Anything by that name counts, so one that is not a readable file fails the scan
    rather than being skipped unsaid."""
    path = Path(directory) / DEFAULT_IGNORE_FILE
    return str(path) if os.path.lexists(path) else None


def read_ignore_file(location: str) -> IgnoreRules:
    """The ignore rules of a file; ValueError naming the file (and line) when it cannot be read as rules."""
    path = Path(location)
    try:
        data = read_file(location, IGNORE_FILE_MAX_BYTES)  # regular files only: a FIFO or /dev/zero never hangs
    except InputProblem as problem:
        raise ValueError(f"{path}: cannot read the ignore file: {problem.reason}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte {data[error.start]:#04x}); save the ignore file as UTF-8") from None
    return IgnoreRules(text.splitlines(), str(path))


def _now(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0).isoformat()


RESOURCE_COLUMNS = CONTENT["resources"]  # a resource row's values, in this order
_STATUS, _ID = RESOURCE_COLUMNS.index("status"), RESOURCE_COLUMNS.index("id")


def resource_rows(graph: Graph) -> list[tuple]:
    """A row a node for the store (cleaned there), as a tuple of RESOURCE_COLUMNS (a dict would take 2.4 times
    the memory): a million of them, so no garbage collection while they are made, the service found once a type,
    and no sets or lists where a node has none to give. `resource_dict` reads one by name."""
    with bulk_work():
        groups = import_groups(graph.nodes, graph.edges)
        services: dict[str, str] = {}
        rows = []
        append = rows.append
        for node in graph.nodes:
            owners = node.declarations
            live = node.live
            source = live or (owners[0] if owners else None)
            type_ = node.type
            service = services.get(type_)
            if service is None:
                service = services[type_] = service_of(type_)
            if not owners:
                tools = None
            elif len(owners) == 1:
                tools = owners[0].owner.tool
            else:
                tools = ",".join(sorted({o.owner.tool for o in owners}))
            drift = node.drift
            append((node.key, node.arn, type_, service, node.account, node.region, node.name, node.natural_id,
                    node.status, node.reason, node.rule, tools or None, len(owners),
                    len(node.counted_drift) if drift else 0, groups.get(node.key),
                    source.tags if source is not None else None, live.attributes if live is not None else None,
                    source.aliases if source is not None and source.aliases else None, None))
        # the id `terraform import` takes, when unmanaged: the last column
        import_ids = unmanaged_import_ids(_RowsById(rows), [row[_ID] for row in rows if row[_STATUS] == UNMANAGED],
                                          graph.edges)
        if import_ids:
            for position, row in enumerate(rows):
                found = import_ids.get(row[_ID])
                if found is not None:
                    rows[position] = (*row[:-1], found)
    return rows


def resource_dict(row: tuple) -> dict[str, Any]:
    return dict(zip(RESOURCE_COLUMNS, row))


class _RowsById(Mapping):
    """The resource rows by id, each read as a dict (what codify reads of a row), without a dict a row."""

    def __init__(self, rows: list[tuple]):
        self.rows = rows
        self.position = {row[_ID]: position for position, row in enumerate(rows)}

    def __getitem__(self, key) -> dict[str, Any]:
        return resource_dict(self.rows[self.position[key]])

    def __iter__(self):
        return iter(self.position)

    def __len__(self) -> int:
        return len(self.position)


def owner_rows(nodes: list[Node]) -> list[tuple]:
    """The owners, as tuples of the store's owner columns (graph.store.CONTENT["owners"]): a million of them."""
    with bulk_work():
        return [(node.key, r.owner.tool, r.owner.source, r.owner.address, r.owner.framework, r.owner.stack_name,
                 r.raw_type, r.owner.construct_path)
                for node in nodes
                for r in node.declarations]


def edge_rows(edges: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The edges as the store takes them, (source_id, relation, target_id): the graph's own tuples, not a copy."""
    return edges if isinstance(edges, list) else list(edges)


def drift_rows(nodes: list[Node]) -> list[dict[str, Any]]:
    return [{"resource_id": node.key, **d} for node in nodes if node.drift for d in node.drift]


@dataclass
class Assemblies:
    """What the given cloud assemblies told: rows for the store, and the manifest's dependencies between stacks."""

    stacks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    diffs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    manifest_edges: list[StackEdge] = dataclasses.field(default_factory=list)


def read_cdk_outs(paths: list[str], declared: ImportResult, account: str, partition: str,
                  regions: list[str], max_input_bytes: dict, stacks_read: bool = True) -> Assemblies:
    """Read the cloud assemblies and match each synthesized stack to its deployed stack (in place on `declared`):
    a deployed stack a given assembly holds gets `in_assembly` and, where its template alone could not prove the
    CDK major version, the assembly's (tree.json); a deployed CDK stack none holds is an orphan (`in_assembly` 0);
    a synthesized stack not deployed declares its resources as a template file does."""
    found = Assemblies()
    stacks, errors, sources = read_assemblies(paths, **max_input_bytes)
    declared.errors += errors
    declared.sources += sources
    # only where the deployed stacks are known can a synthesized stack be found not deployed: never in a region
    # whose DescribeStacks failed, nor anywhere when stacks were not read (--no-stacks)
    unread = {f.region for f in declared.failed if f.source == DESCRIBE_STACKS_SOURCE}
    readable_regions = [r for r in regions if r not in unread] if stacks_read else []
    match = match_assemblies(stacks, declared.stacks, declared.deployed_resources, account, readable_regions)
    by_id = {row["id"]: row for row in declared.stacks}
    for row in declared.stacks:
        if row["id"] in match.orphans:
            row["in_assembly"] = 0
    deployed_ids = {(stack.assembly, stack.artifact_id): stack_id for stack, stack_id in match.deployed}
    for stack, stack_id in match.deployed:
        row = by_id[stack_id]
        row["in_assembly"] = 1
        if row.get("framework") in ("cdk", "cloudformation") and stack.origin.framework in ("cdk-v1", "cdk-v2"):
            _adopt_origin(declared, row, stack)
        found.manifest_edges += [StackEdge(stack_id, deployed_ids[(stack.assembly, needed)], "manifest")
                                 for needed in stack.dependencies if (stack.assembly, needed) in deployed_ids]
    status_of = {**{(s.assembly, s.artifact_id): ("deployed", i) for s, i in match.deployed},
                 **{(s.assembly, s.artifact_id): ("not_deployed", None) for s in match.not_deployed},
                 **{(s.assembly, s.artifact_id): ("not_scanned", None) for s in match.not_scanned},
                 **{(s.assembly, s.artifact_id): ("ambiguous", None) for s, _ in match.ambiguous}}
    for stack in stacks:
        status, stack_id = status_of.get((stack.assembly, stack.artifact_id), ("not_scanned", None))
        found.stacks.append({"assembly": stack.assembly, "artifact_id": stack.artifact_id, "stack_name": stack.stack_name,
                             "account": stack.account, "region": stack.region, "status": status, "stack_id": stack_id,
                             "framework": stack.origin.framework, "cdk_version": stack.origin.cdk_version,
                             "dependencies": list(stack.dependencies)})
    found.diffs = match.resource_diffs
    for stack in match.not_deployed:  # code not deployed (yet, or any more): its named resources are declarations
        result = import_template_files([stack.template_path], account, partition, stack.region or regions[0],
                                       **max_input_bytes)
        declared.extend(template_records(result, explicit_region=stack.region is not None))
    return found


def _adopt_origin(declared: ImportResult, row: dict[str, Any], stack) -> None:
    """The assembly proves what the deployed template could not (the CDK major version of a stack synthesized with
    version reporting off): the stack row and its resources' owners take it, with the evidence why."""
    origin = stack.origin
    row.update(framework=origin.framework, cdk_version=row.get("cdk_version") or origin.cdk_version,
               language=row.get("language") or origin.language,
               modules=row.get("modules") or list(origin.modules),
               evidence=[*(row.get("evidence") or []),
                         f"cloud assembly {stack.assembly} holds it: {origin.framework} by its tree.json"])
    for record in declared.records:
        if record.owner is not None and record.owner.source == row["id"] and record.owner.tool == CLOUDFORMATION:
            record.owner = dataclasses.replace(record.owner, framework=origin.framework)


def stack_dependency_rows(declared: ImportResult, manifest_edges: list[StackEdge] = ()) -> list[dict[str, Any]]:
    """The scan's stacks as a dependency graph: one row per fact that makes a stack depend on another (an export
    it imports, an SSM parameter it reads, a nested child, ...), and each stack row's upgrade `wave` set."""
    graph = dependency_graph(declared.stacks, declared.imports, declared.exports,
                             references_from_rows(declared.references), manifest_edges)
    waves, _cycles = upgrade_waves(graph)
    wave_of = {stack_id: index for index, wave in enumerate(waves) for stack_id in wave}
    for stack in declared.stacks:
        stack["wave"] = wave_of.get(stack["id"])
    return [{"stack_id": e.stack, "depends_on": e.depends_on, "via": redact_text(e.via)}
            for e in graph_edges(graph) + list(graph.graph["unmet"])]


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


@dataclass
class AccountsScan:
    """What the accounts' own calls told: live records and listings, stacks, pending maintenance."""

    live: LiveScan = dataclasses.field(default_factory=lambda: LiveScan([], []))
    maintenance: MaintenanceResult = dataclasses.field(default_factory=lambda: MaintenanceResult([], []))
    declared: ImportResult = dataclasses.field(default_factory=ImportResult)


def scan_accounts(options: ScanOptions, accounts: list[ScanAccount], progress: ScanProgress,
                  template_limit: dict) -> AccountsScan:
    """List, read stacks and pending maintenance in each reached account, one account after the other (each
    account's listings run concurrently)."""
    found = AccountsScan()
    for account in accounts:
        if options.processes > 1 and len(account.regions) > 1:
            part = scan_live_in_processes(account.session, account.account, account.partition, account.regions,
                                          options.types or None, options.workers, options.processes,
                                          on_listing=progress.listed)
        else:
            part = scan_live(account.session, account.account, account.partition, account.regions,
                             options.types or None, options.workers, on_listing=progress.listed)
        found.live.records += part.records
        found.live.listings += part.listings
    if options.maintenance and maintenance_wanted(options.types):
        progress.phase("pending maintenance")
        for account in accounts:
            part = scan_maintenance(account.session, account.account, account.partition, account.regions,
                                    workers=min(options.workers, 8))
            found.maintenance.rows.extend(part.rows)
            found.maintenance.listings.extend(part.listings)
    if options.live_stacks:
        progress.phase("reading stacks")
        for account in accounts:
            found.declared.extend(import_stacks(account.session, account.account, account.partition, account.regions,
                                                **template_limit))
    return found


def unreached_account_errors(accounts: list[ScanAccount]) -> list[SourceError]:
    """One error per account the scan could not reach: the scan is partial, and the report names it."""
    return [
        SourceError(CALL_SOURCES[a.failed_call],
                    redact_text(f"account {a.account or '(unknown)'} not reached through {a.via}: {a.failed_call} "
                                f"failed ({a.failure.code}: {a.failure.message}); nothing in it was listed, and what "
                                "is declared there is unknown"),
                    "error", account=a.account, code=a.failure.code)
        for a in accounts if not a.reached
    ]


def region_warnings(accounts: list[ScanAccount]) -> list[SourceError]:
    """A region asked for that one account has not enabled is not scanned there: said, as a warning."""
    return [SourceError("aws:ec2:DescribeRegions", f"account {a.account}: {', '.join(a.regions_not_enabled)} not "
                        "enabled there, so not scanned in it", "warning", account=a.account, region=region)
            for a in accounts if a.reached for region in a.regions_not_enabled]


def accounts_listings(accounts: list[ScanAccount], records: list, asked_regions: tuple[str, ...],
                      types: tuple[str, ...]) -> list[Listing]:
    """Failed listings for each account not reached: in the regions asked for, else in those the declarations name
    for it, and once for the global types. What the scan says there (a declaration, unknown) then ends nothing an
    earlier scan saw: it stays as last seen, as behind any failed listing."""
    listings = []
    for account in accounts:
        if account.reached or account.account is None:
            continue
        regions = asked_regions or sorted({r.region for r in records if r.account == account.account and r.region})
        listings += unreached_listings(account.account, account.failure, account.failed_call, regions, types or None)
    return listings


def run_scan(options: ScanOptions, session: AwsSession | None = None,
             progress: ScanProgress | None = None) -> dict[str, Any]:
    """Scan and write one scan into the database; returns the scan row. Raises on fatal problems
    (scanner.clients.RegionError for a region that is not the account's; scanner.accounts.AccountsError when
    the accounts to scan cannot be known, or none can be reached).

    `session` is the scanning identity (default: boto3's standard chain, or the one `profile`): in a scan of
    several accounts it lists the organization, assumes the roles and reads S3 state and trail log files.
    `progress` hears of phases and listings (a live view on a terminal)."""
    progress = progress or ScanProgress()
    started_at, started = _now(options.recorded_at), time.monotonic()
    check_database(options.db)  # refuse a file that is not ours, or one we cannot write, before spending a scan on it
    check_writable(options.db)
    account_options = options.account_options()
    problems = option_problems(account_options)
    if problems:
        raise AccountsError("; ".join(problems))
    several = account_options.several
    if several and options.cdk_outs:
        # an assembly is matched to one account's deployed stacks: a deployed CDK stack of another account would
        # read as an orphan of code that was never its
        raise AccountsError("--cdk-out matches a cloud assembly to one account's stacks: scan the accounts with "
                            "cloud assemblies one at a time")
    ignore = read_ignore_file(options.ignore_file) if options.ignore_file else None
    if ignore is not None:
        log.info("ignore rules: %d from %s", len(ignore.rules), ignore.source)
    # identity and regions go to the profile's region, never the first --region (maybe an opt-in one not enabled)
    single_profile = None if several else (account_options.profiles or (None,))[0]
    session = session or AwsSession(single_profile, home_region(options.regions), options.call_timeout)
    progress.phase("identity")
    targets = reach_accounts(account_options, session, options.regions)
    reached = [a for a in targets if a.reached]
    if not targets:
        raise AccountsError("no account to scan: every account was excluded, or none is ACTIVE")
    if not reached:  # a scan of nothing would be a complete scan of nothing
        raise AccountsError("no account could be reached: " + "; ".join(
            f"{a.account or a.via}: {a.why_not_reached()}" for a in targets))
    partition = reached[0].partition
    account = reached[0].account if not several else None  # the one account declarations without one are in
    regions = list(dict.fromkeys(r for a in reached for r in a.regions))
    accounts = list(dict.fromkeys(a.account for a in targets if a.account))
    unreached = {a.account: a.why_not_reached() for a in targets if not a.reached and a.account}
    if several:
        log.info("scanning %d accounts (%d not reached) in %d regions", len(accounts), len(targets) - len(reached),
                 len(regions))
    else:
        log.info("scanning account %s in %d regions", account, len(regions))

    progress.phase("listing")
    planned = {a.account: (count_listings(a.regions, options.types or None), len(a.regions)) for a in reached}
    progress.planned(sum(count for count, _ in planned.values()), regions, planned)
    progress.watch(session.rates)
    # --max-input-mb raises (or lowers) both limits; without it each importer keeps its own default
    max_bytes = options.max_input_mb * 2**20 if options.max_input_mb else None
    template_limit = {"max_input_bytes": max_bytes} if max_bytes else {}
    state_limit = {"max_bytes": max_bytes} if max_bytes else {}
    found = scan_accounts(options, reached, progress, template_limit)
    live, maintenance, declared = found.live, found.maintenance, found.declared
    template_regions: dict[str, str | None] = {}
    if options.cfn_templates:
        progress.phase("reading templates")
    for location in options.cfn_templates:
        path, region = split_template_region(location, options.cfn_template_region)
        # no region given: AWS::Region is unknown, so conditions and names that read it are undecided rather
        # than decided for whichever region the shell happens to name; in a scan of several accounts, likewise
        # AWS::AccountId
        result = import_template_files([path], account, partition, region, **template_limit)
        template_regions.update({row["path"]: region for row in result.sources})
        template_regions.setdefault(path, region)
        declared.extend(accountless_records(template_records(result, explicit_region=region is not None)))
    assemblies = Assemblies()
    if options.cdk_outs:
        progress.phase("reading cloud assemblies")
        assemblies = read_cdk_outs(list(options.cdk_outs), declared, account, partition, reached[0].regions,
                                   {"max_input_bytes": max_bytes} if max_bytes else {}, options.live_stacks)
    reading = None
    if options.tf_dirs:
        progress.phase("reading Terraform code")
        reading = read_terraform_code(list(options.tf_dirs))
        declared.errors += reading.errors
        declared.sources += reading.sources
    state_locations = list(options.tfstates)
    if reading is not None and not state_locations:
        # no --tfstate: the states are where the code's backend blocks say; one that cannot be read is a state
        # that failed (what it could declare is unknown), never an empty one
        state_locations, unreadable = backend_locations(reading.backends)
        declared.errors += unreadable
        declared.sources += [source_row(e.source, "terraform_state", "error", message=e.message) for e in unreadable]
    if state_locations:
        progress.phase("reading states")
        declared.extend(
            # no default region: a resource whose state gives no region evidence is matched in any scanned region;
            # in a scan of several accounts no default account either: a resource lands in the account its ARN
            # (or its provider's other resources) names, never in a guessed one
            load_terraform_states(state_locations, session, default_account=account, default_region=None,
                                  **state_limit)
        )
    if reading is not None:
        # code a state holds adds nothing (the state owns it); the rest is a plan: never an owner (Record.pending)
        applied = {r.owner.address for r in declared.records if r.owner is not None and r.owner.tool == TERRAFORM}
        declared.records += code_records(reading, applied, account, None)
    progress.phase("reconciling")
    failed_sources = declared.failed + failed_owner_sources(declared.sources, template_regions)
    # the accounts not reached: a failed listing for every type where the scan could say anything of them
    live.listings += accounts_listings(targets, declared.records, options.regions, options.types)
    scope = Scope(set(accounts), set(regions), partition, live.listings, failed_sources,
                  account_regions={a.account: set(a.regions) for a in reached}, unreached=unreached)
    graph = reconcile(live.records, declared.records, scope, ignore)

    errors = unreached_account_errors(targets) + region_warnings(targets) + declared.errors
    if ignore is not None:
        errors += [SourceError(ignore.source, rule.unused_message(), "warning", rule.line) for rule in ignore.unused()]
    listings = live.listings + maintenance.listings  # after reconcile: maintenance calls decide no resource's status
    failed = [l for l in listings if l.outcome != "ok"]
    # a source set aside (a superseded state's doubt) is no failure: its resources are unknown, the scan whole
    unread = any(source.partial for source in failed_sources)
    status = "partial" if failed or unread or any(e.kind == "error" for e in errors) else "complete"
    resources = resource_rows(graph)
    owners, edges, drift = owner_rows(graph.nodes), edge_rows(graph.edges), drift_rows(graph.nodes)
    drifted = sum(1 for node in graph.nodes if node.counted_drift)
    graph = None  # freed before the store: at a million resources its nodes are half a gigabyte

    creators = CreatorResult([], [])
    if options.cloudtrail != CLOUDTRAIL_OFF:
        wanted = new_unmanaged(options.db, resources)
        if wanted:
            progress.phase("who made it")
            creators = who_made_them(options.cloudtrail, wanted, session, reached)
            errors += creators.problems

    progress.phase("writing")
    writer = ScanWriter(options.db)
    writer.forget(declared.secrets)
    try:
        writer.begin(
            {
                "started_at": started_at,
                "status": "running",
                "accounts": accounts,
                "regions": regions,
                "partition": partition,
                "caller_arn": (reached[0].identity if not several else _caller(session, reached))["caller_arn"],
                "driftgraph_version": __version__,
                "options": {
                    "tfstates": list(options.tfstates),
                    "cfn_templates": list(options.cfn_templates),
                    "cfn_template_region": options.cfn_template_region,
                    "cdk_outs": list(options.cdk_outs),
                    "tf_dirs": list(options.tf_dirs),
                    "live_stacks": options.live_stacks,
                    "ignore_file": options.ignore_file,
                    "types": list(options.types),
                    "maintenance": options.maintenance,
                    "cloudtrail": options.cloudtrail,
                    **({"org": options.org, "role_name": options.role_name,
                        "account_roles": list(options.account_roles), "profiles": list(account_options.profiles),
                        "exclude_accounts": list(options.exclude_accounts),
                        "accounts": [account_row(a) for a in targets]} if several else {}),
                },
            }
        )
        # every place the scan looked, failed listings included: what it did not report there is gone; an account
        # not reached was looked at nowhere (its failed listings say where what it had stays as last seen), nor an
        # account or region only a declaration names (complete: what an earlier scan saw there stays)
        writer.write_scopes({(l.account, l.region) for l in listings}
                            | {(a.account, r) for a in reached for r in [*a.regions, GLOBAL, None]}, complete=True)
        writer.write("resources", resources)
        writer.write("owners", owners)
        writer.write("edges", edges)
        writer.write("drift", drift)
        writer.write("listings", listing_rows(listings))
        writer.write("maintenance", maintenance.rows)
        writer.write("creators", creators.rows)
        writer.write("scan_errors", error_rows(errors))
        dependencies = stack_dependency_rows(declared, assemblies.manifest_edges)
        writer.write("stacks", declared.stacks)
        writer.write("stack_dependencies", dependencies)
        writer.write("assembly_stacks", assemblies.stacks)
        writer.write("assembly_diffs", assemblies.diffs)
        writer.write("stack_references", [{**row, "name": redact_text(row["name"])} for row in declared.references])
        writer.write("stack_exports", declared.exports)
        writer.write("stack_imports", declared.imports)
        writer.write("sources", declared.sources)
        writer.write_catalog(catalog_as_dicts())
        writer.write_meta(dict(options.meta))
        scan = {
            "finished_at": _now(options.recorded_at and options.recorded_at + dt.timedelta(seconds=time.monotonic() - started)),
            "status": status,
            "duration_seconds": round(time.monotonic() - started, 3),
            "resource_count": len(resources),
        }
        summary = scan_summary([row[_STATUS] for row in resources], drifted)
        writer.finish({**scan, "summary": summary})
        scan_id = writer.scan_id
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    by_status = Counter(row[_STATUS] for row in resources)
    not_reached = {a.account or a.via: a.why_not_reached() for a in targets if not a.reached}
    return {"id": scan_id, "account": reached[0].account, "accounts": accounts, "accounts_not_reached": not_reached,
            "account_count": len(targets),
            "regions": regions, **scan, "errors": len(errors),
            "failed_listings": len(failed), "by_status": dict(by_status), "ignore_file": options.ignore_file,
            "drifted_resources": drifted}


def account_row(account: ScanAccount) -> dict[str, Any]:
    """How the scan reached one account (or why not), as the scan's options record it."""
    return {"account": account.account, "via": account.via, "reached": account.reached, "regions": account.regions,
            "regions_not_enabled": account.regions_not_enabled,
            "not_reached": redact_text(account.why_not_reached()) or None}


def _caller(session: AwsSession, reached: list[ScanAccount]) -> dict[str, Any]:
    """The scanning identity: the one that assumed the roles (its identity was read to list or assume), else the
    first account's."""
    caller = next((a.identity for a in reached if a.session is session), None)
    if caller is None:
        try:
            caller = session.identity()
        except Exception:  # a scan of profiles only needs no identity of its own
            caller = reached[0].identity
    return caller


def who_made_them(source: str, wanted: list[dict[str, Any]], session: AwsSession,
                  reached: list[ScanAccount]) -> CreatorResult:
    """CloudTrail's answer for each new unmanaged resource: from a trail's log files, read by the scanning identity
    (an organization trail's bucket holds every account's), or from each account's own event history."""
    if source.startswith("s3://"):
        return find_creators(session, wanted, s3_uri=source)
    result = CreatorResult([], [])
    for account in reached:
        mine = [row for row in wanted if row["account"] == account.account]
        if mine:
            part = find_creators(account.session, mine)
            result.rows += part.rows
            result.problems += part.problems
    return result


def summary_line(result: dict[str, Any], db: str) -> str:
    """The one line a scan ends with: what needs a person first, then where it went."""
    counts = result["by_status"]
    findings = (f"{counts.get('unmanaged', 0)} unmanaged, {counts.get('missing', 0)} missing, "
                f"{result['drifted_resources']} drifted, {counts.get('conflict', 0)} in conflict, "
                f"{counts.get('unknown', 0)} unknown")
    return (
        f"scan {result['id']} {result['status']}: {result['resource_count']} resources ({findings}) in "
        f"{_accounts_text(result)}, {len(result['regions'])} regions, {result['duration_seconds']} s; "
        f"{result['failed_listings']} failed listings, {result['errors']} errors/warnings"
        f"{_ignore_text(result)} -> {db}"
    )


def _accounts_text(result: dict[str, Any]) -> str:
    """'account 1111' for one; '3 accounts (1 not reached: 2222)' for several: a partial picture says so."""
    count = result.get("account_count", 1)
    not_reached = sorted(result.get("accounts_not_reached") or {})
    if count == 1 and not not_reached:
        return f"account {result['account']}"
    missed = f" ({len(not_reached)} not reached: {', '.join(not_reached)})" if not_reached else ""
    return f"{count} accounts{missed}"


def _ignore_text(result: dict[str, Any]) -> str:
    """Which ignore file the scan read: a rule file picked up from the working directory is never a surprise."""
    if not result.get("ignore_file"):
        return ""
    return f", ignore rules from {result['ignore_file']}"
