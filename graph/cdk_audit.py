"""The CDK v1 migration worksheet (`driftgraph/cdk-audit/1`): every stack's origin, what ties it to other stacks,
the order to upgrade them in, and what blocks each v1 stack, built from a scan in the database.

The JSON shape is a contract like the report's (fields are added, never renamed); Markdown and a
self-contained HTML page render the same data.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter, defaultdict
from typing import Any

import sqlite_utils

from graph.report import loads, markdown_cell, printable, scan_row
from graph.stack_deps import StackEdge, blast_radius, stored_graph, upgrade_waves

SCHEMA = "driftgraph/cdk-audit/1"
V1 = "cdk-v1"

# v1 modules whose L2 constructs live, in CDK v2, in an experimental `@aws-cdk/<module>-alpha` package rather than
# in aws-cdk-lib (which holds every module's L1 `Cfn*` classes, so only the non-Cfn constructs of these block).
# Gathered 2026-12-02 from the npm registry: each v1 module listed in monocdk 1.203.0's devDependencies, kept when
# `@aws-cdk/<module>-alpha` exists and was still released in the last year of aws-cdk-lib 2.x (latest alpha
# version >= 2.180; the ones that stopped earlier graduated into aws-cdk-lib: apigatewayv2 at 2.112, appsync at
# 2.60, batch at 2.96, synthetics at 2.101). `ec2` and `elasticache` alphas are new v2 modules, not v1's.
# Value: the alpha's latest version on npm then.
ALPHA_IN_V2 = {
    "aws-amplify": "2.269.0-alpha.0",
    "aws-apprunner": "2.268.0-alpha.0",
    "aws-cloud9": "2.186.0-alpha.0",
    "aws-cognito-identitypool": "2.186.0-alpha.0",
    "aws-glue": "2.192.0-alpha.0",
    "aws-iot": "2.214.1-alpha.0",
    "aws-iot-actions": "2.214.1-alpha.0",
    "aws-iotevents": "2.214.1-alpha.0",
    "aws-kinesisanalytics-flink": "2.270.0-alpha.0",
    "aws-kinesisfirehose": "2.186.0-alpha.0",
    "aws-kinesisfirehose-destinations": "2.186.0-alpha.0",
    "aws-lambda-go": "2.258.0-alpha.0",
    "aws-lambda-python": "2.269.0-alpha.0",
    "aws-msk": "2.271.0-alpha.0",
    "aws-neptune": "2.262.0-alpha.0",
    "aws-redshift": "2.241.0-alpha.0",
    "aws-scheduler": "2.186.0-alpha.0",
    "aws-servicecatalogappregistry": "2.271.0-alpha.0",
}


def _alpha_modules(modules: list[str]) -> list[str]:
    """The v1 modules a stack uses through L2 constructs whose v2 home is still an alpha package.

    `modules` holds Analytics entries as stack_origin gives them: `@aws-cdk/aws-glue@1.204.0` for a module, or
    `@aws-cdk/aws-glue.Table@1.204.0` for a construct; an L1 (`.CfnTable`) is in aws-cdk-lib and never blocks."""
    found = set()
    for entry in modules:
        name = entry.rsplit("@", 1)[0] if entry.count("@") > 1 else entry
        if not name.startswith("@aws-cdk/"):
            continue
        module, _, construct = name[len("@aws-cdk/"):].partition(".")
        if module in ALPHA_IN_V2 and not construct.startswith("Cfn"):
            found.add(module)
    return sorted(found)


# v2's default synthesizer checks the bootstrap version it needs (the BootstrapVersion rule): 6 is the least
# any aws-cdk-lib release asks for; v1's legacy bootstrap (version 0) has none of the roles it deploys through
MIN_MODERN_BOOTSTRAP = 6
_BOOTSTRAP_VERSION = re.compile(r"bootstrap version (\d+)")


def modern_bootstraps(rows: list[dict]) -> set[tuple[str, str]]:
    """(account, region) of each bootstrap stack whose evidence shows a version v2's default synthesizer can use."""
    found = set()
    for row in rows:
        if row.get("framework") != "cdk-bootstrap":
            continue
        evidence = row.get("evidence")
        facts = loads(evidence) if isinstance(evidence, str) else evidence or []
        versions = [int(m.group(1)) for fact in facts for m in [_BOOTSTRAP_VERSION.search(str(fact))] if m]
        if versions and max(versions) >= MIN_MODERN_BOOTSTRAP:
            found.add((row.get("account"), row.get("region")))
    return found


