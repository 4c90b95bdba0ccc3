"""Terraform code (HCL): the corpus, the paired configurations, a repository made here, the parse cache, and
what reconcile makes of code that no state holds."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from conftest import needs_corpus
from graph.reconcile import reconcile
from importers.terraform_code import (
    CODE_FRAMEWORK,
    PENDING_CREATE,
    PENDING_IMPORT,
    base_address,
    code_records,
    join_interpolation_lines,
    parse_hcl,
    read_terraform_code,
)
from importers.terraform_state import parse_state
from reconcile_records import A, R, live, scope, tf


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def tf_files(folder: Path) -> list[Path]:
    """The .tf files a walk takes (a folder may be named x.tf): hidden folders and .terraform left out."""
    return sorted(p for p in folder.rglob("*.tf") if p.is_file()
                  if not any(part.startswith(".") for part in p.relative_to(folder).parts[:-1]))


# ------------------------------------------------------------------------------------------------ corpus


def test_every_corpus_tf_file_parses_or_is_named_with_its_line(tmp_path):
    corpus = needs_corpus("hcl")
    files = tf_files(corpus)
    reading = read_terraform_code([str(corpus)], cache_dir=str(tmp_path / "cache"), workers=2)
    assert reading.parsed == len(files) and reading.cached == 0
    failures = [e for e in reading.errors if e.kind == "error"]
    for error in failures:
        assert error.source.endswith(".tf") and error.line is not None and f"line {error.line}" in error.message
    failed = {e.source for e in failures}
    # every file that parsed gave its blocks: a resource from each folder that declares one
    declaring = {str(p.parent) for p in files if str(p) not in failed and 'resource "' in p.read_text()}
    assert declaring <= {os.path.dirname(r.file) for r in reading.resources}
    assert not failures, [e.message for e in failures]  # python-hcl2 8.x reads all 348 today (see the README)


PAIRS = [
    ("1ucra__3tierSIEMterraform", "1ucra__3tierSIEMterraform__terraform.tfstate"),
    ("1robroos__eks-robmetrics", "1robroos__eks-robmetrics__terraform.tfstate.backup"),
    ("1robroos__eks-robmetrics", "1robroos__eks-robmetrics__terraform.tfstate"),
]


@pytest.mark.parametrize("config,state", PAIRS)
def test_paired_configurations_declare_their_states_addresses(tmp_path, config, state):
    code = needs_corpus(f"hcl/paired-with-tfstate/{config}")
    state_path = needs_corpus("tfstate") / state
    reading = read_terraform_code([str(code)], cache_dir=str(tmp_path / "cache"))
    assert not [e for e in reading.errors if e.kind == "error"]
    declared = {r.address for r in reading.resources}
    held = {i.address for i in parse_state(state_path.read_bytes(), state).instances}
    # count and for_each instances are their block's base address; module paths included
    assert {base_address(a) for a in held} <= declared
    assert any(a.startswith("module.") for a in declared) == (config.startswith("1ucra"))
    # what the code declares beyond the state is exactly what code_records marks not applied
    pending = {r.owner.address for r in code_records(reading, held, A, R)}
    assert pending <= declared - {base_address(a) for a in held}


def test_terraform_011_interpolations_spanning_lines_keep_every_line_number():
    text = 'resource "aws_vpc" "a" {\n  tags = "${\n    map(\n "Name", "x")\n  }"\n}\n\nresource "aws_vpc" "b" {}\n'
    joined = join_interpolation_lines(text)
    assert joined is not None and joined.count("\n") == text.count("\n")
    parsed = parse_hcl(text)
    assert [(b["labels"], b["line"]) for b in parsed["blocks"]] == [(["aws_vpc", "a"], 1), (["aws_vpc", "b"], 8)]


# ------------------------------------------------------------------------------------------ a repository


REPOSITORY = {
    "live/main.tf": """
        terraform {
          backend "s3" {
            bucket               = "acme-tf-state"
            key                  = "live/terraform.tfstate"
            region               = "eu-west-1"
            workspace_key_prefix = "workspaces"
          }
        }

        provider "aws" {
          region = "eu-west-1"
        }

        provider "aws" {
          alias  = "west"
          region = "us-west-2"
          assume_role {
            role_arn = "arn:aws:iam::444455556666:role/deploy"
          }
        }

        resource "aws_sqs_queue" "jobs" {
          name                       = "jobs"
          visibility_timeout_seconds = var.timeout
          tags = {
            Team = "core"
          }
        }

        resource "aws_s3_bucket" "logs" {
          provider = aws.west
          bucket   = "acme-logs"
        }

        resource "aws_sqs_queue" "per_env" {
          for_each = toset(["a", "b"])
          name     = "q-${each.key}"
        }

        module "net" {
          source    = "../modules/net"
          count     = 2
          providers = { aws = aws.west }
        }

        module "registry" {
          source = "terraform-aws-modules/vpc/aws"
        }

        import {
          to = aws_sqs_queue.adopted
          id = "https://sqs.eu-west-1.amazonaws.com/111122223333/adopted"
        }

        resource "aws_sqs_queue" "adopted" {
          name = "adopted"
        }

        moved {
          from = aws_sqs_queue.old
          to   = aws_sqs_queue.jobs
        }

        removed {
          from = aws_s3_bucket.gone
          lifecycle {
            destroy = false
          }
        }
    """,
    "modules/net/main.tf": """
        resource "aws_vpc" "main" {
          cidr_block = "10.0.0.0/16"
        }

        module "inner" {
          source = "./inner"
        }
    """,
    "modules/net/inner/main.tf": """
        resource "aws_sns_topic" "alerts" {
          name = "alerts"
        }
    """,
    "cloudy/main.tf": """
        terraform {
          cloud {
            organization = "acme"
            workspaces {
              name = "cloudy-prod"
            }
          }
        }
        resource "aws_kinesis_stream" "s" {
          name = "clicks"
        }
    """,
    "live/.terraform/modules/x/main.tf": 'resource "aws_sqs_queue" "vendored" { name = "never-read" }\n',
}


def test_a_repository_with_modules_providers_and_every_block(tmp_path):
    repo = write(tmp_path / "repo", REPOSITORY)
    reading = read_terraform_code([str(repo / "live"), str(repo / "cloudy")], cache_dir=str(tmp_path / "cache"))
    by_address = {r.address: r for r in reading.resources}
    assert set(by_address) == {
        "aws_sqs_queue.jobs", "aws_s3_bucket.logs", "aws_sqs_queue.per_env", "aws_sqs_queue.adopted",
        "module.net.aws_vpc.main", "module.net.module.inner.aws_sns_topic.alerts", "aws_kinesis_stream.s",
    }
    jobs = by_address["aws_sqs_queue.jobs"]
    assert jobs.literal == {"name": "jobs", "tags": {"Team": "core"}}  # the variable is not a literal
    assert (jobs.provider, jobs.region, jobs.account) == ("aws", "eu-west-1", None)
    assert jobs.file.endswith("live/main.tf") and jobs.line == 23
    logs = by_address["aws_s3_bucket.logs"]
    assert (logs.provider, logs.region, logs.account) == ("aws.west", "us-west-2", "444455556666")
    assert by_address["aws_sqs_queue.per_env"].count_or_for_each.startswith("for_each = ")
    assert "name" not in by_address["aws_sqs_queue.per_env"].literal
    vpc = by_address["module.net.aws_vpc.main"]
    # the module gets the aliased provider through its providers map, and its count is noted
    assert (vpc.region, vpc.account, vpc.count_or_for_each) == ("us-west-2", "444455556666", "module.net: count = 2")
    assert by_address["module.net.module.inner.aws_sns_topic.alerts"].region == "us-west-2"

    assert [(i["to"], i["id"]) for i in reading.imports] == [
        ("aws_sqs_queue.adopted", "https://sqs.eu-west-1.amazonaws.com/111122223333/adopted")]
    assert [(m["from"], m["to"]) for m in reading.moved] == [("aws_sqs_queue.old", "aws_sqs_queue.jobs")]
    assert [(r["from"], r["destroy"]) for r in reading.removed] == [("aws_s3_bucket.gone", False)]
    backends = {b["type"]: b for b in reading.backends}
    assert backends["s3"]["config"]["bucket"] == "acme-tf-state"
    assert backends["s3"]["workspaces"] == {"key_prefix": "workspaces"}
    assert backends["cloud"]["config"] == {"organization": "acme"}
    assert backends["cloud"]["workspaces"] == {"name": "cloudy-prod"}
    assert {(p["alias"], p["region"], p["assume_role_arn"]) for p in reading.providers} == {
        (None, "eu-west-1", None), ("west", "us-west-2", "arn:aws:iam::444455556666:role/deploy")}

    warnings = [e for e in reading.errors if e.kind == "warning"]
    assert len(warnings) == 1 and "terraform-aws-modules/vpc/aws" in warnings[0].message
    assert warnings[0].source.endswith("live/main.tf") and warnings[0].line is not None
    assert not [e for e in reading.errors if e.kind == "error"]
    assert [(s["path"], s["kind"], s["status"], s["resource_count"]) for s in reading.sources] == [
        (str(repo / "live"), "terraform_code", "loaded", 6), (str(repo / "cloudy"), "terraform_code", "loaded", 1)]


def test_a_broken_file_is_named_with_its_line_and_the_others_still_load(tmp_path):
    repo = write(tmp_path / "repo", {
        "a.tf": 'resource "aws_sqs_queue" "a" {\n  name = "a"\n}\n',
        "b.tf": 'resource "aws_sqs_queue" "b" {\n  name = "b"\n  visibility = \n}\n',
        "c.tf": 'resource "aws_sqs_queue" "c" {\n  name = "c"\n}\n',
    })
    (repo / "d.tf").write_bytes(b"resource \"aws_sqs_queue\" \"d\" {\n  name = \"caf\xe9\"\n}\n")
    reading = read_terraform_code([str(repo)], cache_dir=str(tmp_path / "cache"))
    assert sorted(r.address for r in reading.resources) == ["aws_sqs_queue.a", "aws_sqs_queue.c"]
    errors = {os.path.basename(e.source): e for e in reading.errors if e.kind == "error"}
    assert set(errors) == {"b.tf", "d.tf"}
    assert errors["b.tf"].line == 3 and "line 3" in errors["b.tf"].message  # where the value is missing
    assert errors["d.tf"].line == 2 and "UTF-8" in errors["d.tf"].message
    assert reading.sources[0]["status"] == "error" and "2 could not be parsed" in reading.sources[0]["message"]


def test_a_parse_error_never_quotes_the_file(tmp_path):
    repo = write(tmp_path / "repo", {"s.tf": 'resource "aws_db_instance" "d" {\n  password = "hunter2" "x"\n}\n'})
    reading = read_terraform_code([str(repo)], cache_dir=str(tmp_path / "cache"))
    [error] = [e for e in reading.errors if e.kind == "error"]
    assert error.line == 2 and "hunter2" not in error.message


# ------------------------------------------------------------------------------------------------ cache


def test_a_warm_read_gives_the_same_and_parses_nothing(tmp_path):
    repo = write(tmp_path / "repo", REPOSITORY)
    cold = read_terraform_code([str(repo / "live")], cache_dir=str(tmp_path / "cache"), workers=2)
    warm = read_terraform_code([str(repo / "live")], cache_dir=str(tmp_path / "cache"), workers=2)
    assert (cold.parsed, cold.cached) == (3, 0)
    assert (warm.parsed, warm.cached) == (0, 3)
    assert (warm.resources, warm.imports, warm.backends, warm.providers, warm.sources) == (
        cold.resources, cold.imports, cold.backends, cold.providers, cold.sources)


@pytest.mark.parametrize("damage", [
    b"{not json",
    b'{"sha256": "0", "result": {"blocks": []}}',  # another file's entry
    b'{"sha256": "SHA", "result": {"blocks": [{"type": 1}]}}',  # not the shape a parse has
])
def test_a_damaged_cache_entry_is_parsed_again(tmp_path, damage):
    repo = write(tmp_path / "repo", {"main.tf": 'resource "aws_sqs_queue" "q" {\n  name = "q"\n}\n'})
    cache = tmp_path / "cache"
    first = read_terraform_code([str(repo)], cache_dir=str(cache))
    [entry] = [p for p in cache.rglob("*.json")]
    entry.write_bytes(damage.replace(b"SHA", entry.stem.encode()))
    again = read_terraform_code([str(repo)], cache_dir=str(cache))
    assert (again.parsed, again.cached) == (1, 0)
    assert again.resources == first.resources
    assert read_terraform_code([str(repo)], cache_dir=str(cache)).cached == 1  # rewritten


def test_a_changed_file_is_parsed_again(tmp_path):
    repo = write(tmp_path / "repo", {"main.tf": 'resource "aws_sqs_queue" "q" {\n  name = "q"\n}\n'})
    read_terraform_code([str(repo)], cache_dir=str(tmp_path / "cache"))
    (repo / "main.tf").write_text('resource "aws_sqs_queue" "q" {\n  name = "renamed"\n}\n')
    reading = read_terraform_code([str(repo)], cache_dir=str(tmp_path / "cache"))
    assert reading.parsed == 1 and reading.resources[0].literal == {"name": "renamed"}


# ------------------------------------------------------------------------------- records and reconcile


def test_code_records_leave_what_a_state_holds_and_mark_the_rest(tmp_path):
    repo = write(tmp_path / "repo", REPOSITORY)
    reading = read_terraform_code([str(repo / "live")], cache_dir=str(tmp_path / "cache"))
    # the state holds the queue under its old address (moved to jobs) and the bucket
    records = code_records(reading, {"aws_sqs_queue.old", 'aws_s3_bucket.logs'}, A, "eu-west-1")
    by_address = {r.owner.address: r for r in records}
    # for_each names are not literals; the VPC has no literal identity; the topic's ARN is built
    assert set(by_address) == {"aws_sqs_queue.adopted", "module.net.module.inner.aws_sns_topic.alerts"}
    adopted = by_address["aws_sqs_queue.adopted"]
    assert (adopted.type, adopted.natural_id, adopted.pending) == ("AWS::SQS::Queue", "adopted", PENDING_IMPORT)
    assert adopted.aliases == ("https://sqs.eu-west-1.amazonaws.com/111122223333/adopted",)
    assert adopted.owner.framework == CODE_FRAMEWORK and adopted.owner.source == str(repo / "live")
    topic = by_address["module.net.module.inner.aws_sns_topic.alerts"]
    assert topic.natural_id == "arn:aws:sns:us-west-2:444455556666:alerts" and topic.pending == PENDING_CREATE
    assert topic.account == "444455556666" and topic.region == "us-west-2"
    assert all(r.attributes == {} for r in records)  # code never applied is compared with nothing


def _queue_code(tmp_path, extra: str = "") -> list:
    repo = write(tmp_path / "repo", {"main.tf": f'resource "aws_sqs_queue" "q" {{\n  name = "jobs"\n}}\n{extra}'})
    reading = read_terraform_code([str(repo)], cache_dir=str(tmp_path / "cache"))
    return code_records(reading, set(), A, R)


def test_code_no_state_holds_leaves_a_live_resource_unmanaged_and_says_so(tmp_path):
    graph = reconcile([live("AWS::SQS::Queue", "jobs")], _queue_code(tmp_path), scope())
    [node] = graph.nodes
    assert (node.status, node.rule, node.declarations) == ("unmanaged", "declared_not_applied", [])
    assert "Terraform code" in node.reason and "aws_sqs_queue.q" in node.reason


def test_an_import_block_shows_the_live_resource_as_pending(tmp_path):
    block = 'import {\n  to = aws_sqs_queue.q\n  id = "https://sqs.us-east-1.amazonaws.com/111122223333/jobs"\n}\n'
    graph = reconcile([live("AWS::SQS::Queue", "jobs")], _queue_code(tmp_path, block), scope())
    [node] = graph.nodes
    assert (node.status, node.rule) == ("unmanaged", "import_pending")
    assert "import block" in node.reason


def test_code_not_applied_and_not_live_is_unknown_never_missing(tmp_path):
    graph = reconcile([], _queue_code(tmp_path), scope())
    [node] = graph.nodes
    assert (node.status, node.rule) == ("unknown", "declared_not_applied")
    assert "not applied yet" in node.reason


def test_a_state_owner_wins_over_code_elsewhere(tmp_path):
    state = tf("AWS::SQS::Queue", "jobs", "aws_sqs_queue.other")
    graph = reconcile([live("AWS::SQS::Queue", "jobs")], [state, *_queue_code(tmp_path)], scope())
    [node] = graph.nodes
    assert (node.status, node.rule, len(node.declarations)) == ("managed", "declared_and_live", 1)
    assert "also declared in Terraform code" in node.reason


# ------------------------------------------------------------------------- scan --tf-dir, end to end


def test_scan_with_tf_dir_shows_code_not_applied_and_pending_imports_and_codify_leaves_them(aws, tmp_path):
    """Against moto: a queue the code declares but no state holds stays unmanaged (declared_not_applied), one an
    import block adopts is unmanaged (import_pending) and never codified again; a bad .tf file is named."""
    import json

    import boto3

    from conftest import run_cli

    sqs = boto3.client("sqs")
    sqs.create_queue(QueueName="tfdir-planned")
    adopting = sqs.create_queue(QueueName="tfdir-adopting")["QueueUrl"]
    sqs.create_queue(QueueName="tfdir-hand-made")
    code = tmp_path / "infra"
    code.mkdir()
    (code / "main.tf").write_text(textwrap.dedent(f'''\
        provider "aws" {{
          region = "us-east-1"
        }}
        resource "aws_sqs_queue" "planned" {{
          name = "tfdir-planned"
        }}
        import {{
          to = aws_sqs_queue.adopting
          id = "{adopting}"
        }}
        resource "aws_sqs_queue" "adopting" {{
          name = "tfdir-adopting"
        }}
        '''))
    (code / "broken.tf").write_text('resource "aws_sqs_queue" "x" {\n  name = \n}\n')
    db = tmp_path / "code.db"
    run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks", "--type", "AWS::SQS::Queue",
             "--tf-dir", str(code)], aws)
    report = json.loads(run_cli(["report", "--db", str(db), "--format", "json"], aws).stdout)
    by_name = {r["name"]: r for r in report["resources"]}
    assert (by_name["tfdir-planned"]["status"], by_name["tfdir-planned"]["rule"]) == ("unmanaged", "declared_not_applied")
    assert (by_name["tfdir-adopting"]["status"], by_name["tfdir-adopting"]["rule"]) == ("unmanaged", "import_pending")
    assert (by_name["tfdir-hand-made"]["status"], by_name["tfdir-hand-made"]["rule"]) == ("unmanaged", "no_owner")
    assert any("broken.tf" in (e["source"] or "") and e["line"] for e in report["errors"])
    out = tmp_path / "codified"
    summary = run_cli(["codify", "--db", str(db), "--format", "terraform", "--out", str(out)], aws).stdout
    imports = "\n".join(p.read_text() for p in out.rglob("imports.tf"))
    assert "tfdir-hand-made" in imports and "tfdir-planned" in imports and "tfdir-adopting" not in imports
    assert "1 pending" in summary


def test_without_tfstate_the_states_are_where_the_code_s_backend_says(aws, tmp_path):
    """--tf-dir alone: the s3 backend block of the code is read (in moto), so its queue is managed; a backend the
    scan cannot read (gcs) is a failed state, so an unowned queue is unknown, never unmanaged."""
    import json

    import boto3

    from conftest import run_cli
    from driftgraph.demo_estate import TerraformState

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="backend-owned")["QueueUrl"]
    sqs.create_queue(QueueName="backend-unowned")
    boto3.client("s3").create_bucket(Bucket="tfdir-states")
    state = TerraformState("tfdir-backend")
    state.add("aws_sqs_queue", "owned", {"id": url, "name": "backend-owned", "url": url,
                                          "arn": "arn:aws:sqs:us-east-1:123456789012:backend-owned"})
    written = state.write(tmp_path / "states" / "terraform.tfstate")
    boto3.client("s3").put_object(Bucket="tfdir-states", Key="app/terraform.tfstate", Body=written.read_bytes())
    code = tmp_path / "app"
    code.mkdir()
    (code / "main.tf").write_text(textwrap.dedent('''\
        terraform {
          backend "s3" {
            bucket = "tfdir-states"
            key    = "app/terraform.tfstate"
            region = "us-east-1"
          }
        }
        resource "aws_sqs_queue" "owned" {
          name = "backend-owned"
        }
        '''))
    db = tmp_path / "b.db"
    run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks", "--type", "AWS::SQS::Queue",
             "--tf-dir", str(code)], aws)
    by_name = {r["name"]: r for r in json.loads(run_cli(["report", "--db", str(db), "--format", "json"], aws).stdout)["resources"]}
    assert by_name["backend-owned"]["status"] == "managed"
    assert by_name["backend-unowned"]["status"] == "unmanaged"

    other = tmp_path / "other"
    other.mkdir()
    (other / "main.tf").write_text('terraform {\n  backend "gcs" {\n    bucket = "x"\n  }\n}\n')
    db2 = tmp_path / "c.db"
    run_cli(["scan", "--db", str(db2), "--region", "us-east-1", "--no-stacks", "--type", "AWS::SQS::Queue",
             "--tf-dir", str(other)], aws)
    report = json.loads(run_cli(["report", "--db", str(db2), "--format", "json"], aws).stdout)
    assert report["scan"]["status"] == "partial"
    assert {r["name"]: r["status"] for r in report["resources"]}["backend-unowned"] == "unknown"
