"""CloudFormation as a source: deployed stacks (read through the API) and template files, as records.

`import_stacks` reads what CloudFormation deployed: DescribeStacks, ListStackResources, GetTemplate and
ListExports per region (the `get_*` functions, dumb and paginating), then `stack_to_result` turns one stack's
payloads into records (pure). `import_template_files` reads templates from disk: only resources whose
physical name the template spells out can be matched without a stack.

Nothing of a template is stored but the catalog's comparable attributes and tags: no template text, no
parameter values, no outputs. Messages pass through `redact_text`.
"""

from __future__ import annotations

import re
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from botocore.exceptions import ClientError

from graph.drift import pick_values, tags_from_pairs
from graph.records import (
    CLOUDFORMATION,
    GLOBAL,
    UNRESOLVED,
    FailedSource,
    ImportResult,
    Owner,
    Record,
    SourceError,
    source_row,
)
from graph.redact import is_secret_key, redact_text
from graph.resource_types import (
    BOOKKEEPING_TYPES,
    CATALOG,
    CHILD_TYPES,
    FUNCTIONS,
    ResourceType,
    format_arn,
)
from importers.cfn_template import (
    LANGUAGE_EXTENSIONS,
    SAM,
    Context,
    TemplateError,
    cfn_text,
    check_template,
    declared_resources,
    evaluate_condition,
    exported_names,
    imported_names,
    inline_transforms,
    is_secret_parameter,
    load_template,
    make_context,
    reads_secret,
    resolve,
    resource_entries,
    resources_left_out_by_conditions,
    transforms,
    undecided_conditions,
    unknown_parameter_reason,
    unsupported_intrinsics,
)
from importers.limits import (
    INPUT_TIME_BUDGET_S,
    MAX_INPUT_BYTES,
    BudgetExceeded,
    time_budget,
)
from importers.inputs import DEFAULT_MAX_BYTES, InputProblem, find_files, read_file
from importers.stack_links import reference_rows, stack_references
from importers.stack_origin import Origin, construct_paths, stack_origin

TOOL = "cloudformation"
FRAMEWORK = "cloudformation"
STACK_TYPE = "AWS::CloudFormation::Stack"
DESCRIBE_STACKS_SOURCE = "aws:cloudformation:DescribeStacks"  # the source a region's failed DescribeStacks names
BOOKKEEPING_NOTE = "bookkeeping"
TEMPLATE_SUFFIXES = (".json", ".yaml", ".yml", ".template")
NO_ECHO_MASK = "****"  # what DescribeStacks shows for a NoEcho parameter
STACK_SOURCE, TEMPLATE_SOURCE = "cloudformation_stack", "cloudformation_template"  # `sources.kind`

# ------------------------------------------------------------------------------------------ fetching (AWS)


def _paginate(client, method: str, key: str, **params: Any) -> list[dict]:
    items: list[dict] = []
    for page in client.get_paginator(method).paginate(**params):
        items += page.get(key) or []
    return items


def get_stacks(client) -> list[dict]:
    return _paginate(client, "describe_stacks", "Stacks")


def get_exports(client) -> list[dict]:
    return _paginate(client, "list_exports", "Exports")


def get_stack_resources(client, stack_id: str) -> list[dict]:
    return _paginate(client, "list_stack_resources", "StackResourceSummaries", StackName=stack_id)


def get_template_body(client, stack_id: str, stage: str) -> Any:
    """The template CloudFormation holds: a dict when it was JSON (boto3 decodes it), else YAML text."""
    return client.get_template(StackName=stack_id, TemplateStage=stage).get("TemplateBody")


def _error_code(error: Exception) -> str | None:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code")
    return type(error).__name__


def _error_message(error: Exception) -> str:
    if isinstance(error, ClientError):
        text = error.response.get("Error", {}).get("Message") or str(error)
    else:
        text = str(error)
    return redact_text(text)


def _call_error(source: str, operation: str, error: Exception, account: str, region: str) -> SourceError:
    return SourceError(
        source=source,
        message=f"{operation} failed: {_error_message(error)}",
        account=account,
        region=region,
        code=_error_code(error),
    )


# Any failure of one call is that call's error, never the scan's: botocore's ClientError and BotoCoreError, but
# also a body it cannot parse (ResponseParserError is neither) and a JSON template too deep to decode.
_CALL_ERRORS = (Exception,)


def import_stacks(
    session, account: str, partition: str, regions: list[str], *, max_input_bytes: int | None = MAX_INPUT_BYTES
) -> ImportResult:
    """Every stack in `regions` and the resources it deployed, as records (see module docstring).

    A failed call is recorded as a SourceError and the other stacks and regions carry on."""
    result = ImportResult()
    for region in regions:
        client = session.client("cloudformation", region)
        result.extend(_import_region(client, account, partition, region, max_input_bytes))
    return result


def _import_region(
    client, account: str, partition: str, region: str, max_input_bytes: int | None = MAX_INPUT_BYTES
) -> ImportResult:
    result = ImportResult()
    try:
        stacks = get_stacks(client)
    except _CALL_ERRORS as error:
        failure = _call_error(DESCRIBE_STACKS_SOURCE, "DescribeStacks", error, account, region)
        result.errors.append(failure)
        # any stack of the region (and the global resources it makes) could have declared what we see live
        message = f"{failure.code}: {failure.message}" if failure.code else failure.message
        result.failed.append(FailedSource(failure.source, TOOL, message, account, region))
        return result
    try:
        exports: list[dict] | None = get_exports(client)
    except _CALL_ERRORS as error:
        result.errors.append(_call_error("aws:cloudformation:ListExports", "ListExports", error, account, region))
        exports = None
    for stack in stacks:
        if stack.get("StackStatus") == "DELETE_COMPLETE":
            continue
        if not stack.get("StackId"):  # not AWS's answer: no stack to ask about, yet it may own what is live here
            name = str(stack.get("StackName") or "a stack")
            message = f"DescribeStacks listed {name} without its StackId: its resources could not be read"
            result.errors.append(SourceError(name, message, "warning", account=account, region=region,
                                             code="UnreadableAnswer"))
            result.failed.append(FailedSource(name, TOOL, message, account, region))
            continue
        resources, template, original, errors = _fetch_stack(client, stack, account, region)
        if resources is None:
            name = stack.get("StackName") or stack["StackId"]
            message = "; ".join(f"{e.code}: {e.message}" if e.code else e.message for e in errors)
            result.failed.append(FailedSource(name, TOOL, message, account, region, _declared_types(template)))
        outcome = stack_to_result(
            stack, resources, template, exports, account=account, partition=partition, region=region,
            max_input_bytes=max_input_bytes, original_body=original,
        )
        outcome.errors[:0] = errors
        if errors:
            source = outcome.sources[0]
            if resources is None or source["status"] == "error":
                source["status"] = "error"
            else:
                source["status"] = "warning"
            source["message"] = "; ".join([e.message for e in errors] + [source["message"] or ""]).strip("; ")
        result.extend(outcome)
    return result


