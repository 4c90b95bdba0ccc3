"""What a CloudFormation template says about other stacks beyond Fn::ImportValue: the SSM parameters it writes and
reads, the CDK bootstrap version it checks, its nested stacks, and CDK's cross-region references.

Pure: a template (and what the importer knows of its deployment) in, a StackReferences out. Names that cannot be
resolved are never guessed: they are counted in `unresolved`, so a reader knows the stack may need more.

- SSM writes: AWS::SSM::Parameter resources, by their resolved Name (for a deployed stack, else by the physical id,
  which is the name). An unnamed parameter's name is generated, so no other template can read it by name.
- SSM reads: parameters of type AWS::SSM::Parameter::Value<...> (the value a deployment passes, which is the SSM
  parameter's name, else the Default) and {{resolve:ssm:NAME}} dynamic references in resource properties (version
  selectors dropped; parameter ARNs kept whole). {{resolve:ssm-secure:...}} is left out: no template can write a
  SecureString, so it is never a link between stacks.
- Bootstrap: CDK's modern synthesizer gives every stack a `BootstrapVersion` parameter reading
  /cdk-bootstrap/QUALIFIER/version, written by the bootstrap stack (CDKToolkit). It is kept apart from SSM reads,
  as its own kind: it ties a stack to the bootstrap of its account and region (a v2 stack needs a modern bootstrap
  there), and a graph of an estate should show that tie as such, not as one more parameter.
- Nested stacks: AWS::CloudFormation::Stack resources, and AWS::Serverless::Application (a SAM nested stack, in a
  template whose transform has not run).
- Cross-region references (aws-cdk-lib `crossRegionReferences`, core/lib/custom-resource-provider/
  cross-region-export-providers): the producer declares a Custom::CrossRegionExportWriter whose
  WriterProps {region: CONSUMER_REGION, exports: {"/cdk/exports/CONSUMER/ID": value}} puts SSM parameters into
  the consumer's region; the consumer declares a Custom::CrossRegionExportReader whose ReaderProps {region: its
  own region, prefix: CONSUMER, imports: {"/cdk/exports/CONSUMER/ID": "{{resolve:ssm:...}}"}} reads them. Those
  reads are cross-region reads, not SSM reads.
"""

from __future__ import annotations

import re
from typing import Any

from graph.records import UNRESOLVED, holds_unresolved
from graph.stack_deps import StackReferences
from importers.cfn_template import (
    NO_VALUE,
    Context,
    cfn_text,
    declared_resources,
    is_intrinsic,
    make_context,
    resolve,
)

__all__ = ["StackReferences", "stack_references", "reference_rows", "references_from_rows"]

SSM_PARAMETER = "AWS::SSM::Parameter"
SSM_PARAMETER_VALUE = "AWS::SSM::Parameter::Value<"  # AWS::SSM::Parameter::Value<String>, <AWS::EC2::Image::Id>...
NESTED_STACK_TYPES = ("AWS::CloudFormation::Stack", "AWS::Serverless::Application")
CROSS_REGION_READER = "Custom::CrossRegionExportReader"
CROSS_REGION_WRITER = "Custom::CrossRegionExportWriter"
BOOTSTRAP_VERSION = re.compile(r"^/cdk-bootstrap/[^/]+/version$")
NO_ECHO_MASK = "****"

DYNAMIC_SSM = "{{resolve:ssm:"
_DYNAMIC_SSM_REFERENCE = re.compile(r"\{\{resolve:ssm:([^{}]*)\}\}")
_SSM_NAME = re.compile(r"^[A-Za-z0-9_.\-/]+$")  # the characters SSM allows in a parameter name


def ssm_name(text: str) -> str | None:
    """The parameter a reference names, without a version or label selector (`/app/url:3` is `/app/url`); a
    parameter ARN stays whole (it names another account or region). None when it is no parameter name."""
    if text.startswith("arn:"):
        parts = text.split(":")
        if len(parts) in (6, 7) and parts[2] == "ssm" and parts[5].startswith("parameter/"):
            path = parts[5][len("parameter/"):]
            return ":".join(parts[:6]) if path and _SSM_NAME.match(path) else None
        return None
    name = text.split(":", 1)[0]
    return name if _SSM_NAME.match(name) else None


