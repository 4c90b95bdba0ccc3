"""The Terraform state importer: fixtures in, whole records out; bad inputs named; the third-party corpus read."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
import urllib.parse
from pathlib import Path

import pytest

from graph.records import GLOBAL, TERRAFORM, Owner
from graph.resource_types import CHILD_TYPES, TERRAFORM_TYPES
from importers import terraform_state
from importers.terraform_state import (
    Defaults,
    ProviderConfig,
    format_index,
    load_terraform_states,
    parse_provider,
    parse_state,
    to_records,
    unflatten,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures" / "tfstate"
V4 = FIXTURES / "v4-modules-count-foreach.tfstate"
V3 = FIXTURES / "v3-flat-count.tfstate"
TRUNCATED = FIXTURES / "truncated.tfstate"
VERSION_5 = FIXTURES / "version-5.tfstate"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CORPUS_STATES = CORPUS / "tfstate"

PLANTED = "Planted-Secret-123!"
ACCOUNT, OTHER_ACCOUNT = "123456789012", "210987654321"


def _by_address(result) -> dict[str, object]:
    return {record.owner.address: record for record in result.records}


def _write(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


def _v4(resources: list[dict], lineage: str = "11111111-2222-3333-4444-555555555555", serial: int = 1) -> dict:
    return {"version": 4, "terraform_version": "1.9.8", "serial": serial, "lineage": lineage, "outputs": {},
            "resources": resources, "check_results": None}


def _resource(rtype: str, name: str, instances: list[dict], provider: str = "", module: str | None = None) -> dict:
    resource = {"mode": "managed", "type": rtype, "name": name,
                "provider": provider or 'provider["registry.terraform.io/hashicorp/aws"]', "instances": instances}
    if module:
        resource["module"] = module
    return resource


# ------------------------------------------------------------------------------------------- format 4


def test_v4_fixture_gives_one_record_per_managed_aws_instance():
    result = load_terraform_states([str(V4)])
    got = {
        (r.owner.address, r.type, r.natural_id, r.region, r.account, r.raw_type) for r in result.records
    }
    assert got == {
        ("aws_acm_certificate.site", "aws_acm_certificate",
         "arn:aws:acm:us-east-1:123456789012:certificate/6c1e9a53-2f0d-4e8b-9a71-3d5c8f2b4e60", "us-east-1", ACCOUNT,
         "aws_acm_certificate"),
        ("aws_db_instance.orders", "AWS::RDS::DBInstance", "orders-db", "us-east-1", ACCOUNT, "aws_db_instance"),
        ("aws_iam_role.app", "AWS::IAM::Role", "orders-app", GLOBAL, ACCOUNT, "aws_iam_role"),
        ("aws_iam_role_policy_attachment.app_ssm", "aws_iam_role_policy_attachment",
         "orders-app-20241102101404123400000001", GLOBAL, ACCOUNT, "aws_iam_role_policy_attachment"),
        ("aws_instance.web[0]", "AWS::EC2::Instance", "i-0f1e2d3c4b5a69788", "us-east-1", ACCOUNT, "aws_instance"),
        ("aws_instance.web[1]", "AWS::EC2::Instance", "i-0a9b8c7d6e5f40312", "us-east-1", ACCOUNT, "aws_instance"),
        ("aws_s3_bucket.logs", "AWS::S3::Bucket", "acme-orders-logs-123456789012", "us-east-1", ACCOUNT,
         "aws_s3_bucket"),
        ("aws_s3_bucket_versioning.logs", "aws_s3_bucket_versioning", "acme-orders-logs-123456789012", "us-east-1",
         ACCOUNT, "aws_s3_bucket_versioning"),
        ("aws_security_group.web", "AWS::EC2::SecurityGroup", "sg-0c9d8e7f6a5b4c3d2", "us-east-1", ACCOUNT,
         "aws_security_group"),
        ("aws_security_group_rule.https_in", "aws_security_group_rule", "sgrule-2841751329", "us-east-1", ACCOUNT,
         "aws_security_group_rule"),
        ("aws_sqs_queue.orders", "AWS::SQS::Queue", "orders", "eu-west-1", ACCOUNT, "aws_sqs_queue"),
        ('module.network.aws_subnet.private["us-east-1a"]', "AWS::EC2::Subnet", "subnet-0aa11bb22cc33dd44",
         "us-east-1", ACCOUNT, "aws_subnet"),
        ('module.network.aws_subnet.private["us-east-1b"]', "AWS::EC2::Subnet", "subnet-0ee55ff66aa77bb88",
         "us-east-1", ACCOUNT, "aws_subnet"),
        ("module.network.aws_vpc.this", "AWS::EC2::VPC", "vpc-0a1b2c3d4e5f60718", "us-east-1", ACCOUNT, "aws_vpc"),
    }
    assert all(r.source_kind == TERRAFORM for r in result.records)
    assert {r.owner for r in result.records} == {
        Owner("terraform", str(V4), r.owner.address, "terraform") for r in result.records
    }
    assert result.errors == []


def test_v4_fixture_source_row_counts_what_was_read_and_left_out():
    (row,) = load_terraform_states([str(V4)]).sources
    assert row == {
        "path": str(V4),
        "kind": "terraform_state",
        "status": "loaded",
        "format_version": "4",
        "tool_version": "1.9.8",
        "lineage": "3f6a1c52-9d0e-4b7a-8c21-5e4d7b9a0f13",
        "serial": 42,
        "resource_count": 15,  # managed, current: 14 AWS instances + random_id; not the data source, not deposed
        "message": "15 managed instances, 14 records; 1 bookkeeping skipped (random_id); "
        "1 data source instances not read; "
        "1 deposed objects skipped (left by an unfinished create_before_destroy)",
        "superseded_by": None,
        "framework": None,  # a template file's origin: no state has one
        "evidence": None,
    }


def test_v4_records_carry_identifiers_tags_and_only_comparable_attributes():
    records = _by_address(load_terraform_states([str(V4)]))
    db = records["aws_db_instance.orders"]
    assert db.arn == "arn:aws:rds:us-east-1:123456789012:db:orders-db"
    assert db.name == "orders-db"
    # provider 5 made `id` the DbiResourceId; it stays an alias
    assert db.aliases == ("db-4XQZ7NPLK2MBRWJ6D3A5YC2FHE", "arn:aws:rds:us-east-1:123456789012:db:orders-db")
    assert db.tags == {"Name": "orders-db", "env": "demo", "team": "orders"}  # tags_all: with default_tags
    assert db.attributes == {"instance_class": "db.t4g.micro", "engine": "postgres", "multi_az": False,
                             "allocated_storage": 20}

    queue = records["aws_sqs_queue.orders"]
    assert queue.aliases == (
        "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
        "arn:aws:sqs:eu-west-1:123456789012:orders",
    )
    assert queue.attributes == {"visibility_timeout": 60, "message_retention_seconds": 345600, "delay_seconds": 0,
                                "receive_wait_time_seconds": 0, "fifo_queue": False}

    bucket = records["aws_s3_bucket.logs"]
    assert (bucket.arn, bucket.name, bucket.attributes) == (
        "arn:aws:s3:::acme-orders-logs-123456789012", "acme-orders-logs-123456789012", {"versioning": True})

    web = records["aws_instance.web[0]"]
    assert web.aliases == ("arn:aws:ec2:us-east-1:123456789012:instance/i-0f1e2d3c4b5a69788",)
    assert web.name == "web-0"  # from tags.Name
    assert web.attributes == {"instance_type": "t3.micro", "security_groups": ["sg-0c9d8e7f6a5b4c3d2"]}

    sg = records["aws_security_group.web"]
    assert sg.attributes["description"] == "web tier"
    assert sg.attributes["ingress"][0]["from_port"] == 443


def test_v4_children_point_at_their_parent():
    records = _by_address(load_terraform_states([str(V4)]))
    assert records["aws_security_group_rule.https_in"].parent == ("AWS::EC2::SecurityGroup", "sg-0c9d8e7f6a5b4c3d2")
    assert records["aws_s3_bucket_versioning.logs"].parent == ("AWS::S3::Bucket", "acme-orders-logs-123456789012")
    attachment = records["aws_iam_role_policy_attachment.app_ssm"]
    assert attachment.parent == ("AWS::IAM::Role", "orders-app")
    assert attachment.attributes == {} and attachment.tags is None


def test_planted_secret_never_reaches_a_record_or_a_row():
    result = load_terraform_states([str(V4), str(V3)])
    everything = repr(result.records) + repr(result.sources) + repr(result.errors)
    assert PLANTED not in everything
    assert "Planted" not in everything
    assert "orders_admin" not in everything  # the master username is no comparable attribute either
    assert "3d6e5b8f0a1c2d4e6f8091a2b3c4d5e6f708192a" not in everything  # user_data (its hash)
    for record in result.records:  # nothing but the catalog's comparable attributes is kept
        row = TERRAFORM_TYPES[record.raw_type][0] if record.raw_type in TERRAFORM_TYPES else None
        allowed = {c.name for c in row.comparables} if row else set()
        assert set(record.attributes) <= allowed, record.owner.address


def test_sensitive_attributes_are_dropped_even_when_compared():
    queue = {"arn": "arn:aws:sqs:us-east-1:123456789012:q", "id": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
             "name": "q", "visibility_timeout_seconds": 30, "delay_seconds": 0}
    state = _v4([_resource("aws_sqs_queue", "q", [
        {"schema_version": 0, "attributes": queue,
         "sensitive_attributes": [[{"type": "get_attr", "value": "visibility_timeout_seconds"}]]}])])
    (record,) = to_records(parse_state(json.dumps(state), "x.tfstate"), "x.tfstate")
    assert record.attributes == {"delay_seconds": 0}


# ------------------------------------------------------------------------------------------- format 3


def test_v3_fixture_reads_flat_attributes_count_and_nested_modules():
    result = load_terraform_states([str(V3)])
    got = {(r.owner.address, r.type, r.natural_id, r.region, r.account) for r in result.records}
    assert got == {
        ("aws_instance.web[0]", "AWS::EC2::Instance", "i-04c1d7a2e9b3f5a68", "eu-central-1", OTHER_ACCOUNT),
        ("aws_instance.web[1]", "AWS::EC2::Instance", "i-0b8f3d5a7c9e1b246", "eu-central-1", OTHER_ACCOUNT),
        ("aws_s3_bucket.assets", "AWS::S3::Bucket", "acme-web-assets-eu", "eu-central-1", OTHER_ACCOUNT),
        ("aws_security_group.web", "AWS::EC2::SecurityGroup", "sg-0e4a2c6b8d1f3a597", "eu-central-1", OTHER_ACCOUNT),
        ("module.app.module.queues.aws_sqs_queue.this", "AWS::SQS::Queue", "jobs", "eu-central-1", OTHER_ACCOUNT),
    }
    (row,) = result.sources
    assert (row["status"], row["format_version"], row["tool_version"], row["serial"], row["resource_count"]) == (
        "loaded", "3", "0.11.14", 7, 5)
    assert "1 data source instances not read" in row["message"]


def test_v3_attributes_are_unflattened_into_the_v4_shape():
    records = _by_address(load_terraform_states([str(V3)]))
    web = records["aws_instance.web[0]"]
    assert web.tags == {"Name": "web-0", "kubernetes.io/cluster/demo": "owned"}  # a map key with dots and slashes
    assert web.attributes == {"instance_type": "t2.micro", "security_groups": ["sg-0e4a2c6b8d1f3a597"]}
    assert records["aws_s3_bucket.assets"].attributes == {"versioning": True}
    ingress = records["aws_security_group.web"].attributes["ingress"]
    assert sorted((rule["from_port"], rule["self"], tuple(rule["cidr_blocks"])) for rule in ingress) == [
        ("443", False, ("0.0.0.0/0",)), ("80", False, ("0.0.0.0/0",))]
    assert records["aws_security_group.web"].tags == {}


def test_unflatten_maps_lists_sets_and_lists_of_objects():
    flat = {
        "id": "x", "enabled": "true", "count": "3",
        "tags.%": "2", "tags.Name": "a", "tags.kubernetes.io/role/elb": "1",
        "list.#": "2", "list.0": "first", "list.1": "true",
        "empty.#": "0", "empty_map.%": "0",
        "ingress.#": "2",
        "ingress.12345.from_port": "80",
        "ingress.12345.cidr_blocks.#": "1", "ingress.12345.cidr_blocks.0": "1.2.3.4/32",
        "ingress.678.from_port": "443", "ingress.678.cidr_blocks.#": "0",
        "block.#": "1", "block.0.inner.%": "1", "block.0.inner.k": "v",
        "legacy.#": "1", "legacy.what": "0",  # formats 1 and 2 counted map entries with '#'
    }
    assert unflatten(flat) == {
        "id": "x", "enabled": True, "count": "3",
        "tags": {"Name": "a", "kubernetes.io/role/elb": "1"},
        "list": ["first", "true"],
        "empty": [], "empty_map": {},
        "ingress": [{"from_port": "443", "cidr_blocks": []}, {"from_port": "80", "cidr_blocks": ["1.2.3.4/32"]}],
        "block": [{"inner": {"k": "v"}}],
        "legacy": {"what": "0"},
    }


def test_v3_deposed_and_data_are_not_instances():
    state = {"version": 3, "terraform_version": "0.11.8", "serial": 2, "lineage": "l3", "modules": [
        {"path": ["root"], "resources": {
            "aws_instance.a": {"type": "aws_instance", "primary": {"id": "i-1", "attributes": {"id": "i-1"}},
                               "deposed": [{"id": "i-0", "attributes": {"id": "i-0"}}], "provider": "provider.aws"},
            "aws_instance.b": {"type": "aws_instance", "primary": None,
                               "deposed": [{"id": "i-2", "attributes": {"id": "i-2"}}]},
            "data.aws_region.current": {"type": "aws_region", "primary": {"id": "us-east-1", "attributes": {}}},
        }}]}
    parsed = parse_state(json.dumps(state), "s")
    assert [i.address for i in parsed.instances] == ["aws_instance.a"]
    assert (parsed.deposed, parsed.data_sources) == (2, 1)


# ------------------------------------------------------------------------------------------- addresses


def test_addresses_are_spelt_as_terraform_prints_them():
    instance = {"schema_version": 0, "attributes": {"id": "i-1"}}
    state = _v4([
        _resource("aws_instance", "web", [instance], module='module.app["blue"]'),
        _resource("aws_sqs_queue", "q", [{**instance, "index_key": "orders", "attributes": {"id": "u"}}]),
        _resource("aws_subnet", "private", [{**instance, "index_key": 0}], module="module.net"),
        _resource("aws_instance", "legacy", [{**instance, "index_key": "a"}], module="module.m"),
    ])
    state["resources"][3]["each"] = "map"  # 0.12.0 wrote `each`; the address does not change
    parsed = parse_state(json.dumps(state), "s")
    assert [i.address for i in parsed.instances] == [
        'module.app["blue"].aws_instance.web',
        'aws_sqs_queue.q["orders"]',
        "module.net.aws_subnet.private[0]",
        'module.m.aws_instance.legacy["a"]',
    ]
    assert format_index('say "hi"') == '["say \\"hi\\""]'
    assert format_index(None) == ""


def test_provider_references_in_every_spelling():
    assert parse_provider('provider["registry.terraform.io/hashicorp/aws"]', "aws_vpc") == ProviderConfig("aws")
    assert parse_provider('provider["registry.terraform.io/hashicorp/aws"].eu', "aws_vpc") == \
        ProviderConfig("aws", "eu")
    assert parse_provider('module.a["x"].provider["registry.terraform.io/hashicorp/aws"]', "aws_vpc") == \
        ProviderConfig("aws", "", 'module.a["x"]')
    assert parse_provider("provider.aws.west", "aws_vpc") == ProviderConfig("aws", "west")
    assert parse_provider("module.m.provider.aws", "aws_vpc") == ProviderConfig("aws", "", "module.m")
    assert parse_provider("aws.west", "aws_vpc") == ProviderConfig("aws", "west")
    assert parse_provider(None, "google_storage_bucket") == ProviderConfig("google")
    assert parse_provider('provider["registry.opentofu.org/hashicorp/aws"]', "aws_vpc") == ProviderConfig("aws")


# ------------------------------------------------------------------------------------- region, account


def test_region_and_account_come_from_the_resource_then_its_provider_then_the_defaults():
    eu = 'provider["registry.terraform.io/hashicorp/aws"].eu'
    far = 'provider["registry.terraform.io/hashicorp/aws"].far'
    state = _v4([
        _resource("aws_sqs_queue", "q", [{"attributes": {
            "id": "https://sqs.eu-west-1.amazonaws.com/123456789012/q", "name": "q",
            "arn": "arn:aws:sqs:eu-west-1:123456789012:q"}}], provider=eu),
        # no ARN, no region: the `eu` provider's other resources say eu-west-1
        _resource("aws_security_group_rule", "r", [{"attributes": {"id": "sgrule-1", "security_group_id": "sg-1"}}],
                  provider=eu),
        # provider v6 writes `region` on every regional resource
        _resource("aws_cloudwatch_log_group", "g", [{"attributes": {"id": "/app", "name": "/app",
                                                                      "region": "ap-south-1"}}]),
        # nothing known about the `far` provider: the defaults
        _resource("aws_eip", "ip", [{"attributes": {"id": "eipalloc-1", "allocation_id": "eipalloc-1"}}],
                  provider=far),
        # an availability zone (a local zone here) is as good as a region
        _resource("aws_ebs_volume", "v", [{"attributes": {"id": "vol-1", "availability_zone": "us-west-2-lax-1a"}}],
                  provider='provider["registry.terraform.io/hashicorp/aws"].lax'),
        # global ARN of an uncataloged type: global
        _resource("aws_cloudfront_distribution", "cdn", [{"attributes": {
            "id": "E2QWRUHAPOMQZL", "arn": "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL"}}]),
        # IAM is global whatever the provider's region; a bucket keeps its own region
        _resource("aws_iam_user", "u", [{"attributes": {"id": "ci", "name": "ci"}}], provider=eu),
        _resource("aws_s3_bucket", "b", [{"attributes": {"id": "bkt", "bucket": "bkt", "arn": "arn:aws:s3:::bkt",
                                                         "region": "sa-east-1"}}], provider=eu),
    ])
    records = to_records(parse_state(json.dumps(state), "s"), "s", Defaults("999999999999", "us-east-2"))
    got = {r.owner.address: (r.region, r.account) for r in records}
    assert got == {
        "aws_sqs_queue.q": ("eu-west-1", ACCOUNT),
        "aws_security_group_rule.r": ("eu-west-1", ACCOUNT),
        "aws_cloudwatch_log_group.g": ("ap-south-1", ACCOUNT),  # the default provider's CloudFront ARN says
        "aws_eip.ip": ("us-east-2", "999999999999"),
        "aws_ebs_volume.v": ("us-west-2", "999999999999"),
        "aws_cloudfront_distribution.cdn": (GLOBAL, ACCOUNT),
        "aws_iam_user.u": (GLOBAL, ACCOUNT),
        "aws_s3_bucket.b": ("sa-east-1", ACCOUNT),
    }


def test_a_state_with_one_account_lends_it_to_resources_of_any_provider_without_defaults():
    state = _v4([
        _resource("aws_vpc", "v", [{"attributes": {"id": "vpc-1", "owner_id": ACCOUNT}}]),
        _resource("aws_eip", "ip", [{"attributes": {"id": "eipalloc-1", "allocation_id": "eipalloc-1"}}],
                  provider='provider["registry.terraform.io/hashicorp/aws"].other'),
    ])
    records = to_records(parse_state(json.dumps(state), "s"), "s")
    assert {r.owner.address: r.account for r in records} == {"aws_vpc.v": ACCOUNT, "aws_eip.ip": ACCOUNT}


# ----------------------------------------------------------------------------------- what is skipped


def test_bookkeeping_and_other_providers_are_skipped_and_counted():
    state = _v4([
        _resource("google_storage_bucket", "g", [{"attributes": {"id": "g"}}],
                  provider='provider["registry.terraform.io/hashicorp/google"]'),
        _resource("kubernetes_namespace", "n", [{"attributes": {"id": "n"}}],
                  provider='provider["registry.terraform.io/hashicorp/kubernetes"]'),
        _resource("null_resource", "x", [{"attributes": {"id": "1"}}],
                  provider='provider["registry.terraform.io/hashicorp/null"]'),
        _resource("aws_wafv2_web_acl", "acl", [{"attributes": {
            "id": "a1b2", "name": "acl", "arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/acl/a1b2"}}]),
        _resource("aws_instance", "t", [{"status": "tainted", "attributes": {"id": "i-9"}}]),
    ])
    path = "s.tfstate"
    parsed = parse_state(json.dumps(state), path)
    records = to_records(parsed, path)
    assert [(r.owner.address, r.type, r.natural_id, r.arn, r.name) for r in records] == [
        ("aws_wafv2_web_acl.acl", "aws_wafv2_web_acl", "a1b2",
         "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/acl/a1b2", "acl"),
        ("aws_instance.t", "AWS::EC2::Instance", "i-9", None, None),
    ]
    assert records[1].note == "tainted: Terraform will replace it on the next apply"
    assert terraform_state.describe_state(parsed, records) == (
        "5 managed instances, 2 records; 1 bookkeeping skipped (null_resource); "
        "2 not AWS skipped (google_storage_bucket, kubernetes_namespace)")


def test_every_child_type_names_a_parent_attribute():
    for child, (parent_type, attribute) in CHILD_TYPES.items():
        if not child.startswith("aws_") or child in TERRAFORM_TYPES:
            continue
        state = _v4([_resource(child, "c", [{"attributes": {"id": "c-1", attribute: "p-1"}}])])
        (record,) = to_records(parse_state(json.dumps(state), "s"), "s")
        assert (record.type, record.parent) == (child, (parent_type, "p-1"))


# -------------------------------------------------------------------------------------- bad inputs


def test_bad_inputs_are_named_and_never_stop_the_others(tmp_path):
    garbage = tmp_path / "garbage.tfstate"
    garbage.write_text("not json at all\n")
    a_list = _write(tmp_path / "list.tfstate", [])  # type: ignore[arg-type]
    no_version = _write(tmp_path / "noversion.tfstate", {"serial": 1, "resources": []})
    missing = tmp_path / "missing.tfstate"  # a file that cannot be opened: tests/test_inputs.py, as another user
    inputs = [TRUNCATED, VERSION_5, garbage, a_list, no_version, missing, V3]
    result = load_terraform_states([str(p) for p in inputs])

    rows = {row["path"]: row for row in result.sources}
    assert [row["path"] for row in result.sources] == [str(p) for p in inputs]
    assert {path: row["status"] for path, row in rows.items()} == {
        str(TRUNCATED): "error", str(VERSION_5): "refused", str(garbage): "error", str(a_list): "error",
        str(no_version): "error", str(missing): "error", str(V3): "loaded",
    }
    errors = {error.source: error for error in result.errors}
    assert set(errors) == {str(p) for p in inputs if p != V3}
    for source, error in errors.items():
        assert error.message.startswith(source + ": "), error.message
        assert rows[source]["message"] == error.message
    assert errors[str(TRUNCATED)].line == 94
    assert "line 94" in errors[str(TRUNCATED)].message
    assert errors[str(garbage)].line == 1
    assert "unknown state format version 5" in errors[str(VERSION_5)].message
    assert rows[str(VERSION_5)]["format_version"] == "5"
    assert "no format \"version\"" in errors[str(no_version)].message
    assert errors[str(missing)].message.endswith("no such file")
    assert len(result.records) == 5  # the v3 state still loaded


def test_a_truncated_state_reports_the_line_where_the_json_ends(tmp_path):
    text = V4.read_text()
    cut = text[: text.index('"type": "aws_iam_role"')]
    path = tmp_path / "cut.tfstate"
    path.write_text(cut)
    (error,) = load_terraform_states([str(path)]).errors
    assert error.line == cut.count("\n") + 1
    assert str(path) in error.message and f"line {error.line}" in error.message


def test_format_1_and_2_are_refused_with_the_way_to_upgrade(tmp_path):
    for version in (1, 2):
        path = _write(tmp_path / f"v{version}.tfstate", {"version": version, "serial": 1, "modules": [
            {"path": ["root"], "resources": {"aws_instance.a": {"type": "aws_instance", "primary": {"id": "i-1"}}}}]})
        result = load_terraform_states([str(path)])
        (row,), (error,) = result.sources, result.errors
        assert row["status"] == "refused" and row["format_version"] == str(version)
        assert error.message == (
            f"{path}: state format version {version} (Terraform < 0.7) is not supported; upgrade it by running "
            "`terraform plan` with Terraform 0.11, which rewrites it as format 3")
        assert result.records == []


def test_error_messages_never_quote_attribute_values(tmp_path):
    path = tmp_path / "broken.tfstate"
    path.write_text('{"version": 4, "resources": [{"attributes": {"password": "' + PLANTED + '"}, ]}')
    result = load_terraform_states([str(path)])
    assert PLANTED not in repr(result.errors) + repr(result.sources)


# ---------------------------------------------------------------------------------- lineage, walking


def _copy_with_serial(source: Path, target: Path, serial: int, drop_last: bool = False) -> Path:
    document = json.loads(source.read_text())
    document["serial"] = serial
    if drop_last:
        document["resources"] = document["resources"][:-1]
    return _write(target, document)


def test_an_older_copy_of_the_same_lineage_is_superseded(tmp_path):
    old = _copy_with_serial(V4, tmp_path / "old.tfstate", 41, drop_last=True)
    new = _copy_with_serial(V4, tmp_path / "new.tfstate", 42)
    result = load_terraform_states([str(old), str(new)])
    statuses = {row["path"]: (row["status"], row["message"], row["superseded_by"]) for row in result.sources}
    assert statuses[str(new)][0::2] == ("loaded", None)
    assert statuses[str(old)] == (
        "superseded",
        f"superseded by {new}: same lineage 3f6a1c52-9d0e-4b7a-8c21-5e4d7b9a0f13, older serial 41 < 42",
        str(new),
    )
    addresses = [r.owner.address for r in result.records]
    assert len(addresses) == len(set(addresses)) == 14
    assert {r.owner.source for r in result.records} == {str(new)}


def test_two_copies_with_one_serial_count_once(tmp_path):
    first = shutil.copy(V4, tmp_path / "a.tfstate")
    second = shutil.copy(V4, tmp_path / "b.tfstate")
    result = load_terraform_states([str(first), str(second), str(first)])
    assert [(row["status"], row["superseded_by"]) for row in result.sources] == [
        ("loaded", None), ("superseded", str(first)), ("superseded", str(first))]
    assert result.sources[1]["message"].startswith(f"a copy of {first}")
    assert result.sources[2]["message"] == f"the same file as {first}, already read"
    assert len(result.records) == 14 and result.errors == []


def test_every_side_of_a_forked_state_is_read_each_naming_the_other(tmp_path):
    first = _copy_with_serial(V4, tmp_path / "a.tfstate", 42)
    fork = _copy_with_serial(V4, tmp_path / "b.tfstate", 42, drop_last=True)
    copy_of_fork = shutil.copy(fork, tmp_path / "c.tfstate")
    older = _copy_with_serial(V4, tmp_path / "d.tfstate", 41)
    result = load_terraform_states([str(first), str(fork), str(copy_of_fork), str(older)])
    assert [(row["status"], row["superseded_by"]) for row in result.sources] == [
        ("loaded", None), ("loaded", None), ("superseded", str(fork)), ("superseded", str(first))]
    lineage = "3f6a1c52-9d0e-4b7a-8c21-5e4d7b9a0f13"
    assert [(w.source, w.kind, w.message) for w in result.errors] == [
        (str(side), "warning", f"{side}: forked state: {other} has the same lineage {lineage} and serial 42 but "
                               "different resources; all are read, so a resource in more than one has two owners")
        for side, other in ((first, fork), (fork, first))
    ]
    assert result.sources[1]["message"].endswith(f"forked state: {first} has the same lineage {lineage} and serial "
                                                 "42 but different resources; all are read, so a resource in more "
                                                 "than one has two owners")
    assert {r.owner.source for r in result.records} == {str(first), str(fork)}
    assert len(result.records) == 14 + 13


def test_every_source_row_says_what_superseded_it_or_none(tmp_path):
    garbage = tmp_path / "garbage.tfstate"
    garbage.write_text("{")
    result = load_terraform_states([str(V4), str(garbage), str(tmp_path / "nothing-*.tfstate")])
    assert [(row["status"], row["superseded_by"]) for row in result.sources] == [
        ("loaded", None), ("error", None), ("error", None)]


def test_a_directory_is_walked_and_backups_are_left_out(tmp_path):
    shutil.copy(V4, tmp_path / "terraform.tfstate")
    _copy_with_serial(V4, tmp_path / "terraform.tfstate.backup", 43)  # newer, to prove it is not even read
    (tmp_path / "envs" / "prod").mkdir(parents=True)
    shutil.copy(V3, tmp_path / "envs" / "prod" / "state.tfstate.json")
    (tmp_path / "notes.txt").write_text("not a state")
    (tmp_path / ".terraform").mkdir()
    shutil.copy(V3, tmp_path / ".terraform" / "terraform.tfstate")  # the backend's cache
    result = load_terraform_states([str(tmp_path)])
    # a directory's own files come before its subdirectories
    assert [(row["path"], row["status"]) for row in result.sources] == [
        (str(tmp_path / "terraform.tfstate"), "loaded"),
        (str(tmp_path / "envs" / "prod" / "state.tfstate.json"), "loaded"),
    ]
    named = load_terraform_states([str(tmp_path / "terraform.tfstate.backup")])
    assert named.sources[0]["status"] == "loaded" and named.sources[0]["serial"] == 43


def test_glob_patterns_and_empty_locations(tmp_path):
    shutil.copy(V4, tmp_path / "a.tfstate")
    shutil.copy(V3, tmp_path / "b.tfstate")
    result = load_terraform_states([str(tmp_path / "*.tfstate"), str(tmp_path / "nothing-*.tfstate")])
    assert [row["status"] for row in result.sources] == ["loaded", "loaded", "error"]
    assert result.errors[0].message == f"{tmp_path / 'nothing-*.tfstate'}: no file matches this pattern"
    empty = tmp_path / "empty"
    empty.mkdir()
    (row,) = load_terraform_states([str(empty)]).sources
    assert row["status"] == "error" and "no *.tfstate" in row["message"]


def test_s3_needs_a_session():
    result = load_terraform_states(["s3://states/prod/"])
    assert result.sources[0]["status"] == "error"
    assert result.errors[0].message == "s3://states/prod/: reading state from S3 needs an AWS session"


def test_s3_prefix_is_listed_and_each_state_fetched(aws):
    """Through the real boto3 path against the moto server (the `aws` fixture points the standard chain at it)."""
    import boto3

    from scanner.clients import AwsSession

    s3 = boto3.client("s3", region_name="us-east-1")  # setup writes bypass the read-only session on purpose
    s3.create_bucket(Bucket="states")
    s3.put_object(Bucket="states", Key="prod/network.tfstate", Body=V4.read_bytes())
    s3.put_object(Bucket="states", Key="prod/legacy.json", Body=V3.read_bytes())
    s3.put_object(Bucket="states", Key="prod/network.tfstate.backup", Body=V4.read_bytes())
    s3.put_object(Bucket="states", Key="prod/README.md", Body=b"# states")
    result = load_terraform_states(["s3://states/prod/", "s3://missing-bucket/x"],
                                   session=AwsSession(default_region="us-east-1"))
    assert [(row["path"], row["status"]) for row in result.sources] == [
        ("s3://states/prod/legacy.json", "loaded"),
        ("s3://states/prod/network.tfstate", "loaded"),
        ("s3://states/prod/", "skipped"),  # the backup and the README, counted
        ("s3://missing-bucket/x", "error"),
    ]
    assert result.sources[2]["message"] == "s3://states/prod/: skipped 2 objects not named like a state (.backup, .md)"
    assert {r.owner.source for r in result.records} == {"s3://states/prod/legacy.json",
                                                        "s3://states/prod/network.tfstate"}
    (error,) = result.errors
    assert error.code == "NoSuchBucket" and error.message.startswith("s3://missing-bucket/x: ")


@pytest.fixture()
def recorded_aws(tmp_path, monkeypatch):
    """A moto server of this test's own whose recorder logs every request it serves: what reached S3 is read
    from the server's side, not from a wrapper around our code."""
    from driftgraph.demo import moto_server

    log = tmp_path / "requests.jsonl"
    with moto_server(env={"MOTO_RECORDER_FILEPATH": str(log)}) as endpoint:
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        for key, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}.items():
            monkeypatch.setenv(key, value)
        yield endpoint, log