def build_audit(db: sqlite_utils.Database, scan_id: int | None = None) -> dict[str, Any]:
    """The worksheet of one scan (the latest by default)."""
    scan = scan_row(db, scan_id)
    scan_id = scan["id"]
    tables = set(db.table_names())
    rows = list(db.query("select * from stacks where scan_id = ? order by account, region, name, id", [scan_id]))
    edges = (list(db.query("select stack_id, depends_on, via from stack_dependencies where scan_id = ? "
                           "order by stack_id, depends_on, via", [scan_id]))
             if "stack_dependencies" in tables else [])
    resources: Counter[str] = Counter(
        row["source"] for row in db.query(
            "select distinct source, resource_id from scan_owners where scan_id = ? and tool = 'cloudformation'", [scan_id]))
    drifted: Counter[str] = Counter(
        row["source"] for row in db.query(
            "select distinct source, resource_id from scan_drift where scan_id = ? and tool = 'cloudformation' "
            "and ignored is null", [scan_id]))
    importers: dict[tuple[str, str], list[str]] = defaultdict(list)  # (exporting stack, export) -> importing stacks
    for row in db.query("select stack_id, export_name, exporting_stack_id from stack_imports where scan_id = ? "
                        "order by export_name, stack_id", [scan_id]):
        if row["exporting_stack_id"]:
            importers[(row["exporting_stack_id"], row["export_name"])].append(row["stack_id"])

    graph = stored_graph(rows, [StackEdge(e["stack_id"], e["depends_on"], e["via"]) for e in edges])
    waves, cycles = upgrade_waves(graph)
    wave_of = {stack: index for index, wave in enumerate(waves) for stack in wave}
    depends_on: dict[str, list[dict]] = defaultdict(list)
    dependents: dict[str, list[dict]] = defaultdict(list)
    for edge in edges:  # an edge without depends_on is a read no scanned stack provides: kept, named as such
        depends_on[edge["stack_id"]].append({"stack": edge["depends_on"], "via": edge["via"]})
        if edge["depends_on"]:
            dependents[edge["depends_on"]].append({"stack": edge["stack_id"], "via": edge["via"]})
    modern_bootstrap = modern_bootstraps(rows)

    # a scan written before driftgraph read stack origins stored "cloudformation" for every stack: unknown, not that
    predates = bool(rows) and all(row.get("evidence") is None for row in rows)
    notes = [f"scan {scan_id} was written before driftgraph read stack origins and dependencies: frameworks and "
             "waves are unknown; scan again"] if predates else []
    stacks = []
    for row in rows:
        stack_id = row["id"]
        if predates:
            row = {**row, "framework": None}
        modules = loads(row.get("modules")) or []
        entry = {
            "id": stack_id,
            "name": row.get("name"),
            "account": row.get("account"),
            "region": row.get("region"),
            "status": row.get("status"),
            "framework": row.get("framework"),
            "cdk_version": row.get("cdk_version"),
            "synthesizer": row.get("synthesizer"),
            "language": row.get("language"),
            "evidence": loads(row.get("evidence")) or [],
            "modules": modules,
            "parent_id": row.get("parent_id"),
            "depends_on": depends_on.get(stack_id, []),
            "dependents": dependents.get(stack_id, []),
            "blast_radius": blast_radius(graph, stack_id),
            "wave": wave_of.get(stack_id),
            "resources": resources.get(stack_id, 0),
            "drifted_resources": drifted.get(stack_id, 0),
            # 1/0 when cloud assemblies were given (--cdk-out): held by one, or a CDK stack none holds; else unknown
            "in_assembly": None if row.get("in_assembly") is None else bool(row["in_assembly"]),
        }
        entry["blockers"] = _blockers(entry, importers, modern_bootstrap) if entry["framework"] == V1 else []
        stacks.append(entry)
    by_framework = Counter(s["framework"] or "unknown" for s in stacks)
    v1_waves = sorted({s["wave"] for s in stacks if s["framework"] == V1 and s["wave"] is not None})
    assemblies = {
        "stacks": [{k: (loads(row[k]) if k == "dependencies" else row[k])
                    for k in ("assembly", "artifact_id", "stack_name", "account", "region", "status", "stack_id",
                              "framework", "cdk_version", "dependencies")}
                   for row in (db.query("select * from assembly_stacks where scan_id = ? order by assembly, artifact_id",
                                        [scan_id]) if "assembly_stacks" in tables else [])],
        "orphans": [s["id"] for s in stacks if s["in_assembly"] is False],
        "resource_diffs": [{k: row[k] for k in ("stack_id", "logical_id", "type", "diff")}
                           for row in (db.query("select * from assembly_diffs where scan_id = ? "
                                                "order by stack_id, logical_id", [scan_id])
                                       if "assembly_diffs" in tables else [])],
    }
    return {
        "schema": SCHEMA,
        "scan": {k: (loads(scan.get(k)) if k in ("accounts", "regions") else scan.get(k))
                 for k in ("id", "finished_at", "status", "accounts", "regions")},
        "summary": {
            "stacks": len(stacks),
            "by_framework": dict(sorted(by_framework.items())),
            "v1_stacks": by_framework.get(V1, 0),
            "waves": len(waves),
            "v1_waves": len(v1_waves),
            "cycles": len(cycles),
        },
        "notes": notes,
        "stacks": stacks,
        "waves": waves,
        "cycles": cycles,
        "assemblies": assemblies,
        "template_files": [
            {"path": row["path"], "framework": row.get("framework"), "evidence": loads(row.get("evidence")) or []}
            for row in db.query("select * from sources where scan_id = ? and kind = 'cloudformation_template' "
                                "order by path", [scan_id])
            if row.get("framework")
        ],
        "unmet": sum(1 for e in edges if not e["depends_on"]),
    }


