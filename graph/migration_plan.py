"""The migration worksheet (`driftgraph/plan/1`): what no code owns, in the groups `codify` writes, with the
import id each needs, hints at who owns it, what cannot be imported, and the files codify writes for each group.

Built on graph.codify's selection and grouping, so the worksheet and the code always agree.
"""

from __future__ import annotations

import html
import json
from typing import Any

from graph.codify import CodifyResource, codify
from graph.codify_cloudformation import render_cloudformation
from graph.codify_terraform import import_id, render_terraform
from graph.report import optional_cell, printable, scan_row

SCHEMA = "driftgraph/plan/1"
# tags people use to say who owns a thing or why it exists: shown as hints, in this order
OWNER_TAGS = ("owner", "Owner", "team", "Team", "created-by", "CreatedBy", "createdBy", "contact", "Contact",
              "cost-center", "CostCenter", "project", "Project", "application", "Application", "Name")


def _terraform_import_id(resource: CodifyResource) -> str | None:
    try:
        return import_id(resource)
    except (ValueError, KeyError):
        return None  # the blockers say why


def _hints(resource: CodifyResource) -> dict[str, str]:
    return {key: str(resource.tags[key]) for key in OWNER_TAGS if resource.tags.get(key) not in (None, "")}


def build_plan(db, scan_id: int | None = None, *, by: str = "component", around: str | None = None,
               depth: int = 1) -> dict[str, Any]:
    """The worksheet of one scan (the latest by default), grouped as `driftgraph codify` would group it."""
    scan = scan_row(db, scan_id)
    terraform = codify(db, scan["id"], tool="terraform", by=by, around=around, depth=depth)
    cloudformation = codify(db, scan["id"], tool="cloudformation", by=by, around=around, depth=depth)
    terraform_files = render_terraform(terraform.groups, terraform.blockers, terraform)
    cfn_files = render_cloudformation(cloudformation.groups, cloudformation.blockers, cloudformation)
    groups = []
    for group in terraform.groups:
        groups.append({
            "key": group.key,
            "title": group.title,
            "size": len(group.resources),
            "resources": [{"id": r.id, "type": r.type, "name": r.name, "account": r.account, "region": r.region,
                           "terraform_import_id": _terraform_import_id(r), "hints": _hints(r)}
                          for r in group.resources],
            "files": sorted(f"terraform/{path}" for path in terraform_files if path.startswith(f"{group.key}/")),
        })
    cfn_blockers = json.loads(cfn_files["blockers.json"]) if "blockers.json" in cfn_files else cloudformation.blockers
    return {
        "schema": SCHEMA,
        "scan": {"id": scan["id"], "finished_at": scan.get("finished_at"), "status": scan.get("status")},
        "summary": {"groups": len(groups), "resources": sum(g["size"] for g in groups),
                    "pending": len(terraform.pending), "terraform_blockers": len(terraform.blockers),
                    "cloudformation_blockers": len(cfn_blockers)},
        "groups": groups,
        "pending": [{"id": r.id, "type": r.type, "name": r.name} for r in terraform.pending],
        "blockers": {"terraform": terraform.blockers,
                     "cloudformation": [{k: b.get(k) for k in ("id", "type", "name", "reason")} for b in cfn_blockers]},
    }


def render_plan_markdown(plan: dict[str, Any]) -> str:
    summary = plan["summary"]
    lines = [f"# driftgraph migration plan: scan {plan['scan']['id']}", "",
             f"{summary['resources']} resources no code owns, in {summary['groups']} groups to import together; "
             f"{summary['pending']} already pending in an import block; blockers: {summary['terraform_blockers']} "
             f"for Terraform, {summary['cloudformation_blockers']} for CloudFormation.", "",
             "Write the code with `driftgraph codify --format terraform|cloudformation|cdk --out DIR`; each group "
             "below is one folder there, its resources in import order.", ""]
    for group in plan["groups"]:
        lines += [f"## {optional_cell(group['key'])} ({group['size']} resources)", "",
                  "| type | name | where | Terraform import id | owner hints |", "|---|---|---|---|---|"]
        for r in group["resources"]:
            hints = "; ".join(f"{k}={v}" for k, v in r["hints"].items())
            lines.append(f"| {optional_cell(r['type'])} | {optional_cell(r['name'])} | {optional_cell(r['account'])}/{optional_cell(r['region'])} "
                         f"| {optional_cell(r['terraform_import_id'] or 'blocked')} | {optional_cell(hints)} |")
        lines += ["", "Files: " + ", ".join(f"`{optional_cell(f)}`" for f in group["files"]), ""]
    for tool, listed in plan["blockers"].items():
        if listed:
            lines += [f"## Cannot be imported with {tool} ({len(listed)})", "", "| type | name | why |", "|---|---|---|"]
            lines += [f"| {optional_cell(b['type'])} | {optional_cell(b['name'])} | {optional_cell(b['reason'])} |" for b in listed]
            lines.append("")
    if plan["pending"]:
        lines += [f"## Already pending in an import block ({len(plan['pending'])})", ""]
        lines += [f"- {optional_cell(p['type'])} {optional_cell(p['name'])}" for p in plan["pending"]]
    return "\n".join(lines).rstrip() + "\n"


def render_plan_html(plan: dict[str, Any]) -> str:
    """One self-contained page: no script, nothing fetched, every value escaped."""
    e = html.escape
    summary = plan["summary"]
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>driftgraph migration plan: scan "
             f"{plan['scan']['id']}</title><style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}}"
             "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.3rem .5rem;"
             "text-align:left}th{background:#f3f3f3}code{font-size:.9em}</style></head><body>",
             f"<h1>Migration plan: scan {plan['scan']['id']}</h1>",
             f"<p>{summary['resources']} resources no code owns, in {summary['groups']} groups; "
             f"{summary['pending']} pending; blockers: {summary['terraform_blockers']} Terraform, "
             f"{summary['cloudformation_blockers']} CloudFormation.</p>"]
    for group in plan["groups"]:
        parts.append(f"<h2>{e(group['key'])} <small>({group['size']} resources)</small></h2><table><tr><th>type</th>"
                     "<th>name</th><th>where</th><th>Terraform import id</th><th>owner hints</th></tr>")
        for r in group["resources"]:
            hints = "; ".join(f"{k}={v}" for k, v in r["hints"].items())
            parts.append(f"<tr><td>{e(r['type'])}</td><td>{e(printable(str(r['name'] or '')))}</td>"
                         f"<td>{e(str(r['account']))}/{e(str(r['region']))}</td>"
                         f"<td><code>{e(r['terraform_import_id'] or 'blocked')}</code></td><td>{e(printable(hints))}</td></tr>")
        parts.append("</table><p>Files: " + ", ".join(f"<code>{e(f)}</code>" for f in group["files"]) + "</p>")
    for tool, listed in plan["blockers"].items():
        if listed:
            parts.append(f"<h2>Cannot be imported with {e(tool)}</h2><ul>")
            parts += [f"<li>{e(b['type'])} {e(str(b['name']))}: {e(str(b['reason']))}</li>" for b in listed]
            parts.append("</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
