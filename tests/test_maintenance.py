"""Pending RDS and ElastiCache maintenance: one row per pending action keyed like the graph, one listing per call.

moto implements none of the three calls (it answers them with a 500 page), so a fake answers them in front of
moto (`MaintenanceFake` behind `aws_proxy`, speaking the query protocol's XML); the resources themselves, and
the catalog's listing of them, are moto's."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from click.testing import CliRunner

from edge_servers import MaintenanceFake, aws_proxy, driftgraph, operation_of, point_boto3_at, scan_env
from driftgraph.cli import cli
from driftgraph.scan import ScanOptions
from graph.reconcile import Scope, node_key
from graph.records import Listing
from scanner.clients import AwsSession
from scanner.live import scan_live
from scanner.maintenance import (
    COLUMNS,
    DESCRIBE_PENDING_MAINTENANCE,
    DESCRIBE_SERVICE_UPDATES,
    DESCRIBE_UPDATE_ACTIONS,
    ELASTICACHE_MAINTENANCE,
    RDS_MAINTENANCE,
    elasticache_rows,
    rds_rows,
    scan_maintenance,
)
from scanner.permissions import allowed_calls, required_actions

ACCOUNT = "123456789012"
TYPES = ("AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "AWS::ElastiCache::CacheCluster",
         "AWS::ElastiCache::ReplicationGroup")


@pytest.fixture(scope="module")
def estate(moto_endpoint):
    """RDS and ElastiCache resources in moto, in two regions; names of this module's own."""
    def client(service, region):
        return boto3.client(service, region_name=region, endpoint_url=moto_endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    rds, cache = client("rds", "us-east-1"), client("elasticache", "us-east-1")
    instance = rds.create_db_instance(DBInstanceIdentifier="mnt-orders", DBInstanceClass="db.t3.micro", Engine="postgres",
                                      AllocatedStorage=20, MasterUsername="admin_user",
                                      MasterUserPassword="not-a-real-one-1")["DBInstance"]
    cluster = rds.create_db_cluster(DBClusterIdentifier="mnt-ledger", Engine="aurora-postgresql",
                                    MasterUsername="admin_user", MasterUserPassword="not-a-real-one-1")["DBCluster"]
    cache.create_cache_cluster(CacheClusterId="mnt-sessions", Engine="memcached", CacheNodeType="cache.t3.micro",
                               NumCacheNodes=1)
    cache.create_replication_group(ReplicationGroupId="mnt-queue", ReplicationGroupDescription="queue",
                                   Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=1)
    reports = client("rds", "eu-west-1").create_db_instance(
        DBInstanceIdentifier="mnt-reports", DBInstanceClass="db.t3.micro", Engine="mysql", AllocatedStorage=20,
        MasterUsername="admin_user", MasterUserPassword="not-a-real-one-1")["DBInstance"]
    return {"endpoint": moto_endpoint, "instance": instance["DBInstanceArn"], "cluster": cluster["DBClusterArn"],
            "reports": reports["DBInstanceArn"]}


def _pending(arn: str, *actions: dict) -> dict:
    return {"ResourceIdentifier": arn, "PendingMaintenanceActionDetails": list(actions)}


SYSTEM_UPDATE = {"Action": "system-update", "Description": "New operating system update is available",
                 "AutoAppliedAfterDate": "2031-03-01T00:00:00Z", "ForcedApplyDate": "2031-04-01T00:00:00Z"}
DB_UPGRADE = {"Action": "db-upgrade", "Description": "Upgrade to 16.4", "OptInStatus": "next-maintenance",
              "CurrentApplyDate": "2031-02-10T06:00:00Z", "AutoAppliedAfterDate": "2031-05-01T00:00:00Z"}
CA_ROTATION = {"Action": "ca-certificate-rotation", "Description": "Certificate rotation"}  # no date: never automatic


def _update_action(status: str = "not-applied", update: str = "elc-20310101-001", **ids: str) -> dict:
    return {**ids, "ServiceUpdateName": update, "ServiceUpdateReleaseDate": "2031-01-01T00:00:00Z",
            "ServiceUpdateSeverity": "critical", "ServiceUpdateStatus": "available",
            "ServiceUpdateRecommendedApplyByDate": "2031-02-01T00:00:00Z", "ServiceUpdateType": "security-update",
            "UpdateActionAvailableDate": "2031-01-01T00:00:00Z", "UpdateActionStatus": status, "Engine": "redis"}


SERVICE_UPDATES = [
    {"ServiceUpdateName": "elc-20310101-001", "ServiceUpdateDescription": "Security patch for the cache engine",
     "ServiceUpdateSeverity": "critical", "ServiceUpdateStatus": "available",
     "ServiceUpdateRecommendedApplyByDate": "2031-02-01T00:00:00Z", "AutoUpdateAfterRecommendedApplyByDate": True},
    {"ServiceUpdateName": "elc-20310102-002", "ServiceUpdateDescription": "Optional engine patch",
     "ServiceUpdateSeverity": "low", "ServiceUpdateStatus": "available",
     "ServiceUpdateRecommendedApplyByDate": "2031-03-01T00:00:00Z", "AutoUpdateAfterRecommendedApplyByDate": False},
]


@pytest.fixture()
def through(estate, monkeypatch):
    """A proxy in front of moto that answers the maintenance calls from `fake`; boto3 pointed at it."""
    def start(fake: MaintenanceFake):
        proxy = aws_proxy(estate["endpoint"], fake)
        url, seen = proxy.__enter__()
        point_boto3_at(monkeypatch, url)
        started.append(proxy)
        return seen

    started = []
    yield start
    for proxy in started:
        proxy.__exit__(None, None, None)


def _row(**fields) -> dict:
    return {column: fields.get(column) for column in COLUMNS}


def test_pending_actions_are_rows_keyed_as_the_graph_keys_the_resources(estate, through):
    fake = MaintenanceFake(
        pending_maintenance={"us-east-1": [_pending(estate["instance"], SYSTEM_UPDATE, DB_UPGRADE),
                                           _pending(estate["cluster"], CA_ROTATION)],
                             "eu-west-1": [_pending(estate["reports"], SYSTEM_UPDATE)]},
        update_actions={"us-east-1": [_update_action(ReplicationGroupId="mnt-queue"),
                                      _update_action("scheduled", "elc-20310102-002", CacheClusterId="mnt-sessions"),
                                      _update_action("complete", CacheClusterId="mnt-sessions")]},
        service_updates={"us-east-1": SERVICE_UPDATES})
    seen = through(fake)
    result = scan_maintenance(AwsSession(), ACCOUNT, "aws", ["us-east-1", "eu-west-1"])

    east, west = dict(account=ACCOUNT, region="us-east-1"), dict(account=ACCOUNT, region="eu-west-1")
    cache_arn = f"arn:aws:elasticache:us-east-1:{ACCOUNT}:cluster:mnt-sessions"
    group_arn = f"arn:aws:elasticache:us-east-1:{ACCOUNT}:replicationgroup:mnt-queue"
    assert result.rows == [
        _row(**east, resource=estate["cluster"], resource_id=estate["cluster"], type="AWS::RDS::DBCluster",
             action="ca-certificate-rotation", description="Certificate rotation",
             source="DescribePendingMaintenanceActions"),
        _row(**east, resource=estate["instance"], resource_id=estate["instance"], type="AWS::RDS::DBInstance",
             action="db-upgrade", description="Upgrade to 16.4", apply_after="2031-02-10T06:00:00+00:00",
             opt_in_status="next-maintenance", source="DescribePendingMaintenanceActions"),
        _row(**east, resource=estate["instance"], resource_id=estate["instance"], type="AWS::RDS::DBInstance",
             action="system-update", description="New operating system update is available",
             apply_after="2031-03-01T00:00:00+00:00", forced_apply_date="2031-04-01T00:00:00+00:00",
             source="DescribePendingMaintenanceActions"),
        # the `complete` action is no longer pending; the scheduled one's update is not applied automatically
        _row(**east, resource="mnt-queue", resource_id=group_arn, type="AWS::ElastiCache::ReplicationGroup",
             action="elc-20310101-001", description="Security patch for the cache engine", status="not-applied",
             apply_after="2031-02-01T00:00:00+00:00", recommended_apply_by="2031-02-01T00:00:00+00:00",
             severity="critical", source="DescribeUpdateActions"),
        _row(**east, resource="mnt-sessions", resource_id=cache_arn, type="AWS::ElastiCache::CacheCluster",
             action="elc-20310102-002", description="Optional engine patch", status="scheduled",
             recommended_apply_by="2031-02-01T00:00:00+00:00", severity="critical", source="DescribeUpdateActions"),
        _row(**west, resource=estate["reports"], resource_id=estate["reports"], type="AWS::RDS::DBInstance",
             action="system-update", description="New operating system update is available",
             apply_after="2031-03-01T00:00:00+00:00", forced_apply_date="2031-04-01T00:00:00+00:00",
             source="DescribePendingMaintenanceActions"),
    ]
    # each row's resource_id is the id the scan gives the resource it lists (graph/reconcile.py node_key)
    live = scan_live(AwsSession(), ACCOUNT, "aws", ["us-east-1", "eu-west-1"], TYPES)
    ids = {node_key(r.type, r.account, r.region, r.natural_id, r.arn): r.type for r in live.records}
    assert {(row["resource_id"], row["type"]) for row in result.rows} <= set(ids.items())
    assert [(l.region, l.type, l.call, l.outcome, l.count) for l in result.listings] == [
        ("us-east-1", RDS_MAINTENANCE, "DescribePendingMaintenanceActions", "ok", 3),
        ("us-east-1", ELASTICACHE_MAINTENANCE, "DescribeUpdateActions", "ok", 2),
        ("us-east-1", ELASTICACHE_MAINTENANCE, "DescribeServiceUpdates", "ok", 2),
        ("eu-west-1", RDS_MAINTENANCE, "DescribePendingMaintenanceActions", "ok", 1),
        ("eu-west-1", ELASTICACHE_MAINTENANCE, "DescribeUpdateActions", "ok", 0),
    ]
    # the service was asked for pending actions of available updates only, as AWS filters them
    asked = next(r for r in seen if r.action == "DescribeUpdateActions")
    assert sorted(v for k, v in asked.params.items() if k.startswith("UpdateActionStatus.member.")) == sorted(
        ["not-applied", "waiting-to-start", "in-progress", "stopping", "stopped", "scheduling", "scheduled"])
    assert asked.params["ServiceUpdateStatus.member.1"] == "available"
    # nothing pending in eu-west-1: its service updates are not asked for
    assert [r.region for r in seen if r.action == "DescribeServiceUpdates"] == ["us-east-1"]


def test_a_denied_call_is_a_failed_listing_never_no_maintenance(estate, through):
    fake = MaintenanceFake(
        pending_maintenance={"us-east-1": [_pending(estate["instance"], SYSTEM_UPDATE)],
                             "eu-west-1": [_pending(estate["reports"], SYSTEM_UPDATE)]},
        update_actions={"us-east-1": [_update_action(ReplicationGroupId="mnt-queue")]},
        fail={("eu-west-1", "DescribePendingMaintenanceActions"): "AccessDenied",
              ("us-east-1", "DescribeUpdateActions"): "AccessDenied"})
    through(fake)
    result = scan_maintenance(AwsSession(), ACCOUNT, "aws", ["us-east-1", "eu-west-1"])
    assert [(r["region"], r["resource"], r["action"]) for r in result.rows] == [
        ("us-east-1", estate["instance"], "system-update")]
    failed = [(l.region, l.type, l.call, l.outcome, l.error_code, l.count) for l in result.listings if l.outcome != "ok"]
    assert failed == [("us-east-1", ELASTICACHE_MAINTENANCE, "DescribeUpdateActions", "access_denied", "AccessDenied", 0),
                      ("eu-west-1", RDS_MAINTENANCE, "DescribePendingMaintenanceActions", "access_denied",
                       "AccessDenied", 0)]
    assert all("denied by the test's policy" in l.message for l in result.listings if l.outcome != "ok")


def test_a_failed_service_update_call_keeps_the_actions_with_what_it_would_tell_unknown(estate, through):
    fake = MaintenanceFake(update_actions={"us-east-1": [_update_action(ReplicationGroupId="mnt-queue")]},
                           service_updates={"us-east-1": SERVICE_UPDATES},
                           fail={("us-east-1", "DescribeServiceUpdates"): "AccessDenied"})
    through(fake)
    result = scan_maintenance(AwsSession(), ACCOUNT, "aws", ["us-east-1"])
    [row] = result.rows
    assert (row["resource"], row["action"], row["severity"], row["recommended_apply_by"]) == (
        "mnt-queue", "elc-20310101-001", "critical", "2031-02-01T00:00:00+00:00")
    assert (row["description"], row["apply_after"]) == (None, None), "unknown, never guessed"
    assert [(l.call, l.outcome, l.count) for l in result.listings] == [
        ("DescribePendingMaintenanceActions", "ok", 0), ("DescribeUpdateActions", "ok", 1),
        ("DescribeServiceUpdates", "access_denied", 1)]


def test_every_page_is_read(estate, through):
    arns = [f"arn:aws:rds:us-east-1:{ACCOUNT}:db:mnt-paged-{n}" for n in range(5)]
    fake = MaintenanceFake(pending_maintenance={"us-east-1": [_pending(a, SYSTEM_UPDATE) for a in arns]},
                           update_actions={"us-east-1": [_update_action(CacheClusterId=f"mnt-c{n}") for n in range(3)]},
                           service_updates={"us-east-1": SERVICE_UPDATES}, page_size=2)
    seen = through(fake)
    result = scan_maintenance(AwsSession(), ACCOUNT, "aws", ["us-east-1"])
    assert sorted(r["resource"] for r in result.rows if r["type"] == "AWS::RDS::DBInstance") == arns
    assert sorted(r["resource"] for r in result.rows if r["source"] == "DescribeUpdateActions") == [
        "mnt-c0", "mnt-c1", "mnt-c2"]
    pages = [operation_of(r) for r in seen if r.action.startswith("Describe")]
    assert (pages.count("DescribePendingMaintenanceActions"), pages.count("DescribeUpdateActions")) == (3, 2)
    assert [r.params.get("Marker") for r in seen if r.action == "DescribePendingMaintenanceActions"] == [None, "2", "4"]


def test_an_answer_it_cannot_read_is_a_failed_listing(estate, through):
    fake = MaintenanceFake(pending_maintenance={"us-east-1": [{"PendingMaintenanceActionDetails": [SYSTEM_UPDATE]}]},
                           update_actions={"us-east-1": [_update_action()]})  # names no group nor cluster
    through(fake)
    result = scan_maintenance(AwsSession(), ACCOUNT, "aws", ["us-east-1"])
    assert result.rows == []
    assert [(l.call, l.outcome, l.error_code) for l in result.listings] == [
        ("DescribePendingMaintenanceActions", "error", "UnreadableAnswer"),
        ("DescribeUpdateActions", "error", "UnreadableAnswer")]
    assert "names no ResourceIdentifier" in result.listings[0].message
    assert "names no ReplicationGroupId or CacheClusterId" in result.listings[1].message


# ------------------------------------------------------------------------------------ pure, no AWS


def test_an_endpoint_that_does_not_filter_still_reports_only_what_is_pending():
    actions = [_update_action(status, CacheClusterId=f"c-{status}") for status in (
        "not-applied", "waiting-to-start", "in-progress", "stopping", "stopped", "scheduling", "scheduled",
        "complete", "not-applicable")]
    actions.append({**_update_action(CacheClusterId="c-expired"), "ServiceUpdateStatus": "expired"})
    rows = elasticache_rows(actions, {}, ACCOUNT, "us-east-1", "aws")
    assert [r["status"] for r in rows] == ["in-progress", "not-applied", "scheduled", "scheduling", "stopped",
                                           "stopping", "waiting-to-start"]


def test_apply_after_is_the_earliest_date_aws_applies_it_on_its_own_in_utc():
    utc, plus2 = dt.timezone.utc, dt.timezone(dt.timedelta(hours=2))
    item = _pending(f"arn:aws-cn:rds:cn-north-1:{ACCOUNT}:db:x", {
        "Action": "system-update", "AutoAppliedAfterDate": dt.datetime(2031, 3, 1, tzinfo=utc),
        "ForcedApplyDate": dt.datetime(2031, 3, 1, 1, 0, tzinfo=plus2)})  # 2031-02-28T23:00Z: the earlier
    [row] = rds_rows([item], ACCOUNT, "cn-north-1")
    assert (row["apply_after"], row["forced_apply_date"]) == ("2031-02-28T23:00:00+00:00", "2031-02-28T23:00:00+00:00")
    assert row["type"] == "AWS::RDS::DBInstance"
    # a kind of RDS resource the catalog does not list keeps its row, with no type and no graph id
    [other] = rds_rows([_pending(f"arn:aws:rds:us-east-1:{ACCOUNT}:proxy:p", {"Action": "system-update"})],
                       ACCOUNT, "us-east-1")
    assert (other["type"], other["resource_id"], other["apply_after"]) == (None, None, None)


def test_elasticache_graph_ids_follow_the_partition_and_the_services_lowercase_ids():
    [row] = elasticache_rows([_update_action(ReplicationGroupId="Queue")], {}, ACCOUNT, "cn-north-1", "aws-cn")
    assert row["resource_id"] == f"arn:aws-cn:elasticache:cn-north-1:{ACCOUNT}:replicationgroup:queue"


def test_a_failed_maintenance_listing_leaves_the_resources_coverage_alone():
    """Its type is no catalog type: a denied maintenance call says nothing of which databases exist."""
    listings = [Listing(ACCOUNT, "us-east-1", "AWS::RDS::DBInstance", "ok"),
                Listing(ACCOUNT, "us-east-1", RDS_MAINTENANCE, "access_denied", 0, "AccessDenied", "no",
                        call="DescribePendingMaintenanceActions")]
    scope = Scope({ACCOUNT}, {"us-east-1"}, "aws", listings)
    assert scope.failed_listing("AWS::RDS::DBInstance", ACCOUNT, "us-east-1") is None
    assert scope.listed("AWS::RDS::DBInstance", ACCOUNT, "us-east-1")


# ------------------------------------------------------------------------------- read-only and the CLI


def test_the_calls_are_on_the_read_only_list_and_in_the_policy():
    calls = {("rds", DESCRIBE_PENDING_MAINTENANCE.method), ("elasticache", DESCRIBE_UPDATE_ACTIONS.method),
             ("elasticache", DESCRIBE_SERVICE_UPDATES.method)}
    assert calls <= allowed_calls()
    assert {"rds:DescribePendingMaintenanceActions", "elasticache:DescribeUpdateActions",
            "elasticache:DescribeServiceUpdates"} <= set(required_actions())


def test_the_scan_option_is_on_by_default_and_can_be_turned_off(tmp_path):
    assert ScanOptions(db="x.db").maintenance is True
    help_text = " ".join(CliRunner().invoke(cli, ["scan", "--help"]).output.split())
    assert "--maintenance / --no-maintenance" in help_text
    # accepted (not a usage error, exit 2): the scan goes on to fail at the unreachable endpoint, exit 1
    result = driftgraph(["scan", "--db", str(tmp_path / "x.db"), "--region", "us-east-1", "--no-maintenance",
                         "--call-timeout", "2"], scan_env("http://127.0.0.1:9"))
    assert result.returncode == 1, result.stderr


def test_a_scan_stores_pending_maintenance_and_a_denied_region_shows_as_a_failed_listing(estate, through, tmp_path):
    import sqlite3

    from driftgraph.scan import run_scan

    through(MaintenanceFake(pending_maintenance={"us-east-1": [_pending(estate["instance"], SYSTEM_UPDATE)]},
                            fail={("eu-west-1", "DescribePendingMaintenanceActions"): "AccessDenied"}))
    db = tmp_path / "m.db"
    result = run_scan(ScanOptions(str(db), regions=("us-east-1", "eu-west-1"), types=TYPES, live_stacks=False))
    assert result["status"] == "partial"
    with sqlite3.connect(db) as connection:
        rows = connection.execute("select resource_id, action, apply_after from maintenance").fetchall()
        failed = connection.execute("select region, type, outcome from listings where outcome != 'ok'").fetchall()
        statuses = dict(connection.execute("select id, status from current_resources"))
    assert rows == [(estate["instance"], "system-update", "2031-03-01T00:00:00+00:00")]
    assert failed == [("eu-west-1", RDS_MAINTENANCE, "access_denied")]
    assert statuses[estate["reports"]] == "unmanaged"  # a denied maintenance call decides no resource's status
    # --type without an RDS or ElastiCache type reads no maintenance at all
    run_scan(ScanOptions(str(db), regions=("us-east-1",), types=("AWS::SQS::Queue",), live_stacks=False))
    with sqlite3.connect(db) as connection:
        assert connection.execute("select count(*) from maintenance where scan_id = 2").fetchone() == (0,)
        assert connection.execute("select count(*) from listings where scan_id = 2 and type like 'maintenance:%'"
                                  ).fetchone() == (0,)