def _recorded(endpoint: str, log: Path, action):
    """Run `action` with moto's recorder on; the (method, key, Range header) of every request it made."""
    import requests

    requests.post(f"{endpoint}/moto-api/recorder/start-recording", timeout=30)
    try:
        result = action()
    finally:
        requests.post(f"{endpoint}/moto-api/recorder/stop-recording", timeout=30)
    calls = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        parsed = urllib.parse.urlsplit(entry["url"])
        key = urllib.parse.unquote(parsed.path).partition("/states/")[2]  # path-style: /states/<key>
        calls.append((entry["method"], key if "list-type=2" not in parsed.query else "(list)",
                      entry["headers"].get("Range")))
    return result, calls


def test_s3_reads_states_and_skips_other_json_after_a_ranged_read(recorded_aws):
    import boto3

    from scanner.clients import AwsSession

    endpoint, log = recorded_aws
    s3 = boto3.client("s3", region_name="us-east-1")  # setup writes bypass the read-only session on purpose
    s3.create_bucket(Bucket="states")
    s3.put_object(Bucket="states", Key="prod/network.tfstate", Body=V4.read_bytes())
    s3.put_object(Bucket="states", Key="prod/legacy.json", Body=V3.read_bytes())  # a state, 15 KB
    workspace = json.loads(V4.read_text()) | {"lineage": "99999999-2222-3333-4444-555555555555"}
    s3.put_object(Bucket="states", Key="env:/staging/prod/app", Body=json.dumps(workspace).encode())
    s3.put_object(Bucket="states", Key="prod/huge.tfstate", Body=b" " * 40_000)  # over the cap given below
    s3.put_object(Bucket="states", Key="prod/empty.json", Body=b"")
    s3.put_object(Bucket="states", Key="prod/README.md", Body=b"# states")
    s3.put_object(Bucket="states", Key="prod/notes.txt", Body=b"version 4")
    s3.put_object(Bucket="states", Key="prod/network.tfstate.tflock", Body=b'{"ID": "lock"}')  # the S3 lock file
    plan = {"format_version": "1.2", "terraform_version": "1.9.8", "planned_values": {"padding": "x" * 6000}}
    others = [f"prod/plans/plan-{n:03}.json" for n in range(150)] + [f"prod/exports/{n:03}.json" for n in range(50)]
    for n, key in enumerate(others):  # each larger than the ranged read, so a whole GET would show
        body = plan if n < 150 else list(range(2000))
        s3.put_object(Bucket="states", Key=key, Body=json.dumps(body).encode())

    result, calls = _recorded(endpoint, log, lambda: load_terraform_states(
        ["s3://states/prod/", "s3://states/env:/"], session=AwsSession(default_region="us-east-1"),
        max_bytes=32_000))

    assert [(row["path"], row["status"]) for row in result.sources] == [
        ("s3://states/prod/huge.tfstate", "refused"),
        ("s3://states/prod/legacy.json", "loaded"),
        ("s3://states/prod/network.tfstate", "loaded"),
        ("s3://states/prod/", "skipped"),
        ("s3://states/env:/staging/prod/app", "loaded"),
    ]
    assert result.sources[3]["message"] == (
        "s3://states/prod/: skipped 204 objects: 200 whose first bytes are not a Terraform state, 1 of no bytes "
        "(an empty file or a folder marker), 3 not named like a state (.md, .tflock, .txt)")
    (refusal,) = result.errors
    assert refusal.message == ("s3://states/prod/huge.tfstate: 40,000 bytes, over the 32,000 bytes limit for one "
                               "input file; not read (raise the limit with --max-input-mb)")
    assert {r.owner.source for r in result.records} == {
        "s3://states/prod/legacy.json", "s3://states/prod/network.tfstate", "s3://states/env:/staging/prod/app"}

    # ListObjectsV2 and GetObject only; the other JSON got one ranged GetObject each; the refused, the empty, the
    # README, the notes and the lock file were never fetched
    ranged = ("GET", "bytes=0-4095")
    assert {method for method, _, _ in calls} == {"GET"}
    assert [call for call in calls if call[1] == "(list)"] == [("GET", "(list)", None)] * 2
    assert sorted((key, (method, rng or "")) for method, key, rng in calls if key != "(list)") == sorted(
        [(key, ranged) for key in others]
        + [("prod/legacy.json", ranged), ("prod/legacy.json", ("GET", "")),
           ("prod/network.tfstate", ("GET", "")),
           ("env:/staging/prod/app", ranged), ("env:/staging/prod/app", ("GET", ""))]
    )