def _fetch_stack(client, stack: dict, account: str, region: str) -> tuple[list[dict] | None, Any, Any, list[SourceError]]:
    """(resources or None when unreadable, template body or None, the Original-stage body when the template
    had a transform (else None), errors) for one stack."""
    stack_id, name = stack["StackId"], stack.get("StackName") or stack["StackId"]
    errors: list[SourceError] = []
    try:
        resources: list[dict] | None = get_stack_resources(client, stack_id)
    except _CALL_ERRORS as error:
        errors.append(_call_error(name, "ListStackResources", error, account, region))
        resources = None
    template: Any = None
    original: Any = None
    try:
        template = get_template_body(client, stack_id, "Original")
        # A transform (SAM, LanguageExtensions, a macro) is only expanded in the processed template;
        # the original is what the author wrote, and says which framework it was (moto ignores TemplateStage
        # and answers the original).
        if _template_transforms(template):
            original = template
            template = get_template_body(client, stack_id, "Processed")
    except _CALL_ERRORS as error:
        errors.append(_call_error(name, "GetTemplate", error, account, region))
    return resources, template, original, errors


def _declared_types(body: Any) -> frozenset[str] | None:
    """The resource types a stack's template declares (None when unknown): what the stack could own."""
    try:
        template = body if isinstance(body, dict) else load_template(body, "template") if isinstance(body, str) else None
    except Exception:  # an unreadable template says nothing about what the stack holds
        return None
    if template is None:
        return None
    types = {d.get("Type") for _, d in resource_entries(template) if isinstance(d, dict)}
    if not all(isinstance(t, str) for t in types) or transforms(template):
        return None  # a transform or an unreadable Type can make anything
    return frozenset(types) | {STACK_TYPE}


def _template_transforms(body: Any) -> tuple[str, ...]:
    if isinstance(body, dict):
        return transforms(body)
    if isinstance(body, str) and "Transform" in body:
        try:
            return transforms(load_template(body, "template"))
        except TemplateError:
            return ()
    return ()


# ------------------------------------------------------------------------------------------ one stack (pure)


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if value else None


def deployed_parameters(stack: dict, template: dict) -> dict[str, Any]:
    """Parameter values a deployment chose, as DescribeStacks shows them. A NoEcho value shows as '****',
    and a parameter named as a secret (`DbPassword`) shows its value: both unknown, never stored. An
    SSM-typed parameter's value is its ResolvedValue; its ParameterValue is the SSM parameter's name, so
    without a ResolvedValue it is unknown."""
    declared = template.get("Parameters") if isinstance(template.get("Parameters"), dict) else {}
    values: dict[str, Any] = {}
    for parameter in stack.get("Parameters") or []:
        key = parameter["ParameterKey"]
        declaration = declared.get(key)
        kind = str(declaration.get("Type", "")) if isinstance(declaration, dict) else ""
        if "ResolvedValue" in parameter:
            value = parameter["ResolvedValue"]
        elif kind.startswith("AWS::SSM::Parameter::Value"):
            value = UNRESOLVED
        else:
            value = parameter.get("ParameterValue")
        values[key] = UNRESOLVED if value == NO_ECHO_MASK or is_secret_parameter(template, key) else value
    return values


def _secret_parameter_values(stack: dict, template: dict) -> list[str]:
    """The values DescribeStacks shows for secret parameters (named as secrets; NoEcho ones show '****'):
    what must never be stored, even inside a name AWS made from it."""
    return [
        str(parameter.get("ResolvedValue") or parameter.get("ParameterValue"))
        for parameter in stack.get("Parameters") or []
        if is_secret_parameter(template, parameter.get("ParameterKey"))
        and (parameter.get("ResolvedValue") or parameter.get("ParameterValue")) not in (None, "", NO_ECHO_MASK)
    ]


def withheld_export_names(stack: dict, template: dict, resolved: list[Any]):
    """A predicate: whether an export name of this stack may hold a secret, so is never stored. Those are
    the names of Outputs whose Export Name reads a secret (DescribeStacks pairs outputs with the
    names they exported) and any name holding a secret parameter's shown value. When DescribeStacks does
    not pair such an output with its name, only the names the template resolves to are kept."""
    outputs = template.get("Outputs") if isinstance(template.get("Outputs"), dict) else {}
    secret_outputs = {
        key for key, output in outputs.items()
        if isinstance(output, dict) and isinstance(output.get("Export"), dict)
        and reads_secret(template, output["Export"].get("Name"))
    }
    exported = {o.get("OutputKey"): o.get("ExportName") for o in stack.get("Outputs") or [] if o.get("ExportName")}
    withheld = {exported[key] for key in secret_outputs if key in exported}
    unpaired = bool(secret_outputs - set(exported))
    known = {name for name in resolved if isinstance(name, str)}
    values = _secret_parameter_values(stack, template)

    def is_withheld(name: str) -> bool:
        return name in withheld or any(value in name for value in values) or (unpaired and name not in known)

    return is_withheld


def natural_id_of(row: ResourceType, physical_id: str) -> str:
    natural_id = FUNCTIONS[row.physical_id](physical_id) if row.physical_id else physical_id
    return natural_id.lower() if row.lowercase_id else natural_id


# GetAtt attributes whose value is the physical id or follows from it, documented per type; other
# attributes (GetAtt Role.RoleId, Instance.PrivateIp...) stay UNRESOLVED.
_PHYSICAL_ID_ATTRIBUTES = {
    "AWS::EC2::SecurityGroup": ("GroupId",),
    "AWS::SQS::Queue": ("QueueUrl",),
    "AWS::SNS::Topic": ("TopicArn",),
    "AWS::EC2::VPC": ("VpcId",),
    "AWS::EC2::Subnet": ("SubnetId",),
    "AWS::EC2::EIP": ("PublicIp",),
}
_NATURAL_ID_ATTRIBUTES = {"AWS::SQS::Queue": ("QueueName",)}