def _blockers(stack: dict, importers: dict[tuple[str, str], list[str]],
              modern_bootstrap: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """What stands between one v1 stack and v2, each with what to do about it."""
    blockers = []
    imported = {name: sorted(set(users)) for (exporter, name), users in importers.items() if exporter == stack["id"]}
    if imported:
        blockers.append({
            "kind": "exports-imported",
            "detail": {name: users for name, users in sorted(imported.items())},
            "advice": "keep each export's name and value while refactoring (CDK's `exportValue()` pins one), "
                      "or move the importers off it first: CloudFormation refuses to change an export in use",
        })
    alpha = _alpha_modules(stack["modules"])
    if alpha:
        blockers.append({
            "kind": "alpha-modules",
            "detail": {m: f"@aws-cdk/{m}-alpha" for m in alpha},
            "advice": "these constructs are experimental in v2 (an -alpha package, whose API may change)",
        })
    if stack["synthesizer"] == "legacy":
        where = (stack["account"], stack["region"])
        found = "found" if where in modern_bootstrap else "not found in this scan"
        blockers.append({
            "kind": "legacy-synthesizer",
            "detail": f"modern bootstrap stack in {where[0]}/{where[1]}: {found}",
            "advice": "v2's default synthesizer deploys through a modern bootstrap (`cdk bootstrap` with v2) in "
                      "the stack's account and region",
        })
    if stack["drifted_resources"]:
        blockers.append({
            "kind": "drift",
            "detail": f"{stack['drifted_resources']} resources changed by hand",
            "advice": "a redeploy reverts them: bring the code in line with what is live first",
        })
    return blockers


# ------------------------------------------------------------------------------------------------ rendering


def audit_summary(audit: dict[str, Any]) -> str:
    """A few lines for a terminal: stacks by framework, the v1 stacks, the waves to upgrade them in."""
    summary, names = audit["summary"], _names(audit)
    frameworks = ", ".join(f"{count} {framework}" for framework, count in summary["by_framework"].items())
    lines = [f"CDK audit: {summary['stacks']} stacks ({frameworks}); {summary['waves']} upgrade waves, "
             f"{summary['cycles']} cycles"]
    v1 = {s["id"] for s in audit["stacks"] if s["framework"] == V1}
    for index, wave in enumerate(audit["waves"]):
        in_wave = [names[x] for x in wave if x in v1]
        if in_wave:
            lines.append(f"  v1 wave {index}: {', '.join(sorted(in_wave))}")
    return "\n".join(printable(line) for line in lines)



def _names(audit: dict[str, Any]) -> dict[Any, str]:
    return {None: "no scanned stack", **{s["id"]: s["name"] or s["id"] for s in audit["stacks"]}}


def render_audit_markdown(audit: dict[str, Any]) -> str:
    summary, names = audit["summary"], _names(audit)
    lines = [f"# driftgraph CDK audit: scan {audit['scan']['id']}", "",
             f"{summary['stacks']} stacks; {summary['v1_stacks']} CDK v1; {summary['waves']} upgrade waves; "
             f"{summary['cycles']} cycles.", *[f"\n**{markdown_cell(note)}**" for note in audit.get("notes", [])],
             "", "| framework | stacks |", "|---|---:|"]
    lines += [f"| {markdown_cell(framework)} | {count} |" for framework, count in summary["by_framework"].items()]
    lines += ["", "## Stacks", "", "| wave | stack | where | framework | version | synthesizer | depends on | evidence |",
              "|---:|---|---|---|---|---|---|---|"]
    for s in sorted(audit["stacks"], key=lambda s: (s["wave"] if s["wave"] is not None else 1 << 30, s["name"] or "")):
        needs = "; ".join(f"{names.get(d['stack'], d['stack'])} ({d['via']})" for d in s["depends_on"])
        lines.append(f"| {'' if s['wave'] is None else s['wave']} | {markdown_cell(s['name'])} | {markdown_cell(s['account'])}/{markdown_cell(s['region'])} "
                     f"| {markdown_cell(s['framework'])} | {markdown_cell(s['cdk_version'] or '')} | {markdown_cell(s['synthesizer'] or '')} "
                     f"| {markdown_cell(needs)} | {markdown_cell('; '.join(s['evidence']))} |")
    v1 = [s for s in audit["stacks"] if s["framework"] == V1]
    if v1:
        lines += ["", "## CDK v1 stacks: what blocks each", ""]
        for s in sorted(v1, key=lambda s: (s["wave"] if s["wave"] is not None else 1 << 30, s["name"] or "")):
            lines.append(f"### {markdown_cell(s['name'])} (wave {s['wave']}, {markdown_cell(s['account'])}/{markdown_cell(s['region'])})")
            lines.append("")
            if not s["blockers"]:
                lines.append("- nothing found: no export in use, no alpha module, a modern synthesizer, no drift")
            for b in s["blockers"]:
                detail = b["detail"] if isinstance(b["detail"], str) else "; ".join(
                    f"{k}: {', '.join(names.get(x, x) for x in v) if isinstance(v, list) else v}" for k, v in b["detail"].items())
                lines.append(f"- **{b['kind']}**: {markdown_cell(detail)}. {markdown_cell(b['advice'])}.")
            if s["blast_radius"]:
                lines.append(f"- breaks if its exports change: {markdown_cell(', '.join(names.get(x, x) for x in s['blast_radius']))}")
            lines.append("")
    assembled = audit.get("assemblies") or {}
    if assembled.get("stacks"):
        lines += ["## Cloud assemblies", "", "| synthesized stack | assembly | status | deployed as |", "|---|---|---|---|"]
        lines += [f"| {markdown_cell(a['stack_name'])} | {markdown_cell(a['assembly'])} | {markdown_cell(a['status'])} | {markdown_cell(names.get(a['stack_id'], ''))} |"
                  for a in assembled["stacks"]]
        if assembled["orphans"]:
            lines += ["", "Deployed CDK stacks no given assembly holds: "
                      + markdown_cell(", ".join(names.get(x, x) for x in assembled["orphans"]))]
        if assembled["resource_diffs"]:
            lines += ["", "| stack | logical id | type | difference |", "|---|---|---|---|"]
            lines += [f"| {markdown_cell(names.get(d['stack_id'], d['stack_id']))} | {markdown_cell(d['logical_id'])} | {markdown_cell(d['type'])} "
                      f"| {markdown_cell(d['diff'].replace('_', ' '))} |" for d in assembled["resource_diffs"]]
        lines.append("")
    if audit["cycles"]:
        lines += ["## Cycles (upgrade together)", ""]
        lines += [f"- {markdown_cell(' -> '.join(names.get(x, x) for x in cycle))}" for cycle in audit["cycles"]]
    return "\n".join(lines).rstrip() + "\n"


_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#1b1b1b}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.v1{background:#fff4e0}code{font-size:.9em}li{margin:.2rem 0}"""


def render_audit_html(audit: dict[str, Any]) -> str:
    """One page, no script and nothing fetched: it opens anywhere, offline, and every value is escaped."""
    e, summary, names = html.escape, audit["summary"], _names(audit)
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>driftgraph CDK audit: scan "
             f"{e(str(audit['scan']['id']))}</title><style>{_STYLE}</style></head><body>",
             f"<h1>CDK audit: scan {e(str(audit['scan']['id']))}</h1>",
             f"<p>{summary['stacks']} stacks; {summary['v1_stacks']} CDK v1; {summary['waves']} upgrade waves; "
             f"{summary['cycles']} cycles.</p><table><tr><th>framework</th><th>stacks</th></tr>"]
    parts += [f"<tr><td>{e(f)}</td><td>{n}</td></tr>" for f, n in summary["by_framework"].items()]
    parts.append("</table><h2>Upgrade waves</h2><ol start=0>")
    for wave in audit["waves"]:
        parts.append("<li>" + ", ".join(e(names.get(x, x)) for x in wave) + "</li>")
    parts.append("</ol><h2>Stacks</h2><table><tr><th>wave</th><th>stack</th><th>where</th><th>framework</th>"
                 "<th>version</th><th>synthesizer</th><th>depends on</th><th>blocks</th><th>evidence</th></tr>")
    for s in sorted(audit["stacks"], key=lambda s: (s["wave"] if s["wave"] is not None else 1 << 30, s["name"] or "")):
        needs = "<br>".join(f"{e(names.get(d['stack'], d['stack']))} <small>({e(d['via'])})</small>" for d in s["depends_on"])
        blocks = "<br>".join(f"<b>{e(b['kind'])}</b>: {e(b['detail'] if isinstance(b['detail'], str) else json.dumps(b['detail']))}"
                             for b in s["blockers"])
        parts.append(f"<tr class={'v1' if s['framework'] == V1 else 'other'}><td>{'' if s['wave'] is None else s['wave']}</td>"
                     f"<td>{e(s['name'] or '')}</td><td>{e(s['account'] or '')}/{e(s['region'] or '')}</td>"
                     f"<td>{e(s['framework'] or '')}</td><td>{e(s['cdk_version'] or '')}</td><td>{e(s['synthesizer'] or '')}</td>"
                     f"<td>{needs}</td><td>{blocks}</td><td><ul>{''.join(f'<li>{e(x)}</li>' for x in s['evidence'])}</ul></td></tr>")
    parts.append("</table>")
    if audit["cycles"]:
        parts.append("<h2>Cycles (upgrade together)</h2><ul>")
        parts += ["<li>" + " &rarr; ".join(e(names.get(x, x)) for x in c) + "</li>" for c in audit["cycles"]]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