def test_s3_prefix_without_a_state_is_one_error_not_one_per_object(aws):
    import boto3

    from scanner.clients import AwsSession

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="no-states")
    for n in range(20):
        s3.put_object(Bucket="no-states", Key=f"exports/{n}.json", Body=b'{"version": "x"}')
    result = load_terraform_states(["s3://no-states/exports/"], session=AwsSession(default_region="us-east-1"))
    assert [(row["path"], row["status"], row["message"]) for row in result.sources] == [
        ("s3://no-states/exports/", "error", "s3://no-states/exports/: no Terraform state under this prefix "
                                             "(20 objects whose first bytes are not a Terraform state)")]
    assert len(result.errors) == 1


def test_looks_like_state_reads_the_first_keys_terraform_writes():
    from importers.terraform_state import looks_like_state

    assert looks_like_state(V4.read_bytes()[:4096]) and looks_like_state(V3.read_bytes()[:4096])
    assert looks_like_state(b'\xef\xbb\xbf {"lineage": "x", "outputs": {}, "serial": 3')  # keys sorted by a tool
    assert not looks_like_state(b'{"format_version": "1.2", "terraform_version": "1.9.8", "planned_values": {')
    assert not looks_like_state(b'[{"version": 4, "serial": 1}]')
    assert not looks_like_state(b'{"name": "package", "version": "1.0.0"}')