def resource_arn(
    row: ResourceType, natural_id: str, properties: dict, partition: str, region: str, account: str
) -> str | None:
    """The ARN of a deployed resource when it follows from its natural id. IAM ARNs carry the Path,
    so a path we cannot resolve means we do not know the ARN."""
    if natural_id.startswith("arn:"):
        return natural_id
    if row.service == "iam" and row.arn != "{id}":
        path = properties.get("Path", "/") if isinstance(properties, dict) else "/"
        if not isinstance(path, str):
            return None
        base = format_arn(row, partition, region, account, natural_id)
        if base is None or path == "/":
            return base
        prefix, _, name = base.rpartition("/")
        return f"{prefix}/{path.strip('/')}/{name}"
    return format_arn(row, partition, region, account, natural_id)


def _known_attributes(
    rows: Iterable[dict], raw_properties: dict[str, dict], context: Context, partition: str, region: str, account: str
) -> dict[tuple[str, str], Any]:
    """GetAtt values that follow from physical ids: ARNs of catalog types and the _PHYSICAL_ID_ATTRIBUTES."""
    known: dict[tuple[str, str], Any] = {}
    for resource in rows:
        logical, kind = resource["LogicalResourceId"], resource["ResourceType"]
        physical = resource.get("PhysicalResourceId")
        if not physical:
            continue
        if kind != "AWS::EC2::SecurityGroup" or physical.startswith("sg-"):  # EC2-Classic groups: a name
            for attribute in _PHYSICAL_ID_ATTRIBUTES.get(kind, ()):
                known[(logical, attribute)] = physical
        row = CATALOG.get(kind)
        if row is None:
            continue
        natural_id = natural_id_of(row, physical)
        for attribute in _NATURAL_ID_ATTRIBUTES.get(kind, ()):
            known[(logical, attribute)] = natural_id
        path = resolve(raw_properties.get(logical, {}).get("Path", "/"), context) if row.service == "iam" else "/"
        arn = resource_arn(row, natural_id, {"Path": path}, partition, region, account)
        if arn:
            known[(logical, "Arn")] = arn
    return known


_RULE_DIRECTIONS = {"AWS::EC2::SecurityGroupIngress": "ingress", "AWS::EC2::SecurityGroupEgress": "egress"}


def _rule_targets(declarations: dict[str, dict], context: Context) -> dict[str, set[str]]:
    """Which security groups separate SecurityGroupIngress/Egress resources add rules to, by direction:
    logical ids (Ref/GetAtt in the template) and resolved group ids."""
    targets: dict[str, set[str]] = {"ingress": set(), "egress": set()}
    for declaration in declarations.values():
        kind = declaration.get("Type")
        direction = _RULE_DIRECTIONS.get(kind) if isinstance(kind, str) else None
        if direction is None:
            continue
        properties = declaration.get("Properties") or {}
        for key in ("GroupId", "GroupName"):
            reference = properties.get(key) if isinstance(properties, dict) else None
            if isinstance(reference, dict) and "Ref" in reference:
                targets[direction].add(str(reference["Ref"]))
            elif isinstance(reference, dict) and "Fn::GetAtt" in reference:
                target = reference["Fn::GetAtt"]
                if isinstance(target, list) and target:
                    targets[direction].add(str(target[0]))
                elif isinstance(target, str):
                    targets[direction].add(target.split(".")[0])
            value = resolve(reference, context) if reference is not None else None
            if isinstance(value, str):
                targets[direction].add(value)
    return targets


def _security_group_rules(
    attributes: dict[str, Any], logical_id: str, physical_id: str | None, targets: dict[str, set[str]]
) -> dict[str, Any]:
    """Separate SecurityGroupIngress/Egress resources add rules the inline list does not show: that
    direction's declared rules are not the whole truth, so they are not compared."""
    for direction in ("ingress", "egress"):
        if logical_id in targets[direction] or (physical_id and physical_id in targets[direction]):
            attributes[direction] = UNRESOLVED
    return attributes


def _declared_tags(properties: dict, stack_tags: dict[str, str] | None = None) -> dict[str, Any] | None:
    """Tags the template declares. A stack's own tags are propagated underneath them to the types that
    support it (which ones varies, and emulators differ), so they are held UNRESOLVED: neither their absence
    nor their presence live is drift."""
    if not isinstance(properties, dict) or "Tags" not in properties:
        return None
    pairs = properties["Tags"]
    if isinstance(pairs, list):
        pairs = [
            {**pair, "Key": _as_text(pair.get("Key")), "Value": _as_text(pair.get("Value"))}
            if isinstance(pair, dict) else pair
            for pair in pairs
        ]
        if any(not isinstance(p, dict) or not isinstance(p.get("Key"), str) for p in pairs):
            return None  # a tag behind an unresolved Fn::If or key: the declared set is unknown, not smaller
    elif isinstance(pairs, dict):  # a map of tags (SAM, some types)
        pairs = {_as_text(key): _as_text(value) for key, value in pairs.items()}
        if not all(isinstance(key, str) for key in pairs):
            return None
    declared = tags_from_pairs(pairs)
    if declared is None:
        return None
    return {**{key: UNRESOLVED for key in stack_tags or {}}, **declared}


def _as_text(value: Any) -> Any:
    """A boolean or a number where CloudFormation wants text (a tag, a name, a description), as it writes it:
    YAML's `yes` and JSON's `true` become "true", never Python's "True"."""
    return cfn_text(value) if isinstance(value, (bool, int, float)) else value


def _text_attributes(row: ResourceType, attributes: dict[str, Any]) -> dict[str, Any]:
    """The declared attributes the API answers as text (names, descriptions, lists of ids), as text."""
    for comparable in row.comparables:
        if comparable.name not in attributes or comparable.kind not in ("scalar", "set", "groups"):
            continue
        value = attributes[comparable.name]
        attributes[comparable.name] = [_as_text(v) for v in value] if isinstance(value, list) else _as_text(value)
    return attributes


def _is_live_stack(stack: dict) -> bool:
    keep = CATALOG[STACK_TYPE].keep
    return FUNCTIONS[keep](stack) if keep else True


