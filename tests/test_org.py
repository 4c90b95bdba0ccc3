"""Many accounts in one scan: an organization in moto (server mode) whose members are reached by assuming a role
in each (moto keeps accounts apart by the credentials' account), a member whose role cannot be assumed (a proxy in
front of moto answers that AssumeRole as AWS does when a role's trust policy does not name the caller), explicit
roles and profiles, the narrow AssumeRole exception of the read-only guard, and the pure reconcile rules that keep
a declaration in an account or region not scanned from reading as missing."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import sqlite_utils
from click.testing import CliRunner

from driftgraph.demo import aws_environment, moto_server
from driftgraph.demo_estate import TerraformState
from edge_servers import FORWARD, aws_proxy, denied, driftgraph, point_boto3_at, scan_env
from graph.reconcile import Scope, reconcile
from graph.records import LIVE, MANAGED, MISSING, TERRAFORM, UNKNOWN, UNMANAGED, Listing, Owner, Record
from scanner.clients import AwsSession, ReadOnlyViolation

MANAGEMENT = "123456789012"  # moto's account for the test credentials: the organization's management account
ROLE = "OrganizationAccountAccessRole"
REGION = "us-east-1"
NOT_SCANNED = "999999999999"
SCAN = ["--region", REGION, "--type", "AWS::SQS::Queue", "--no-stacks", "--no-maintenance", "--cloudtrail", "off"]


def _queue_arn(account: str, name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{account}:{name}"


def _session_in(account: str) -> boto3.Session:
    """A boto3 session in a member account, as the organization's role gives one (moto: any role ARN will do)."""
    sts = boto3.client("sts", region_name=REGION)
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="setup")["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=REGION)


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """An organization: the management account, two members with queues, one member closed (SUSPENDED); and one
    Terraform state whose provider assumes roles: its queues' ARNs name the members and an account not scanned."""
    workdir = tmp_path_factory.mktemp("org")
    with moto_server() as endpoint, aws_environment(endpoint):
        organizations = boto3.client("organizations", region_name=REGION)
        organizations.create_organization(FeatureSet="ALL")
        members = []
        for name in ("apps", "data", "closed"):
            status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
            members.append(status["AccountId"])
        apps, data, closed = members
        organizations.close_account(AccountId=closed)
        boto3.client("sqs", region_name=REGION).create_queue(QueueName="mgmt-loose")
        _session_in(apps).client("sqs").create_queue(QueueName="apps-app")
        for name in ("data-app", "data-loose"):
            _session_in(data).client("sqs").create_queue(QueueName=name)
        _session_in(closed).client("sqs").create_queue(QueueName="closed-app")
        state = TerraformState("cross-account")
        for account, name in ((apps, "apps-app"), (data, "data-app"), (data, "data-gone"), (NOT_SCANNED, "elsewhere")):
            state.add("aws_sqs_queue", name.replace("-", "_"), {
                "id": f"https://sqs.{REGION}.amazonaws.com/{account}/{name}", "arn": _queue_arn(account, name),
                "name": name, "url": f"https://sqs.{REGION}.amazonaws.com/{account}/{name}", "tags": {}, "tags_all": {}})
        state_path = state.write(workdir / "cross-account.tfstate")
        yield {"endpoint": endpoint, "apps": apps, "data": data, "closed": closed, "state": str(state_path),
               "workdir": workdir}


def _scan(org, db: Path, *args: str, endpoint: str | None = None, **env: str):
    result = driftgraph(["scan", "--db", str(db), *SCAN, "--tfstate", org["state"], *args],
                        scan_env(endpoint or org["endpoint"], **env))
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _report(org, db: Path) -> dict:
    result = driftgraph(["report", "--db", str(db), "--format", "json"], scan_env(org["endpoint"]))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _by_name(report: dict) -> dict[str, dict]:
    return {r["name"]: r for r in report["resources"]}


def test_an_org_scan_covers_every_active_member_in_one_scan_and_one_report(org, tmp_path):
    db = tmp_path / "org.db"
    result = _scan(org, db, "--org", "--role-name", ROLE)
    apps, data = org["apps"], org["data"]
    database = sqlite_utils.Database(db)
    [scan] = list(database["scans"].rows)
    assert scan["status"] == "complete"
    # every ACTIVE account, the closed one left out; the management account with the caller's own credentials
    assert sorted(json.loads(scan["accounts"])) == sorted([MANAGEMENT, apps, data])
    how = {row["account"]: row["via"] for row in json.loads(scan["options"])["accounts"]}
    assert how == {MANAGEMENT: "the caller's credentials", apps: f"role arn:aws:iam::{apps}:role/{ROLE}",
                   data: f"role arn:aws:iam::{data}:role/{ROLE}"}
    assert "3 accounts," in result.stdout and "not reached" not in result.stdout

    report = _report(org, db)
    resources = _by_name(report)
    assert {name: (r["account"], r["status"]) for name, r in resources.items()} == {
        "mgmt-loose": (MANAGEMENT, UNMANAGED),
        "apps-app": (apps, MANAGED),  # the state's ARN names the member: matched there, not in the caller's account
        "data-app": (data, MANAGED),
        "data-loose": (data, UNMANAGED),
        "data-gone": (data, MISSING),  # its account was scanned: gone
        "elsewhere": (NOT_SCANNED, UNKNOWN),  # an account the scan did not cover: never missing
    }
    assert resources["elsewhere"]["rule"] == "outside_scan"
    assert "closed-app" not in resources
    listed = {(row["account"], row["outcome"]) for row in database["listings"].rows}
    assert listed == {(MANAGEMENT, "ok"), (apps, "ok"), (data, "ok")}


def _deny_assume_role(account: str):
    """AssumeRole into `account` answered as AWS answers a role whose trust policy does not name the caller; every
    other request goes on to moto."""

    def answer(request):
        if request.action == "AssumeRole" and f":{account}:" in request.params.get("RoleArn", ""):
            return denied(request, message=f"User is not authorized to perform: sts:AssumeRole on arn:aws:iam::{account}:role/{ROLE}")
        return FORWARD

    return answer


def test_a_member_whose_role_cannot_be_assumed_is_not_reached_and_the_scan_is_partial(org, tmp_path):
    db = tmp_path / "org.db"
    apps, data = org["apps"], org["data"]
    _scan(org, db, "--org")  # a whole picture first: data's queues as last seen
    with aws_proxy(org["endpoint"], _deny_assume_role(data)) as (proxy, seen):
        result = _scan(org, db, "--org", endpoint=proxy)
    # one AssumeRole for each member, none for the caller's own account: sent by the credential path only
    assumed = sorted(r.params["RoleArn"] for r in seen if r.action == "AssumeRole")
    assert assumed == [f"arn:aws:iam::{account}:role/{ROLE}" for account in sorted([apps, data])]
    assert f"3 accounts (1 not reached: {data})" in result.stdout
    assert "scan 2 partial" in result.stdout

    report = _report(org, db)
    assert report["scan"]["status"] == "partial"
    assert data in report["scan"]["accounts"]
    [error] = [e for e in report["errors"] if e["account"] == data]
    assert error["source"] == "aws:sts:AssumeRole" and error["code"] == "AccessDenied" and error["kind"] == "error"
    assert f"arn:aws:iam::{data}:role/{ROLE}" in error["message"]
    resources = _by_name(report)
    # what is declared in the account not reached is unknown, never missing; the others are whole
    for name in ("data-app", "data-gone"):
        assert (resources[name]["status"], resources[name]["rule"]) == (UNKNOWN, "account_not_reached"), name
        assert "could not reach" in resources[name]["reason"] and "AssumeRole" in resources[name]["reason"]
    assert resources["apps-app"]["status"] == MANAGED and resources["mgmt-loose"]["status"] == UNMANAGED
    failed = {(f["account"], f["type"], f["outcome"]) for f in report["failed_listings"]}
    assert failed == {(data, "AWS::SQS::Queue", "access_denied")}

    # the current picture keeps what the first scan saw in the account not reached, as last seen, never gone
    database = sqlite_utils.Database(db)
    current = {row["name"]: row for row in database.query("select * from current_resources")}
    assert current["data-loose"]["status"] == UNMANAGED and current["data-loose"]["from_scan"] == 1


def test_excluded_accounts_are_left_out_and_what_they_declare_is_outside_the_scan(org, tmp_path):
    db = tmp_path / "org.db"
    apps, data = org["apps"], org["data"]
    result = _scan(org, db, "--org", "--exclude-account", data, "--exclude-account", MANAGEMENT)
    [scan] = list(sqlite_utils.Database(db)["scans"].rows)
    assert json.loads(scan["accounts"]) == [apps] and scan["status"] == "complete"
    assert "1 accounts" in result.stdout or f"account {apps}" in result.stdout
    resources = _by_name(_report(org, db))
    assert (resources["data-gone"]["status"], resources["data-gone"]["rule"]) == (UNKNOWN, "outside_scan")
    assert resources["apps-app"]["status"] == MANAGED
    assert "mgmt-loose" not in resources and "data-loose" not in resources


def test_excluding_an_account_after_a_whole_scan_leaves_its_picture_as_last_seen(org, tmp_path):
    """The state still declares queues there, so the scan reports them (unknown, outside the scan) in a place it
    did not look: what the first scan saw there is not gone."""
    db = tmp_path / "org.db"
    _scan(org, db, "--org")
    _scan(org, db, "--org", "--exclude-account", org["data"])
    database = sqlite_utils.Database(db)
    current = {row["name"]: row for row in database.query("select * from current_resources")}
    assert current["data-loose"]["status"] == UNMANAGED and current["data-loose"]["from_scan"] == 1
    said = {row["name"] for row in database.query("select name from scan_resources where scan_id = 2")}
    assert "data-loose" not in said and {"data-gone", "apps-app"} <= said


def test_account_roles_are_scanned_each_and_the_caller_account_only_when_named(org, tmp_path):
    db = tmp_path / "roles.db"
    apps, data = org["apps"], org["data"]
    result = _scan(org, db, "--account-role", f"arn:aws:iam::{apps}:role/Auditor",
                   "--account-role", f"arn:aws:iam::{data}:role/path/Auditor")
    [scan] = list(sqlite_utils.Database(db)["scans"].rows)
    assert json.loads(scan["accounts"]) == [apps, data] and scan["status"] == "complete"
    assert "2 accounts," in result.stdout
    statuses = {name: r["status"] for name, r in _by_name(_report(org, db)).items()}
    assert statuses["apps-app"] == statuses["data-app"] == MANAGED and statuses["data-gone"] == MISSING
    assert "mgmt-loose" not in statuses


def _profiles(org, tmp_path) -> dict[str, str]:
    """Role profiles `apps` and `data` in a temporary AWS config, sourced from test keys: botocore's own assume-role
    provider reaches each member."""
    config = tmp_path / "config"
    config.write_text("".join(f"[profile {name}]\nrole_arn = arn:aws:iam::{org[name]}:role/{ROLE}\n"
                              f"source_profile = base\nregion = {REGION}\n\n" for name in ("apps", "data")))
    credentials = tmp_path / "credentials"
    credentials.write_text("[base]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}


def test_profiles_are_each_an_account(org, tmp_path):
    apps, data = org["apps"], org["data"]
    db = tmp_path / "profiles.db"
    _scan(org, db, "--profile", "apps", "--profile", "data", **_profiles(org, tmp_path))
    [scan] = list(sqlite_utils.Database(db)["scans"].rows)
    assert sorted(json.loads(scan["accounts"])) == sorted([apps, data]) and scan["status"] == "complete"
    vias = sorted(row["via"] for row in json.loads(scan["options"])["accounts"])
    assert vias == ["profile apps", "profile data"]
    statuses = {name: r["status"] for name, r in _by_name(_report(org, db)).items()}
    assert statuses["apps-app"] == statuses["data-app"] == MANAGED


def test_a_profile_reaches_an_organization_member_in_place_of_the_role_name(org, tmp_path):
    apps, data = org["apps"], org["data"]
    db = tmp_path / "org.db"
    with aws_proxy(org["endpoint"]) as (proxy, seen):
        _scan(org, db, "--org", "--role-name", "NotThisOne", "--profile", "apps", endpoint=proxy,
              **_profiles(org, tmp_path))
    [scan] = list(sqlite_utils.Database(db)["scans"].rows)
    how = {row["account"]: row["via"] for row in json.loads(scan["options"])["accounts"]}
    assert how == {MANAGEMENT: "the caller's credentials", apps: "profile apps",
                   data: f"role arn:aws:iam::{data}:role/NotThisOne"}
    assumed = sorted(r.params["RoleArn"] for r in seen if r.action == "AssumeRole")
    assert assumed == sorted([f"arn:aws:iam::{apps}:role/{ROLE}", f"arn:aws:iam::{data}:role/NotThisOne"])


def test_a_profile_without_working_credentials_is_its_account_not_reached(org, tmp_path):
    """The account a role profile names is known before its credentials fail: it is the account not reached, and
    what an earlier scan saw there stays as last seen."""
    data = org["data"]
    db, profiles = tmp_path / "profiles.db", _profiles(org, tmp_path)
    _scan(org, db, "--profile", "apps", "--profile", "data", **profiles)
    with aws_proxy(org["endpoint"], _deny_assume_role(data)) as (proxy, _seen):
        result = _scan(org, db, "--profile", "apps", "--profile", "data", endpoint=proxy, **profiles)
    assert f"2 accounts (1 not reached: {data})" in result.stdout
    report = _report(org, db)
    assert report["scan"]["status"] == "partial"
    [error] = [e for e in report["errors"] if e["account"] == data]
    assert error["code"] == "AccessDenied" and "profile data" in error["message"]
    resources = _by_name(report)
    assert resources["data-gone"]["rule"] == "account_not_reached" and resources["apps-app"]["status"] == MANAGED
    current = {row["name"]: row for row in sqlite_utils.Database(db).query("select * from current_resources")}
    assert current["data-loose"]["status"] == UNMANAGED and current["data-loose"]["from_scan"] == 1


def test_the_same_account_named_twice_is_refused_before_any_listing(org, tmp_path):
    apps = org["apps"]
    result = driftgraph(["scan", "--db", str(tmp_path / "x.db"), *SCAN, "--profile", "apps",
                         "--account-role", f"arn:aws:iam::{apps}:role/{ROLE}"],
                        scan_env(org["endpoint"], **_profiles(org, tmp_path)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"account {apps} is named twice" in result.stderr
    assert not (tmp_path / "x.db").exists() or not list(sqlite_utils.Database(tmp_path / "x.db")["scans"].rows)


def test_every_account_failing_is_a_fatal_error_not_an_empty_scan(org, tmp_path):
    apps = org["apps"]
    with aws_proxy(org["endpoint"], _deny_assume_role(apps)) as (proxy, _seen):
        result = driftgraph(["scan", "--db", str(tmp_path / "x.db"), *SCAN,
                             "--account-role", f"arn:aws:iam::{apps}:role/{ROLE}"], scan_env(proxy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no account could be reached" in result.stderr and "AccessDenied" in result.stderr


@pytest.mark.parametrize("code, message", [
    ("AWSOrganizationsNotInUseException", "the caller's account is in no organization"),
    ("AccessDeniedException", "run it with credentials of the management account or of a delegated administrator"),
])
def test_an_organization_that_cannot_be_listed_is_a_clear_fatal_error(org, tmp_path, code, message):
    """AWS's answers to ListAccounts outside an organization, and in a member account (moto answers neither)."""

    def answer(request):
        return denied(request, code, "no") if request.action == "ListAccounts" else FORWARD

    with aws_proxy(org["endpoint"], answer) as (proxy, _seen):
        result = driftgraph(["scan", "--db", str(tmp_path / "x.db"), *SCAN, "--org"], scan_env(proxy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("args, message", [
    (["--role-name", ROLE], "--role-name names the role to assume in each account of --org"),
    (["--org", "--role-name", "bad/name"], "is not an IAM role name"),
    (["--account-role", "arn:aws:iam::123456789012:user/alice"], "is not an IAM role ARN"),
    (["--account-role", "OrganizationAccountAccessRole"], "is not an IAM role ARN"),
    (["--account-role", f"arn:aws:iam::{MANAGEMENT}:role/A", "--account-role", f"arn:aws:iam::{MANAGEMENT}:role/A"],
     "is given twice"),
    (["--account-role", f"arn:aws:iam::{MANAGEMENT}:role/A", "--account-role", f"arn:aws:iam::{MANAGEMENT}:role/B"],
     f"account {MANAGEMENT} is named twice"),
    (["--profile", "a", "--profile", "a"], "--profile a is given twice"),
    (["--org", "--exclude-account", "12345"], "is not an account id"),
    (["--exclude-account", MANAGEMENT], "--exclude-account leaves accounts out of a scan of several"),
    (["--account-role", f"arn:aws:iam::{MANAGEMENT}:role/A", "--exclude-account", MANAGEMENT],
     "is both given (--account-role"),
    (["--org", "--cdk-out", "cdk.out"], "--cdk-out matches a cloud assembly to one account's stacks"),
])
def test_nonsense_account_options_are_usage_errors_before_any_call(tmp_path, monkeypatch, args, message):
    from driftgraph.cli import cli

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: no call may be needed
    result = CliRunner().invoke(cli, ["--no-config", "scan", "--db", str(tmp_path / "x.db"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def _regions_answer(request):
    """DescribeRegions as an account answers that has enabled us-east-1 and not the opt-in eu-south-1."""
    if request.action != "DescribeRegions":
        return FORWARD
    items = "".join(f"<item><regionName>{name}</regionName><regionEndpoint>ec2.{name}.amazonaws.com</regionEndpoint>"
                    f"<optInStatus>{status}</optInStatus></item>"
                    for name, status in (("us-east-1", "opt-in-not-required"), ("eu-south-1", "not-opted-in")))
    return 200, "text/xml", (f'<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x'
                             f"</requestId><regionInfo>{items}</regionInfo></DescribeRegionsResponse>").encode()


def test_each_account_is_scanned_in_the_regions_asked_for_that_it_has_enabled(org, monkeypatch):
    from scanner.accounts import AccountOptions, reach_accounts
    from scanner.clients import RegionError

    arn = f"arn:aws:iam::{org['apps']}:role/{ROLE}"
    options = AccountOptions(account_roles=(arn,))
    with aws_proxy(org["endpoint"], _regions_answer) as (proxy, _seen):
        point_boto3_at(monkeypatch, proxy)
        base = AwsSession(default_region=REGION)
        [account] = reach_accounts(options, base, ("us-east-1", "eu-south-1"))
        assert account.reached and account.regions == ["us-east-1"] and account.regions_not_enabled == ["eu-south-1"]
        [account] = reach_accounts(options, base)  # no --region: every region it has enabled
        assert account.regions == ["us-east-1"]
        # none of those asked for: that account is not reached (another might have them), never a scan of nothing
        [account] = reach_accounts(options, base, ("eu-south-1",))
        assert not account.reached and account.failed_call == "DescribeRegions"
        assert account.failure.code == "RegionNotEnabled"
        with pytest.raises(RegionError, match="eu-west-9 is not a region of this account"):
            reach_accounts(options, base, ("us-east-1", "eu-west-9"))


def test_a_region_an_account_has_not_enabled_is_a_warning_and_not_scanned_there(org, tmp_path):
    db = tmp_path / "org.db"
    with aws_proxy(org["endpoint"], _regions_answer) as (proxy, _seen):
        result = driftgraph(["scan", "--db", str(db), *SCAN, "--region", "eu-south-1", "--org"], scan_env(proxy))
    assert result.returncode == 0, result.stdout + result.stderr
    report = _report(org, db)
    assert report["scan"]["status"] == "complete" and report["scan"]["regions"] == [REGION]
    warned = sorted(e["account"] for e in report["errors"] if e["kind"] == "warning" and e["region"] == "eu-south-1")
    assert warned == sorted([MANAGEMENT, org["apps"], org["data"]])
    assert {l["region"] for l in sqlite_utils.Database(db)["listings"].rows} == {REGION}


# ------------------------------------------------------------------ the guard's one exception: AssumeRole

def test_assume_role_goes_out_only_through_the_credential_path(org, monkeypatch):
    point_boto3_at(monkeypatch, org["endpoint"])
    base = AwsSession(default_region=REGION)
    arn = f"arn:aws:iam::{org['apps']}:role/{ROLE}"
    # the scan's clients refuse it, in the caller's account and in the member's
    with pytest.raises(ReadOnlyViolation, match="refused sts:AssumeRole"):
        base.client("sts").assume_role(RoleArn=arn, RoleSessionName="probe")
    member = base.assume_role(arn)
    assert member.identity()["account"] == org["apps"]
    assert member.identity()["caller_arn"].endswith(f":assumed-role/{ROLE}/driftgraph")
    with pytest.raises(ReadOnlyViolation, match="refused sts:AssumeRole"):
        member.client("sts").assume_role(RoleArn=arn, RoleSessionName="probe")
    # and the credential path's own client sends AssumeRole and nothing else
    credential_client = base._credential_client("sts", aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ReadOnlyViolation, match="refused sts:GetCallerIdentity on the credential client"):
        credential_client.get_caller_identity()
    with pytest.raises(ReadOnlyViolation, match="refused sts:AssumeRole"):
        AwsSession(default_region=REGION).client("sts").assume_role(RoleArn=arn, RoleSessionName="probe")


def test_the_member_session_keeps_the_guard_and_lists_only_its_account(org, monkeypatch):
    point_boto3_at(monkeypatch, org["endpoint"])
    member = AwsSession(default_region=REGION).assume_role(f"arn:aws:iam::{org['data']}:role/{ROLE}")
    queues = member.client("sqs").list_queues().get("QueueUrls", [])
    assert sorted(url.rsplit("/", 1)[-1] for url in queues) == ["data-app", "data-loose"]
    with pytest.raises(ReadOnlyViolation, match="refused sqs:CreateQueue"):
        member.client("sqs").create_queue(QueueName="must-not-exist")


# ------------------------------------------------------------------------------------------ the IAM policy

def test_the_policy_grants_assume_role_only_when_asked_and_lists_the_organization(tmp_path):
    from driftgraph.cli import cli
    from scanner.permissions import DRIFTGRAPH_CALLS, required_actions

    shipped = json.loads((Path(__file__).resolve().parents[1] / "docs" / "iam-policy.json").read_text())
    assert "organizations:ListAccounts" in required_actions()
    assert not [s for s in shipped["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert ("sts", "assume_role") not in {(c.service, c.method) for c in DRIFTGRAPH_CALLS}

    result = CliRunner().invoke(cli, ["--no-config", "iam-policy", "--role-name", ROLE, "--partition", "aws-us-gov",
                                      "--account-role", "arn:aws-us-gov:iam::111122223333:role/ops/Auditor"])
    assert result.exit_code == 0, result.output
    statements = json.loads(result.output)["Statement"]
    assert statements[0]["Sid"] == "DriftgraphReadOnly"
    assert statements[-1] == {"Sid": "DriftgraphAssumeRole", "Effect": "Allow", "Action": ["sts:AssumeRole"],
                              "Resource": ["arn:aws-us-gov:iam::*:role/OrganizationAccountAccessRole",
                                           "arn:aws-us-gov:iam::111122223333:role/ops/Auditor"]}
    refused = CliRunner().invoke(cli, ["--no-config", "iam-policy", "--account-role", "arn:aws:iam::1:role/x"])
    assert refused.exit_code == 2 and "is not an IAM role ARN" in refused.output


# ---------------------------------------------------- reconcile: accounts and their own regions, pure

A, B = "111111111111", "222222222222"


def _live(account: str, region: str, name: str) -> Record:
    arn = f"arn:aws:sqs:{region}:{account}:{name}"
    return Record(LIVE, "AWS::SQS::Queue", account, region, name, arn=arn, name=name, aliases=(arn,), tags={})


def _declared(account: str | None, region: str | None, name: str, address: str = "") -> Record:
    arn = f"arn:aws:sqs:{region}:{account}:{name}" if account and region else None
    owner = Owner(TERRAFORM, "infra.tfstate", address or f"aws_sqs_queue.{name.replace('-', '_')}", "terraform")
    return Record(TERRAFORM, "AWS::SQS::Queue", account, region, name, arn=arn, name=name, owner=owner,
                  aliases=(arn,) if arn else ())


def _scope(**kwargs) -> Scope:
    regions = {A: {"us-east-1"}, B: {"us-east-1", "eu-west-1"}}
    listings = [Listing(account, region, "AWS::SQS::Queue", "ok") for account, rs in regions.items() for region in rs]
    return Scope({A, B}, {"us-east-1", "eu-west-1"}, listings=listings, account_regions=regions, **kwargs)


def _statuses(live, declared, scope) -> dict[str, tuple[str, str]]:
    return {n.name: (n.status, n.rule) for n in reconcile(live, declared, scope).nodes}


def test_each_account_is_in_scope_only_in_its_own_regions():
    declared = [_declared(A, "eu-west-1", "a-west"),  # A was scanned in us-east-1 only
                _declared(B, "eu-west-1", "b-west"),  # B was scanned there: gone
                _declared(A, "us-east-1", "a-east")]
    assert _statuses([], declared, _scope()) == {
        "a-west": (UNKNOWN, "outside_scan"), "b-west": (MISSING, "declared_not_live"),
        "a-east": (MISSING, "declared_not_live")}


def test_a_declaration_lands_in_the_account_its_arn_names():
    live = [_live(A, "us-east-1", "jobs"), _live(B, "us-east-1", "jobs")]
    nodes = {(n.account, n.name): n for n in reconcile(live, [_declared(B, "us-east-1", "jobs")], _scope()).nodes}
    assert (nodes[(B, "jobs")].status, nodes[(B, "jobs")].rule) == (MANAGED, "declared_and_live")
    assert nodes[(A, "jobs")].status == UNMANAGED


def test_an_account_not_reached_makes_its_declarations_unknown_never_missing():
    scope = _scope(unreached={B: "AssumeRole failed (AccessDenied: no)"})
    scope.listings = [l for l in scope.listings if l.account != B]
    scope.__post_init__()
    statuses = _statuses([], [_declared(B, "us-east-1", "b-east")], scope)
    assert statuses == {"b-east": (UNKNOWN, "account_not_reached")}


def test_a_declaration_naming_no_account_is_never_guessed_into_one():
    live = [_live(A, "us-east-1", "jobs"), _live(B, "us-east-1", "jobs"), _live(B, "us-east-1", "solo")]
    declared = [_declared(None, "us-east-1", "jobs", "AWS::SQS::Queue.Jobs"),
                _declared(None, "us-east-1", "solo"), _declared(None, "us-east-1", "nowhere")]
    nodes = reconcile(live, declared, _scope()).nodes
    found = {(n.account, n.name): (n.status, n.rule) for n in nodes}
    # live in two accounts: which one it declares is unknown, so neither is called unmanaged
    assert found[(A, "jobs")] == found[(B, "jobs")] == (UNKNOWN, "account_unknown")
    assert found[(B, "solo")] == (MANAGED, "declared_and_live")  # one account has it: that one
    assert found[(None, "nowhere")] == (UNKNOWN, "account_unknown")  # not found anywhere: not missing anywhere
    reason = next(n.reason for n in nodes if (n.account, n.name) == (A, "jobs"))
    assert "without an account" in reason and f"{B}/us-east-1" in reason