# ------------------------------------------------------------------------------------ malformed states


MALFORMED_V4 = [
    (lambda d: d.update(resources={"a": 1}), 'the state: "resources" is an object, not a list'),
    (lambda d: d["resources"].insert(0, "aws_instance.web"), "resources[0] is a string, not an object"),
    (lambda d: d["resources"][2].update(instances=5),
     'resources[2] (aws_db_instance.orders): "instances" is a number, not a list'),
    (lambda d: d["resources"][2].pop("instances") and d["resources"][2].update(instances={"0": {}}),
     'resources[2] (aws_db_instance.orders): "instances" is an object, not a list'),
    (lambda d: d["resources"][2]["instances"].append([1]),
     "resources[2] (aws_db_instance.orders), instances[1] is a list, not an object"),
    (lambda d: d["resources"][2]["instances"][0].update(attributes=["secret"]),
     'resources[2] (aws_db_instance.orders), instances[0] (aws_db_instance.orders): "attributes" is a list, '
     "not an object"),
    (lambda d: d["resources"][2]["instances"][0].pop("attributes"),
     'resources[2] (aws_db_instance.orders), instances[0] (aws_db_instance.orders): no "attributes" '
     '(nor "attributes_flat")'),
    (lambda d: d["resources"][5]["instances"][1].update(index_key={"k": 1}),
     'resources[5] (aws_instance.web), instances[1]: "index_key" is an object, not a string or an integer'),
    (lambda d: d["resources"][2].update(type=7), 'resources[2]: "type" is a number, not a string'),
    (lambda d: d["resources"][2].pop("name"), "resources[2]: no name"),
    (lambda d: d["resources"][2].update(module=["m"]), 'resources[2]: "module" is a list, not a string'),
    (lambda d: d["resources"][2].update(mode="manged"),
     "resources[2] (aws_db_instance.orders): unknown mode 'manged' (Terraform writes managed or data)"),
    (lambda d: d["resources"][2]["instances"][0].update(sensitive_attributes="password"),
     'instances[0] (aws_db_instance.orders): "sensitive_attributes" is a string, not a list'),
]

MALFORMED_V3 = [
    (lambda d: d["modules"][0].update(path="root"), 'modules[0]: "path" is a string, not a list'),
    (lambda d: d["modules"][0].update(path=["root", 5]),
     'modules[0]: "path" holds something other than module names (strings)'),
    (lambda d: d["modules"].append(None), "modules[2] is null, not an object"),
    (lambda d: d["modules"][0].update(resources=[]), 'modules[0] (root): "resources" is a list, not an object'),
    (lambda d: d["modules"][0]["resources"].update({"aws_instance.x": "i-123"}),
     "modules[0] (root), resource aws_instance.x is a string, not an object"),
    (lambda d: d["modules"][0]["resources"]["aws_security_group.web"]["primary"].update(attributes=[PLANTED]),
     'modules[0] (root), resource aws_security_group.web, primary: "attributes" is a list, not an object'),
    (lambda d: d["modules"][0]["resources"]["aws_security_group.web"].update(deposed={"a": 1}),
     'modules[0] (root), resource aws_security_group.web: "deposed" is an object, not a list'),
]


@pytest.mark.parametrize("mutate, expected", MALFORMED_V4 + MALFORMED_V3, ids=lambda v: v if isinstance(v, str) else "")
def test_malformed_states_say_what_is_wrong_and_where(tmp_path, mutate, expected):
    source = V4 if (mutate, expected) in MALFORMED_V4 else V3
    document = json.loads(source.read_text())
    mutate(document)
    path = _write(tmp_path / "malformed.tfstate", document)
    result = load_terraform_states([str(path), str(V3 if source == V4 else V4)])
    assert [row["status"] for row in result.sources] == ["error", "loaded"]
    (error,) = result.errors
    assert error.message.startswith(f"{path}: ") and expected in error.message, error.message
    assert not re.search(r"[A-Z][a-z]+Error|unexpected", error.message)
    assert PLANTED not in error.message


def _replacements(node, path=()):
    """Every (path, other JSON value) that swaps one node of a document for a value of another type; inside
    `attributes`, only the attributes themselves (what lies deeper is a value, opaque to the parser)."""
    for other in (None, 0, "x", [], {}, [None]):
        if type(other) is not type(node) or other == [None]:
            yield path, other
    if len(path) >= 2 and path[-2] in ("attributes", "attributes_flat"):
        return
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _replacements(child, (*path, key))


def _replaced(document, path, value):
    document = json.loads(json.dumps(document))
    if not path:
        return value
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize("fixture", [V4, V3], ids=lambda p: p.name)
def test_no_malformed_state_escapes_as_an_exception_or_an_exception_name(tmp_path, fixture):
    """Each node of a real state replaced by each other JSON type: every variant loads or is one named error."""
    base = json.loads(fixture.read_text())
    base_records = len(load_terraform_states([str(fixture)]).records)
    target = tmp_path / "variant.tfstate"
    count = 0
    for path, value in _replacements(base):
        target.write_bytes(json.dumps(_replaced(base, path, value)).encode())
        result = load_terraform_states([str(target)])
        (row,) = result.sources
        count += 1
        assert row["status"] in ("loaded", "error", "refused"), (path, value, row)
        for message in [row["message"] or ""] + [e.message for e in result.errors]:
            assert not re.search(r"\b[A-Z][A-Za-z]*(Error|Exception)\b", message), (path, value, message)
        if row["status"] == "loaded" and value not in ([], None):
            # a variant that loads kept every resource: a structure it cannot read is an error, never a silent
            # loss (an empty or null list of instances, or a null primary object, rightly has none)
            assert len(result.records) >= base_records, (path, value)
    assert count > 1000