def _first_resolved(value: Any) -> str | None:
    """A child's parent reference: the value, or the first resolvable item of a list (Roles, Queues...)."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, (str, int)) and not isinstance(item, bool):
            return str(item)
    return None


def _owner(source: str, logical_id: str, stack_name: str | None, origin: Origin | None = None,
           paths: dict[str, str] | None = None) -> Owner:
    return Owner(tool=TOOL, source=source, address=logical_id, framework=origin.framework if origin else FRAMEWORK,
                 stack_name=stack_name, construct_path=(paths or {}).get(logical_id))


def _properties_of(declaration: Any) -> dict:
    properties = declaration.get("Properties") if isinstance(declaration, dict) else None
    return properties if isinstance(properties, dict) else {}


def _resolved_properties(declaration: Any, context: Context) -> dict:
    resolved = resolve(_properties_of(declaration), context)
    return resolved if isinstance(resolved, dict) else {}


NO_PHYSICAL_ID = "the stack reports no physical id"


def resource_record(
    kind: str,
    logical_id: str,
    physical_id: str | None,
    properties: dict,
    *,
    account: str,
    region: str,
    partition: str,
    owner: Owner,
    fallback_id: str,
    stack_tags: dict[str, str] | None = None,
    rule_targets: dict[str, set[str]] | None = None,
) -> Record | None:
    """One deployed resource as a record; None when it has no physical id and needs one to be matched."""
    base = dict(source_kind=CLOUDFORMATION, account=account, owner=owner, raw_type=kind)
    if kind in BOOKKEEPING_TYPES or kind.startswith("Custom::"):
        return Record(type=kind, region=region, natural_id=physical_id or fallback_id, note=BOOKKEEPING_NOTE, **base)
    if kind in CHILD_TYPES:
        parent_type, parent_property = CHILD_TYPES[kind]
        parent_id = _first_resolved(properties.get(parent_property))
        parent_row = CATALOG.get(parent_type)
        return Record(
            type=kind,
            region=GLOBAL if parent_row is not None and parent_row.is_global else region,
            natural_id=physical_id or fallback_id,
            parent=(parent_type, parent_id) if parent_id else None,
            note=None if parent_id else f"parent {parent_type} not resolvable from {parent_property}",
            **base,
        )
    row = CATALOG.get(kind)
    if not physical_id and row is None:
        return None
    if row is None:
        return Record(type=kind, region=region, natural_id=physical_id, **base)
    # No physical id (seen with moto for unnamed resources): the graph identifies the resource by the
    # stack's tags or CloudFormation's generated name, so the declaration is kept with no natural id.
    natural_id = natural_id_of(row, physical_id) if physical_id else None
    attributes = _text_attributes(row, pick_values(row, CLOUDFORMATION, properties))
    if kind == "AWS::EC2::SecurityGroup" and rule_targets:
        attributes = _security_group_rules(attributes, logical_id, physical_id, rule_targets)
    name = _as_text(properties.get(row.cloudformation_name)) if row.cloudformation_name else None
    return Record(
        type=kind,
        region=GLOBAL if row.is_global else region,
        natural_id=natural_id,
        arn=resource_arn(row, natural_id, properties, partition, region, account) if natural_id else None,
        name=name if isinstance(name, str) else None,
        aliases=(physical_id,) if physical_id and physical_id != natural_id else (),
        note=None if physical_id else NO_PHYSICAL_ID,
        tags=_declared_tags(properties, stack_tags),
        attributes=attributes,
        **base,
    )


def _unexpected(error: Exception, what: str) -> str:
    """What went wrong reading `what`, for a message: the time budget, or the kind of error and where in our
    code, never the error's text (which may quote a value of the input)."""
    if isinstance(error, BudgetExceeded):
        return f"reading {what} stopped after the time budget of {error.seconds:g} s for one input"
    frames = traceback.extract_tb(error.__traceback__)
    where = f" in {frames[-1].name}" if frames else ""
    return f"unexpected {type(error).__name__}{where} while reading {what}"


def stack_to_result(
    stack: dict,
    resources: list[dict] | None,
    template_body: Any,
    exports: list[dict] | None,
    *,
    account: str,
    partition: str,
    region: str,
    max_input_bytes: int | None = MAX_INPUT_BYTES,
    time_budget_s: float | None = INPUT_TIME_BUDGET_S,
    original_body: Any = None,
) -> ImportResult:
    """One stack's payloads (DescribeStacks item, ListStackResources rows, GetTemplate body, the region's
    ListExports; the Original-stage body when it differs) as records and rows. Pure: feed it recorded payloads.

    Never raises. Whatever goes wrong with the template (an unexpected error, the time budget) is this
    stack's error, and its resources still come out without the template, so they stay owned; only if
    that fails too is the stack an error row alone."""
    name = str(stack.get("StackName") or stack.get("StackId") or "?")
    arguments = dict(account=account, partition=partition, region=region, max_input_bytes=max_input_bytes)
    try:
        with time_budget(time_budget_s, f"stack {name}"):
            return _stack_to_result(stack, resources, template_body, exports, original_body=original_body, **arguments)
    except Exception as error:
        message = f"{_unexpected(error, 'the template')}; attributes not compared"
    try:
        with time_budget(time_budget_s, f"stack {name}"):
            result = _stack_to_result(stack, resources, None, exports, **arguments)
    except Exception as error:
        message = f"{_unexpected(error, 'the stack')}; not read"
        result = ImportResult(sources=[source_row(str(stack.get("StackId") or name), STACK_SOURCE, "error")])
    message = redact_text(message)
    result.errors.insert(0, SourceError(name, message, "error", account=account, region=region))
    source = result.sources[0]
    source["status"] = "error"
    source["message"] = "; ".join(part for part in (message, source["message"]) if part)
    return result


