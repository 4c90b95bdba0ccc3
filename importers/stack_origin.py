"""Where a CloudFormation stack came from (plain CloudFormation, CDK v1 or v2, the CDK bootstrap, SAM, the
Serverless Framework, Amplify, Copilot, Elastic Beanstalk), decided from its template and stack facts.

Pure: no AWS, no files. The caller hands in templates already parsed (`cfn_template.load_template`) and what it
knows of the stack; anything it does not know is None, and the evidence then says less, never guesses. Every
decision carries `evidence`: short facts, one each, that name what was seen. Evidence never quotes a parameter
value, a tag value or a description unless it is a fixed string a tool writes (`lambda:createdBy=SAM`).

Each rule names its source. CDK facts come from the aws-cdk repository (v1 under `packages/@aws-cdk/core`,
v2 under `packages/aws-cdk-lib/core`) and the CLI (`aws-cdk-cli`, `packages/aws-cdk/lib/api/bootstrap`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

CLOUDFORMATION = "cloudformation"
CDK_V1 = "cdk-v1"
CDK_V2 = "cdk-v2"
CDK = "cdk"  # CDK, major version not provable
CDK_BOOTSTRAP = "cdk-bootstrap"
SAM = "sam"
SERVERLESS = "serverless"
AMPLIFY = "amplify"
COPILOT = "copilot"
ELASTIC_BEANSTALK = "elastic-beanstalk"
CDK_MIGRATE = "cdk-migrate"
FRAMEWORKS = (CLOUDFORMATION, CDK_V1, CDK_V2, CDK, CDK_BOOTSTRAP, SAM, SERVERLESS, AMPLIFY, COPILOT,
              ELASTIC_BEANSTALK, CDK_MIGRATE)
SYNTHESIZERS = ("legacy", "default", "cli-credentials", "bootstrapless", "other")


@dataclass(frozen=True)
class Origin:
    """What made a stack, and the facts that say so.

    `synthesizer` is what the template proves: "legacy" (AssetParameters parameters, or a proven v1 stack
    without the modern bootstrap marks: v1's default), "default" (BootstrapVersion parameter and rule),
    "other" (modern bootstrap asset locations without the version rule: CliCredentialsStackSynthesizer, or
    DefaultStackSynthesizer with the rule turned off; or marks of two synthesizers), None (not CDK, or not
    provable). "cli-credentials" and "bootstrapless" leave nothing in a template: only a cloud assembly's
    manifest can tell them."""

    framework: str
    cdk_version: str | None = None
    synthesizer: str | None = None
    evidence: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    language: str | None = None


# ------------------------------------------------------------------------------------ CDKMetadata Analytics

# CDK's Analytics is `v2:deflate64:<base64 of gzip>` (aws-cdk-lib core/lib/private/metadata-resource.ts,
# formatAnalytics; the same code wrote it in CDK v1 from 1.93.0 on). An optional fourth `:`-section, also
# gzip+base64, is app info: "cdk-migrate" for apps made by `cdk migrate`. The docstring of formatAnalytics
# also documents `v2:plaintext:` (aws/aws-cdk#28254: never written), read here all the same, as is any other
# `vN:` prefix with these encodings. CDK only ever wrote v2: there is no `v1:` Analytics format; before 1.93
# the resource carried the plain-text `Modules` string instead (read by _libraries_from_modules).
MAX_ANALYTICS_CHARS = 1_000_000  # a template body is at most 1 MB
MAX_DECOMPRESSED_BYTES = 1 << 20  # real Analytics inflate to a few KB; more is a deflate bomb
MAX_ENTRIES = 20_000
MAX_ENTRY_CHARS = 2_048  # a version!fqn entry; a longer one is not CDK's
MAX_NESTING = 256
_ENCODINGS = ("deflate64", "plaintext")


@dataclass(frozen=True)
class Analytics:
    """A decoded Analytics value: its `version!fqn` entries, or why it could not be read."""

    entries: tuple[str, ...] = ()
    encoding: str | None = None  # "v2:deflate64"
    app_info: str | None = None  # "cdk-migrate"
    problem: str | None = None


class _Unreadable(Exception):
    """Why an Analytics value cannot be read; the message is short and quotes nothing of the value."""


def read_analytics(value: Any) -> Analytics:
    """The CDKMetadata `Analytics` field decoded, or an Analytics whose `problem` says why not. Never raises."""
    if not isinstance(value, str):
        return Analytics(problem="not a string")
    if len(value) > MAX_ANALYTICS_CHARS:
        return Analytics(problem=f"longer than {MAX_ANALYTICS_CHARS} characters")
    version, _, rest = value.partition(":")
    encoding, _, payload = rest.partition(":")
    if not re.fullmatch(r"v\d{1,3}", version) or encoding not in _ENCODINGS:
        return Analytics(problem="format not recognised")
    label = f"{version}:{encoding}"
    try:
        if encoding == "plaintext":
            text, app = payload, ""
        else:
            data, _, app = payload.partition(":")
            text = _inflate_text(_base64(data))
        entries = _expand_prefix_encoded(text)
    except _Unreadable as problem:
        return Analytics(encoding=label, problem=str(problem))
    return Analytics(entries=tuple(entries), encoding=label, app_info=_app_info(app))


def _app_info(section: str) -> str | None:
    """The optional app-info section: a short tag ("cdk-migrate"); anything else is not reported."""
    if not section:
        return None
    try:
        info = _inflate_text(_base64(section))
    except _Unreadable:
        return None
    return info if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", info) else None


def decode_analytics(value: Any) -> list[str]:
    """The CDKMetadata `Analytics` field as its expanded `version!fqn` entries ("1.204.0!@aws-cdk/core.Stack",
    ...); [] when it cannot be read (`read_analytics` says why)."""
    return list(read_analytics(value).entries)


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _Unreadable("not base64") from None


def _inflate_text(data: bytes) -> str:
    """gzip (what CDK writes), zlib or raw deflate, inflated to at most MAX_DECOMPRESSED_BYTES."""
    for wbits in (47, -15):  # 47: gzip or zlib header, detected; -15: raw deflate
        inflater = zlib.decompressobj(wbits=wbits)
        try:
            out = inflater.decompress(data, MAX_DECOMPRESSED_BYTES + 1)
        except zlib.error:
            continue
        if len(out) > MAX_DECOMPRESSED_BYTES or inflater.unconsumed_tail:
            raise _Unreadable(f"inflates beyond {MAX_DECOMPRESSED_BYTES} bytes")
        if not inflater.eof:
            raise _Unreadable("compressed data truncated")
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError:
            raise _Unreadable("not UTF-8 text") from None
    raise _Unreadable("not gzip or deflate data")


def _expand_prefix_encoded(text: str) -> list[str]:
    """Undo CDK's prefix encoding: `1.2.0!aws-cdk-lib.{Stack,aws_s3.{Bucket,CfnBucket}}` is three entries
    (metadata-resource.ts, prefixEncodeTrie). A JSON array right after an fqn is that construct's telemetry
    (the ENABLE_ADDITIONAL_METADATA_COLLECTION flag) and is skipped whole, brackets and commas inside it
    included. Bounded in nesting, entry length and entry count, so a crafted value cannot blow up."""
    entries: list[str] = []
    prefixes = [""]
    token: list[str] = []
    i, n = 0, len(text)

    def emit() -> None:
        entry = prefixes[-1] + "".join(token)
        if len(entry) > MAX_ENTRY_CHARS:
            raise _Unreadable("entry too long")
        if len(entries) >= MAX_ENTRIES:
            raise _Unreadable(f"more than {MAX_ENTRIES} entries")
        entries.append(entry)

    while i < n:
        char = text[i]
        if char == "{":
            if len(prefixes) > MAX_NESTING:
                raise _Unreadable("nested too deep")
            prefix = prefixes[-1] + "".join(token)
            if len(prefix) > MAX_ENTRY_CHARS:
                raise _Unreadable("entry too long")
            prefixes.append(prefix)
            token = []
        elif char in ",}":
            if token:
                emit()
            token = []
            if char == "}":
                if len(prefixes) == 1:
                    raise _Unreadable("unbalanced braces")
                prefixes.pop()
        elif char == "[" and token:
            i = _skip_json_array(text, i)
            continue
        else:
            token.append(char)
            if len(token) > MAX_ENTRY_CHARS:
                raise _Unreadable("entry too long")
        i += 1
    if len(prefixes) != 1:
        raise _Unreadable("unbalanced braces")
    if token:
        emit()
    return entries


def _skip_json_array(text: str, start: int) -> int:
    """The index just past the JSON array opening at `start` (strings and escapes respected)."""
    depth, i, in_string = 0, start, False
    while i < len(text):
        char = text[i]
        if in_string:
            if char == "\\":
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                raise _Unreadable("nested too deep")
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise _Unreadable("unterminated construct metadata")


# ---------------------------------------------------------------------------------------- CDK libraries

# v1 libraries: the core module (`@aws-cdk/core`; `@aws-cdk/cdk` before 1.0; `monocdk`, v1's single-package
# preview), and every other `@aws-cdk/*` module at a 0.x/1.x version. v2 is `aws-cdk-lib`; its experimental
# modules are `@aws-cdk/*-alpha` packages (2.x.x-alpha.0), which never existed for v1. Other v2-era
# `@aws-cdk/*` packages (lambda-layer-kubectl-v24, asset-awscli-v1) carry 2.x versions and decide nothing.
# Source: aws-cdk v1 branch package names; awscdk-v1-stack-finder (cdklabs) reads @aws-cdk/core or monocdk.
V1_CORE = ("@aws-cdk/core", "@aws-cdk/cdk", "monocdk", "monocdk-experiment")
V2_CORE = ("aws-cdk-lib",)
JSII_RUNTIME = "jsii-runtime"  # pseudo-library: its version is the app's jsii agent (runtime-info.ts)
CLI_MODULE = "aws-cdk"  # in the old Modules string: the CLI's version, not a library
_PACKAGE_NAME = re.compile(r"(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*")


def _package(fqn: str) -> str | None:
    """The npm package of a jsii fqn: `@aws-cdk/aws-s3.Bucket` -> `@aws-cdk/aws-s3`."""
    if fqn.startswith("@"):
        scope, slash, rest = fqn.partition("/")
        package = f"{scope}/{rest.split('.', 1)[0]}" if slash else None
    else:
        package = fqn.split(".", 1)[0]
    return package if package and _PACKAGE_NAME.fullmatch(package) else None


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def _cdk_major(package: str, version: str) -> int | None:
    """1 or 2 when this library proves the CDK major version, else None."""
    if package in V1_CORE:
        return 1
    if package in V2_CORE:
        return 2
    if package.startswith("@aws-cdk/"):
        if package.endswith("-alpha"):
            return 2
        if _major(version) in ("0", "1"):
            return 1
    return None


def _language(runtime: str) -> str | None:
    """The app's language from its jsii agent: node.js/v16.13.1, Python/3.11.7, Java/17, DotNet/6.0.1/...,
    go1.21.3/linux/amd64 (runtime-info.ts getJsiiAgentVersion; jsii's Go runtime sets JSII_AGENT)."""
    agent = runtime.lower()
    for prefix, language in (("node.js", "node.js"), ("python", "python"), ("java/", "java"),
                             ("dotnet", "dotnet"), ("golang", "go")):
        if agent.startswith(prefix):
            return language
    return "go" if re.match(r"go\d", agent) else None


def _safe(text: str, limit: int = 48) -> str:
    """A tool-written token (version, runtime) made safe to show: plain characters, bounded."""
    return re.sub(r"[^A-Za-z0-9._/=+-]", "-", text)[:limit]


@dataclass
class _Libraries:
    """CDK libraries one source (Analytics, Modules, tree.json) reports: (package, version) pairs."""

    source: str
    pairs: list[tuple[str, str]]
    runtime: str | None = None

    def by_major(self, major: int) -> list[tuple[str, str]]:
        return [(p, v) for p, v in self.pairs if _cdk_major(p, v) == major]

    def core_version(self, major: int) -> str | None:
        core = V1_CORE if major == 1 else V2_CORE
        versions = {v for p, v in self.pairs if p in core}
        return max(versions, key=_version_key) if versions else None


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.+-]", version))


def _libraries_from_entries(source: str, entries: Iterable[str], skip: tuple[str, ...] = ()) -> _Libraries:
    pairs: list[tuple[str, str]] = []
    runtime = None
    for entry in entries:
        version, bang, fqn = entry.partition("!")
        if not bang or not version or not fqn:
            continue
        if fqn.startswith(JSII_RUNTIME + "."):
            runtime = runtime or version
            continue
        package = _package(fqn)
        if package and package not in skip and (package, version) not in pairs:
            pairs.append((package, version))
    return _Libraries(source, pairs, runtime)


def _libraries_from_modules(value: str) -> tuple[_Libraries, str | None]:
    """The pre-1.93 `Modules` string: `aws-cdk=1.67.0,@aws-cdk/core=1.70.0,...,jsii-runtime=node.js/v12.19.0`
    (v1 core/lib/private/metadata-resource.ts, formatModules). Returns the libraries and the CLI version.
    A .NET agent's own commas split it into pieces that are no package name: those are dropped."""
    pairs: list[tuple[str, str]] = []
    runtime = cli = None
    for item in value.split(",")[:5_000]:
        name, equals, version = item.strip().partition("=")
        if not equals or not version:
            continue
        if name == JSII_RUNTIME:
            runtime = version
        elif name == CLI_MODULE:
            cli = version
        elif _PACKAGE_NAME.fullmatch(name) and (name, version) not in pairs:
            pairs.append((name, version))
    return _Libraries("Modules property", pairs, runtime), cli


def tree_constructs(tree: Any, stack_path: str | None = None) -> list[str]:
    """`version!fqn` of the constructs a cloud assembly's tree.json records (each node's `constructInfo`,
    CDK 1.90+), under the construct at `stack_path` when given (the stack's construct path, e.g. "my-stack";
    [] when absent). Pass the result as `stack_origin(constructs=...)`: it proves the CDK major version of
    a stack synthesized with version reporting off."""
    if not isinstance(tree, dict):
        return []
    root = tree.get("tree", tree)
    found: dict[str, None] = {}
    start = root if stack_path is None else None
    pending = [root] if isinstance(root, dict) else []
    seen = 0
    while pending and start is None and seen < 200_000:  # find the stack's node
        node = pending.pop()
        seen += 1
        if node.get("path") == stack_path:
            start = node
        pending.extend(c for c in _tree_children(node))
    pending = [start] if isinstance(start, dict) else []
    while pending and seen < 400_000:
        node = pending.pop()
        seen += 1
        info = node.get("constructInfo")
        if isinstance(info, dict) and isinstance(info.get("fqn"), str) and isinstance(info.get("version"), str):
            found[f"{info['version']}!{info['fqn']}"] = None
        pending.extend(reversed(list(_tree_children(node))))
    return list(found)


def _tree_children(node: dict) -> Iterator[dict]:
    children = node.get("children")
    if isinstance(children, dict):
        yield from (c for c in children.values() if isinstance(c, dict))


# ------------------------------------------------------------------------------------------- templates


def _resources(template: Any) -> Iterator[tuple[str, dict]]:
    resources = template.get("Resources") if isinstance(template, dict) else None
    if isinstance(resources, dict):
        for logical_id, resource in resources.items():
            if isinstance(logical_id, str) and isinstance(resource, dict):
                yield logical_id, resource


def _section(template: Any, name: str) -> dict:
    section = template.get(name) if isinstance(template, dict) else None
    return section if isinstance(section, dict) else {}


def _metadata(resource: dict) -> dict:
    metadata = resource.get("Metadata")
    return metadata if isinstance(metadata, dict) else {}


def construct_paths(template: Any) -> dict[str, str]:
    """Logical id -> construct path (`aws:cdk:path` resource metadata, which the CDK CLI turns on)."""
    paths = {}
    for logical_id, resource in _resources(template):
        path = _metadata(resource).get("aws:cdk:path")
        if isinstance(path, str) and path:
            paths[logical_id] = path
    return paths


def _transforms(template: Any) -> list[str]:
    transform = template.get("Transform") if isinstance(template, dict) else None
    items = transform if isinstance(transform, list) else [transform]
    return [t for t in items if isinstance(t, str)]


def _resource_tags(resource: dict) -> dict[str, str]:
    """A resource's Tags as a map, whether written as a Key/Value list or as a map (SAM, ApiGatewayV2)."""
    tags = _section(resource, "Properties").get("Tags")
    if isinstance(tags, dict):
        return {k: v for k, v in tags.items() if isinstance(k, str) and isinstance(v, str)}
    if isinstance(tags, list):
        return {t["Key"]: t["Value"] for t in tags
                if isinstance(t, dict) and isinstance(t.get("Key"), str) and isinstance(t.get("Value"), str)}
    return {}


def _strings(value: Any, limit: int = 200_000) -> Iterator[str]:
    """Every string inside a template (keys excluded), at most `limit` values visited."""
    pending, seen = [value], 0
    while pending and seen < limit:
        item = pending.pop()
        seen += 1
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"


# ------------------------------------------------------------------------------------------ the rules


@dataclass
class _Finding:
    """One framework's evidence: `strong` decides, `weak` decides only when nothing is strong, `notes`
    never decide (they explain)."""

    strong: list[str]
    weak: list[str]
    notes: list[str]

    @classmethod
    def empty(cls) -> _Finding:
        return cls([], [], [])


@dataclass
class _Stack:
    """What the caller knows of one stack, tidied: None where unknown."""

    template: dict | None
    original: dict | None
    name: str | None
    description: str | None
    tags: dict[str, str]
    parameters: list[str] | None
    outputs: list[str] | None

    @property
    def main(self) -> dict | None:
        """The template to read resources from: the processed one, else the original."""
        return self.template if self.template is not None else self.original

    def output_keys(self) -> set[str]:
        keys = set(_section(self.main, "Outputs"))
        return keys | set(self.outputs or ())

    def parameter_names(self) -> set[str]:
        return set(_section(self.main, "Parameters")) | set(self.parameters or ())


def _bootstrap(stack: _Stack) -> _Finding:
    """The CDK bootstrap (toolkit) stack. Modern template: aws-cdk-cli packages/aws-cdk/lib/api/bootstrap/
    bootstrap-template.yaml (CdkBootstrapVersion SSM parameter `/cdk-bootstrap/${Qualifier}/version`,
    StagingBucket, outputs BucketName and BootstrapVersion, parameters Qualifier and BootstrapVariant, roles
    tagged aws-cdk:bootstrap-role). Legacy (v1's default `cdk bootstrap`): legacy-template.ts, a StagingBucket
    with outputs BucketName and BucketDomainName and nothing else; the CLI reads its version as 0."""
    found = _Finding.empty()
    resources = dict(_resources(stack.main))
    outputs = stack.output_keys()
    ssm = resources.get("CdkBootstrapVersion")
    if ssm is not None and ssm.get("Type") == "AWS::SSM::Parameter":
        properties = _section(ssm, "Properties")
        if any("/cdk-bootstrap/" in s for s in _strings(properties.get("Name"))):
            value = properties.get("Value")
            version = str(value) if isinstance(value, (str, int)) and re.fullmatch(r"\d{1,4}", str(value)) else None
            found.strong.append("CdkBootstrapVersion SSM parameter"
                                + (f" (bootstrap version {version})" if version else ""))
    staging = resources.get("StagingBucket", {}).get("Type") == "AWS::S3::Bucket"
    if "BootstrapVersion" in outputs and (staging or "BucketName" in outputs):
        found.strong.append("BootstrapVersion output and " + ("StagingBucket resource" if staging else
                                                               "BucketName output"))
    elif staging and {"BucketName", "BucketDomainName"} <= outputs:
        found.strong.append("legacy bootstrap template (StagingBucket, outputs BucketName and BucketDomainName,"
                            " no BootstrapVersion output: bootstrap version 0)")
    if {"Qualifier", "BootstrapVariant"} <= stack.parameter_names():
        found.strong.append("parameters Qualifier and BootstrapVariant")
    roles = sum(1 for _, r in resources.items() if "aws-cdk:bootstrap-role" in _resource_tags(r))
    if roles:
        found.strong.append(f"aws-cdk:bootstrap-role tag on {_plural(roles, 'role')}")
    description = stack.description or ""
    if description.startswith("This stack includes resources needed to deploy AWS CDK apps into this"):
        found.strong.append("description of the CDK bootstrap template")
    elif description.startswith("The CDK Toolkit Stack. It was created by `cdk bootstrap`"):
        found.strong.append("description of the legacy CDK bootstrap template")
    if stack.name == "CDKToolkit":
        found.weak.append("stack name CDKToolkit (the name `cdk bootstrap` gives)")
    return found


# Amplify CLI (Gen 1): root stack description "Root Stack for AWS Amplify CLI" (amplify-cli
# amplify-provider-awscloudformation root-stack-builder), default project tags user:Stack and
# user:Application (amplify-cli get-tags.ts initialTags), category stacks described by a JSON attribution
# {"createdBy": "Amplify", ...}. Amplify Gen 2 (amplify-backend): attribution createdBy "AmplifySandbox" or
# "AmplifyPipelineDeploy", stack tags created-by=amplify and amplify:deployment-type. "AmplifyCDK" is an
# Amplify construct inside a plain CDK app (AttributionMetadataStorage): that stack stays CDK.
AMPLIFY_DEPLOYERS = ("Amplify", "AmplifySandbox", "AmplifyPipelineDeploy")


def _amplify(stack: _Stack) -> _Finding:
    found = _Finding.empty()
    description = stack.description or ""
    if description == "Root Stack for AWS Amplify CLI":
        found.strong.append("description Root Stack for AWS Amplify CLI")
    created_by = _attribution(description)
    if created_by in AMPLIFY_DEPLOYERS:
        found.strong.append(f"description attribution createdBy {created_by}")
    elif created_by == "AmplifyCDK":
        found.notes.append("description attribution createdBy AmplifyCDK (an Amplify construct in a CDK app)")
    if {"user:Application", "user:Stack"} <= set(stack.tags):
        found.strong.append("tags user:Application and user:Stack (Amplify CLI defaults)")
    if "amplify:deployment-type" in stack.tags:
        found.strong.append("tag amplify:deployment-type (Amplify Gen 2)")
    if stack.tags.get("created-by") == "amplify":
        found.strong.append("tag created-by=amplify")
    return found


def _attribution(description: str) -> str | None:
    if not (description.startswith("{") and len(description) <= 4096):
        return None
    try:
        data = json.loads(description)
    except ValueError:
        return None
    created_by = data.get("createdBy") if isinstance(data, dict) else None
    return created_by if isinstance(created_by, str) else None


# AWS Copilot tags every stack it deploys (copilot-cli internal/pkg/deploy: AppTagKey "copilot-application",
# EnvTagKey, ServiceTagKey, TaskTagKey, PipelineTagKey) and describes its resources with the metadata key
# `aws:copilot:description` (internal/pkg/template/templates/**/cf.yml).
COPILOT_TAGS = ("copilot-application", "copilot-environment", "copilot-service", "copilot-task",
                "copilot-pipeline")


def _copilot(stack: _Stack) -> _Finding:
    found = _Finding.empty()
    if "copilot-application" in stack.tags:
        found.strong.extend(f"tag {key}" for key in COPILOT_TAGS if key in stack.tags)
    described = sum(1 for _, r in _resources(stack.main) if "aws:copilot:description" in _metadata(r))
    if described:
        found.strong.append(f"aws:copilot:description metadata on {_plural(described, 'resource')}")
    return found


# Elastic Beanstalk names an environment's stack awseb-<environment id>-stack (environment ids are e-xxxxxxxxxx),
# tags it elasticbeanstalk:environment-name and elasticbeanstalk:environment-id (EB developer guide, "Tagging
# Elastic Beanstalk application resources"), describes it "AWS Elastic Beanstalk environment (Name: ... Id:
# ...)" (awsebcli tests) and names its resources AWSEB... (AWSEBAutoScalingGroup, AWSEBSecurityGroup, ...).
def _elastic_beanstalk(stack: _Stack) -> _Finding:
    found = _Finding.empty()
    if stack.name and re.fullmatch(r"awseb-e-[a-z0-9]+-stack", stack.name):
        found.strong.append(f"stack name {stack.name} (Elastic Beanstalk naming)")
    found.strong.extend(f"tag {key}" for key in ("elasticbeanstalk:environment-name",
                                                 "elasticbeanstalk:environment-id") if key in stack.tags)
    if (stack.description or "").startswith("AWS Elastic Beanstalk environment (Name: "):
        found.strong.append("description of an Elastic Beanstalk environment stack")
    named = sum(1 for logical_id, _ in _resources(stack.main) if logical_id.startswith("AWSEB"))
    if named >= 2:
        found.strong.append(f"{named} AWSEB... logical ids (Elastic Beanstalk naming)")
    return found


# Serverless Framework: its core template (serverless lib/plugins/aws/package/lib/core-cloudformation-
# template.json) has the description below, the ServerlessDeploymentBucket (left out when the service names
# its own deploymentBucket) and the ServerlessDeploymentBucketName output. Its shared Lambda role is
# IamRoleLambdaExecution (lib/plugins/aws/lib/naming.js getRoleLogicalId): a hint, not proof.
SERVERLESS_DESCRIPTION = "The AWS CloudFormation template for this Serverless application"


def _serverless(stack: _Stack) -> _Finding:
    found = _Finding.empty()
    if stack.description == SERVERLESS_DESCRIPTION:
        found.strong.append(f"description '{SERVERLESS_DESCRIPTION}'")
    resources = dict(_resources(stack.main))
    if resources.get("ServerlessDeploymentBucket", {}).get("Type") == "AWS::S3::Bucket":
        found.strong.append("ServerlessDeploymentBucket resource")
    if "ServerlessDeploymentBucketName" in stack.output_keys():
        found.strong.append("ServerlessDeploymentBucketName output")
    if resources.get("IamRoleLambdaExecution", {}).get("Type") == "AWS::IAM::Role":
        found.notes.append("IamRoleLambdaExecution role (Serverless Framework naming)")
    return found


# SAM: the transform in the Original-stage template, AWS::Serverless::* resource types; in the processed
# template, the tags the translator adds (samtranslator model/__init__.py _SAM_KEY "lambda:createdBy",
# stepfunctions/generators.py "stateMachine:createdBy", api/http_api_generator.py "httpapi:createdBy",
# websocket_api_generator.py "websocketapi:createdBy", sam_resources.py "graphqlapi:createdBy", all "SAM"),
# its implicit APIs ServerlessRestApi / ServerlessHttpApi, and the SamResourceId metadata `sam build` writes
# on every resource (aws-sam-cli lib/samlib/resource_metadata_normalizer.py). The SAM CLI's own managed
# stack: description "Managed Stack for AWS SAM CLI", SamCliSourceBucket, tag ManagedStackSource=AwsSamCli
# (aws-sam-cli lib/bootstrap/bootstrap.py).
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
SAM_TAG_KEYS = ("lambda:createdBy", "stateMachine:createdBy", "httpapi:createdBy", "websocketapi:createdBy",
                "graphqlapi:createdBy")
SAM_IMPLICIT_APIS = {"ServerlessRestApi": "AWS::ApiGateway::RestApi", "ServerlessHttpApi": "AWS::ApiGatewayV2::Api"}


def _sam(stack: _Stack) -> _Finding:
    found = _Finding.empty()
    for template, where in ((stack.original, " (original template)"), (stack.template, "")):
        if SAM_TRANSFORM in _transforms(template):
            found.strong.append(f"Transform {SAM_TRANSFORM}{where}")
            break
    for template, where in ((stack.original, " in the original template"), (stack.template, "")):
        serverless = sum(1 for _, r in _resources(template) if str(r.get("Type", "")).startswith("AWS::Serverless::"))
        if serverless:
            found.strong.append(f"{_plural(serverless, 'AWS::Serverless::* resource')}{where}")
            break
    resources = list(_resources(stack.main))
    for key in SAM_TAG_KEYS:
        tagged = sum(1 for _, r in resources if _resource_tags(r).get(key) == "SAM")
        if tagged:
            found.strong.append(f"tag {key}=SAM on {_plural(tagged, 'resource')}")
    for logical_id, resource_type in SAM_IMPLICIT_APIS.items():
        if any(lid == logical_id and r.get("Type") == resource_type for lid, r in resources):
            found.strong.append(f"SAM implicit API {logical_id}")
    built = sum(1 for _, r in resources if isinstance(_metadata(r).get("SamResourceId"), str))
    if built:
        found.strong.append(f"SamResourceId metadata on {_plural(built, 'resource')} (sam build)")
    if stack.description == "Managed Stack for AWS SAM CLI" or any(lid == "SamCliSourceBucket" for lid, _ in resources):
        found.strong.append("SAM CLI managed stack (SamCliSourceBucket)")
    if stack.tags.get("ManagedStackSource") == "AwsSamCli":
        found.strong.append("tag ManagedStackSource=AwsSamCli")
    return found


# CDK marks, with their sources (aws-cdk-lib core unless said):
# - AWS::CDK::Metadata resource (private/metadata-resource.ts), with condition CDKMetadataAvailable when the
#   region is unknown at synth time; `Analytics` from 1.93, the `Modules` string before.
# - `aws:cdk:path` resource metadata (cx-api PATH_METADATA_KEY, on when the CLI passes aws:cdk:enable-path-
#   metadata) and `aws:asset:path` / `aws:asset:property` asset metadata (cx-api ASSET_RESOURCE_METADATA_*).
# - DefaultStackSynthesizer: parameter BootstrapVersion (AWS::SSM::Parameter::Value<String>, default
#   /cdk-bootstrap/<qualifier>/version) and rule CheckBootstrapVersion (stack-synthesizer.ts
#   addBootstrapVersionRule); file assets in cdk-<qualifier>-assets-<account>-<region> (default-synthesizer.ts
#   DEFAULT_FILE_ASSETS_BUCKET_NAME, also CliCredentialsStackSynthesizer's, which adds no rule).
# - LegacyStackSynthesizer (v1's default): per file asset, parameters AssetParameters<sha256>S3Bucket<8 hex>,
#   ...S3VersionKey..., ...ArtifactHash... (stack-synthesizers/legacy.ts, private/asset-parameters.ts; the
#   pattern aws-sam-cli matches as CDK_ASSET_PARAMETER_PATTERN). Nested stacks get them as
#   referenceto<parent>AssetParameters... parameters, hence a search, not a match.
# - Cross-stack references: outputs ExportsOutputRef... / ExportsOutputFnGetAtt... (private/refs.ts).
# - Logical ids: <path-derived name><8 uppercase hex of an md5> (private/uniqueid.ts makeUniqueId). Plain
#   templates seldom look like that, but can: weak evidence only.
ASSET_PARAMETER = re.compile(r"AssetParameters([0-9a-f]{64})(?:S3Bucket|S3VersionKey|ArtifactHash)[0-9A-F]{8}")
EXPORT_OUTPUT = re.compile(r"ExportsOutput(?:Ref|FnGetAtt)[A-Za-z0-9]+")
MODERN_ASSET_LOCATION = re.compile(r"\bcdk-([A-Za-z0-9_-]{1,10})-(?:container-)?assets-")
BOOTSTRAP_SSM_PARAMETER = re.compile(r"/cdk-bootstrap/([A-Za-z0-9_-]{1,10})/version")
CDK_LOGICAL_ID = re.compile(r"[A-Za-z][A-Za-z0-9]*?(?=[0-9A-F]{0,7}[0-9])[0-9A-F]{8}")


@dataclass
class _CdkFacts:
    finding: _Finding
    major: int | None = None
    version: str | None = None
    synthesizer: str | None = None
    modules: tuple[str, ...] = ()
    language: str | None = None
    app_info: str | None = None
    both_majors: bool = False


def _cdk(stack: _Stack, constructs: list[str] | None) -> _CdkFacts:
    found = _Finding.empty()
    facts = _CdkFacts(found)
    template = stack.main
    resources = list(_resources(template))
    sources: list[_Libraries] = []

    for logical_id, resource in resources:
        if resource.get("Type") != "AWS::CDK::Metadata":
            continue
        found.strong.append(f"AWS::CDK::Metadata resource {logical_id}")
        properties = _section(resource, "Properties")
        if "Analytics" in properties:
            analytics = read_analytics(properties["Analytics"])
            if analytics.problem:
                found.notes.append(f"CDKMetadata Analytics unreadable ({analytics.problem})")
            else:
                libraries = _libraries_from_entries("Analytics", analytics.entries)
                sources.append(libraries)
                core = libraries.core_version(2) or libraries.core_version(1)
                read = f" -> {_safe(core)}" if core else f": {_plural(len(analytics.entries), 'entry', 'entries')}"
                found.strong.append(f"CDKMetadata Analytics {analytics.encoding}{read}")
                if analytics.app_info:
                    facts.app_info = analytics.app_info
                    found.strong.append(f"Analytics app info {analytics.app_info}")
        if isinstance(properties.get("Modules"), str):
            libraries, cli = _libraries_from_modules(properties["Modules"])
            sources.append(libraries)
            core = libraries.core_version(1) or libraries.core_version(2)
            read = f" -> {_safe(core)}" if core else ""
            found.strong.append(f"CDKMetadata Modules property (CDK before 1.93){read}")
            if cli:
                found.notes.append(f"Modules property names CLI aws-cdk {_safe(cli)}")
        break
    has_resource = any(r.get("Type") == "AWS::CDK::Metadata" for _, r in resources)
    if not has_resource and "CDKMetadataAvailable" in _section(template, "Conditions"):
        found.strong.append("CDKMetadataAvailable condition")
    if constructs:
        sources.append(_libraries_from_entries("tree.json constructInfo", constructs, skip=("constructs",)))
    _decide_major(facts, sources)

    paths = construct_paths(template)
    if paths:
        found.strong.append(f"aws:cdk:path metadata on {_plural(len(paths), 'resource')}")
    assets = sum(1 for _, r in resources if "aws:asset:path" in _metadata(r) or "aws:asset:property" in _metadata(r))
    if assets:
        found.strong.append(f"CDK asset metadata (aws:asset:path) on {_plural(assets, 'resource')}")
    synthesizers = _synthesizer_marks(stack, found)
    exports = sorted(k for k in stack.output_keys() if EXPORT_OUTPUT.fullmatch(k))
    if exports:
        found.strong.append(f"{_plural(len(exports), 'CDK cross-stack export output')} (ExportsOutput...)")
    facts.synthesizer = _pick_synthesizer(synthesizers, facts.major, found)
    if found.strong and facts.major is None and not facts.both_majors:
        found.notes.append("CDK major version not provable (no CDKMetadata library list)" if not sources
                           else "CDK major version not provable (no CDK core library reported)")

    if not found.strong:
        typed = [lid for lid, r in resources if r.get("Type") != "AWS::CDK::Metadata"]
        hashed = [lid for lid in typed if CDK_LOGICAL_ID.fullmatch(lid)]
        if len(hashed) >= 2 and 2 * len(hashed) >= len(typed):
            found.weak.append(f"CDK-style logical ids (8 hex suffix) on {len(hashed)} of {len(typed)} resources "
                              "(weak evidence: no other CDK mark)")
    return facts


def _synthesizer_marks(stack: _Stack, found: _Finding) -> set[str]:
    """Evidence of which synthesizer wrote the template: {"default", "legacy", "modern-assets"}."""
    marks: set[str] = set()
    template = stack.main
    parameter = _section(template, "Parameters").get("BootstrapVersion")
    rule = "CheckBootstrapVersion" in _section(template, "Rules")
    bootstrap_parameter = isinstance(parameter, dict) and (
        str(parameter.get("Type", "")).startswith("AWS::SSM::Parameter::Value")
        or (isinstance(parameter.get("Default"), str) and parameter["Default"].startswith("/cdk-bootstrap/")))
    if bootstrap_parameter and rule:
        found.strong.append("BootstrapVersion parameter and CheckBootstrapVersion rule")
    elif bootstrap_parameter:
        found.strong.append("BootstrapVersion parameter (/cdk-bootstrap/ SSM parameter)")
    elif rule:
        found.strong.append("CheckBootstrapVersion rule")
    elif template is None and "BootstrapVersion" in (stack.parameters or ()):
        found.strong.append("deployed parameter BootstrapVersion (DefaultStackSynthesizer)")
        bootstrap_parameter = True
    if bootstrap_parameter or rule:
        marks.add("default")
        default = parameter.get("Default") if isinstance(parameter, dict) else None
        qualifier = BOOTSTRAP_SSM_PARAMETER.fullmatch(default) if isinstance(default, str) else None
        if qualifier:
            found.notes.append(f"bootstrap qualifier {qualifier.group(1)}")
    hashes = {m.group(1) for name in stack.parameter_names() if isinstance(name, str)
              for m in [ASSET_PARAMETER.search(name)] if m}
    if hashes:
        found.strong.append(f"AssetParameters...S3Bucket parameters for {_plural(len(hashes), 'asset')} "
                            "(legacy synthesizer)")
        marks.add("legacy")
    qualifiers = sorted({m.group(1) for s in _strings(_section(template, "Resources"))
                         for m in MODERN_ASSET_LOCATION.finditer(s)})
    if qualifiers:
        found.strong.append(f"asset location cdk-{qualifiers[0]}-assets-... (modern bootstrap)")
        marks.add("modern-assets")
    return marks


def _decide_major(facts: _CdkFacts, sources: list[_Libraries]) -> None:
    found = facts.finding
    majors: set[int] = set()
    modules: list[str] = []
    for libraries in sources:
        for major in (1, 2):
            proving = libraries.by_major(major)
            if proving:
                majors.add(major)
                core = [p for p, _ in proving if p in (V1_CORE if major == 1 else V2_CORE)]
                found.strong.append(f"{libraries.source} lists {(core or [proving[0][0]])[0]} (CDK v{major})")
        for package, version in libraries.pairs:
            module = f"{package}@{_safe(version)}"
            if module not in modules:
                modules.append(module)
        if libraries.runtime and facts.language is None:
            facts.language = _language(libraries.runtime)
            if facts.language:
                found.notes.append(f"app language {facts.language} (jsii runtime {_safe(libraries.runtime)})")
    facts.modules = tuple(sorted(modules))
    if len(majors) == 1:
        facts.major = majors.pop()
        versions = [v for lib in sources if (v := lib.core_version(facts.major))]
        facts.version = _safe(max(versions, key=_version_key)) if versions else None
    elif majors:
        facts.both_majors = True
        found.notes.append("both CDK v1 and v2 libraries reported: major version not provable")


def _pick_synthesizer(marks: set[str], major: int | None, found: _Finding) -> str | None:
    if "legacy" in marks:
        return "other" if "default" in marks else "legacy"
    if "default" in marks:
        return "default"
    if "modern-assets" in marks:
        found.notes.append("modern bootstrap assets without the BootstrapVersion rule: CliCredentialsStackSynthesizer"
                           " or DefaultStackSynthesizer with the rule off")
        return "other"
    if major == 1:
        found.notes.append("no BootstrapVersion parameter: CDK v1's default legacy synthesizer")
        return "legacy"
    return None


# ------------------------------------------------------------------------------------------ the decision

# Most specific first: tools that deploy through CDK or carry CDK marks (Amplify Gen 2, Copilot overrides)
# are named for the tool; CDK comes before SAM because CDK apps may use the SAM transform; plain
# CloudFormation is what is left.
PRECEDENCE = (CDK_BOOTSTRAP, AMPLIFY, COPILOT, ELASTIC_BEANSTALK, CDK, SERVERLESS, SAM)


def stack_origin(template: dict | None, *, original: dict | None = None, stack_name: str | None = None,
                 description: str | None = None, tags: dict[str, str] | None = None,
                 parameters: dict[str, str] | None = None, outputs: list[str] | None = None,
                 constructs: list[str] | None = None) -> Origin:
    """The origin of one stack or template file.

    `template`: the processed (deployed) template, or the only one; `original`: the Original-stage template
    when it differs (SAM's Transform is only there); `stack_name`, `description`, `tags` (stack tags),
    `parameters` (deployed parameter names -> values; only the names are read), `outputs` (output keys);
    `constructs`: `tree_constructs(...)` of the stack in a cloud assembly. Any may be None: unknown."""
    stack = _Stack(
        template=template if isinstance(template, dict) else None,
        original=original if isinstance(original, dict) else None,
        name=stack_name if isinstance(stack_name, str) else None,
        description=description if isinstance(description, str) else None,
        tags={k: v for k, v in (tags or {}).items() if isinstance(k, str) and isinstance(v, str)},
        parameters=[k for k in parameters if isinstance(k, str)] if isinstance(parameters, dict) else None,
        outputs=[k for k in outputs if isinstance(k, str)] if isinstance(outputs, (list, tuple, set)) else None,
    )
    if stack.description is None and stack.main is not None:
        described = stack.main.get("Description")
        stack.description = described if isinstance(described, str) else None

    bootstrap = _bootstrap(stack)
    cdk = _cdk(stack, [c for c in constructs if isinstance(c, str)] if constructs else None)
    findings = {CDK_BOOTSTRAP: bootstrap, AMPLIFY: _amplify(stack), COPILOT: _copilot(stack),
                ELASTIC_BEANSTALK: _elastic_beanstalk(stack), CDK: cdk.finding, SERVERLESS: _serverless(stack),
                SAM: _sam(stack)}

    chosen = next((name for name in PRECEDENCE if findings[name].strong), None)
    if chosen is None:
        chosen = next((name for name in (CDK_BOOTSTRAP, CDK) if findings[name].weak), None)

    evidence: list[str] = []
    if chosen is not None:
        evidence += findings[chosen].strong + findings[chosen].weak + findings[chosen].notes
    for name in PRECEDENCE:
        if name != chosen:
            evidence += findings[name].strong + findings[name].weak + findings[name].notes
    if chosen is None:
        evidence.insert(0, "no framework marks in the template" if stack.main is not None
                        else "no template: only stack name, description, tags, parameters and outputs read")
    evidence = list(dict.fromkeys(evidence))

    cdk_based = chosen in (CDK, AMPLIFY, COPILOT) and bool(cdk.finding.strong)
    framework = _framework(chosen, cdk)
    return Origin(
        framework=framework,
        cdk_version=cdk.version if cdk_based else None,
        synthesizer=cdk.synthesizer if cdk_based else None,
        evidence=tuple(evidence),
        modules=cdk.modules if cdk_based else (),
        language=cdk.language if cdk_based else None,
    ) if chosen != CDK_BOOTSTRAP else Origin(framework=CDK_BOOTSTRAP, evidence=tuple(evidence))


def _framework(chosen: str | None, cdk: _CdkFacts) -> str:
    if chosen is None:
        return CLOUDFORMATION
    if chosen != CDK:
        return chosen
    if cdk.app_info == "cdk-migrate":
        return CDK_MIGRATE
    return {1: CDK_V1, 2: CDK_V2}.get(cdk.major, CDK)
