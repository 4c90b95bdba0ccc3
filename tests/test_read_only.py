"""The read-only guard: exactly the calls driftgraph makes go out, everything else is refused before sending.

Clients come from our own factory (`AwsSession`), pointed through AWS_ENDPOINT_URL at a tiny local HTTP
server that records every request it receives: a refused call must leave it untouched."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.utils import ArgumentGenerator

from edge_servers import point_boto3_at
from graph.resource_types import RESOURCE_TYPES
from scanner.clients import READ_PREFIXES, SECRET_READS, AwsSession, ReadOnlyViolation, UnreadableAnswer, is_allowed_operation
from scanner.permissions import DRIFTGRAPH_CALLS, allowed_calls

# The operations the issue names: each passed the old name-prefix guard.
ISSUE_CALLS = (
    ("cognito-identity", "get_id", {"IdentityPoolId": "us-east-1:00000000-0000-0000-0000-000000000000"}),
    ("redshift", "get_cluster_credentials", {"DbUser": "admin", "ClusterIdentifier": "warehouse"}),
    ("sso", "get_role_credentials", {"roleName": "admin", "accountId": "123456789012", "accessToken": "t"}),
    ("lightsail", "get_relational_database_master_user_password", {"relationalDatabaseName": "db"}),
    ("apigateway", "get_api_key", {"apiKey": "k", "includeValue": True}),
    ("lambda", "get_function", {"FunctionName": "worker"}),
)
# Writes and secret reads, refused as they always were.
OTHER_REFUSED = (
    ("sqs", "create_queue", {"QueueName": "must-not-exist"}),
    ("s3", "put_object", {"Bucket": "b", "Key": "k", "Body": b"x"}),
    ("secretsmanager", "get_secret_value", {"SecretId": "db"}),
    ("ssm", "get_parameter", {"Name": "/db/password", "WithDecryption": True}),
    ("lambda", "get_function_configuration", {"FunctionName": "worker"}),
)
# Services whose read-looking operations are sampled: every service driftgraph calls, the issue's, and
# others holding credentials, keys or data.
SAMPLED_SERVICES = sorted({c.service for c in DRIFTGRAPH_CALLS} | {s for s, _, _ in ISSUE_CALLS} | {
    "cognito-idp", "codeartifact", "ecr-public", "redshift-serverless", "redshift-data", "rds-data", "athena",
    "glue", "cloudfront", "iot", "appsync", "amplify", "ssm-incidents", "acm", "acm-pca", "kafka", "opensearch",
    "eks", "batch", "stepfunctions", "organizations", "backup", "s3control", "dynamodbstreams"})


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with a bodiless 403 (never retried) and remembers it."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.requests.append((self.command, self.path))
        status, headers = self.server.script(self.command, self.path)
        self.send_response(status)
        for key, value in {**headers, "Content-Length": "0"}.items():
            self.send_header(key, value)
        self.end_headers()

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture()
def recorder(monkeypatch):
    """A local endpoint that counts what reaches it, and boto3's standard chain pointed at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []
    server.script = lambda method, path: (403, {})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    point_boto3_at(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}")
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_recorder_sees_a_call_the_guard_lets_through(recorder):
    """The control for the tests below: an allowed call does reach the endpoint."""
    with pytest.raises(ClientError, match="403"):
        AwsSession(default_region="us-east-1").client("sqs").list_queues()
    assert recorder.requests == [("POST", "/")]


@pytest.mark.parametrize("service, method, params", ISSUE_CALLS + OTHER_REFUSED,
                         ids=[f"{s}:{m}" for s, m, _ in ISSUE_CALLS + OTHER_REFUSED])
def test_calls_driftgraph_does_not_make_are_refused_before_anything_is_sent(recorder, service, method, params):
    client = AwsSession(default_region="us-east-1").client(service)
    operation = client.meta.method_to_api_mapping[method]
    with pytest.raises(ReadOnlyViolation, match=f"refused {service}:{operation} "):
        getattr(client, method)(**params)
    assert recorder.requests == []


def _read_looking(service: str) -> list[str]:
    model = botocore.session.get_session().get_service_model(service)
    return [op for op in model.operation_names if op.startswith(READ_PREFIXES)]


