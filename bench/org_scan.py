"""Benchmark, run on demand (never in tests): one scan of a three-account organization across every region moto
enables, the way `driftgraph scan --org --role-name OrganizationAccountAccessRole` runs it on real AWS.

Moto (server mode) keeps member accounts apart by the credentials an AssumeRole gives, so the scan's real code
path runs: Organizations ListAccounts, AssumeRole per member, DescribeRegions per account, every catalog type in
every region. Prints the scan's time, its API calls and calls/s (moto answers about 150 calls/s: the bound here),
listings by outcome, resources per account, and whether every account's picture is complete.

    .venv/bin/python bench/org_scan.py                   # all enabled regions, default workers
    .venv/bin/python bench/org_scan.py --workers 8 --per-region 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import boto3
import sqlite_utils

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driftgraph.demo import aws_environment, moto_server  # noqa: E402
from driftgraph.demo_estate import TerraformState  # noqa: E402
from driftgraph.scan import ScanOptions, run_scan  # noqa: E402

ROLE = "OrganizationAccountAccessRole"
HOME = "us-east-1"
ESTATE_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")  # where the bench makes resources; all are scanned


class CallCounter:
    """Counts the HTTP requests boto3 clients send once installed (retries included): every client the scan makes,
    in every account, goes through boto3.Session.client."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.clients = 0
        self.client_cpu = 0.0  # thread CPU seconds spent building clients, summed over threads
        self._lock = threading.Lock()
        self._original = boto3.session.Session.client

    def __enter__(self) -> "CallCounter":
        counter, original = self, self._original

        def client(session, service_name, *args, **kwargs):
            started = time.thread_time()
            made = original(session, service_name, *args, **kwargs)
            with counter._lock:
                counter.clients += 1
                counter.client_cpu += time.thread_time() - started
            made.meta.events.register("before-send", lambda **_: counter.count(service_name))
            return made

        boto3.session.Session.client = client
        return self

    def __exit__(self, *_exc) -> None:
        boto3.session.Session.client = self._original

    def count(self, service: str) -> None:
        with self._lock:
            self.calls[service] += 1


def member_session(account: str) -> boto3.Session:
    credentials = boto3.client("sts", region_name=HOME).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="bench-setup")["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=HOME)


def build_organization(workdir: Path, per_region: int) -> tuple[list[str], str]:
    """The management account and two members, each with queues, topics and log groups in three regions and two
    buckets; one Terraform state (its provider assuming roles) declares every other queue of every account."""
    organizations = boto3.client("organizations", region_name=HOME)
    organizations.create_organization(FeatureSet="ALL")
    management = boto3.client("sts", region_name=HOME).get_caller_identity()["Account"]
    members = [organizations.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
               for name in ("apps", "data")]
    state = TerraformState("organization")
    for account in (management, *members):
        session = boto3.Session(region_name=HOME) if account == management else member_session(account)
        for region in ESTATE_REGIONS:
            sqs, sns, logs = (session.client(s, region_name=region) for s in ("sqs", "sns", "logs"))
            for n in range(per_region):
                name = f"q-{account[-4:]}-{region}-{n}"
                url = sqs.create_queue(QueueName=name, tags={"team": ("payments", "search")[n % 2]})["QueueUrl"]
                sns.create_topic(Name=f"t-{n}")
                logs.create_log_group(logGroupName=f"/bench/{n}")
                if n % 2 == 0:
                    arn = f"arn:aws:sqs:{region}:{account}:{name}"
                    state.add("aws_sqs_queue", name.replace("-", "_"),
                              {"id": url, "arn": arn, "name": name, "url": url, "tags": {}, "tags_all": {}})
        s3 = session.client("s3", region_name=HOME)
        for n in range(2):
            s3.create_bucket(Bucket=f"bench-{account}-{n}")
    return [management, *members], str(state.write(workdir / "organization.tfstate"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-region", type=int, default=5, help="queues, topics and log groups per account and region")
    parser.add_argument("--workers", type=int, default=None, help="the scan's workers (default: the scan's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint, aws_environment(endpoint):
        workdir = Path(tmp)
        accounts, state = build_organization(workdir, args.per_region)
        db = workdir / "org.db"
        options = ScanOptions(str(db), tfstates=(state,), org=True, role_name=ROLE, maintenance=False, cloudtrail="off")
        if args.workers:
            options.workers = args.workers
        with CallCounter() as counter:
            started, cpu = time.monotonic(), time.process_time()
            result = run_scan(options)
            elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        database = sqlite_utils.Database(db)
        scan_id = result["id"]
        listings = Counter(row["outcome"] for row in database.query(
            "select outcome from listings where scan_id = ?", [scan_id]))
        regions = database.execute("select count(distinct region) from listings where scan_id = ? and region != 'global'",
                                   [scan_id]).fetchone()[0]
        per_account = dict(database.execute(
            "select account, count(*) from current_resources group by account order by account").fetchall())
        statuses = dict(database.execute(
            "select status, count(*) from current_resources group by status order by 2 desc").fetchall())
        scopes = database.execute("select count(*) from scan_scopes where scan_id = ?", [scan_id]).fetchone()[0]
    calls = sum(counter.calls.values())
    print(f"| three-account organization, every enabled region ({regions}), {args.per_region} of each per region | figure |")
    print("|---|---:|")
    print(f"| scan time | {elapsed:.1f} s |")
    print(f"| API calls (all accounts) / calls per second | {calls:,} / {calls / elapsed:.0f} |")
    print(f"| listings by outcome | {dict(listings)} |")
    print(f"| resources per account | {per_account} |")
    print(f"| by status | {statuses} |")
    print(f"| accounts asked / scanned | {len(accounts)} / {len(per_account)} |")
    print(f"| scan status / (account, region) scopes / accounts not reached | {result['status']} / {scopes} / "
          f"{len(result['accounts_not_reached'])} |")
    print(f"| busiest services (calls) | {dict(counter.calls.most_common(6))} |")
    print(f"| the scan's CPU (this process; moto's is its own) | {cpu:.1f} s |")
    print(f"| clients built / their CPU | {counter.clients:,} / {counter.client_cpu:.1f} s |")
    covered = set(per_account) == set(accounts) and result["status"] == "complete" and not listings.keys() - {"ok"}
    print(f"\nevery account covered in one scan, the picture complete: {'yes' if covered else 'NO'}")


if __name__ == "__main__":
    main()