def _contains_dynamic_reference(value: Any) -> bool:
    if isinstance(value, str):
        return DYNAMIC_SSM in value
    if isinstance(value, dict):
        return any(_contains_dynamic_reference(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_dynamic_reference(item) for item in value)
    return False


def _dynamic_reads(value: Any, context: Context) -> tuple[list[str], bool]:
    """(parameter names read by {{resolve:ssm:...}} in `value`, whether one could not be read). An intrinsic that
    builds a reference (Fn::Sub, Fn::Join) is resolved first; when it cannot be, the references written out in it
    are still taken (an Fn::If branch that may be taken is a dependency that may exist) and the rest is unknown."""
    names: list[str] = []
    unknown = False

    def walk(node: Any) -> None:
        nonlocal unknown
        if isinstance(node, str):
            if DYNAMIC_SSM not in node:
                return
            found = [ssm_name(text) for text in _DYNAMIC_SSM_REFERENCE.findall(node)]
            names.extend(name for name in found if name)
            # a reference cut apart (Fn::Join pieces) or holding a ${Variable} is one we cannot name
            if not found or None in found or node.count(DYNAMIC_SSM) > len(found):
                unknown = True
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if is_intrinsic(node) and _contains_dynamic_reference(node):
                resolved = resolve(node, context)
                if resolved is not NO_VALUE and not holds_unresolved(resolved):
                    walk(resolved)
                    return
                for argument in node.values():
                    walk(argument)
                return
            for item in node.values():
                walk(item)

    walk(value)
    return names, unknown


def _parameter_declarations(template: dict) -> dict:
    declared = template.get("Parameters")
    return declared if isinstance(declared, dict) else {}


def _is_ssm_typed(declaration: Any) -> bool:
    return isinstance(declaration, dict) and str(declaration.get("Type", "")).startswith(SSM_PARAMETER_VALUE)


def _is_no_echo(declaration: dict) -> bool:
    value = cfn_text(declaration.get("NoEcho", ""))
    return value is UNRESOLVED or value.lower() == "true"


def _context_for(template: dict, parameters: dict[str, Any] | None) -> Context:
    """A context with the deployment's values, or the defaults for a template file. An SSM-typed parameter's
    deployed value is the parameter's name, not what Ref gives: it stays unknown here."""
    declared = _parameter_declarations(template)
    values = {key: value for key, value in (parameters or {}).items() if not _is_ssm_typed(declared.get(key))}
    return make_context(template, parameters=values, use_defaults=parameters is None)


def _text(value: Any) -> str | None:
    text = cfn_text(value)
    return text if isinstance(text, str) and text else None


def stack_references(
    template: dict | None, *, parameters: dict[str, str] | None = None, context: Context | None = None
) -> StackReferences:
    """What `template` says about other stacks (see the module docstring).

    `parameters`: for a deployed stack, the values DescribeStacks shows (ParameterValue: for an SSM-typed
    parameter, the SSM parameter's name); None for a template file, whose defaults apply. `context`: the
    importer's resolution context for this stack (pseudo parameters, physical ids); by default one is made from
    `parameters`. A template that is not a mapping says nothing."""
    if not isinstance(template, dict):
        return StackReferences()
    if context is None:
        context = _context_for(template, parameters)
    ssm_writes: list[str] = []
    ssm_reads: list[str] = []
    bootstrap: list[str] = []
    nested: list[str] = []
    cross_reads: list[tuple[str | None, str]] = []
    cross_writes: list[tuple[str | None, str]] = []
    unresolved: list[str] = []

    for key, declaration in _parameter_declarations(template).items():
        if not _is_ssm_typed(declaration):
            continue
        if _is_no_echo(declaration):
            unresolved.append(f"parameter {key}: NoEcho, the SSM parameter it reads is not shown")
            continue
        given = parameters.get(key) if parameters is not None else declaration.get("Default")
        name = ssm_name(given) if isinstance(given, str) and given != NO_ECHO_MASK else None
        if name is None:
            unresolved.append(f"parameter {key}: the SSM parameter it reads is not known")
        elif BOOTSTRAP_VERSION.match(name):
            bootstrap.append(name)
        else:
            ssm_reads.append(name)

    for logical, declaration in declared_resources(template, context).items():
        kind = declaration["Type"]
        properties = declaration.get("Properties") if isinstance(declaration.get("Properties"), dict) else {}
        if kind in NESTED_STACK_TYPES:
            nested.append(logical)
        elif kind == SSM_PARAMETER:
            name = _text(resolve(properties.get("Name"), context)) if "Name" in properties else None
            name = name or context.physical_ids.get(logical)
            if name:
                ssm_writes.append(name)
            elif "Name" in properties:
                unresolved.append(f"resource {logical}: the name of the SSM parameter it writes is not known")
        elif kind in (CROSS_REGION_READER, CROSS_REGION_WRITER):
            reader = kind == CROSS_REGION_READER
            props = properties.get("ReaderProps" if reader else "WriterProps")
            props = props if isinstance(props, dict) else {}
            names = props.get("imports" if reader else "exports")
            if not isinstance(names, dict):
                unresolved.append(f"resource {logical}: the cross-region references it {'reads' if reader else 'writes'} are not known")
                continue
            region = _text(resolve(props.get("region"), context))
            (cross_reads if reader else cross_writes).extend((region, str(name)) for name in names)
            continue  # the reader's own {{resolve:ssm:...}} are these very names, read as cross-region
        found, unknown = _dynamic_reads(properties, context)
        ssm_reads += found
        if unknown:
            unresolved.append(f"resource {logical}: an SSM dynamic reference whose name is not known")

    return StackReferences(
        ssm_writes=_unique(ssm_writes),
        ssm_reads=_unique(ssm_reads),
        bootstrap=_unique(bootstrap),
        nested=_unique(nested),
        cross_region_reads=_unique(cross_reads),
        cross_region_writes=_unique(cross_writes),
        unresolved=_unique(unresolved),
    )


def _unique(items: list) -> tuple:
    return tuple(sorted(set(items), key=lambda item: tuple("" if part is None else part for part in item)
                        if isinstance(item, tuple) else item))


# ------------------------------------------------------------------------------------------ rows for the store

_FIELDS = ("ssm_writes", "ssm_reads", "bootstrap", "nested", "cross_region_reads", "cross_region_writes", "unresolved")
_REGIONAL = ("cross_region_reads", "cross_region_writes")


def reference_rows(stack_id: str, references: StackReferences) -> list[dict]:
    """One row per reference ({stack_id, kind, name, region}), the kind being the StackReferences field name:
    what a store keeps so that an audit can rebuild the graph from the database."""
    rows = []
    for kind in _FIELDS:
        for item in getattr(references, kind):
            region, name = item if kind in _REGIONAL else (None, item)
            rows.append({"stack_id": stack_id, "kind": kind, "name": name, "region": region})
    return rows


def references_from_rows(rows: list[dict]) -> dict[str, StackReferences]:
    """The StackReferences of each stack, from `reference_rows` rows (in any order)."""
    fields: dict[str, dict[str, list]] = {}
    for row in rows:
        if row["kind"] not in _FIELDS:
            continue
        item = (row.get("region"), row["name"]) if row["kind"] in _REGIONAL else row["name"]
        fields.setdefault(row["stack_id"], {}).setdefault(row["kind"], []).append(item)
    return {
        stack_id: StackReferences(**{
            kind: _unique(items) for kind, items in found.items()
        })
        for stack_id, found in fields.items()
    }