def test_read_looking_operations_not_on_the_list_are_refused_before_sending(recorder, tmp_path, monkeypatch):
    """Every read-named operation of the sampled services that driftgraph does not call, called for real
    with skeleton parameters botocore generates from its model (its parameter checks turned off in the
    config file, as a user may, since skeleton values break length and range rules)."""
    (tmp_path / "config").write_text("[default]\nparameter_validation = false\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    session = AwsSession(default_region="us-east-1")
    allowed = allowed_calls()
    refused, not_called = [], []
    for service in SAMPLED_SERVICES:
        client = session.client(service)
        model = client.meta.service_model
        for operation in _read_looking(service):
            if (service, xform_name(operation)) in allowed:
                continue
            shape = model.operation_model(operation).input_shape
            params = ArgumentGenerator(use_member_names=True).generate_skeleton(shape) if shape else {}
            try:
                getattr(client, xform_name(operation))(**params)
            except ReadOnlyViolation:
                refused.append((service, operation))
            except Exception as error:  # the skeleton could not be serialised: the guard was never asked
                not_called.append((service, operation, repr(error)))
            else:
                pytest.fail(f"{service}:{operation} was sent")
    assert recorder.requests == []
    assert len(refused) > 1500
    # DynamoDB's GetItem and BatchGetItem: their skeleton holds a blob botocore cannot serialise
    assert len(not_called) <= 5, not_called
    assert not [(s, o) for s, o, _ in not_called if is_allowed_operation(s, o)]


def test_every_call_on_the_list_is_a_real_read_operation_and_the_guard_lets_it_through():
    session = botocore.session.get_session()
    for call in DRIFTGRAPH_CALLS:
        model = session.get_service_model(call.service)
        methods = {xform_name(op): op for op in model.operation_names}
        assert call.method in methods, call
        operation = methods[call.method]
        assert operation.startswith(READ_PREFIXES), call
        assert operation not in SECRET_READS, call
        assert is_allowed_operation(call.service, operation), call
    assert len({(c.service, c.method) for c in DRIFTGRAPH_CALLS}) == len(DRIFTGRAPH_CALLS), "one grant per call"


def test_every_call_the_catalog_rows_make_is_allowed():
    session = botocore.session.get_session()
    for row in RESOURCE_TYPES:
        calls = [row.list, *(call for _, call in row.details)] + ([row.tags.call] if row.tags and row.tags.call else [])
        model = session.get_service_model(row.service)
        for call in calls:
            operation = {xform_name(op): op for op in model.operation_names}[call.method]
            assert is_allowed_operation(row.service, operation), (row.type, operation)


def test_a_secret_read_stays_refused_even_when_someone_puts_it_on_the_list():
    listed = frozenset({("secretsmanager", "get_secret_value"), ("ssm", "get_parameters"), ("sqs", "list_queues")})
    assert not is_allowed_operation("secretsmanager", "GetSecretValue", listed)
    assert not is_allowed_operation("ssm", "GetParameters", listed)
    assert is_allowed_operation("sqs", "ListQueues", listed)
    # and a write stays refused too, whatever the list says
    assert not is_allowed_operation("sqs", "DeleteQueue", listed | {("sqs", "delete_queue")})


def test_the_guard_answers_per_service_not_per_operation_name():
    """ListTagsForResource is on the list for SNS; Organizations' operation of the same name is not."""
    assert is_allowed_operation("sns", "ListTagsForResource")
    assert not is_allowed_operation("organizations", "ListTagsForResource")
    assert not is_allowed_operation("sts", "GetSessionToken") and is_allowed_operation("sts", "GetCallerIdentity")


def test_botocore_discovers_no_endpoint_through_our_clients():
    """Endpoint discovery would send DescribeEndpoints through our own client before the call itself; no
    operation driftgraph calls asks for it, so that internal call never needs to be on the list."""
    session = botocore.session.get_session()
    for call in DRIFTGRAPH_CALLS:
        model = session.get_service_model(call.service)
        operation = {xform_name(op): op for op in model.operation_names}[call.method]
        assert not model.operation_model(operation).endpoint_discovery, call


def test_the_s3_region_redirect_may_head_the_bucket_through_our_client(recorder):
    """A wrong-region answer that names no region makes botocore's S3RegionRedirectorv2 send HeadBucket
    through the same client, and the guard lets it pass: refusing it would fail the listing itself."""

    def script(method: str, path: str):
        if method == "HEAD":
            return 200, {"x-amz-bucket-region": "eu-west-1"}
        if len([r for r in recorder.requests if r[0] == "GET"]) == 1:
            return 301, {}  # a redirect that names no region
        return 200, {}

    recorder.script = script
    client = AwsSession(default_region="us-east-1").client("s3")
    with pytest.raises(UnreadableAnswer, match="empty body"):  # the recorder's bodiless 200 is no object listing
        client.list_objects_v2(Bucket="states", Prefix="prod/")
    assert [method for method, _ in recorder.requests] == ["GET", "HEAD", "GET"]


def test_the_demo_scan_sends_nothing_the_guard_refuses(estate_scan):
    """The real call paths (catalog listings, details, tags, stacks, regions): every listing succeeds and
    no call anywhere was refused."""
    import sqlite_utils

    db = sqlite_utils.Database(estate_scan["db"])
    outcomes = {row["outcome"] for row in db["listings"].rows}
    assert outcomes == {"ok"}
    refused = [row for row in db["scan_errors"].rows if "ReadOnlyViolation" in f"{row['code']} {row['message']}"]
    assert refused == []
