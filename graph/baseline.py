"""Baselines: the findings of a scan as a reviewable text file, so a CI gate fails only for findings not in it.

A finding is `unmanaged`, `missing` or `conflict` for a resource, or `drift` for one attribute of it, keyed
by the report's resource id (the ARN, else TYPE:ACCOUNT:REGION:ID). The file holds one finding a line,
sorted, each with a comment naming what it is; deleting a line stops accepting that finding. Pure: text and
report documents in and out (the CLI reads and writes the files).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from graph.report import escape_markdown, optional_cell, printable

SCHEMA = "driftgraph/baseline/1"
KINDS = ("unmanaged", "missing", "conflict", "drift")  # the order the file lists them in
STATUS_KINDS = KINDS[:3]  # statuses that are findings; `drift` is one per attribute
FAIL_ON_KIND = {"new-unmanaged": "unmanaged", "new-missing": "missing", "new-conflict": "conflict",
                "new-drift": "drift"}


@dataclass(frozen=True, order=True)
class Finding:
    kind: str
    id: str
    attribute: str | None = None  # the drifted attribute, for `drift` only

    def words(self) -> str:
        """The finding as the file writes it: KIND ID [ATTRIBUTE]."""
        return " ".join(_field(x) for x in (self.kind, self.id, self.attribute) if x is not None)


@dataclass
class Baseline:
    source: str
    lines: dict[Finding, int] = field(default_factory=dict)  # each finding -> the line that accepts it

    def __contains__(self, finding: Finding) -> bool:
        return finding in self.lines


def report_findings(report: dict[str, Any]) -> list[tuple[Finding, dict[str, Any]]]:
    """Every finding of a `driftgraph/report/1` document with its resource, sorted as the file lists them.
    Ignored resources and drift an ignore rule set aside are no findings: they are not in `drift`."""
    found: dict[Finding, dict[str, Any]] = {}
    for resource in report["resources"]:
        if resource["status"] in STATUS_KINDS:
            found[Finding(resource["status"], resource["id"])] = resource
        for drift in resource["drift"]:  # two owners declaring one attribute drift once
            found.setdefault(Finding("drift", resource["id"], drift["attribute"]), resource)
    order = {kind: n for n, kind in enumerate(KINDS)}
    return sorted(found.items(), key=lambda item: (order[item[0].kind], item[0].id, item[0].attribute or ""))


# A value written bare: printable, no space, no '#' (a comment), no '"' or '\' (quoting). Else a JSON string.
_BARE = re.compile(r'[^\s#"\\]+')


def _field(text: str) -> str:
    return text if _BARE.fullmatch(text) and text.isprintable() else json.dumps(text)


def _comment(resource: dict[str, Any], finding: Finding) -> str:
    """What a finding is, for the person reading the file: type, name, where, and who declares it."""
    text = f"{resource['type']} {resource.get('name') or '-'} in {resource.get('account')}/{resource.get('region')}"
    owners = [f"{o['tool']} {o['address']}" for o in resource.get("owners") or []]
    if finding.kind == "drift":
        owners = sorted({f"{d['tool']} {d['address']}" for d in resource["drift"]
                         if d["attribute"] == finding.attribute})
    if owners:
        text += "; declared by " + ", ".join(owners)
    return printable(" ".join(text.split()))  # one line, no terminal controls


def render_baseline(report: dict[str, Any]) -> str:
    """The baseline file of a report: a header that explains it, then one finding a line, by kind."""
    scan = report["scan"]
    found = report_findings(report)
    lines = [
        f"# driftgraph baseline ({SCHEMA}): findings accepted as they are, one a line.",
        "# `driftgraph report --fail-on new-unmanaged,new-missing,new-conflict,new-drift --baseline FILE` fails only",
        "# for findings not listed here; listed ones stay in the report, marked baselined. Delete a line to stop",
        "# accepting that finding; `driftgraph baseline` writes the file anew from a later scan.",
        "# A line is KIND RESOURCE-ID [ATTRIBUTE] (KIND: unmanaged, missing, conflict, or drift with its attribute);",
        "# a value holding a space, '#' or '\"' is a JSON string; text after '#' is a comment.",
        "# " + printable(f"From scan {scan['id']} (finished {scan.get('finished_at')}; accounts "
                         f"{', '.join(scan.get('accounts') or [])}; regions {', '.join(scan.get('regions') or [])}): "
                         f"{len(found)} findings."),
    ]
    for kind in KINDS:
        of_kind = [(f, r) for f, r in found if f.kind == kind]
        if of_kind:
            lines += ["", f"# {kind} ({len(of_kind)})"]
            lines += [f"{finding.words()}  # {_comment(resource, finding)}" for finding, resource in of_kind]
    return "\n".join(lines) + "\n"


def _words(line: str, where: str) -> list[str]:
    """The values of one line: bare words and JSON strings, up to a '#' that starts a comment."""
    words, index = [], 0
    decoder = json.JSONDecoder()
    while index < len(line):
        char = line[index]
        if char.isspace():
            index += 1
        elif char == "#":
            break
        elif char == '"':
            try:
                value, index = decoder.raw_decode(line, index)
            except ValueError:
                raise ValueError(f"{where}: a quoted value is not a valid JSON string") from None
            if index < len(line) and not line[index].isspace() and line[index] != "#":
                raise ValueError(f"{where}: a quoted value must be followed by a space")
            words.append(value)
        else:
            match = re.compile(r'[^\s#]+').match(line, index)
            if '"' in match.group(0):
                raise ValueError(f"{where}: a value holding '\"' must be written as a JSON string")
            words.append(match.group(0))
            index = match.end()
    return words


def parse_baseline(lines: Iterable[str], source: str) -> Baseline:
    """A baseline file's findings; ValueError naming source:line for a line that is not one (its values are
    not quoted back: a hand-edited line may hold anything)."""
    baseline = Baseline(source)
    for number, line in enumerate(lines, 1):
        where = f"{source}:{number}"
        words = _words(line, where)
        if not words:
            continue
        kind = words[0]
        if kind not in KINDS:
            shown = f" {kind!r}" if re.fullmatch(r"[A-Za-z_-]{1,20}", kind) else ""
            raise ValueError(f"{where}: the first word{shown} is not a finding kind (want {', '.join(KINDS)})")
        wanted = 3 if kind == "drift" else 2
        if len(words) != wanted:
            shape = "drift RESOURCE-ID ATTRIBUTE" if kind == "drift" else f"{kind} RESOURCE-ID"
            raise ValueError(f"{where}: {len(words)} values where {wanted} belong ({shape})")
        if not all(words):
            raise ValueError(f"{where}: an empty value")
        baseline.lines.setdefault(Finding(kind, words[1], words[2] if kind == "drift" else None), number)
    return baseline


def _summary(finding: Finding, resource: dict[str, Any]) -> dict[str, Any]:
    return {"kind": finding.kind, "id": finding.id, "attribute": finding.attribute, "type": resource.get("type"),
            "name": resource.get("name"), "account": resource.get("account"), "region": resource.get("region")}


def mark_baselined(report: dict[str, Any], baseline: Baseline) -> dict[str, Any]:
    """The report with what the baseline accepts marked, never removed: each resource's `baselined` (its status
    finding is listed) and each drift entry's, and a `baseline` object with the findings that are new (not
    listed) and the listed ones no longer found (`resolved`: their lines can go)."""
    found = report_findings(report)
    current = {finding for finding, _ in found}
    for resource in report["resources"]:
        resource["baselined"] = Finding(resource["status"], resource["id"]) in baseline
        for drift in resource["drift"]:
            drift["baselined"] = Finding("drift", resource["id"], drift["attribute"]) in baseline
    new = [_summary(f, r) for f, r in found if f not in baseline]
    report["baseline"] = {
        "file": baseline.source,
        "listed": len(baseline.lines),
        "baselined": len(found) - len(new),
        "new": new,
        "resolved": [{"kind": f.kind, "id": f.id, "attribute": f.attribute, "line": line}
                     for f, line in sorted(baseline.lines.items(), key=lambda item: item[1]) if f not in current],
    }
    return report


def new_findings(report: dict[str, Any], fail_on: Iterable[str]) -> list[dict[str, Any]]:
    """The new findings (of a report `mark_baselined` marked) whose kind a `new-*` word of `fail_on` names."""
    kinds = {FAIL_ON_KIND[word] for word in fail_on if word in FAIL_ON_KIND}
    return [f for f in report["baseline"]["new"] if f["kind"] in kinds]


def finding_text(finding: dict[str, Any]) -> str:
    """One line naming a finding: 'unmanaged AWS::SQS::Queue by-hand in 1/us-east-1 (arn:...)'."""
    attribute = f" {finding['attribute']}" if finding["attribute"] else ""
    return printable(f"{finding['kind']}{attribute} {finding['type']} {finding['name'] or '-'} in "
                     f"{finding['account']}/{finding['region']} ({finding['id']})")


def render_baseline_markdown(report: dict[str, Any]) -> str:
    """The Markdown section a report with a baseline ends with: what is new, what the baseline accepts, and
    the baseline's lines that found nothing."""
    baseline = report["baseline"]
    lines = ["", escape_markdown(f"## Baseline {baseline['file']}: {baseline['baselined']} findings accepted, "
                                 f"{len(baseline['new'])} new, {len(baseline['resolved'])} no longer found"), ""]
    header = ["| finding | type | name | where | attribute |", "|---|---|---|---|---|"]

    def row(f: dict[str, Any]) -> str:
        return (f"| {f['kind']} | {optional_cell(f['type'])} | {optional_cell(f['name'])} "
                f"| {optional_cell(f['account'])}/{optional_cell(f['region'])} | {optional_cell(f['attribute'])} |")

    if baseline["new"]:
        lines += [f"### New: not in the baseline ({len(baseline['new'])})", "", *header]
        lines += [row(f) for f in baseline["new"]]
        lines.append("")
    accepted = _accepted(report)
    if accepted:
        lines += [f"### Baselined: accepted, still there ({len(accepted)})", "", *header]
        lines += [row(f) for f in accepted]
        lines.append("")
    if baseline["resolved"]:
        lines += [f"### In the baseline, no longer found ({len(baseline['resolved'])}): their lines can go", "",
                  "| line | finding | id | attribute |", "|---:|---|---|---|"]
        lines += [f"| {f['line']} | {f['kind']} | {optional_cell(f['id'])} | {optional_cell(f['attribute'])} |"
                  for f in baseline["resolved"]]
        lines.append("")
    return "\n".join(lines)


def _accepted(report: dict[str, Any]) -> list[dict[str, Any]]:
    new = {(f["kind"], f["id"], f["attribute"]) for f in report["baseline"]["new"]}
    return [_summary(f, r) for f, r in report_findings(report) if (f.kind, f.id, f.attribute) not in new]