def _stack_to_result(
    stack: dict,
    resources: list[dict] | None,
    template_body: Any,
    exports: list[dict] | None,
    *,
    account: str,
    partition: str,
    region: str,
    max_input_bytes: int | None,
    original_body: Any = None,
) -> ImportResult:
    result = ImportResult()
    stack_id, stack_name = stack["StackId"], stack.get("StackName") or stack["StackId"]
    stack_tags = tags_from_pairs(stack.get("Tags") or []) or {}
    warnings: list[str] = []

    template: dict = {}
    if isinstance(template_body, (dict, str)):
        try:
            if isinstance(template_body, dict):
                template = check_template(template_body, stack_name)
            else:
                template = load_template(template_body, stack_name, max_input_bytes)
        except TemplateError as error:
            warnings.append(f"template unreadable, attributes not compared: {error.message}")
            result.errors.append(
                SourceError(stack_name, redact_text(error.message), "warning", error.line, account, region)
            )
    original = _original_template(original_body, stack_name, max_input_bytes)
    origin = stack_origin(
        template or None, original=original, stack_name=stack_name, description=stack.get("Description"),
        tags=stack_tags, parameters={p["ParameterKey"]: "" for p in stack.get("Parameters") or [] if p.get("ParameterKey")},
        outputs=[o["OutputKey"] for o in stack.get("Outputs") or [] if o.get("OutputKey")],
    )
    paths = construct_paths(template)
    left_unexpanded = transforms(template)
    if left_unexpanded:
        # A processed template carries no Transform; this one does (moto answers the original): the
        # resources the transform made are matched by physical id but their attributes are not declared here.
        message = (
            f"template still declares Transform {', '.join(left_unexpanded)}: "
            "resources it expands have no declared attributes"
        )
        warnings.append(message)
        result.errors.append(SourceError(stack_name, message, "warning", account=account, region=region))

    # moto answers an unsupported resource type (AWS::CDK::Metadata) with a blank row; a resource CloudFormation
    # already deleted (rollback, failed update) is no longer there, nor is one that failed before it got an id.
    rows = [
        r
        for r in resources or []
        if r.get("LogicalResourceId")
        and r.get("ResourceType")
        and r.get("ResourceStatus") != "DELETE_COMPLETE"
        and (r.get("PhysicalResourceId") or not str(r.get("ResourceStatus", "")).endswith("FAILED"))
    ]
    # ...but a row that names a physical resource without saying what it is or which declaration made it is no
    # blank: the stack owns something we cannot place, so what it could be is unknown, never unmanaged
    if resources is not None:
        result.deployed_resources[stack_id] = [(r["LogicalResourceId"], r["ResourceType"]) for r in rows]
    unplaced = [r for r in resources or [] if r.get("PhysicalResourceId")
                and not (r.get("LogicalResourceId") and r.get("ResourceType"))]
    if unplaced:
        types = {r.get("ResourceType") for r in unplaced}
        message = (f"{len(unplaced)} resource{'s' if len(unplaced) != 1 else ''} listed without "
                   "a type or logical id: what they are is unknown")
        warnings.append(message)
        result.errors.append(SourceError(stack_name, message, "warning", account=account, region=region))
        could_be = None if None in types or "" in types else frozenset(types)
        result.failed.append(FailedSource(stack_name, TOOL, message, account, region, could_be))
    raw_declarations = {
        logical: declaration
        for logical, declaration in resource_entries(template)
        if isinstance(declaration, dict)
    }
    raw_properties = {logical: _properties_of(d) for logical, d in raw_declarations.items()}
    # an export named as a secret (`shop-DbPassword`) holds one: ImportValue of it is unknown, never read
    export_values = {
        e["Name"]: UNRESOLVED if is_secret_key(e["Name"]) else e.get("Value") for e in exports or [] if e.get("Name")
    }
    exporting_stacks = {e["Name"]: e.get("ExportingStackId") for e in exports or [] if e.get("Name")}
    physical_ids = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in rows if r.get("PhysicalResourceId")}
    context_args = dict(
        parameters=deployed_parameters(stack, template),
        use_defaults=False,  # the stack's real values, never the template's defaults
        account=account,
        region=region,
        partition=partition,
        stack_name=stack_name,
        stack_id=stack_id,
        physical_ids=physical_ids,
        exports=export_values,
    )
    first_pass = make_context(template, **context_args)
    attributes = _known_attributes(rows, raw_properties, first_pass, partition, region, account)
    context = make_context(template, attributes=attributes, **context_args)
    rule_targets = _rule_targets(raw_declarations, context)

    for resource in rows:
        logical, kind = resource["LogicalResourceId"], resource["ResourceType"]
        record = resource_record(
            kind,
            logical,
            resource.get("PhysicalResourceId") or None,
            _resolved_properties(raw_declarations.get(logical), context),
            account=account,
            region=region,
            partition=partition,
            owner=_owner(stack_id, logical, stack_name, origin, paths),
            fallback_id=f"{stack_id}/{logical}",
            stack_tags=stack_tags,
            rule_targets=rule_targets,
        )
        if record is not None:
            result.records.append(record)

    if not stack.get("ParentId") and _is_live_stack(stack):
        # A deployed stack is itself code; a nested stack is already a resource of its parent. A stack that
        # rolled back its creation holds nothing: the live scan drops it too (the catalog's `keep`).
        result.records.append(
            Record(
                source_kind=CLOUDFORMATION,
                type=STACK_TYPE,
                account=account,
                region=region,
                natural_id=stack_id,
                arn=stack_id,
                name=stack_name,
                aliases=(stack_name,),
                tags=stack_tags or None,
                owner=Owner(tool=TOOL, source=stack_id, address=stack_name, framework=origin.framework,
                            stack_name=stack_name),
                raw_type=STACK_TYPE,
            )
        )

    result.stacks.append(
        {
            "id": stack_id,
            "name": stack_name,
            "account": account,
            "region": region,
            "status": stack.get("StackStatus"),
            "framework": origin.framework,
            "cdk_version": origin.cdk_version,
            "synthesizer": origin.synthesizer,
            "evidence": [redact_text(fact) for fact in origin.evidence],
            "modules": list(origin.modules),
            "language": origin.language,
            "parent_id": stack.get("ParentId"),
            "root_id": stack.get("RootId") or stack_id,
            "description": stack.get("Description"),
            "resource_count": len(rows) if resources is not None else None,
            "created_at": _iso(stack.get("CreationTime")),
            "updated_at": _iso(stack.get("LastUpdatedTime")),
            "tags": stack_tags,
        }
    )
    template_exports = exported_names(template, context)
    if exports is not None:
        own_exports = [e["Name"] for e in exports if e.get("ExportingStackId") == stack_id and e.get("Name")]
    else:  # ListExports failed: the template's Outputs say what the stack exports
        own_exports = [n for n in template_exports if isinstance(n, str)]
    is_withheld = withheld_export_names(stack, template, template_exports)
    withheld = [name for name in own_exports if is_withheld(name)]
    if withheld:
        warnings.append(f"{len(withheld)} export name{'' if len(withheld) == 1 else 's'} made from a secret "
                        "parameter not stored")
    result.exports += [
        {"stack_id": stack_id, "export_name": name, "account": account, "region": region}
        for name in own_exports
        if not is_withheld(name)
    ]
    deployed = {r["LogicalResourceId"] for r in rows} if resources is not None else None
    secret_values = _secret_parameter_values(stack, template)  # a template may spell one out in an import name
    result.secrets.update(secret_values)
    imported = [UNRESOLVED if isinstance(n, str) and any(v in n for v in secret_values) else n
                for n in imported_names(template, context, deployed)]
    result.imports += [
        {
            "stack_id": stack_id,
            "export_name": name,
            "exporting_stack_id": exporting_stacks.get(name),
            "account": account,
            "region": region,
        }
        for name in imported
        if isinstance(name, str)
    ]
    # what ties this stack to others beyond Fn::ImportValue: SSM parameters, nested stacks, CDK's bootstrap and
    # cross-region references; SSM-typed parameters are read by name, which DescribeStacks gives as the value
    # (an SSM-typed parameter shown without ResolvedValue may be shown resolved, as moto does: its name is then
    # the template's default)
    declared_parameters = template.get("Parameters") if isinstance(template.get("Parameters"), dict) else {}
    ssm_typed = {key for key, d in declared_parameters.items()
                 if isinstance(d, dict) and str(d.get("Type", "")).startswith("AWS::SSM::Parameter::Value")}
    given = {p["ParameterKey"]: p.get("ParameterValue") if p["ParameterKey"] not in ssm_typed or "ResolvedValue" in p
             else declared_parameters[p["ParameterKey"]].get("Default")
             for p in stack.get("Parameters") or [] if p.get("ParameterKey")}
    result.references += reference_rows(stack_id, stack_references(template or None, parameters=given, context=context))
    unresolved_imports = sum(1 for name in imported if not isinstance(name, str))
    if unresolved_imports:
        warnings.append(f"{unresolved_imports} Fn::ImportValue names could not be resolved")
    for condition, parameters in undecided_conditions(context):
        cause = f" (it reads {_unknown_parameters_text(template, parameters, deployed=True)})"
        message = (
            f"condition {condition} could not be decided from the stack's parameters"
            f"{cause if parameters else ''}: values, exports and imports that depend on it are not compared"
        )
        warnings.append(message)
        result.errors.append(SourceError(stack_name, message, "warning", account=account, region=region))

    result.sources.append(
        source_row(stack_id, STACK_SOURCE, "warning" if warnings else "ok", len(result.records),
                   redact_text("; ".join(warnings)) if warnings else None)
    )
    return result


