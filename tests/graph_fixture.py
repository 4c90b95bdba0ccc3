"""A small, realistic graph database for the Datasette tests: three scans of one account, a week apart, written by
ScanWriter.

The first scan (2024-05-25) predates stored summaries (scans.summary is empty, as in a database an older
driftgraph wrote) and finds orders-queue before anyone imported it: unmanaged. The older scan (2024-06-01) finds
it managed, and holds rows that must NOT show up in canned queries (they read the latest scan only): a queue
deleted since (`tmp-migration-queue`), an old scan error and an old failed listing. The latest scan
(2024-06-08) covers every status, Terraform and CloudFormation owners (one conflict with both), edges, drift,
listings (one access_denied), scan errors, stacks with an export and an import, sources, and the resource-type
catalog. Between the older and the latest scan (the week the dashboard reports on) ci-deploy-role appeared
unmanaged, tmp-migration-queue was deleted, orders-queue drifted and Lambda's listing in eu-west-1 began to fail.
Regenerate nothing: it is built fresh by `build_fixture_db(path)` in each test session.
"""

from __future__ import annotations

from pathlib import Path

from graph.report import scan_summary
from graph.resource_types import catalog_as_dicts
from graph.store import ScanWriter

ACCOUNT = "123456789012"
US = "us-east-1"
EU = "eu-west-1"
GLOBAL = "global"

TFSTATE = "s3://acme-tfstate/prod/terraform.tfstate"
LEGACY_TFSTATE = "s3://acme-tfstate/legacy/terraform.tfstate"
ORDERS_STACK = f"arn:aws:cloudformation:{US}:{ACCOUNT}:stack/orders-stack/1f3c9a80-2b4d-11ef-9a3e-0e5b8c6d7f01"
ORDERS_API_STACK = (
    f"arn:aws:cloudformation:{US}:{ACCOUNT}:stack/orders-stack-ApiNestedStack-1Q2W3E4R5T6Y/"
    "3a7d1c20-2b4d-11ef-8b1f-12c4d5e6f702"
)
BILLING_STACK = f"arn:aws:cloudformation:{US}:{ACCOUNT}:stack/legacy-billing/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
SHARED_STACK = f"arn:aws:cloudformation:{US}:{ACCOUNT}:stack/shared-infra/0b2e4f60-1a0c-11ef-a7c3-0a1b2c3d4e05"