# ------------------------------------------------------------------------------------------ corpus


def _corpus_files() -> list[Path]:
    return sorted(CORPUS_STATES.glob("*")) if CORPUS_STATES.is_dir() else []


def _independent_count(document: dict) -> dict[str, int]:
    """Instances straight from the raw JSON, without the importer's code."""
    if document.get("version") == 4:
        resources = document.get("resources") or []
        managed = sum(1 for r in resources if r["mode"] == "managed" for i in r["instances"] if not i.get("deposed"))
        deposed = sum(1 for r in resources for i in r["instances"] if i.get("deposed"))
        data = sum(len(r["instances"]) for r in resources if r["mode"] == "data")
    else:
        resources = [(key, r) for m in document["modules"] for key, r in m["resources"].items()]
        managed = sum(1 for key, r in resources if not key.startswith("data.") and r.get("primary"))
        deposed = sum(len(r.get("deposed") or []) for key, r in resources if not key.startswith("data."))
        data = sum(1 for key, _ in resources if key.startswith("data."))
    return {"managed": managed, "deposed": deposed, "data": data}


def _readme_instances() -> dict[str, int]:
    """The `instances` column of the corpus README's tfstate table: every instance object in the file,
    managed, data source and deposed alike (checked below: it is the sum of the three)."""
    text = (CORPUS / "README.md").read_text()
    section = text[text.index("## tfstate/"): text.index("## hcl/")]
    counts = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0].startswith("`") and cells[4].isdigit():
            counts[cells[0].strip("`")] = int(cells[4])
    return counts


corpus = pytest.mark.corpus


@corpus
@pytest.mark.parametrize("path", _corpus_files() or [None], ids=lambda p: p.name if p else "absent")
def test_every_corpus_state_loads_with_its_instances_or_is_refused_for_a_reason(path):
    if path is None:
        pytest.skip(f"the third-party corpus is not here ({CORPUS_STATES}); it lives outside the repo")
    document = json.loads(path.read_text())
    expected = _independent_count(document)
    readme = _readme_instances()
    assert path.name in readme, "every corpus state is in the README table"
    assert readme[path.name] == expected["managed"] + expected["deposed"] + expected["data"]

    result = load_terraform_states([str(path)])
    (row,) = result.sources
    if document.get("version") == 1:
        (error,) = result.errors
        assert row["status"] == "refused" and result.records == []
        assert "state format version 1 (Terraform < 0.7) is not supported" in error.message
        assert "terraform plan" in error.message and str(path) in error.message
        return
    assert row["status"] == "loaded", row["message"]
    assert row["resource_count"] == expected["managed"]
    parsed = parse_state(path.read_bytes(), str(path))
    assert (parsed.deposed, parsed.data_sources) == (expected["deposed"], expected["data"])
    skipped = sum(1 for i in parsed.instances if terraform_state.classify(i) in ("bookkeeping", "not_aws"))
    assert len(result.records) == expected["managed"] - skipped
    for record in result.records:
        assert record.owner.source == str(path) and record.natural_id, record
        assert re.fullmatch(r"(module\.[^.]+(\[[^\]]+\])?\.)*aws_\w+\.[\w-]+(\[(\d+|\".*\")\])?", record.owner.address)


def _sensitive_values(document: dict) -> set[str]:
    values = set()
    for resource in document.get("resources") or []:
        for instance in resource.get("instances") or []:
            for path in instance.get("sensitive_attributes") or []:
                step = path[0] if isinstance(path, list) and path else path
                value = (instance.get("attributes") or {}).get(step.get("value")) if isinstance(step, dict) else None
                if isinstance(value, str) and len(value) >= 8:
                    values.add(value)
    return values


@corpus
def test_corpus_secrets_never_reach_a_record():
    files = _corpus_files()
    if not files:
        pytest.skip(f"the third-party corpus is not here ({CORPUS_STATES})")
    secrets = set()
    for path in files:
        secrets |= _sensitive_values(json.loads(path.read_text()))
    assert secrets, "the corpus holds sensitive values (1ucra's SSM parameters)"
    result = load_terraform_states([str(p) for p in files])
    everything = repr(result.records) + repr(result.sources) + repr(result.errors)
    assert [s for s in secrets if s in everything] == []


@corpus
def test_the_whole_corpus_in_one_call_counts_each_lineage_once_but_reads_a_fork():
    files = _corpus_files()
    if not files:
        pytest.skip(f"the third-party corpus is not here ({CORPUS_STATES})")
    result = load_terraform_states([str(p) for p in files])
    rows = {Path(row["path"]).name: row for row in result.sources}
    loaded_lineages = [row["lineage"] for row in result.sources if row["status"] == "loaded"]
    # the robmetrics backup has the live state's lineage and serial but one resource more: a fork, both read
    live, backup = (str(CORPUS_STATES / f"1robroos__eks-robmetrics__terraform.tfstate{end}") for end in ("", ".backup"))
    assert rows[Path(live).name]["status"] == rows[Path(backup).name]["status"] == "loaded"
    forked = {w.source for w in result.errors if w.kind == "warning" and "forked state" in w.message}
    assert {live, backup} <= forked
    # (driftctl's and tfstate-lookup's fixtures reuse lineages too.) A lineage loaded twice is always a fork, said so
    twice = {lineage for lineage in loaded_lineages if loaded_lineages.count(lineage) > 1}
    assert forked == {row["path"] for row in result.sources if row["status"] == "loaded" and row["lineage"] in twice}
    # the 1ucra backup is older (serial 15666 < 21492)
    assert rows["1ucra__3tierSIEMterraform__terraform.tfstate.backup"]["message"].startswith(
        "superseded by " + str(CORPUS_STATES / "1ucra__3tierSIEMterraform__terraform.tfstate"))
    owners = [(r.owner.source, r.owner.address) for r in result.records]
    assert len(owners) == len(set(owners))


def test_an_rds_instance_is_named_by_its_identifier_not_its_database_name():
    state = _v4([_resource("aws_db_instance", "orders", [{"attributes": {
        "id": "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "identifier": "orders-db", "name": "orders", "db_name": "orders",
        "arn": "arn:aws:rds:us-east-1:123456789012:db:orders-db", "instance_class": "db.t3.micro"}}])])
    (record,) = to_records(parse_state(json.dumps(state), "s"), "s")
    assert (record.natural_id, record.name) == ("orders-db", "orders-db")


def test_region_evidence_beyond_the_arn_and_none_when_nothing_says(tmp_path):
    """A provider-5 EIP has no ARN but its network border group; a NAT gateway has no region field at all: with no
    default region given, the one is placed by its evidence and the other left without a region (never guessed)."""
    state = _v4([
        _resource("aws_eip", "ip", [{"attributes": {
            "id": "eipalloc-0a1b2c3d4e5f60718", "allocation_id": "eipalloc-0a1b2c3d4e5f60718", "arn": None,
            "domain": "vpc", "network_border_group": "eu-west-1", "public_ip": "52.1.2.3"}}],
            provider='provider["registry.terraform.io/hashicorp/aws"].eip'),
        _resource("aws_nat_gateway", "nat", [{"attributes": {
            "id": "nat-0a1b2c3d4e5f60718", "allocation_id": "eipalloc-1", "subnet_id": "subnet-1",
            "network_interface_id": "eni-1", "private_ip": "10.0.0.5"}}],
            provider='provider["registry.terraform.io/hashicorp/aws"].nat'),
        # a global type needs no region evidence
        _resource("aws_iam_role", "r", [{"attributes": {"id": "app", "name": "app"}}],
                  provider='provider["registry.terraform.io/hashicorp/aws"].nat'),
    ])
    path = _write(tmp_path / "s.tfstate", state)
    records = _by_address(load_terraform_states([str(path)], default_region=None))
    assert {address: record.region for address, record in records.items()} == {
        "aws_eip.ip": "eu-west-1", "aws_nat_gateway.nat": None, "aws_iam_role.r": GLOBAL}


@pytest.mark.parametrize("attributes, region", [
    ({"public_dns": "ec2-52-1-2-3.eu-west-2.compute.amazonaws.com"}, "eu-west-2"),
    ({"public_dns": "ec2-52-1-2-3.compute-1.amazonaws.com"}, "us-east-1"),  # us-east-1's own spelling
    ({"private_dns": "ip-10-0-0-5.ap-south-1.compute.internal"}, "ap-south-1"),
    ({"private_dns": "ip-10-0-0-5.ec2.internal"}, "us-east-1"),
    ({"private_dns": "i-0a1b2c3d4e5f60718.us-west-2.compute.internal"}, "us-west-2"),  # resource-name hostnames
    ({"public_dns": "ec2-52-1-2-3.cn-north-1.compute.amazonaws.com.cn"}, "cn-north-1"),
    ({"dns_name": "internal-app-1234567890.eu-central-1.elb.amazonaws.com"}, "eu-central-1"),
    ({"dns_name": "net-0a1b2c3d4e5f6071.elb.us-west-2.amazonaws.com"}, "us-west-2"),
    ({"endpoint": "orders.c1a2b3c4d5e6.sa-east-1.rds.amazonaws.com:5432"}, "sa-east-1"),
    ({"invoke_url": "https://a1b2c3d4e5.execute-api.ca-central-1.amazonaws.com/prod"}, "ca-central-1"),
    ({"network_border_group": "us-west-2-lax-1"}, "us-west-2"),  # a local zone's group
    ({"network_border_group": "us-east-1-wl1-bos-wlz-1"}, "us-east-1"),  # a Wavelength zone's group
    ({"identity": None, "public_dns": ""}, None),
    # not AWS's hostnames, or not the region's name: no evidence
    ({"dns_name": "eu-west-1.example.com"}, None),
    ({"public_dns": "ec2-52-1-2-3.eu-west-1.compute.amazonaws.com.evil.example"}, None),
    ({"endpoint": "orders.abc123.cfg.euw1.cache.amazonaws.com"}, None),
    ({"address": "10.0.0.5"}, None),
])
def test_a_resource_is_placed_by_its_own_regional_hostnames(attributes, region):
    state = _v4([_resource("aws_network_interface", "x", [{"attributes": {"id": "eni-1", **attributes}}])])
    (record,) = to_records(parse_state(json.dumps(state), "s"), "s")
    assert record.region == region


def test_provider_6_resource_identity_places_a_resource():
    state = _v4([_resource("aws_nat_gateway", "nat", [{
        "attributes": {"id": "nat-1"}, "identity_schema_version": 0,
        "identity": {"account_id": OTHER_ACCOUNT, "region": "ap-northeast-2", "id": "nat-1"}}])])
    (record,) = to_records(parse_state(json.dumps(state), "s"), "s")
    assert (record.region, record.account) == ("ap-northeast-2", OTHER_ACCOUNT)


# ------------------------------------------------------------------------------------------- secrets


SENSITIVE_TAG = "SENSITIVETAGVALUE30"