def _original_template(body: Any, stack_name: str, max_input_bytes: int | None) -> dict | None:
    """The Original-stage template, read only for the framework it names (a transform's): unreadable is None."""
    if body is None:
        return None
    try:
        return check_template(body, stack_name) if isinstance(body, dict) else load_template(body, stack_name, max_input_bytes)
    except TemplateError:
        return None


def _unknown_parameters_text(template: dict, parameters: list[str], deployed: bool) -> str:
    """'Env (no default), Secret (NoEcho)': the parameters a condition reads whose value is unknown, and why."""
    return ", ".join(f"{name} ({unknown_parameter_reason(template, name, deployed)})" for name in parameters)


# ------------------------------------------------------------------------------------------ template files


def template_paths(paths: list[str]) -> tuple[list[tuple[Path, bool]], list[SourceError]]:
    """(file, named explicitly) for each path; folders give their template-looking files (hidden ones left out),
    a folder's own files first. A path that is missing or not a regular file, and a folder that cannot be
    read, is an error naming it (see importers.inputs: symlink loops end, FIFOs are never opened)."""
    found: list[tuple[Path, bool]] = []
    errors: list[SourceError] = []
    for raw in paths:
        items = list(find_files(raw, _is_template_name, skip_folder=lambda name: name.startswith(".")))
        for item in items:
            if item.problem is None:
                found.append((Path(item.path), item.explicit))
            else:
                errors.append(SourceError(item.path, redact_text(item.problem)))
        if not items and Path(raw).is_dir():  # a folder given on purpose that holds nothing read is no empty estate
            suffixes = ", ".join(f"*{suffix}" for suffix in TEMPLATE_SUFFIXES)
            errors.append(SourceError(raw, f"no template ({suffixes}) in this directory"))
    return found, errors


def _is_template_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in TEMPLATE_SUFFIXES


def import_template_files(
    paths: list[str],
    account: str,
    partition: str,
    default_region: str,
    *,
    max_input_bytes: int | None = MAX_INPUT_BYTES,
    time_budget_s: float | None = INPUT_TIME_BUDGET_S,
) -> ImportResult:
    """Template files (or directories of them) as records of the resources they name.

    Only a resource whose physical-name property (the catalog's `cloudformation_name`) resolves to a
    literal can be matched without a deployed stack; the others are counted in the source row. A file
    that cannot be read, or is past a bound (`max_input_bytes`, the template bounds, `time_budget_s`
    per file), is a SourceError with its line where known; the other files still load."""
    result = ImportResult()
    files, errors = template_paths(paths)
    result.errors += errors
    # a path that is missing, a folder that cannot be read, a FIFO: inputs that failed, as any unreadable file
    result.sources += [_source_row(error.source, "error", 0, error.message) for error in errors if error.kind == "error"]
    for path, explicit in files:
        result.extend(
            template_file_to_result(
                path,
                explicit,
                account,
                partition,
                default_region,
                max_input_bytes=max_input_bytes,
                time_budget_s=time_budget_s,
            )
        )
    return result


def _source_row(path: str, status: str, count: int, message: str | None, version: Any = None) -> dict:
    return source_row(path, TEMPLATE_SOURCE, status, count, redact_text(message) if message else None,
                      format_version=str(version) if version is not None else None)


def _failed_file(source: str, message: str, line: int | None = None) -> ImportResult:
    message = redact_text(message)
    return ImportResult(errors=[SourceError(source, message, line=line)], sources=[_source_row(source, "error", 0, message)])


