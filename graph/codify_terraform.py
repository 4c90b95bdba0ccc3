"""The Terraform writer of `driftgraph codify`: per group a folder with `import` blocks (Terraform >= 1.5),
draft resource blocks, providers and a README, as text (pure: groups in, {relative path: text} out)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from graph.codify import Codification, CodifyResource, Group
from graph.redact import (
    REDACTED,
    is_secret_attribute,
    is_secret_key,
    redact,
    redact_text,
)
from graph.resource_types import CATALOG, Comparable, ResourceType, TerraformType

REQUIRED_VERSION = ">= 1.5.0"  # `import` blocks
PROVIDER_VERSION = ">= 5.0"

# The attribute that sets a resource's name, for types whose import id is not it: left out, Terraform would
# plan to replace the resource with one of a generated name.
NAME_ATTRIBUTE = {
    "aws_security_group": "name",
    "aws_iam_policy": "name",
    "aws_sns_topic": "name",
    "aws_lb": "name",
    "aws_lb_target_group": "name",
    "aws_secretsmanager_secret": "name",
    "aws_route53_zone": "name",
    "aws_ecs_service": "name",
    "aws_cloudformation_stack": "name",
    "aws_launch_template": "name",
}
# Import-id attributes that are the resource's id, not a name to write.
_NOT_A_NAME = frozenset({"id", "arn", "allocation_id", "zone_id", "key_id", "spot_instance_id"})

# (Terraform type, relation) -> (attribute, attribute of the target to reference, target field for a literal,
# list?): how an edge is written, by address when the target is in the group, else by its literal id.
REFERENCES: dict[tuple[str, str], tuple[str, str, str, bool]] = {
    ("aws_subnet", "in_vpc"): ("vpc_id", "id", "natural_id", False),
    ("aws_security_group", "in_vpc"): ("vpc_id", "id", "natural_id", False),
    ("aws_route_table", "in_vpc"): ("vpc_id", "id", "natural_id", False),
    ("aws_network_acl", "in_vpc"): ("vpc_id", "id", "natural_id", False),
    ("aws_vpc_endpoint", "in_vpc"): ("vpc_id", "id", "natural_id", False),
    ("aws_lb_target_group", "in_vpc"): ("vpc_id", "id", "natural_id", False),
    ("aws_internet_gateway", "attached_to"): ("vpc_id", "id", "natural_id", False),
    ("aws_instance", "in_subnet"): ("subnet_id", "id", "natural_id", False),
    ("aws_network_interface", "in_subnet"): ("subnet_id", "id", "natural_id", False),
    ("aws_nat_gateway", "in_subnet"): ("subnet_id", "id", "natural_id", False),
    ("aws_nat_gateway", "uses_eip"): ("allocation_id", "id", "natural_id", False),
    ("aws_instance", "uses_security_group"): ("vpc_security_group_ids", "id", "natural_id", True),
    ("aws_instance", "uses_instance_profile"): ("iam_instance_profile", "name", "natural_id", False),
    ("aws_network_interface", "uses_security_group"): ("security_groups", "id", "natural_id", True),
    ("aws_lb", "uses_security_group"): ("security_groups", "id", "natural_id", True),
    ("aws_lb", "in_subnet"): ("subnets", "id", "natural_id", True),
    ("aws_db_instance", "uses_security_group"): ("vpc_security_group_ids", "id", "natural_id", True),
    ("aws_db_instance", "in_subnet_group"): ("db_subnet_group_name", "name", "natural_id", False),
    ("aws_rds_cluster", "in_subnet_group"): ("db_subnet_group_name", "name", "natural_id", False),
    ("aws_db_subnet_group", "uses_subnet"): ("subnet_ids", "id", "natural_id", True),
    ("aws_iam_instance_profile", "uses_role"): ("role", "name", "natural_id", False),
    ("aws_lambda_function", "uses_role"): ("role", "arn", "arn", False),
    ("aws_kms_alias", "points_to"): ("target_key_id", "key_id", "natural_id", False),
    ("aws_ecs_service", "in_cluster"): ("cluster", "id", "arn", False),
    ("aws_ecs_service", "runs"): ("task_definition", "arn", "natural_id", False),
    ("aws_lb_listener", "listens_on"): ("load_balancer_arn", "arn", "natural_id", False),
    ("aws_elasticache_cluster", "member_of"): ("replication_group_id", "id", "natural_id", False),
}
# An EIP names both its instance and that instance's interface: the instance is what a reader set.
_EIP_TARGETS = {"AWS::EC2::Instance": "instance", "AWS::EC2::NetworkInterface": "network_interface"}

# Compared attributes not written, and why (said in a comment on the resource block).
LEFT_OUT = {
    "versioning": "bucket versioning is its own resource since provider 4 (aws_s3_bucket_versioning)",
}


class Expression(str):
    """HCL written as it stands (a reference, a function call), never quoted."""


def dns_suffix(resource: CodifyResource) -> str:
    partition = (resource.arn or "").split(":")[1:2]
    return "amazonaws.com.cn" if partition == ["aws-cn"] else "amazonaws.com"


def terraform_type(resource: CodifyResource) -> TerraformType:
    row = CATALOG.get(resource.type)
    if row is None or not row.terraform:
        raise ValueError(f"no Terraform type for {resource.type}")
    return row.terraform[0]  # the first is the one written (aws_vpc, not aws_default_vpc)


def _cluster(resource: CodifyResource) -> str | None:
    for relation, target in resource.edges_out:
        if relation == "in_cluster":
            facts = resource.targets.get(target) or {}
            return facts.get("natural_id") or target.rsplit("/", 1)[-1]
    parts = (resource.arn or resource.natural_id or "").split(":", 5)[-1].split("/")
    return parts[1] if len(parts) == 3 else None  # service/CLUSTER/NAME; the old format has no cluster


def import_id(resource: CodifyResource) -> str:
    """The id `terraform import` takes for this live resource, as the AWS provider documents it for its type;
    ValueError when the scan did not record what it is made of."""
    tf = terraform_type(resource)
    arn = resource.arn or ""
    arn_resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else ""
    fields = {
        "natural_id": resource.natural_id, "name": resource.name, "arn": resource.arn,
        "account": resource.account, "region": resource.region, "dns_suffix": dns_suffix(resource),
        "arn_path": arn_resource.split("/", 1)[1] if "/" in arn_resource else None,
        "cluster": _cluster(resource) if "{cluster}" in (tf.live_import_id or "") else None,
    }
    template = tf.live_import_id or "{natural_id}"
    needed = re.findall(r"{(\w+)}", template)
    missing = [f for f in needed if not fields.get(f)]
    if missing:
        raise ValueError(f"its Terraform import id ({template}) needs its {', '.join(missing)}, which the scan did "
                         "not record")
    return template.format(**fields)


# ------------------------------------------------------------------------------------------------ HCL text


def _string(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return '"' + text.replace("${", "$${").replace("%{", "%%{") + '"'


def hcl_value(value: Any, indent: int = 0) -> str:
    """A value as HCL (strings quoted and escaped, `${` and `%{` doubled so nothing is interpolated)."""
    pad = "  " * indent
    if isinstance(value, Expression):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[" + ", ".join(hcl_value(v, indent) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = "\n".join(f"{pad}  {_string(str(k))} = {hcl_value(v, indent + 1)}" for k, v in value.items())
        return "{\n" + inner + f"\n{pad}}}"
    return _string(str(value))


def _identifier(text: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", (text or "").lower()).strip("_")[:60].strip("_")
    if not name:
        return "resource"
    return name if name[0].isalpha() else f"r_{name}"


_AWS_ID = re.compile(r"^[a-z]+-[0-9a-f]{8,}$")  # sg-0abc..., eipalloc-..., i-...


def _human_name(resource: CodifyResource) -> str | None:
    tag = resource.tags.get("Name")
    if isinstance(tag, str) and tag and tag != REDACTED:
        return tag
    name = resource.name or resource.natural_id or ""
    if name.startswith("arn:"):
        name = re.split(r"[:/]", name)[-1]
    return None if not name or _AWS_ID.match(name) else name


def addresses(group: Group) -> dict[str, str]:
    """Resource id -> a readable address, unique in the group: from the Name tag or name, else from what it is
    attached to (`aws_eip.bastion`), else its id."""
    in_group = {r.id: r for r in group.resources}
    out, used = {}, set()
    for r in group.resources:
        label = _human_name(r)
        if label is None:
            near = [t for _rel, t in r.edges_out if t in in_group and _human_name(in_group[t])]
            near += [x.id for x in group.resources if any(t == r.id for _rel, t in x.edges_out) and _human_name(x)]
            label = _human_name(in_group[near[0]]) if near else (r.natural_id or r.id).rsplit("/", 1)[-1]
        tf = terraform_type(r).type
        base = _identifier(label)
        name, n = base, 2
        while f"{tf}.{name}" in used:
            name, n = f"{base}_{n}", n + 1
        used.add(f"{tf}.{name}")
        out[r.id] = f"{tf}.{name}"
    return out


# ---------------------------------------------------------------------------------------------- providers


def _provider_key(resource: CodifyResource) -> tuple[str | None, str | None]:
    return (resource.account, None if resource.region in (None, "global") else resource.region)


def providers(group: Group) -> tuple[tuple[str | None, str], dict[tuple, str]]:
    """The group's default (account, region) (most of its resources') and an alias for each other one."""
    counts = Counter(_provider_key(r) for r in group.resources)
    regional = [k for k in counts if k[1]]
    default = max(regional, key=lambda k: (counts[k], k[1] or "")) if regional else (
        next(iter(counts))[0] if counts else None, "us-east-1")  # IAM only: its API answers in us-east-1
    accounts = {k[0] for k in counts}
    aliases = {}
    for account, region in sorted(counts, key=lambda k: (k[0] or "", k[1] or "")):
        key = (account, region or default[1])
        if key == default or key in aliases:
            continue
        aliases[key] = _identifier(region or default[1]) if len(accounts) == 1 else _identifier(f"a{account}_{region or default[1]}")
    return default, aliases


def _provider_block(account: str | None, region: str, alias: str | None) -> str:
    lines = ['provider "aws" {']
    if alias:
        lines.append(f"  alias  = {_string(alias)}")
    lines.append(f"  region = {_string(region)}")
    if account:
        lines.append("  # refuse to run against any other account: these ids are this account's")
        lines.append(f"  allowed_account_ids = [{_string(account)}]")
    lines.append("}")
    return "\n".join(lines)


def render_providers(group: Group) -> str:
    default, aliases = providers(group)
    blocks = [
        "terraform {",
        f"  required_version = {_string(REQUIRED_VERSION)}  # import blocks",
        "  required_providers {",
        f"    aws = {{ source = \"hashicorp/aws\", version = {_string(PROVIDER_VERSION)} }}",
        "  }",
        "}",
        "",
        _provider_block(default[0], default[1], None),
    ]
    for (account, region), alias in aliases.items():
        blocks += ["", _provider_block(account, region, alias)]
    return "\n".join(blocks) + "\n"


def _provider_of(resource: CodifyResource, group: Group) -> str | None:
    default, aliases = providers(group)
    account, region = _provider_key(resource)
    alias = aliases.get((account, region or default[1]))
    return f"aws.{alias}" if alias else None


# ----------------------------------------------------------------------------------------------- resources


def _convert(comparable: Comparable, value: Any) -> Any:
    """A stored live value as the provider's attribute takes it."""
    kind = comparable.kind
    try:
        if kind in ("int", "retention") and value is not None:
            return int(value)
        if kind == "float" and value is not None:
            return float(value)
        if kind == "bool" and isinstance(value, str):
            return value.lower() == "true"
    except (TypeError, ValueError):
        return value
    if kind == "scheme":
        return value == "internal"
    if kind == "policy":
        document = json.loads(value) if isinstance(value, str) and value.strip().startswith("{") else value
        return Expression("jsonencode(" + hcl_value(document, 1) + ")") if isinstance(document, dict) else value
    if kind == "set" and comparable.terraform == "role" and isinstance(value, list):
        return value[0] if len(value) == 1 else value  # an instance profile holds one role
    return value