# Ids of the latest scan's resources, by what the tests call them.
ORDERS_QUEUE = f"arn:aws:sqs:{US}:{ACCOUNT}:orders-queue"
ORDERS_TABLE = f"arn:aws:dynamodb:{US}:{ACCOUNT}:table/orders"
ORDERS_FUNCTION = f"arn:aws:lambda:{US}:{ACCOUNT}:function:orders-processor"
ORDERS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-processor-role"
LEGACY_QUEUE = f"arn:aws:sqs:{US}:{ACCOUNT}:legacy-reports-queue"
PAYMENTS_DLQ = f"arn:aws:sqs:{EU}:{ACCOUNT}:payments-dlq"
UPLOADS_BUCKET = "arn:aws:s3:::acme-manual-uploads"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy-role"
ORDER_EVENTS_TOPIC = f"arn:aws:sns:{US}:{ACCOUNT}:order-events"
ARTIFACTS_BUCKET = "arn:aws:s3:::acme-shared-artifacts"
BASIC_EXECUTION_ATTACHMENT = (
    "orders-processor-role/arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)
DEFAULT_VPC = f"arn:aws:ec2:{US}:{ACCOUNT}:vpc/vpc-0a1b2c3d4e5f60718"
DEFAULT_S3_ALIAS = f"arn:aws:kms:{EU}:{ACCOUNT}:alias/aws/s3"
LAMBDA_LOG_GROUP = f"arn:aws:logs:{US}:{ACCOUNT}:log-group:/aws/lambda/orders-processor"
CDN = "terraform:aws_cloudfront_distribution.cdn"
OLD_QUEUE = f"arn:aws:sqs:{US}:{ACCOUNT}:tmp-migration-queue"


def _resource(rid, type_, service, region, name, status, reason, rule, owners=(), drift_count=0, **extra):
    arn = rid if rid.startswith("arn:") else None
    return {
        "id": rid,
        "arn": arn,
        "type": type_,
        "service": service,
        "account": ACCOUNT,
        "region": region,
        "name": name,
        "natural_id": extra.pop("natural_id", name),
        "status": status,
        "reason": reason,
        "rule": rule,
        "owner_tools": ",".join(sorted(set(owners))) or None,
        "owner_count": len(owners),
        "drift_count": drift_count,
        "tags": extra.pop("tags", {}),
        "attributes": extra.pop("attributes", {}),
        **extra,
    }


def _tf_owner(resource_id, address, declared_type, source=TFSTATE):
    return {
        "resource_id": resource_id,
        "tool": "terraform",
        "source": source,
        "address": address,
        "framework": "terraform",
        "stack_name": None,
        "declared_type": declared_type,
    }


def _cfn_owner(resource_id, stack_arn, stack_name, logical_id, declared_type, framework="cloudformation"):
    return {
        "resource_id": resource_id,
        "tool": "cloudformation",
        "source": stack_arn,
        "address": logical_id,
        "framework": framework,
        "stack_name": stack_name,
        "declared_type": declared_type,
    }


def _listing(region, type_, count, outcome="ok", error_code=None, message=None, duration_ms=120):
    return {
        "account": ACCOUNT,
        "region": region,
        "type": type_,
        "outcome": outcome,
        "count": count,
        "error_code": error_code,
        "message": message,
        "duration_ms": duration_ms,
    }


def _orders_role() -> dict:
    return _resource(
        ORDERS_ROLE, "AWS::IAM::Role", "iam", GLOBAL, "orders-processor-role", "managed",
        "declared by terraform aws_iam_role.orders_processor", "one-owner", owners=["terraform"],
        tags={"team": "platform"},
    )


def _orders_role_owner() -> dict:
    return _tf_owner(ORDERS_ROLE, "aws_iam_role.orders_processor", "aws_iam_role")


def _summary(resources: list[dict], drifted_resources: int) -> dict:
    return scan_summary([r["status"] for r in resources], drifted_resources)


def _write_first_scan(path: Path) -> None:
    """Before orders-queue was imported into Terraform; no summary (an older driftgraph stored none)."""
    writer = ScanWriter(path)
    writer.begin(
        {
            "started_at": "2024-05-25T09:00:00Z",
            "status": "running",
            "accounts": [ACCOUNT],
            "regions": [US, EU],
            "partition": "aws",
            "caller_arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/driftgraph-readonly/scan",
            "driftgraph_version": "0.1.0",
            "options": {"iac": [TFSTATE]},
        }
    )
    unowned = ("live, declared by no source", "no-owner")
    writer.write(
        "resources",
        [
            _resource(ORDERS_QUEUE, "AWS::SQS::Queue", "sqs", US, "orders-queue", "unmanaged", *unowned),
            _resource(LEGACY_QUEUE, "AWS::SQS::Queue", "sqs", US, "legacy-reports-queue", "unmanaged", *unowned),
            _resource(OLD_QUEUE, "AWS::SQS::Queue", "sqs", US, "tmp-migration-queue", "unmanaged", *unowned),
        ],
    )
    writer.write("listings", [_listing(US, "AWS::SQS::Queue", 3), _listing(EU, "AWS::SQS::Queue", 0)])
    writer.write_catalog(catalog_as_dicts())
    writer.finish(
        {"finished_at": "2024-05-25T09:01:30Z", "status": "complete", "duration_seconds": 90.0, "resource_count": 3}
    )
    writer.commit()


def _write_older_scan(path: Path) -> None:
    writer = ScanWriter(path)
    writer.begin(
        {
            "started_at": "2024-06-01T09:00:00Z",
            "status": "running",
            "accounts": [ACCOUNT],
            "regions": [US, EU],
            "partition": "aws",
            "caller_arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/driftgraph-readonly/scan",
            "driftgraph_version": "0.1.0",
            "options": {"iac": [TFSTATE]},
        }
    )
    resources = [
        _resource(
            ORDERS_QUEUE, "AWS::SQS::Queue", "sqs", US, "orders-queue", "managed",
            "declared by terraform aws_sqs_queue.orders", "one-owner", owners=["terraform"],
        ),
        _resource(
            LEGACY_QUEUE, "AWS::SQS::Queue", "sqs", US, "legacy-reports-queue", "unmanaged",
            "live, declared by no source", "no-owner",
        ),
        _resource(
            OLD_QUEUE, "AWS::SQS::Queue", "sqs", US, "tmp-migration-queue", "unmanaged",
            "live, declared by no source", "no-owner",
        ),
        _orders_role(),
    ]
    writer.write("resources", resources)
    writer.write("owners", [_tf_owner(ORDERS_QUEUE, "aws_sqs_queue.orders", "aws_sqs_queue"), _orders_role_owner()])
    writer.write(
        "listings",
        [
            _listing(US, "AWS::SQS::Queue", 3),
            _listing(EU, "AWS::SQS::Queue", 0, "throttled", "Throttling", "Rate exceeded"),
            _listing(GLOBAL, "AWS::IAM::Role", 1, duration_ms=450),
        ],
    )
    writer.write(
        "scan_errors",
        [{"source": "old.tfstate", "kind": "error", "message": "an error fixed since", "code": "parse_error"}],
    )
    writer.write(
        "sources",
        [
            {
                "path": TFSTATE, "kind": "terraform_state", "status": "ok", "format_version": "4", "serial": 40,
                "resource_count": 1,
            }
        ],
    )
    writer.write_catalog(catalog_as_dicts())
    writer.finish(
        {"finished_at": "2024-06-01T09:02:10Z", "status": "partial", "duration_seconds": 130.0,
         "resource_count": len(resources), "summary": _summary(resources, 0)}
    )
    writer.commit()


def _write_latest_scan(path: Path) -> None:
    writer = ScanWriter(path)
    writer.begin(
        {
            "started_at": "2024-06-08T09:00:00Z",
            "status": "running",
            "accounts": [ACCOUNT],
            "regions": [US, EU],
            "partition": "aws",
            "caller_arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/driftgraph-readonly/scan",
            "driftgraph_version": "0.1.0",
            "options": {"iac": [TFSTATE, LEGACY_TFSTATE, "cdk.out"]},
        }
    )
    resources = [
        _resource(
            ORDERS_QUEUE, "AWS::SQS::Queue", "sqs", US, "orders-queue", "managed",
            "declared by terraform aws_sqs_queue.orders", "one-owner", owners=["terraform"], drift_count=1,
            tags={"team": "orders", "env": "prod"}, attributes={"visibility_timeout": 60},
        ),
        _resource(
            ORDERS_TABLE, "AWS::DynamoDB::Table", "dynamodb", US, "orders", "managed",
            "declared by cloudformation orders-stack/OrdersTable", "one-owner", owners=["cloudformation"],
            attributes={"billing_mode": "PAY_PER_REQUEST", "hash_key": "order_id"},
        ),
        _resource(
            ORDERS_FUNCTION, "AWS::Lambda::Function", "lambda", US, "orders-processor", "managed",
            "declared by cloudformation orders-stack/OrdersProcessor", "one-owner", owners=["cloudformation"],
            drift_count=1, attributes={"runtime": "python3.12", "memory_size": 512}, tags={"Team": "orders"},
        ),
        _orders_role(),
        _resource(
            LEGACY_QUEUE, "AWS::SQS::Queue", "sqs", US, "legacy-reports-queue", "unmanaged",
            "live, declared by no source", "no-owner", tags={"created-by": "console"}, import_group="g2",
            import_id=f"https://sqs.{US}.amazonaws.com/{ACCOUNT}/legacy-reports-queue",
        ),
        _resource(
            PAYMENTS_DLQ, "AWS::SQS::Queue", "sqs", EU, "payments-dlq", "unmanaged",
            "live, declared by no source", "no-owner", import_group="g3",
            import_id=f"https://sqs.{EU}.amazonaws.com/{ACCOUNT}/payments-dlq",
        ),
        _resource(
            UPLOADS_BUCKET, "AWS::S3::Bucket", "s3", EU, "acme-manual-uploads", "unmanaged",
            "live, declared by no source", "no-owner", import_group="g1", import_id="acme-manual-uploads",
            tags={"team": "data"},
        ),
        _resource(
            CI_ROLE, "AWS::IAM::Role", "iam", GLOBAL, "ci-deploy-role", "unmanaged",
            "live, declared by no source", "no-owner", import_group="g1", import_id="ci-deploy-role",
        ),
        _resource(
            ORDER_EVENTS_TOPIC, "AWS::SNS::Topic", "sns", US, "order-events", "missing",
            "declared by terraform aws_sns_topic.order_events, not found live", "declared-not-live",
            owners=["terraform"], natural_id=ORDER_EVENTS_TOPIC,
        ),
        _resource(
            ARTIFACTS_BUCKET, "AWS::S3::Bucket", "s3", US, "acme-shared-artifacts", "conflict",
            "declared by 2 owners: terraform aws_s3_bucket.artifacts and cloudformation "
            "shared-infra/ArtifactsBucket",
            "two-owners", owners=["terraform", "cloudformation"], drift_count=1,
            attributes={"versioning_enabled": False},
        ),
        _resource(
            BASIC_EXECUTION_ATTACHMENT, "aws_iam_role_policy_attachment", "iam", GLOBAL,
            "orders-processor-role/AWSLambdaBasicExecutionRole", "child",
            "part of AWS::IAM::Role orders-processor-role", "child-of-parent", owners=["terraform"],
        ),
        _resource(
            DEFAULT_VPC, "AWS::EC2::VPC", "ec2", US, "vpc-0a1b2c3d4e5f60718", "default",
            "the default VPC AWS creates in every region", "default_vpc",
            attributes={"cidr_block": "172.31.0.0/16"},
        ),
        _resource(
            DEFAULT_S3_ALIAS, "AWS::KMS::Alias", "kms", EU, "alias/aws/s3", "default",
            "an AWS-managed key alias", "default_kms_alias",
        ),
        _resource(
            LAMBDA_LOG_GROUP, "AWS::Logs::LogGroup", "logs", US, "/aws/lambda/orders-processor", "ignored",
            "matches ignore pattern AWS::Logs::LogGroup:/aws/lambda/*", "ignore-pattern",
        ),
        _resource(
            CDN, "aws_cloudfront_distribution", "cloudfront", GLOBAL, "cdn", "unknown",
            "declared by terraform aws_cloudfront_distribution.cdn; type not in the catalog, not checked live",
            "uncatalogued-type", owners=["terraform"],
        ),
    ]
    writer.write("resources", resources)
    writer.write(
        "owners",
        [
            _tf_owner(ORDERS_QUEUE, "aws_sqs_queue.orders", "aws_sqs_queue"),
            _cfn_owner(ORDERS_TABLE, ORDERS_STACK, "orders-stack", "OrdersTable", "AWS::DynamoDB::Table", "cdk-v2"),
            _cfn_owner(
                ORDERS_FUNCTION, ORDERS_STACK, "orders-stack", "OrdersProcessor", "AWS::Lambda::Function", "cdk-v2"
            ),
            _orders_role_owner(),
            _tf_owner(ORDER_EVENTS_TOPIC, "aws_sns_topic.order_events", "aws_sns_topic"),
            _tf_owner(ARTIFACTS_BUCKET, "aws_s3_bucket.artifacts", "aws_s3_bucket"),
            _cfn_owner(ARTIFACTS_BUCKET, SHARED_STACK, "shared-infra", "ArtifactsBucket", "AWS::S3::Bucket"),
            _tf_owner(
                BASIC_EXECUTION_ATTACHMENT, "aws_iam_role_policy_attachment.orders_processor_basic",
                "aws_iam_role_policy_attachment",
            ),
            _tf_owner(CDN, "aws_cloudfront_distribution.cdn", "aws_cloudfront_distribution"),
        ],
    )
    writer.write(
        "edges",
        [
            {"source_id": ORDERS_FUNCTION, "relation": "uses_role", "target_id": ORDERS_ROLE},
            {"source_id": BASIC_EXECUTION_ATTACHMENT, "relation": "child_of", "target_id": ORDERS_ROLE},
            {"source_id": ORDERS_FUNCTION, "relation": "logs_to", "target_id": LAMBDA_LOG_GROUP},
        ],
    )
    writer.write(
        "drift",
        [
            {
                "resource_id": ORDERS_QUEUE, "attribute": "visibility_timeout", "declared": 30, "live": 60,
                "tool": "terraform", "source": TFSTATE, "address": "aws_sqs_queue.orders",
            },
            {
                "resource_id": ORDERS_FUNCTION, "attribute": "memory_size", "declared": 256, "live": 512,
                "tool": "cloudformation", "source": ORDERS_STACK, "address": "OrdersProcessor",
            },
            {
                "resource_id": ARTIFACTS_BUCKET, "attribute": "versioning_enabled", "declared": True, "live": False,
                "tool": "terraform", "source": TFSTATE, "address": "aws_s3_bucket.artifacts",
            },
        ],
    )
    writer.write(
        "listings",
        [
            _listing(US, "AWS::SQS::Queue", 2),
            _listing(EU, "AWS::SQS::Queue", 1),
            _listing(US, "AWS::DynamoDB::Table", 1),
            _listing(US, "AWS::Lambda::Function", 1),
            _listing(
                EU, "AWS::Lambda::Function", 0, "access_denied", "AccessDeniedException",
                f"User: arn:aws:sts::{ACCOUNT}:assumed-role/driftgraph-readonly/scan is not authorized to perform: "
                "lambda:ListFunctions",
                40,
            ),
            _listing(GLOBAL, "AWS::IAM::Role", 2, duration_ms=480),
            _listing(US, "AWS::S3::Bucket", 2, duration_ms=310),
            _listing(US, "AWS::SNS::Topic", 0),
            _listing(US, "AWS::EC2::VPC", 1),
            _listing(EU, "AWS::KMS::Alias", 1),
            _listing(US, "AWS::Logs::LogGroup", 1),
        ],
    )
    writer.write(
        "scan_errors",
        [
            {
                "source": LEGACY_TFSTATE, "kind": "error", "message": "state format version 2 is not supported",
                "code": "unsupported_state_version",
            },
            {
                "source": "cdk.out/OrdersStack.template.json", "kind": "warning", "line": 42,
                "message": "Fn::ImportValue shared-infra-ArtifactsBucketName is not resolved: attribute skipped",
                "code": "unresolved_import",
            },
        ],
    )
    writer.write(
        "stacks",
        [
            {
                "id": ORDERS_STACK, "name": "orders-stack", "account": ACCOUNT, "region": US,
                "status": "UPDATE_COMPLETE", "framework": "cdk-v2", "parent_id": None, "root_id": None,
                "description": "Orders service (CDK)", "resource_count": 2,
                "created_at": "2024-03-02T10:11:12Z", "updated_at": "2024-06-05T16:20:00Z",
                "tags": {"team": "orders"}, "cdk_version": "2.150.0", "synthesizer": "default", "wave": 1,
                "evidence": ["CDKMetadata Analytics v2:deflate64 -> 2.150.0"],
            },
            {
                "id": ORDERS_API_STACK, "name": "orders-stack-ApiNestedStack-1Q2W3E4R5T6Y", "account": ACCOUNT,
                "region": US, "status": "UPDATE_COMPLETE", "framework": "cdk-v2", "parent_id": ORDERS_STACK,
                "root_id": ORDERS_STACK, "description": None, "resource_count": 0,
                "created_at": "2024-03-02T10:12:00Z", "updated_at": "2024-06-05T16:21:00Z", "tags": {}, "wave": 0,
            },
            {
                "id": SHARED_STACK, "name": "shared-infra", "account": ACCOUNT, "region": US,
                "status": "CREATE_COMPLETE", "framework": "cloudformation", "parent_id": None, "root_id": None,
                "description": "Shared buckets", "resource_count": 1,
                "created_at": "2024-01-15T08:00:00Z", "updated_at": "2024-01-15T08:00:00Z", "tags": {},
                "evidence": [], "wave": 0,
            },
            {
                "id": BILLING_STACK, "name": "legacy-billing", "account": ACCOUNT, "region": US,
                "status": "UPDATE_COMPLETE", "framework": "cdk-v1", "cdk_version": "1.204.0", "synthesizer": "legacy",
                "evidence": ["CDKMetadata Analytics v2:deflate64 -> 1.204.0", "Modules list @aws-cdk/core"],
                "modules": ["@aws-cdk/core@1.204.0"], "language": "python", "wave": 1,
                "parent_id": None, "root_id": None, "description": None, "resource_count": 0,
                "created_at": "2021-02-01T08:00:00Z", "updated_at": "2022-02-01T08:00:00Z", "tags": {},
            },
        ],
    )
    writer.write(
        "stack_dependencies",
        [
            {"stack_id": ORDERS_STACK, "depends_on": ORDERS_API_STACK, "via": "nested"},
            {"stack_id": ORDERS_STACK, "depends_on": SHARED_STACK, "via": "export shared-infra-ArtifactsBucketName"},
            {"stack_id": BILLING_STACK, "depends_on": SHARED_STACK, "via": "export shared-infra-ArtifactsBucketName"},
            {"stack_id": BILLING_STACK, "depends_on": None, "via": "ssm /billing/legacy-endpoint"},
        ],
    )
    writer.write(
        "stack_exports",
        [
            {
                "stack_id": SHARED_STACK, "export_name": "shared-infra-ArtifactsBucketName", "account": ACCOUNT,
                "region": US,
            }
        ],
    )
    writer.write(
        "stack_imports",
        [
            {
                "stack_id": ORDERS_STACK, "export_name": "shared-infra-ArtifactsBucketName",
                "exporting_stack_id": SHARED_STACK, "account": ACCOUNT, "region": US,
            }
        ],
    )
    writer.write(
        "sources",
        [
            {
                "path": TFSTATE, "kind": "terraform_state", "status": "ok", "format_version": "4",
                "tool_version": "1.7.5", "lineage": "5c1e7f3a-9d2b-4e8f-a6c0-3b7d9e1f2a4c", "serial": 42,
                "resource_count": 6, "message": None,
            },
            {
                "path": LEGACY_TFSTATE, "kind": "terraform_state", "status": "error", "format_version": "2",
                "resource_count": 0, "message": "state format version 2 is not supported",
            },
            {"path": ORDERS_STACK, "kind": "cloudformation_stack", "status": "ok", "resource_count": 2},
            {"path": SHARED_STACK, "kind": "cloudformation_stack", "status": "ok", "resource_count": 1},
            {
                "path": "cdk.out/OrdersStack.template.json", "kind": "cdk_assembly", "status": "ok",
                "tool_version": "2.140.0", "resource_count": 2, "message": "1 warning",
            },
        ],
    )
    writer.write_catalog(catalog_as_dicts())
    writer.finish(
        {
            "finished_at": "2024-06-08T09:03:41Z", "status": "partial", "duration_seconds": 221.5,
            "resource_count": len(resources), "summary": _summary(resources, 3),
        }
    )
    writer.commit()


def build_fixture_db(path: str | Path) -> Path:
    """Write the three-scan fixture graph at `path` (replacing any file there) and return the path."""
    path = Path(path)
    if path.exists():
        path.unlink()
    _write_first_scan(path)
    _write_older_scan(path)
    _write_latest_scan(path)
    return path


# A hostile estate beside the fixture's: markup where names, tags and reasons go, which every page must show as
# text. Its own account, so the fixture's resources and their numbers are untouched (the current picture gains
# one unmanaged resource).
HOSTILE_ACCOUNT = "999999999999"
PLANTED = "<script>window.dgPlanted=1</script>"  # a page that runs it sets window.dgPlanted
PLANTED_IMG = '"><img src=x onerror="window.dgPlanted=2">'  # the same through an attribute
HOSTILE_ID = f"arn:aws:sqs:{US}:{HOSTILE_ACCOUNT}:{PLANTED}"
HOSTILE_QUEUE = {
    "id": HOSTILE_ID, "arn": HOSTILE_ID, "type": "AWS::SQS::Queue", "service": "sqs", "account": HOSTILE_ACCOUNT,
    "region": US, "name": PLANTED, "natural_id": PLANTED, "status": "unmanaged",
    "reason": f"live, declared by no source {PLANTED_IMG}", "rule": "no-owner", "owner_count": 0, "drift_count": 0,
    "tags": {"team": PLANTED, "Name": PLANTED_IMG}, "attributes": {"policy": PLANTED},
    "import_group": HOSTILE_ID,
}


def unmanaged_queue(name: str, account: str = ACCOUNT) -> dict:
    """A resources row: an unmanaged queue in us-east-1 of `account`."""
    return _resource(f"arn:aws:sqs:{US}:{account}:{name}", "AWS::SQS::Queue", "sqs", US, name, "unmanaged",
                     "live, declared by no source", "no-owner", account=account)


def write_scan(path: str | Path, account: str, started: str, finished: str, resources: list[dict]) -> int:
    """Commit a scan of the queues of one account's us-east-1 that finds `resources` (its id)."""
    writer = ScanWriter(path)
    scan_id = writer.begin({"started_at": started, "status": "running", "accounts": [account], "regions": [US],
                            "partition": "aws", "driftgraph_version": "0.1.0"})
    writer.write_scopes([(account, US)])
    writer.write("resources", resources)
    writer.write("listings", [{**_listing(US, "AWS::SQS::Queue", len(resources)), "account": account}])
    writer.finish({"finished_at": finished, "status": "complete", "resource_count": len(resources),
                   "summary": _summary(resources, 0)})
    writer.commit()
    return scan_id


def add_hostile_scans(path: str | Path) -> Path:
    """Two scans of HOSTILE_ACCOUNT after the fixture's (scans 4 and 5, a week apart): the second finds the
    HOSTILE_QUEUE, new and unmanaged, so it shows in "what changed" too."""
    path = Path(path)
    calm = unmanaged_queue("calm-queue", HOSTILE_ACCOUNT)
    write_scan(path, HOSTILE_ACCOUNT, "2024-06-02T09:00:00Z", "2024-06-02T09:01:00Z", [calm])
    write_scan(path, HOSTILE_ACCOUNT, "2024-06-09T09:00:00Z", "2024-06-09T09:01:00Z", [calm, dict(HOSTILE_QUEUE)])
    return path