def _owner_tag_state(sensitive: list, extra: dict | None = None, **instance) -> dict:
    queue = {"arn": "arn:aws:sqs:us-east-1:123456789012:q", "id": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
             "name": "q", "delay_seconds": 0, "tags": {"Owner": SENSITIVE_TAG, "team": "orders"},
             "tags_all": {"Owner": SENSITIVE_TAG, "team": "orders", "env": "prod"}, **(extra or {})}
    return _v4([_resource("aws_sqs_queue", "q", [{"attributes": queue, "sensitive_attributes": sensitive,
                                                   **instance}])])


def _everything(result) -> str:
    return repr(result.records) + repr(result.sources) + repr(result.errors)


@pytest.mark.parametrize("sensitive, instance, tags", [
    # a key of `tags` marked sensitive is dropped from `tags_all` too, and only that key
    ([[{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "Owner", "type": "string"}}]], {},
     {"team": "orders", "env": "prod"}),
    # and a key of `tags_all` from `tags`
    ([[{"type": "get_attr", "value": "tags_all"}, {"type": "index", "value": {"value": "Owner", "type": "string"}}]],
     {}, {"team": "orders", "env": "prod"}),
    # the whole of `tags`: both go
    ([[{"type": "get_attr", "value": "tags"}]], {}, None),
    # a bare step, a bare name, a step whose index value is not wrapped: all understood
    ([{"type": "get_attr", "value": "tags"}], {}, None),
    (["tags"], {}, None),
    ([[{"type": "get_attr", "value": "tags"}, {"type": "index", "value": "Owner"}]], {},
     {"team": "orders", "env": "prod"}),
    # a step we cannot read: what the path leads to goes whole
    ([[{"type": "get_attr", "value": "tags"}, {"type": "splat"}]], {}, None),
    # `sensitive_values` (as `terraform show -json` marks values) is honoured too
    ([], {"sensitive_values": {"tags": {"Owner": True}, "tags_all": {}}}, {"team": "orders", "env": "prod"}),
])
def test_a_sensitive_tag_reaches_no_record(tmp_path, sensitive, instance, tags):
    path = _write(tmp_path / "s.tfstate", _owner_tag_state(sensitive, **instance))
    result = load_terraform_states([str(path)])
    (record,) = result.records
    assert SENSITIVE_TAG not in _everything(result)
    assert record.tags == tags
    assert record.natural_id == "q"


def test_a_sensitive_name_tag_names_nothing(tmp_path):
    sensitive = [[{"type": "get_attr", "value": "tags"},
                  {"type": "index", "value": {"value": "Name", "type": "string"}}]]
    state = _v4([_resource("aws_instance", "web", [{"attributes": {
        "id": "i-1", "tags": {"Name": SENSITIVE_TAG}, "tags_all": {"Name": SENSITIVE_TAG}},
        "sensitive_attributes": sensitive}])])
    result = load_terraform_states([str(_write(tmp_path / "s.tfstate", state))])
    (record,) = result.records
    assert SENSITIVE_TAG not in _everything(result)
    assert (record.name, record.tags) == (None, {})


def test_a_sensitive_part_of_a_list_drops_the_whole_attribute():
    ingress = [{"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"],
                "description": SENSITIVE_TAG}]
    state = _v4([_resource("aws_security_group", "web", [{"attributes": {
        "id": "sg-1", "name": "web", "description": "web tier", "ingress": ingress, "egress": []},
        "sensitive_attributes": [[{"type": "get_attr", "value": "ingress"},
                                  {"type": "index", "value": {"value": 0, "type": "number"}},
                                  {"type": "get_attr", "value": "description"}]]}])])
    (record,) = to_records(parse_state(json.dumps(state), "s"), "s")
    assert SENSITIVE_TAG not in repr(record)
    assert "ingress" not in record.attributes and record.attributes["description"] == "web tier"


ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
APPSYNC_KEY = "da2-abcdefghijklmnopqrstuvwxyz"


def test_identifiers_that_are_credentials_reach_no_record(tmp_path):
    state = _v4([
        _resource("aws_iam_access_key", "ci", [{"attributes": {
            "id": ACCESS_KEY_ID, "user": "ci", "status": "Active", "secret": PLANTED, "create_date": "2024-01-02"}}]),
        _resource("aws_appsync_api_key", "web", [{"attributes": {
            "id": f"abcdefgh:{APPSYNC_KEY}", "api_id": "abcdefgh", "key": APPSYNC_KEY, "description": "web"}}]),
        _resource("aws_iam_service_specific_credential", "git", [{"attributes": {
            "id": "codecommit.amazonaws.com:ci:ACCAEXAMPLE123EXAMPLE", "user_name": "ci",
            "service_name": "codecommit.amazonaws.com", "service_specific_credential_id": "ACCAEXAMPLE123EXAMPLE",
            "service_user_name": "ci-at-123456789012", "service_password": PLANTED}}]),
        _resource("aws_codepipeline_webhook", "hook", [{"attributes": {
            "id": "arn:aws:codepipeline:us-east-1:123456789012:webhook:hook", "name": "hook",
            "arn": "arn:aws:codepipeline:us-east-1:123456789012:webhook:hook",
            "url": "https://us-east-1.webhooks.aws/trigger?t=SECRETWEBHOOKTOKEN&v=1"}}]),
    ])
    path = _write(tmp_path / "keys.tfstate", state)
    result = load_terraform_states([str(path)])
    everything = _everything(result)
    for secret in (ACCESS_KEY_ID, APPSYNC_KEY, "ACCAEXAMPLE123EXAMPLE", "SECRETWEBHOOKTOKEN", PLANTED):
        assert secret not in everything, secret
    records = _by_address(result)
    assert {address: (r.natural_id, r.name, r.aliases) for address, r in records.items()} == {
        "aws_iam_access_key.ci": (f"{path}#aws_iam_access_key.ci", None, ()),
        "aws_appsync_api_key.web": (f"{path}#aws_appsync_api_key.web", None, ()),
        "aws_iam_service_specific_credential.git": (f"{path}#aws_iam_service_specific_credential.git", None, ()),
        # the webhook keeps its ARN: only the URL holds its token
        "aws_codepipeline_webhook.hook": (
            "arn:aws:codepipeline:us-east-1:123456789012:webhook:hook", "hook", ("hook",)),
    }
    assert records["aws_iam_access_key.ci"].parent == ("AWS::IAM::User", "ci")


# ---------------------------------------------------------------------------------- hostile shapes


def _nested(depth: int) -> dict:
    value: dict = {"leaf": "x"}
    for _ in range(depth):
        value = {"inner": value}
    return value


def test_a_deeply_nested_state_loads(tmp_path):
    # ~260 levels: within what the JSON reader takes, deeper than its writer, which the digest used
    state = _v4([_resource("aws_sqs_queue", "q", [{"attributes": {
        "id": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "name": "q",
        "redrive_policy_doc": _nested(260)}}])])
    path = _write(tmp_path / "deep.tfstate", state)
    result = load_terraform_states([str(path)])
    (row,) = result.sources
    assert row["status"] == "loaded", row["message"]
    assert [r.natural_id for r in result.records] == ["q"]
    # a copy is still told from a fork by its contents
    copy = shutil.copy(path, tmp_path / "copy.tfstate")
    other = _write(tmp_path / "other.tfstate", _v4(state["resources"] + [
        _resource("aws_sqs_queue", "r", [{"attributes": {"id": "r", "redrive_policy_doc": _nested(300)}}])]))
    rows = load_terraform_states([str(path), str(copy), str(other)]).sources
    assert [row["status"] for row in rows] == ["loaded", "superseded", "loaded"]


def test_a_state_nested_past_the_readers_limit_says_so(tmp_path):
    path = tmp_path / "deeper.tfstate"
    head = '{"version": 4, "serial": 1, "lineage": "x", "resources": ['
    path.write_text(head + "[" * 1100 + "]" * 1100 + "]}")
    (error,) = load_terraform_states([str(path)]).errors
    # where the reader stopped: just past the 1025th bracket (the object and `resources` are the first two levels)
    column = len(head) + 1024
    assert error.message == (f"{path}: nested more than 1024 levels deep at line 1, column {column}; "
                             "not read (Terraform's states are far shallower)")


def test_the_digest_is_the_same_deep_or_shallow():
    document = {"b": [1, 2.5, None, True, "é\u2028"], "a": {"z": {}, "y": []}, "ünï": "x"}
    fast = terraform_state._digest(document)
    assert terraform_state._canonical_digest(document) == fast


# ------------------------------------------------------------------------------- superseded copies


def _queue_state(names: list[str], serial: int, lineage: str = "66666666-2222-3333-4444-555555555555") -> dict:
    return _v4([_resource("aws_sqs_queue", name, [{"attributes": {
        "id": f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}", "name": name,
        "arn": f"arn:aws:sqs:us-east-1:123456789012:{name}"}}]) for name in names], lineage=lineage, serial=serial)


def test_a_superseded_state_with_resources_its_successor_lacks_is_a_warning(tmp_path):
    prod = _write(tmp_path / "prod" / "terraform.tfstate", _queue_state(["prod_jobs", "shared"], 12))
    staging = _write(tmp_path / "staging" / "terraform.tfstate",
                     _queue_state(["staging_jobs", "staging_dlq", "shared"], 7))
    result = load_terraform_states([str(prod), str(staging)])
    assert [(row["status"], row["superseded_by"]) for row in result.sources] == [
        ("loaded", None), ("superseded", str(prod))]
    (warning,) = result.errors
    assert (warning.source, warning.kind) == (str(staging), "warning")
    assert warning.message == (
        f"{staging}: superseded by {prod} (same lineage 66666666-2222-3333-4444-555555555555, older serial 7 < 12), "
        f"but it declares 2 resources that {prod} does not (staging_dlq at aws_sqs_queue.staging_dlq, staging_jobs "
        "at aws_sqs_queue.staging_jobs), and they were not read: a live resource only it declares is unknown, not "
        "unmanaged. If these are two environments copied from one, give each its own lineage: "
        "`terraform state pull > state.json` in one of them, change its \"lineage\", then "
        "`terraform state push -force state.json`")
    assert result.sources[1]["message"] == (
        f"superseded by {prod}: same lineage 66666666-2222-3333-4444-555555555555, older serial 7 < 12; "
        f"it declares 2 resources that {prod} does not, which were not read")
    (doubt,) = result.failed
    assert (doubt.source, doubt.partial, doubt.account, doubt.region, doubt.types) == (
        str(staging), False, ACCOUNT, "us-east-1", {"AWS::SQS::Queue"})
    assert sorted(i for i in doubt.identifiers if "/" not in i and ":" not in i) == ["staging_dlq", "staging_jobs"]


def test_history_is_no_warning(tmp_path):
    new = _write(tmp_path / "terraform.tfstate", _queue_state(["a"], 5))
    backup = _write(tmp_path / "terraform.tfstate.backup", _queue_state(["a", "removed"], 4))
    older = _write(tmp_path / "old.tfstate", _queue_state(["a"], 3))  # fewer resources, none the newer lacks
    result = load_terraform_states([str(new), str(backup), str(older)])
    assert [row["status"] for row in result.sources] == ["loaded", "superseded", "superseded"]
    assert result.errors == []