def template_file_to_result(
    path: Path,
    explicit: bool,
    account: str,
    partition: str,
    default_region: str,
    *,
    max_input_bytes: int | None = MAX_INPUT_BYTES,
    time_budget_s: float | None = INPUT_TIME_BUDGET_S,
) -> ImportResult:
    """One template file as records, errors and its source row. Never raises: anything that goes wrong
    (an unexpected error, the time budget) is this file's error, and the other inputs still load."""
    source = str(path)
    try:
        with time_budget(time_budget_s, source):
            return _template_file_to_result(path, explicit, account, partition, default_region, max_input_bytes)
    except Exception as error:
        return _failed_file(source, f"{_unexpected(error, 'the file')}; not read")


def _read_text(path: Path, max_bytes: int | None) -> tuple[str, str | None]:
    """The file's text, through the one safe reader (regular files only, at most one byte past the limit), and
    the name of its encoding when it is not UTF-8.

    UTF-16 and UTF-32 are decoded, with or without a byte order mark: such a file (PowerShell 5's `>` writes
    UTF-16) still says what it declares. Read as UTF-8 it would be NULs between letters: no template, skipped,
    and what it declares unmanaged. Decoded, not refused: the file's meaning is certain once its encoding is,
    and an error would leave its resources unknown and the scan partial over a matter of conversion."""
    try:
        data = read_file(str(path), max_bytes if max_bytes is not None else DEFAULT_MAX_BYTES)
    except InputProblem as problem:
        raise TemplateError(str(path), problem.reason) from None
    wide = wide_encoding(data)
    if wide is None:
        return data.decode("utf-8-sig"), None
    codec, bom = wide
    try:
        return data[bom:].decode(codec), codec
    except UnicodeDecodeError as error:
        raise TemplateError(
            str(path), f"{_WIDE_NAMES[codec]} text that does not decode: bytes at offset {bom + error.start:,} "
            "are no character"
        ) from None