def _rules(permissions: list[dict]) -> list[dict[str, Any]]:
    """IpPermissions as the provider's inline `ingress`/`egress` blocks."""
    blocks = []
    for p in permissions or []:
        protocol = str(p.get("IpProtocol", "-1"))
        block = {
            "from_port": int(p.get("FromPort", 0)) if protocol != "-1" else 0,
            "to_port": int(p.get("ToPort", 0)) if protocol != "-1" else 0,
            "protocol": protocol,
            "cidr_blocks": [r["CidrIp"] for r in p.get("IpRanges") or [] if "CidrIp" in r],
            "ipv6_cidr_blocks": [r["CidrIpv6"] for r in p.get("Ipv6Ranges") or [] if "CidrIpv6" in r],
            "prefix_list_ids": [r["PrefixListId"] for r in p.get("PrefixListIds") or [] if "PrefixListId" in r],
            "security_groups": [r["GroupId"] for r in p.get("UserIdGroupPairs") or [] if "GroupId" in r],
        }
        blocks.append({k: v for k, v in block.items() if v != [] or k == "cidr_blocks"})
    return blocks


def _is_secret(value: Any) -> bool:
    if isinstance(value, str):
        return REDACTED in value
    if isinstance(value, dict):
        return any(_is_secret(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_is_secret(v) for v in value)
    return False


def resource_body(resource: CodifyResource, group: Group, address: dict[str, str]) -> tuple[list[str], list[str]]:
    """(attribute lines, comments) of one resource block: its name, compared attributes, references, tags."""
    row: ResourceType = CATALOG[resource.type]
    tf = terraform_type(resource)
    attributes: dict[str, Any] = {}
    blocks: list[tuple[str, dict]] = []
    comments: list[str] = []
    name_attribute = NAME_ATTRIBUTE.get(tf.type) or (tf.id_attribute if tf.id_attribute not in _NOT_A_NAME else None)
    if name_attribute:
        attributes[name_attribute] = resource.natural_id if name_attribute == tf.id_attribute else resource.name
    for comparable in row.comparables:
        if comparable.name == "tags" or comparable.name not in resource.attributes:
            continue
        value = resource.attributes[comparable.name]
        if comparable.name in LEFT_OUT:
            comments.append(f"{comparable.name} not written: {LEFT_OUT[comparable.name]}")
            continue
        if not comparable.terraform:
            continue
        if is_secret_attribute(comparable.name, value) or _is_secret(redact(value, comparable.name)):
            comments.append(f"{comparable.name} left out: its value is secret")
            continue
        if comparable.kind == "rules":
            blocks += [(comparable.terraform, rule) for rule in _rules(value)]
            if not value:
                attributes[comparable.terraform] = []  # none, said outright: else Terraform keeps whatever is there
            continue
        path = comparable.terraform
        if "[0]." in path:  # a nested block: image_scanning_configuration[0].scan_on_push
            outer, inner = path.split("[0].", 1)
            existing = next((b for n, b in blocks if n == outer), None)
            if existing is None:
                existing = {}
                blocks.append((outer, existing))
            existing[inner] = _convert(comparable, value)
            continue
        attributes[path] = _convert(comparable, value)
    in_group = {r.id for r in group.resources}
    eip_done = False
    for relation, target in resource.edges_out:
        facts = resource.targets.get(target) or {}
        if tf.type == "aws_eip" and relation == "attached_to":
            attribute = _EIP_TARGETS.get(facts.get("type"))
            if attribute is None or eip_done and attribute == "network_interface":
                continue
            if attribute == "instance":
                attributes.pop("network_interface", None)
                eip_done = True
            spec = (attribute, "id", "natural_id", False)
        else:
            spec = REFERENCES.get((tf.type, relation))
        if spec is None:
            continue
        attribute, ref_attribute, literal_field, is_list = spec
        literal = facts.get(literal_field)
        value = Expression(f"{address[target]}.{ref_attribute}") if target in in_group else literal
        if value is None:
            continue
        if is_list:
            current = [v for v in attributes.get(attribute) or [] if v != literal]
            attributes[attribute] = sorted(current + [value], key=str)
        else:
            attributes[attribute] = value
    lines = [f"{k} = {hcl_value(v, 1)}" for k, v in attributes.items() if v is not None]
    for name, block in blocks:
        inner = "\n".join(f"    {k} = {hcl_value(v, 2)}" for k, v in block.items())
        lines.append(f"{name} {{\n{inner}\n  }}")
    tags, secret_tags = {}, []
    for key, value in sorted(resource.tags.items()):
        if key.startswith("aws:"):
            continue  # AWS's own tags: no one can set them
        if is_secret_key(key, value) or _is_secret(value) or redact(value, key) != value:
            secret_tags.append(key)
            continue
        tags[key] = value
    if tags:
        lines.append(f"tags = {hcl_value(tags, 1)}")
    for key in secret_tags:
        comments.append(f"tag {redact_text(key)!r} left out: its value is secret (set it from where you keep secrets)")
    return lines, comments


def render_main(group: Group) -> str:
    address = addresses(group)
    parts = [f"# {redact_text(group.title)}: a draft written by driftgraph codify from the live resources.",
             "# It holds what driftgraph compares; `terraform plan` shows what else each resource has (see README.md).",
             ""]
    for r in group.resources:
        tf_type, name = address[r.id].split(".", 1)
        lines, comments = resource_body(r, group, address)
        provider = _provider_of(r, group)
        parts.append(f"# {redact_text(r.type)} {redact_text(r.natural_id or r.id)}")
        parts += [f"# {c}" for c in comments]
        parts.append(f'resource "{tf_type}" "{name}" {{')
        if provider:
            parts.append(f"  provider = {provider}")
        parts += [f"  {line}" for line in lines]
        parts += ["", "  lifecycle {", "    prevent_destroy = true  # a hand-made resource: never replaced by mistake",
                  "  }", "}", ""]
    return "\n".join(parts)


def render_imports(group: Group) -> str:
    address = addresses(group)
    parts = ["# Adopt the live resources into Terraform state (Terraform >= 1.5): `terraform plan`, then `apply`.", ""]
    for r in group.resources:
        provider = _provider_of(r, group)
        parts.append("import {")
        parts.append(f"  to = {address[r.id]}")
        if provider:
            parts.append(f"  provider = {provider}")
        parts.append(f"  id = {_string(redact_text(import_id(r)))}")
        parts += ["}", ""]
    return "\n".join(parts)


def render_group_readme(group: Group) -> str:
    address = addresses(group)
    rows = "\n".join(
        f"| `{address[r.id]}` | {redact_text(r.type)} | `{redact_text(import_id(r))}` | {r.account or ''} | {r.region or ''} |"
        for r in group.resources)
    return f"""# {redact_text(group.title)}

Written by `driftgraph codify`: {len(group.resources)} resource(s) no code owns, in the order Terraform needs
them (what others depend on first).

| address | type | import id | account | region |
|---|---|---|---|---|
{rows}

## Adopt them

1. `terraform init`
2. `terraform plan`: every resource should say "will be imported". `main.tf` holds only what driftgraph
   compares (names, tags, the compared attributes, references between these resources), so the plan also
   lists settings the live resources have that `main.tf` does not say: copy each into `main.tf` until the
   plan shows imports and no change.
3. For the full configuration instead: `mv main.tf main.tf.draft`, then
   `terraform plan -generate-config-out=generated.tf` writes every attribute of every imported resource; carry
   the readable names and references of `main.tf.draft` over, and delete the draft.
4. `terraform apply` records them in state; nothing in AWS changes when the plan showed imports only.

## What to check

- A plan that would *replace* or *destroy* anything: stop. Each resource has `prevent_destroy`, so such an apply
  fails instead of deleting a hand-made resource.
- Generated configuration may carry secrets (user data, passwords, environment values): move them to variables
  or a secret store before committing.
- `provider` blocks (`providers.tf`) name the account and region these ids belong to; credentials come from
  your usual AWS profile.
- Resources referenced by literal id (not by address) are owned elsewhere or were not selected: keep them as
  they are, or codify them first.
"""


def render_terraform(groups: list[Group], blockers: list[dict[str, Any]],
                     codification: Codification | None = None) -> dict[str, str]:
    """Every file to write, by path relative to the output folder."""
    files: dict[str, str] = {}
    for group in groups:
        files[f"{group.key}/providers.tf"] = render_providers(group)
        files[f"{group.key}/imports.tf"] = render_imports(group)
        files[f"{group.key}/main.tf"] = render_main(group)
        files[f"{group.key}/README.md"] = render_group_readme(group)
    files["README.md"] = render_index(groups, blockers, codification.pending if codification else [], "terraform")
    return files


def render_index(groups: list[Group], blockers: list[dict[str, Any]], pending: list[CodifyResource],
                 tool: str) -> str:
    """The top README: each group's folder, then what was not written and why."""
    lines = [f"# driftgraph codify ({tool})", "",
             (f"{sum(len(g.resources) for g in groups)} resource(s) in {len(groups)} group(s); "
              f"{len(blockers)} blocker(s); {len(pending)} already pending import."), "",
             "| folder | group | resources |", "|---|---|---|"]
    lines += [f"| `{g.key}/` | {redact_text(g.title)} | {len(g.resources)} |" for g in groups]
    if blockers:
        lines += ["", "## Blockers: not written, and why", "", "| resource | type | region | why |", "|---|---|---|---|"]
        lines += [f"| `{redact_text(b['id'])}` | {b['type']} | {b.get('region') or ''} | {redact_text(b['reason'])} |"
                  for b in blockers]
    if pending:
        lines += ["", "## Already in a Terraform `import` block (left out)", ""]
        lines += [f"- `{redact_text(r.id)}` ({r.type})" for r in pending]
    return "\n".join(lines) + "\n"