# ------------------------------------------------------------------------------------- messages


def test_an_index_key_with_a_fraction_is_named_as_not_an_integer(tmp_path):
    state = _v4([_resource("aws_instance", "web", [{"index_key": 1.5, "attributes": {"id": "i-1"}},
                                                  {"index_key": 2.0, "attributes": {"id": "i-2"}}])])
    (error,) = load_terraform_states([str(_write(tmp_path / "s.tfstate", state))]).errors
    assert error.message.endswith(
        'resources[0] (aws_instance.web), instances[0]: "index_key" is a number with a fraction, '
        "not a string or an integer")
    del state["resources"][0]["instances"][0]
    parsed = parse_state(json.dumps(state), "s")  # Terraform reads a whole float as an integer, and so do we
    assert [i.address for i in parsed.instances] == ["aws_instance.web[2]"]


def test_a_state_that_is_not_utf8_says_which_encoding_and_where(tmp_path):
    text = V4.read_text().replace('"team": "orders"', '"team": "café"', 1)
    line = text[: text.index("café")].count("\n") + 1
    for encoding, expected in (
        ("utf-16", "UTF-16 text; Terraform writes UTF-8 (convert it, e.g. with `iconv -f UTF-16 -t UTF-8`)"),
        ("utf-16-le", "UTF-16 text; Terraform writes UTF-8 (convert it, e.g. with `iconv -f UTF-16 -t UTF-8`)"),
        ("latin-1", f"not UTF-8 text: byte 0xe9 at line {line}, column "),
    ):
        path = tmp_path / f"{encoding}.tfstate"
        path.write_bytes(text.encode(encoding))
        result = load_terraform_states([str(path)])
        (error,) = result.errors
        assert error.message.startswith(f"{path}: {expected}"), error.message
        assert "surrogates" not in error.message
    (latin,) = load_terraform_states([str(tmp_path / "latin-1.tfstate")]).errors
    assert latin.line == line and latin.message.endswith("; Terraform writes UTF-8")


@pytest.mark.parametrize("version, expected", [
    ("SECRETVERSION99", 'the format "version" is a string, not a number'),
    ({"v": "SECRETVERSION99"}, 'the format "version" is an object, not a number'),
    (4.5, 'unknown state format version (a number with a fraction)'),
    (10**12, "unknown state format version (a number past 1000)"),
    (True, 'the format "version" is a boolean, not a number'),
    (5, "unknown state format version 5;"),
])
def test_a_bad_version_is_described_not_quoted(tmp_path, version, expected):
    path = _write(tmp_path / "v.tfstate", {"version": version, "serial": 1, "resources": []})
    result = load_terraform_states([str(path)])
    (error,) = result.errors
    assert expected in error.message, error.message
    assert "SECRETVERSION99" not in _everything(result)
    assert result.sources[0]["format_version"] == (str(version) if version == 5 else None)


# ------------------------------------------------------------------------------- globs, other files