# UTF-16 and UTF-32 as they are named to a reader; by their byte order marks, longest first (UTF-32's
# little-endian mark begins with UTF-16's).
_WIDE_NAMES = {"utf-32-le": "UTF-32 (little-endian)", "utf-32-be": "UTF-32 (big-endian)",
               "utf-16-le": "UTF-16 (little-endian)", "utf-16-be": "UTF-16 (big-endian)"}
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
              (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# Without a mark, ASCII text (all of a template's syntax) gives each encoding its pattern of NULs, by position
# modulo 4: True where a byte is NUL.
_WIDE_NULS = {(False, True, True, True): "utf-32-le", (True, True, True, False): "utf-32-be",
              (False, True, False, True): "utf-16-le", (True, False, True, False): "utf-16-be"}
WIDE_HEAD_BYTES = 4096  # what is looked at to tell the pattern


def wide_encoding(data: bytes) -> tuple[str, int] | None:
    """(codec, length of its byte order mark) when `data` is UTF-16 or UTF-32 text; None for anything else.

    A template's syntax is ASCII (its keys, `AWS::` types, punctuation), so in these encodings it always shows
    its pattern of NULs, mark or no mark; a mark the bytes after it do not bear out is no such text."""
    marked = next(((codec, len(bom)) for bom, codec in _WIDE_BOMS if data.startswith(bom)), None)
    start = marked[1] if marked else 0
    head = data[start : start + WIDE_HEAD_BYTES]
    head = head[: len(head) // 4 * 4]
    if not head or b"\x00" not in head:
        return None
    positions = len(head) // 4
    nuls = [head[offset::4].count(0) / positions for offset in range(4)]
    # mostly NUL where the pattern has NULs (non-ASCII letters have other high bytes), almost never elsewhere
    if any(0.1 < share < 0.5 for share in nuls):
        return None
    codec = _WIDE_NULS.get(tuple(share >= 0.5 for share in nuls))
    if codec is None or (marked and marked[0] != codec):
        return None
    return codec, start


def _wide_warning(codec: str) -> str:
    iconv = codec.upper().replace("-LE", "LE").replace("-BE", "BE")
    return (f"{_WIDE_NAMES[codec]} text, read as such; CloudFormation reads templates as UTF-8: convert it before "
            f"deploying it (e.g. `iconv -f {iconv} -t UTF-8`)")


# How many logical ids a message names before it says "and N more".
NAMED_IN_MESSAGE = 10


def _named(items: list[str]) -> str:
    shown = ", ".join(items[:NAMED_IN_MESSAGE])
    return shown + (f" and {len(items) - NAMED_IN_MESSAGE} more" if len(items) > NAMED_IN_MESSAGE else "")


def _resources(count: int, what: str = "resource") -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


# What any CloudFormation template holds, even one too broken to load: the format version, a Resources key, a
# resource type name (AWS::SQS::Queue), or the SAM transform. (Kubernetes and Helm write `resources:`.)
_TEMPLATE_SIGNS = re.compile(r"AWSTemplateFormatVersion|\bResources[\"']?\s*:|\bAWS::\w+::\w+|\bAWS::Serverless\b")


def _format_version(template: dict) -> str | None:
    version = _as_text(template.get("AWSTemplateFormatVersion"))
    return version if isinstance(version, str) else None


def looks_like_a_template(text: str) -> bool:
    """Whether a file that did not load may still be a CloudFormation template (so its failure is an error)."""
    return bool(_TEMPLATE_SIGNS.search(text))


def _template_file_to_result(
    path: Path, explicit: bool, account: str, partition: str, default_region: str, max_input_bytes: int | None
) -> ImportResult:
    result = ImportResult()
    source = str(path)
    try:
        text, encoding = _read_text(path, max_input_bytes)
    except TemplateError as error:
        return _failed_file(source, error.message)
    except (OSError, UnicodeDecodeError) as error:
        return _failed_file(source, f"cannot read the file: {getattr(error, 'strerror', None) or error}")
    try:
        template = load_template(text, source, max_input_bytes)
    except TemplateError as error:
        # a folder holds other JSON/YAML (package.json, cdk.out's tree.json, Kubernetes manifests, Helm templates):
        # a file read whole that is shaped otherwise, or one that does not load and shows no sign of
        # CloudFormation, could not have declared anything; not a template, not an error
        if not explicit and (error.not_a_template or not looks_like_a_template(text)):
            if error.not_a_template:
                message = f"skipped: not a CloudFormation template ({error.not_a_template})"
            else:
                where = f" at line {error.line}" if error.line else ""
                message = (f"skipped: not a CloudFormation template ({error.message}{where}; nothing in it looks "
                           "like one: no AWSTemplateFormatVersion, Resources, AWS:: type or SAM transform)")
            result.errors.append(SourceError(source, redact_text(message), "warning"))
            result.sources.append(_source_row(source, "skipped", 0, message))
            return result
        return _failed_file(source, error.message, error.line)

    notes: list[str] = []

    def warn(message: str) -> None:
        result.errors.append(SourceError(source, redact_text(message), "warning"))
        notes.append(message)

    if encoding is not None:
        warn(_wide_warning(encoding))

    unexpanded = [("Transform", name, "the resources it makes are not seen") for name in transforms(template)]
    unexpanded += [("Fn::Transform", name, "the values it makes are unknown") for name in inline_transforms(template)]
    for where, name, effect in unexpanded:
        what = {SAM: "SAM", LANGUAGE_EXTENSIONS: "LanguageExtensions"}.get(name, f"macro {name}")
        warn(
            f"{where} {name} ({what}) is not expanded in a template file: {effect}; "
            "scan the deployed stack to read its processed template"
        )
    for path_in_template, name in unsupported_intrinsics(template):
        warn(f"{source}: unsupported intrinsic {name} at {path_in_template}; values that depend on it are not compared")

    context = make_context(template, account=account, region=default_region, partition=partition)
    origin, paths = stack_origin(template), construct_paths(template)  # a synthesized template says it is CDK
    declared_parameters = template.get("Parameters") if isinstance(template.get("Parameters"), dict) else {}
    result.secrets.update(str(d["Default"]) for name, d in declared_parameters.items()  # never stored, wherever live
                          if isinstance(d, dict) and d.get("Default") not in (None, "") and is_secret_parameter(template, name))
    declarations = declared_resources(template, context)
    for logical, declaration in resource_entries(template):
        kind = declaration.get("Type") if isinstance(declaration, dict) else None
        if isinstance(kind, str):
            continue
        if isinstance(kind, dict) and len(kind) == 1:
            # rain's `Type: !Rain::Module file.yml` is expanded by `rain pkg`, never by CloudFormation
            warn(f"resource {logical} has Type {next(iter(kind))}: a packaging tool expands it, not read")
        else:
            warn(f"resource {logical} has no Type")
    left_out = resources_left_out_by_conditions(template, context)
    if left_out:
        warn(
            f"{_resources(len(left_out))} left out, condition false under the parameters' defaults: "
            + _named([f"{logical} ({condition})" for logical, condition in left_out])
        )
    rule_targets = _rule_targets(declarations, context)
    # resources whose condition reads a parameter a file gives no value for (no default, NoEcho, a secret):
    # whether they exist is unknown, so one not found live is unknown, never missing
    undecided = {
        logical: str(declaration["Condition"])
        for logical, declaration in declarations.items()
        if "Condition" in declaration and evaluate_condition(declaration["Condition"], context) is not True
    }
    if undecided:
        reads = {condition: parameters for condition, parameters in undecided_conditions(context)}
        readers: dict[str, list[str]] = {}  # what is unknown -> the conditions that read it
        for condition in sorted(set(undecided.values())):
            if reads.get(condition):
                readers.setdefault(_unknown_parameters_text(template, reads[condition], deployed=False), []).append(condition)
        causes = [f"{_named(conditions)} read{'s' if len(conditions) == 1 else ''} {parameters}"
                  for parameters, conditions in readers.items()]
        warn(
            f"{_resources(len(undecided))} declared under a condition that could not be decided from the "
            "parameters' defaults, unknown when not found live: "
            + _named([f"{logical} ({condition})" for logical, condition in undecided.items()])
            + "".join(f"; {cause}" for cause in causes)
        )
    unnamed = 0
    custom: list[str] = []
    serverless: list[str] = []
    outside_catalog: dict[str, int] = {}
    for logical, declaration in declarations.items():
        kind = declaration["Type"]
        row = CATALOG.get(kind)
        if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
            custom.append(logical)
            continue
        if kind.startswith("AWS::Serverless::"):
            serverless.append(logical)  # a SAM type is only a resource once the transform ran
            continue
        if kind in BOOKKEEPING_TYPES:
            continue  # a tool's bookkeeping (CDK metadata, wait conditions): no AWS resource to match, said nowhere
        if row is None and kind not in CHILD_TYPES:
            outside_catalog[kind] = outside_catalog.get(kind, 0) + 1
            continue
        properties = _resolved_properties(declaration, context)
        name = _as_text(properties.get(row.cloudformation_name)) if row and row.cloudformation_name else None
        if not isinstance(name, str) or not name:
            unnamed += 1
            continue
        record = resource_record(
            kind,
            logical,
            name,
            properties,
            account=account,
            region=default_region,
            partition=partition,
            owner=_owner(source, logical, None, origin, paths),
            fallback_id=name,
            rule_targets=rule_targets,
        )
        if logical in undecided:
            record.condition = undecided[logical]
            record.note = f"declared only if condition {undecided[logical]} holds"
        result.records.append(record)
    if custom:
        warn(f"{_resources(len(custom), 'custom resource')} left out, not checked: {_named(custom)}")
    if serverless:
        warn(f"{_resources(len(serverless), 'SAM resource')} left out until the transform runs: {_named(serverless)}")
    if unnamed:
        notes.append(
            f"{unnamed} resource has no physical name and can only be matched through a deployed stack"
            if unnamed == 1
            else f"{unnamed} resources have no physical name and can only be matched through a deployed stack"
        )
    if outside_catalog:
        count = sum(outside_catalog.values())
        types = ", ".join(f"{kind} ({number})" for kind, number in sorted(outside_catalog.items()))
        notes.append(
            f"{_resources(count)} of {'a type' if count == 1 else 'types'} outside the catalog, "
            f"not listed live, not checked: {types}"
        )
    row = _source_row(source, "warning" if any(e.kind == "warning" for e in result.errors) else "ok",
                      len(result.records), "; ".join(notes) or None, _format_version(template))
    row.update(framework=origin.framework, evidence=[redact_text(fact) for fact in origin.evidence])
    result.sources.append(row)
    return result