def test_a_glob_reads_states_whatever_their_name_and_skips_other_files_with_one_warning(tmp_path):
    folder = tmp_path / "states"
    folder.mkdir()
    shutil.copy(V4, folder / "a.tfstate")
    (folder / "README.md").write_text("# our states\n")
    (folder / "notes.txt").write_text("version 4, serial 2\n")
    _write(folder / "package.json", {"name": "infra", "version": "1.0.0", "private": True})
    shutil.copy(V3, folder / "legacy.json")  # a state by its contents
    sorted_state = json.loads(V3.read_text()) | {"lineage": "77777777-2222-3333-4444-555555555555"}
    # as `jq -S` writes it: lineage, modules... and the version last
    (folder / "sorted.json").write_text(json.dumps(sorted_state, sort_keys=True, indent=2))
    text = V4.read_text()
    (folder / "cut.json").write_text(text[: len(text) // 2])  # a truncated state: its head says state
    (folder / "sub").mkdir()  # a folder matched is walked: nothing in it
    result = load_terraform_states([str(folder / "*")])
    assert [(Path(row["path"]).name, row["status"]) for row in result.sources] == [
        ("a.tfstate", "loaded"), ("cut.json", "error"), ("legacy.json", "loaded"), ("sorted.json", "loaded"),
        ("*", "skipped"),
    ]
    skipped = result.sources[-1]["message"]
    assert skipped == (
        f"{folder / '*'}: skipped 3 files that are not Terraform states (README.md, notes.txt, package.json)")
    errors = [(Path(e.source).name, e.kind) for e in result.errors]
    assert errors == [("cut.json", "error"), ("*", "warning")]
    assert result.errors[1].message == skipped


def test_a_file_named_explicitly_is_read_as_a_state_whatever_it_holds(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# our states\n")
    result = load_terraform_states([str(readme)])
    assert [row["status"] for row in result.sources] == ["error"]
    assert result.errors[0].kind == "error"


def test_a_glob_that_matches_no_state_is_an_error(tmp_path):
    (tmp_path / "README.md").write_text("# nothing here\n")
    (tmp_path / "notes.txt").write_text("x\n")
    result = load_terraform_states([str(tmp_path / "*")])
    (row,) = result.sources
    assert (row["status"], row["message"]) == (
        "error", f"{tmp_path / '*'}: no Terraform state among the 2 files this pattern matches (README.md, notes.txt)")


def test_format_3_attributes_nested_past_what_python_recurses_say_so(tmp_path):
    key = ".".join(["a"] * 3000)  # flat keys: every dot one level deeper once unflattened
    state = {"version": 3, "serial": 1, "lineage": "l", "modules": [{"path": ["root"], "resources": {
        "aws_instance.a": {"type": "aws_instance", "primary": {"id": "i-1", "attributes": {"id": "i-1", key: "x"}}}}}]}
    path = _write(tmp_path / "deep3.tfstate", state)
    (error,) = load_terraform_states([str(path)]).errors
    assert error.message == f"{path}: modules[0] (root), resource aws_instance.a: attributes nested too deeply to read"


# ------------------------------------------------------------------------------------- third trial


def test_thousands_of_sensitive_attributes_are_cut_in_one_pass(tmp_path):
    # one resource with 50,000 attributes and 50,000 tag keys, all marked sensitive: each path used to rebuild
    # the whole attribute map (25,000 paths took 49 s, 50,000 took 177 s)
    count = 50_000
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/many"
    tags = {**{f"k{i}": PLANTED for i in range(count)}, "team": "orders"}
    attributes = {"id": url, "name": "many", "tags": tags, "tags_all": dict(tags),
                  **{f"a{i}": PLANTED for i in range(count)}}
    sensitive = [[{"type": "get_attr", "value": f"a{i}"}] for i in range(count)]
    sensitive += [[{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": f"k{i}", "type": "string"}}]
                  for i in range(count)]
    path = _write(tmp_path / "many.tfstate", _v4([_resource("aws_sqs_queue", "many", [
        {"attributes": attributes, "sensitive_attributes": sensitive}])]))
    started = time.monotonic()
    result = load_terraform_states([str(path)])
    elapsed = time.monotonic() - started
    (record,) = result.records
    assert (record.natural_id, record.tags) == ("many", {"team": "orders"})
    assert PLANTED not in _everything(result)
    # generous: proves "not quadratic" (a linear cut takes about a second here), not speed
    assert elapsed < 30


def _tiny_state(index: int, lineage: str, serial: int) -> dict:
    return _queue_state([f"fork{index}"], serial, lineage=lineage)


def test_a_state_forked_a_thousand_ways_names_a_few_others_in_each_warning(tmp_path):
    lineage = "88888888-2222-3333-4444-555555555555"
    paths = [_write(tmp_path / f"s{i:04}.tfstate", _tiny_state(i, lineage, 9)) for i in range(1000)]
    result = load_terraform_states([str(p) for p in paths])
    assert [row["status"] for row in result.sources] == ["loaded"] * 1000
    assert len(result.errors) == 1000 and {e.kind for e in result.errors} == {"warning"}
    first, last = result.errors[0], result.errors[-1]
    assert first.message == (
        f"{paths[0]}: forked state: {paths[1]}, {paths[2]}, {paths[3]} and 996 more have the same lineage {lineage} "
        "and serial 9 but different resources; all are read, so a resource in more than one has two owners")
    assert last.message.startswith(f"{paths[-1]}: forked state: {paths[0]}, {paths[1]}, {paths[2]} and 996 more have")
    assert max(len(e.message) for e in result.errors) < 1000
    assert max(len(row["message"]) for row in result.sources) < 1000


def test_fork_detection_is_linear_in_the_states():
    lineage = "99999999-2222-3333-4444-555555555555"
    states = [(f"s{i}.tfstate", parse_state(json.dumps(_tiny_state(i, lineage, 3)), f"s{i}")) for i in range(20_000)]
    started = time.monotonic()
    verdicts = terraform_state.choose_latest(states)
    elapsed = time.monotonic() - started
    assert all(v.loaded for v in verdicts)
    assert verdicts[5].forked_with == ("s0.tfstate", "s1.tfstate", "s2.tfstate")
    assert verdicts[5].forked_count == 19_999
    # generous: proves "not quadratic" (400 million names before; milliseconds now), not speed
    assert elapsed < 10


def _environment_state(queue: str, serial: int, lineage: str = "12121212-2222-3333-4444-555555555555") -> dict:
    """An environment's state, copied from another's folder: the same lineage, the queue at the same address."""
    return _v4([_resource("aws_sqs_queue", "q", [{"attributes": {
        "id": f"https://sqs.us-east-1.amazonaws.com/123456789012/{queue}", "name": queue,
        "arn": f"arn:aws:sqs:us-east-1:123456789012:{queue}"}}])], lineage=lineage, serial=serial)


def test_two_environments_sharing_a_lineage_and_addresses_are_told_apart_by_identity(tmp_path):
    prod = _write(tmp_path / "prod.tfstate", _environment_state("lin-prod-q", 10))
    stage = _write(tmp_path / "stage" / "terraform.tfstate", _environment_state("lin-stage-q", 12))
    result = load_terraform_states([str(prod), str(stage)])
    assert [(row["status"], row["superseded_by"]) for row in result.sources] == [
        ("superseded", str(stage)), ("loaded", None)]
    (warning,) = result.errors
    assert (warning.source, warning.kind) == (str(prod), "warning")
    assert warning.message == (
        f"{prod}: superseded by {stage} (same lineage 12121212-2222-3333-4444-555555555555, older serial 10 < 12), "
        f"but it declares 1 resource that {stage} does not (lin-prod-q at aws_sqs_queue.q), and they were not "
        "read: a live resource only it declares is unknown, not unmanaged. If these are two environments copied "
        "from one, give each its own lineage: `terraform state pull > state.json` in one of them, change its "
        "\"lineage\", then `terraform state push -force state.json`")
    # the prod queue is doubt, narrowed to what only the superseded state declares; the scan is not partial for it
    (doubt,) = result.failed
    assert (doubt.source, doubt.tool, doubt.partial) == (str(prod), TERRAFORM, False)
    assert doubt.identifiers == {"lin-prod-q", "https://sqs.us-east-1.amazonaws.com/123456789012/lin-prod-q",
                                 "arn:aws:sqs:us-east-1:123456789012:lin-prod-q"}
    assert doubt.message == (f"superseded by {stage} (same lineage 12121212-2222-3333-4444-555555555555), "
                             "which does not declare it")
    queue = "AWS::SQS::Queue"
    assert doubt.could_declare(queue, ACCOUNT, "us-east-1", ["lin-prod-q", None])
    assert doubt.could_declare(queue, ACCOUNT, "us-east-1", ["arn:aws:sqs:us-east-1:123456789012:lin-prod-q"])
    assert not doubt.could_declare(queue, ACCOUNT, "us-east-1", ["lin-stage-q"])
    assert not doubt.could_declare(queue, ACCOUNT, "us-east-1", ["lin-other-q"])
    assert not doubt.could_declare(queue, ACCOUNT, "us-east-1")  # a resource that gives no identifier
    assert not doubt.could_declare("AWS::SNS::Topic", ACCOUNT, "us-east-1", ["lin-prod-q"])
    assert not doubt.could_declare(queue, ACCOUNT, "eu-west-1", ["lin-prod-q"])


def test_history_of_one_environment_leaves_no_doubt(tmp_path):
    # the same queue in both serials (named by its URL in one, its name in the other): nothing is lost
    older = _environment_state("lin-q", 4)
    del older["resources"][0]["instances"][0]["attributes"]["name"]
    old = _write(tmp_path / "old.tfstate", older)
    new = _write(tmp_path / "terraform.tfstate", _environment_state("lin-q", 5))
    result = load_terraform_states([str(old), str(new)])
    assert [row["status"] for row in result.sources] == ["superseded", "loaded"]
    assert (result.errors, result.failed) == ([], [])


def test_doubt_about_a_superseded_state_compares_case_insensitive_ids_so():
    from graph.records import FailedSource

    doubt = FailedSource("old.tfstate", TERRAFORM, "superseded", identifiers=frozenset({"Orders-DB"}), partial=False)
    assert doubt.could_declare("AWS::RDS::DBInstance", ACCOUNT, "us-east-1", ["orders-db"])  # RDS ids ignore case
    assert not doubt.could_declare("AWS::SQS::Queue", ACCOUNT, "us-east-1", ["orders-db"])  # queue names do not
    assert doubt.could_declare("AWS::SQS::Queue", ACCOUNT, "us-east-1", ["Orders-DB"])
    # without identifiers, as before: any resource of its types and place
    anything = FailedSource("cut.tfstate", TERRAFORM, "invalid JSON")
    assert anything.partial and anything.could_declare("AWS::SQS::Queue", ACCOUNT, "us-east-1")


def test_a_lost_resource_without_an_identifier_leaves_its_type_in_doubt(tmp_path):
    lineage = "13131313-2222-3333-4444-555555555555"

    def keys(names: list[str], serial: int) -> dict:  # access keys: their ids are credentials, withheld
        return _v4([_resource("aws_iam_access_key", name, [{"attributes": {"id": ACCESS_KEY_ID, "user": name}}])
                    for name in names], lineage=lineage, serial=serial)

    old = _write(tmp_path / "old.tfstate", keys(["ci", "deploy"], 1))
    new = _write(tmp_path / "new.tfstate", keys(["ci"], 2))
    result = load_terraform_states([str(old), str(new)])
    (warning,) = result.errors
    assert f"declares 1 resource that {new} does not (aws_iam_access_key.deploy)" in warning.message
    (doubt,) = result.failed
    assert (doubt.types, doubt.identifiers, doubt.partial) == ({"aws_iam_access_key"}, None, False)
    assert ACCESS_KEY_ID not in _everything(result) + repr(result.failed)


# ---------------------------------------------------------------------------- awscc (Cloud Control)

AWSCC = 'provider["registry.terraform.io/hashicorp/awscc"]'
AWSCC_QUEUE = {"schema_version": 1, "sensitive_attributes": [], "attributes": {
    "id": "https://sqs.us-east-1.amazonaws.com/123456789012/md-q", "queue_name": "md-q",
    "arn": "arn:aws:sqs:us-east-1:123456789012:md-q"}}


def _reconcile_one(records, live_queue: str):
    from graph.reconcile import reconcile
    from reconcile_records import live, scope

    # the state's account as the builders' (the region stays what the importer found, None included)
    assert {r.account for r in records} == {ACCOUNT}
    moved = [dataclasses.replace(r, account="111122223333") for r in records]
    graph = reconcile([live("AWS::SQS::Queue", live_queue)], moved, scope())
    return {n.natural_id: n for n in graph.nodes}


def test_awscc_type_names_follow_the_providers_naming_rule():
    # hashicorp/terraform-provider-awscc internal/naming: lowercased service, snake-cased resource
    name = terraform_state.awscc_type_name
    assert name("AWS::SQS::Queue") == "awscc_sqs_queue"
    assert name("AWS::EC2::VPC") == "awscc_ec2_vpc"
    assert name("AWS::EC2::VPCEndpoint") == "awscc_ec2_vpc_endpoint"
    assert name("AWS::ElasticLoadBalancingV2::LoadBalancer") == "awscc_elasticloadbalancingv2_load_balancer"
    assert name("AWS::RDS::DBInstance") == "awscc_rds_db_instance"
    assert name("AWS::AutoScaling::AutoScalingGroup") == "awscc_autoscaling_auto_scaling_group"
    assert name("AWS::CloudFormation::Stack") == "awscc_cloudformation_stack"
    assert name("AWS::EC2::EIP") == "awscc_ec2_eip"
    assert name("AWS::Logs::LogGroup") == "awscc_logs_log_group"


def test_every_catalog_type_says_which_awscc_attribute_names_it():
    from graph.resource_types import CATALOG

    assert set(terraform_state.AWSCC_ID_ATTRIBUTES) == set(CATALOG)
    assert terraform_state.AWSCC_TYPES["awscc_sqs_queue"] == (CATALOG["AWS::SQS::Queue"], "queue_name")


def test_an_awscc_queue_owns_the_live_queue(tmp_path):
    path = _write(tmp_path / "cc.tfstate", _v4([_resource("awscc_sqs_queue", "cc", [AWSCC_QUEUE], AWSCC)]))
    result = load_terraform_states([str(path)])
    (record,) = result.records
    assert (record.type, record.natural_id, record.region, record.account, record.raw_type, record.arn) == (
        "AWS::SQS::Queue", "md-q", "us-east-1", ACCOUNT, "awscc_sqs_queue", "arn:aws:sqs:us-east-1:123456789012:md-q")
    assert record.owner.address == "awscc_sqs_queue.cc"
    assert "not AWS" not in result.sources[0]["message"]
    node = _reconcile_one(result.records, "md-q")["md-q"]
    assert node.status == "managed", node.reason
    assert "awscc_sqs_queue.cc" in node.reason


def test_an_awscc_resource_whose_identity_cannot_be_read_leaves_its_type_unknown(tmp_path):
    # neither queue_name nor a Cloud Control id: which queue it is cannot be told, so no live queue of its
    # place may be called unmanaged
    attributes = {"visibility_timeout": 30, "arn": None}
    state = _v4([_resource("awscc_sqs_queue", "cc", [{"attributes": attributes}], AWSCC),
                 _resource("aws_sqs_queue", "named", [{"attributes": {
                     "id": "https://sqs.us-east-1.amazonaws.com/123456789012/other-q", "name": "other-q",
                     "arn": "arn:aws:sqs:us-east-1:123456789012:other-q"}}])])
    result = load_terraform_states([str(_write(tmp_path / "cc.tfstate", state))])
    record = _by_address(result)["awscc_sqs_queue.cc"]
    assert (record.type, record.natural_id) == ("AWS::SQS::Queue", None)
    node = _reconcile_one(result.records, "md-q")["md-q"]
    assert node.status == "unknown" and "awscc_sqs_queue.cc" in node.reason, (node.status, node.reason)


def test_awscc_attributes_are_not_compared_and_tags_are_read_as_pairs(tmp_path):
    # the catalog's compared attributes are the aws provider's names: read on an awscc resource they would
    # all look unset (false drift), so none is taken; its tags (a list of key/value objects) are
    attributes = {**AWSCC_QUEUE["attributes"], "visibility_timeout": 30, "delay_seconds": 5,
                  "tags": [{"key": "team", "value": "md"}, {"key": "env", "value": "prod"}]}
    state = _v4([_resource("awscc_sqs_queue", "cc", [{"attributes": attributes}], AWSCC)])
    (record,) = load_terraform_states([str(_write(tmp_path / "cc.tfstate", state))]).records
    assert record.tags == {"team": "md", "env": "prod"}
    assert record.attributes == {}


def test_uncatalogued_awscc_types_are_aws_and_counted_as_such(tmp_path):
    api = {"attributes": {"id": "a1b2c3d4e5", "rest_api_id": "a1b2c3d4e5", "name": "md-api"}}
    hook = {"attributes": {"id": "hook-1", "url": "https://eu-west-1.webhooks.aws/trigger?t=TOKEN-IN-URL-123",
                           "name": "md-hook"}}
    state = _v4([_resource("awscc_apigateway_rest_api", "api", [api], AWSCC),
                 _resource("awscc_codepipeline_webhook", "hook", [hook], AWSCC),
                 _resource("google_storage_bucket", "b", [{"attributes": {"id": "b"}}],
                           'provider["registry.terraform.io/hashicorp/google"]')])
    result = load_terraform_states([str(_write(tmp_path / "cc.tfstate", state))])
    records = _by_address(result)
    assert (records["awscc_apigateway_rest_api.api"].type, records["awscc_apigateway_rest_api.api"].natural_id) == (
        "awscc_apigateway_rest_api", "a1b2c3d4e5")
    assert result.sources[0]["message"].endswith("1 not AWS skipped (google_storage_bucket)")
    # a webhook's URL carries the token that triggers it, whichever provider wrote it
    assert "TOKEN-IN-URL-123" not in _everything(result)


def test_the_cloud_control_id_stands_in_only_where_it_names_the_resource(tmp_path):
    queue = {"attributes": {"id": "https://sqs.us-east-1.amazonaws.com/123456789012/md-q"}}  # its URL: named
    # a security group's Cloud Control id is its `Id`, which in a default VPC is the group's name: no match
    group = {"attributes": {"id": "sg-0123456789abcdef0", "vpc_id": "vpc-0123456789abcdef0"}}
    state = _v4([_resource("awscc_sqs_queue", "q", [queue], AWSCC),
                 _resource("awscc_ec2_security_group", "sg", [group], AWSCC)])
    records = _by_address(load_terraform_states([str(_write(tmp_path / "cc.tfstate", state))]))
    assert (records["awscc_sqs_queue.q"].natural_id, records["awscc_sqs_queue.q"].region) == ("md-q", "us-east-1")
    assert "Cloud Control id" in records["awscc_sqs_queue.q"].note
    assert (records["awscc_ec2_security_group.sg"].type, records["awscc_ec2_security_group.sg"].natural_id) == (
        "AWS::EC2::SecurityGroup", None)
