"""CDK cloud assemblies (`cdk.out`) read into their synthesized stacks, and those stacks matched to deployed ones.

A cloud assembly is a folder with a `manifest.json` (cloud-assembly schema: 6.x in early CDK v1, 21.x at v1's end,
55.x in today's v2; the shape that matters here never changed): artifacts of type `aws:cloudformation:stack`
name a `templateFile`, an `environment` (`aws://ACCOUNT/REGION`, `unknown-account`/`unknown-region` when
env-agnostic), `dependencies` and construct `metadata` (inline, or since schema ~30 in the file
`additionalMetadataFile` names); a `cdk:tree` artifact names `tree.json`; a `cdk:cloud-assembly` artifact is a
nested assembly (a Stage) in the sub-folder `directoryName`. Sources: cdklabs/cloud-assembly-schema
(`lib/cloud-assembly/schema.ts`, `artifact-schema.ts`) and aws-cdk-lib `core/lib/private/tree-metadata.ts`.

Files are read only through `importers.inputs.read_file` (regular files, sizes capped), only inside the assembly
folder (a manifest naming `../../etc/passwd` is refused), nested assemblies to a bounded depth. A bad file is a
SourceError naming it (and its line where known); the other files and assemblies still load; nothing raises.
`match_assemblies` is pure: rows in, an AssemblyMatch out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from graph.records import SourceError, source_row
from graph.redact import redact_text
from importers.cfn_template import TemplateError, load_template
from importers.inputs import InputProblem, MiB, read_file
from importers.limits import INPUT_TIME_BUDGET_S, MAX_INPUT_BYTES, BudgetExceeded, time_budget
from importers.stack_origin import Origin, construct_paths as template_construct_paths, stack_origin, tree_constructs

SOURCE_KIND = "cdk_assembly"
MANIFEST = "manifest.json"
STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY = "cdk:cloud-assembly"
TREE_ARTIFACT = "cdk:tree"
CDK_METADATA_TYPE = "AWS::CDK::Metadata"
LOGICAL_ID_ENTRY = "aws:cdk:logicalId"
UNKNOWN_ACCOUNT, UNKNOWN_REGION = "unknown-account", "unknown-region"

# Stages nest in stages; real apps go two or three deep. Past this the assembly is named, not followed.
MAX_NESTING = 8
MAX_ASSEMBLIES = 500  # nested assemblies read from one root: a bound, not a real-world limit
MAX_ARTIFACTS = 10_000
# manifest.json, *.metadata.json and tree.json grow with the app (tree.json past 100 MB in very large apps;
# CDK splits it into forest files past 500,000 nodes); bounded all the same, as json.loads holds it all in memory.
MAX_ASSEMBLY_FILE_BYTES = 64 * MiB
MAX_TREE_FILES = 64  # forest files one tree.json may reference (subtree references, aws-cdk#34478/#34718)


@dataclass(frozen=True)
class AssemblyStack:
    """One synthesized stack of a cloud assembly, with what its files say about it."""

    assembly: str  # path of the cdk.out folder (the nested one for a stage)
    artifact_id: str  # manifest artifact id: unique only within `assembly`
    stack_name: str  # properties.stackName, or the artifact id (manifests before stackName existed)
    account: str | None  # None: env-agnostic (unknown-account)
    region: str | None  # None: env-agnostic (unknown-region)
    template_path: str  # absolute path of the template file
    template: dict | None  # None when unreadable (an error names the file)
    dependencies: tuple[str, ...]  # artifact ids, in `assembly`, of the stacks it depends on (assets left out)
    constructs: tuple[str, ...]  # tree.json constructInfo under the stack: "version!fqn"
    logical_ids: tuple[str, ...]  # the resources the template declares
    origin: Origin
    construct_paths: dict[str, str]  # logical id -> construct path (template aws:cdk:path, else manifest metadata)
    construct_path: str | None = None  # the stack's own construct path ("Prod/Service"); None when not provable
    schema_version: str | None = None  # the manifest's cloud-assembly schema version
    display_name: str | None = None


@dataclass
class _Reading:
    """What reading the given paths produced so far."""

    stacks: list[AssemblyStack] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # real paths of assembly folders already read
    assemblies: int = 0


class _FileProblem(Exception):
    """A file of the assembly that cannot be used: `message` never quotes its content."""

    def __init__(self, path: str, message: str, line: int | None = None):
        super().__init__(message)
        self.path = path
        self.message = message
        self.line = line


# -------------------------------------------------------------------------------------------------- reading


def read_assemblies(
    paths: list[str],
    *,
    max_input_bytes: int = MAX_INPUT_BYTES,
    max_assembly_file_bytes: int = MAX_ASSEMBLY_FILE_BYTES,
    time_budget_s: float | None = INPUT_TIME_BUDGET_S,
) -> tuple[list[AssemblyStack], list[SourceError], list[dict]]:
    """The stacks of the cloud assemblies at `paths` (cdk.out folders, their manifest.json, or an app folder
    holding cdk.out), their nested assemblies included; the errors met; one `sources` row (kind "cdk_assembly")
    per assembly read or failed. `max_input_bytes` bounds each template, `max_assembly_file_bytes` the manifest,
    metadata and tree files; `time_budget_s` each root assembly. Never raises."""
    reading = _Reading()
    for raw in paths:
        folder = _assembly_folder(raw)
        if folder is None:
            message = "no manifest.json here: not a CDK cloud assembly (give the cdk.out folder)"
            _fail(reading, raw, message)
            continue
        try:
            with time_budget(time_budget_s, folder):
                _read_assembly(folder, reading, depth=0, tree=None, max_template=max_input_bytes,
                               max_file=max_assembly_file_bytes)
        except BudgetExceeded as error:
            _fail(reading, folder, str(error).split(": ", 1)[-1])
        except Exception as error:  # a bug must cost this assembly, never the scan
            _fail(reading, folder, f"unexpected error reading the assembly ({type(error).__name__}); not read")
    return reading.stacks, reading.errors, reading.sources


def _assembly_folder(raw: str) -> str | None:
    path = os.path.abspath(os.path.expanduser(raw))
    if os.path.basename(path) == MANIFEST and not os.path.isdir(path):
        return os.path.dirname(path)
    for candidate in (path, os.path.join(path, "cdk.out")):
        if os.path.isdir(candidate) and os.path.lexists(os.path.join(candidate, MANIFEST)):
            return candidate
    return None


def _fail(reading: _Reading, source: str, message: str, line: int | None = None, folder: str | None = None) -> None:
    """An assembly that could not be read: the error names the file (`source`), the sources row the folder."""
    message = redact_text(message)
    reading.errors.append(SourceError(source, message, line=line))
    reading.sources.append(source_row(folder or source, SOURCE_KIND, "error", 0, message))


def _inside(folder: str, name: Any) -> str | None:
    """`folder/name` when `name` is a relative path that stays inside `folder` (links resolved), else None."""
    if not isinstance(name, str) or not name or "\x00" in name or os.path.isabs(name):
        return None
    path = os.path.join(folder, name)
    root = os.path.realpath(folder)
    real = os.path.realpath(path)
    return path if real == root or real.startswith(root.rstrip(os.sep) + os.sep) else None


def _read_json(path: str, max_bytes: int) -> Any:
    try:
        data = read_file(path, max_bytes)
    except InputProblem as problem:
        raise _FileProblem(path, problem.reason) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _FileProblem(path, f"not UTF-8 text (a byte at offset {error.start:,} is no character)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _FileProblem(path, f"invalid JSON: {error.msg}", error.lineno) from None
    except RecursionError:
        raise _FileProblem(path, "nested too deep to read") from None
    except ValueError:  # an integer past Python's digit limit; the message would quote it
        raise _FileProblem(path, "invalid JSON: a number too long to read") from None


def _read_assembly(folder: str, reading: _Reading, depth: int, tree: dict | None, max_template: int,
                   max_file: int) -> None:
    real = os.path.realpath(folder)
    if real in reading.seen:
        return  # given twice, or a nested assembly that names an assembly already read
    reading.seen.add(real)
    reading.assemblies += 1
    manifest_path = os.path.join(folder, MANIFEST)
    try:
        manifest = _read_json(manifest_path, max_file)
    except _FileProblem as problem:
        _fail(reading, problem.path, problem.message, problem.line, folder)
        return
    artifacts = manifest.get("artifacts") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or not isinstance(artifacts, (dict, type(None))):
        what = "artifacts is not an object" if isinstance(manifest, dict) else "not a JSON object"
        _fail(reading, manifest_path, f"not a cloud assembly manifest ({what})", folder=folder)
        return
    artifacts = {k: v for k, v in (artifacts or {}).items() if isinstance(k, str) and isinstance(v, dict)}
    version = manifest.get("version") if isinstance(manifest.get("version"), str) else None
    errors_before = len(reading.errors)
    warn = _warner(reading)
    if len(artifacts) > MAX_ARTIFACTS:
        warn(manifest_path, f"more than {MAX_ARTIFACTS:,} artifacts; the first {MAX_ARTIFACTS:,} read")
        artifacts = dict(list(artifacts.items())[:MAX_ARTIFACTS])

    # tree.json is written once, at the root: stacks of a nested assembly (a Stage) are found in the root's tree
    own_tree = _tree_of(folder, artifacts, reading, max_file)
    tree = own_tree if own_tree is not None else tree

    stack_ids = {aid for aid, a in artifacts.items() if a.get("type") == STACK_ARTIFACT}
    stacks: list[AssemblyStack] = []
    for artifact_id in sorted(stack_ids):
        stack = _read_stack(folder, artifact_id, artifacts[artifact_id], artifacts, version, tree, depth, reading,
                            max_template, max_file)
        if stack is not None:
            stacks.append(stack)
    reading.stacks += stacks

    nested = sorted(aid for aid, a in artifacts.items() if a.get("type") == NESTED_ASSEMBLY)
    for artifact_id in nested:
        properties = _properties(artifacts[artifact_id])
        sub = _inside(folder, properties.get("directoryName"))
        if sub is None:
            warn(manifest_path, f"nested assembly {_shown(artifact_id)}: directoryName is missing or leaves the "
                 "assembly folder; not read")
        elif depth + 1 > MAX_NESTING:
            warn(manifest_path, f"nested assembly {_shown(artifact_id)} is nested deeper than {MAX_NESTING} "
                 "levels; not read")
        elif reading.assemblies >= MAX_ASSEMBLIES:
            warn(manifest_path, f"more than {MAX_ASSEMBLIES} assemblies; nested assembly {_shown(artifact_id)} "
                 "not read")
        elif not os.path.isfile(os.path.join(sub, MANIFEST)):
            warn(manifest_path, f"nested assembly {_shown(artifact_id)}: no manifest.json in its folder; not read")
        else:
            _read_assembly(sub, reading, depth + 1, tree, max_template, max_file)

    own_errors = [e for e in reading.errors[errors_before:] if os.path.dirname(e.source) == folder]
    status = "error" if any(e.kind == "error" for e in own_errors) else "warning" if own_errors else "ok"
    resources = sum(len(s.logical_ids) for s in stacks)
    message = f"{len(stacks)} stack{'' if len(stacks) == 1 else 's'}"
    if nested:
        message += f", {len(nested)} nested assembl{'y' if len(nested) == 1 else 'ies'}"
    reading.sources.append(source_row(folder, SOURCE_KIND, status, resources, message, format_version=version))


def _warner(reading: _Reading):
    def warn(source: str, message: str, kind: str = "warning", line: int | None = None) -> None:
        reading.errors.append(SourceError(source, redact_text(message), kind, line))
    return warn


def _shown(text: str, limit: int = 120) -> str:
    """An artifact id or path from a manifest, safe to put in a message."""
    return repr(re.sub(r"[^\w./:@+=-]", "?", text)[:limit])


def _properties(artifact: dict) -> dict:
    properties = artifact.get("properties")
    return properties if isinstance(properties, dict) else {}


# ----------------------------------------------------------------------------------------------- tree.json


def _tree_of(folder: str, artifacts: dict, reading: _Reading, max_file: int) -> dict | None:
    """The assembly's construct tree, subtree references resolved; None when it has none or it is unreadable
    (then a warning: the stacks still load, their CDK major version may stay unproven)."""
    names = [_properties(a).get("file") for a in artifacts.values() if a.get("type") == TREE_ARTIFACT]
    if not names:
        return None
    path = _inside(folder, names[0])
    warn = _warner(reading)
    if path is None:
        warn(os.path.join(folder, MANIFEST), "the tree artifact's file is missing or leaves the assembly folder; "
             "tree.json not read")
        return None
    try:
        tree = _read_json(path, max_file)
        if not isinstance(tree, dict) or not isinstance(tree.get("tree"), dict):
            raise _FileProblem(path, "not a construct tree (no tree object)")
        _resolve_subtrees(folder, tree["tree"], max_file)
    except _FileProblem as problem:
        warn(problem.path, f"{problem.message}; the construct tree is not read (a stack without CDKMetadata may "
             "then not prove its CDK major version)", "error", problem.line)
        return None
    return tree


def _resolve_subtrees(folder: str, root: dict, max_file: int) -> None:
    """Replace subtree references ({id, path, fileName, treeId?}: CDK writes them when the tree passes
    500,000 nodes) by the subtrees they name, in place; each forest file read once, at most MAX_TREE_FILES."""
    files: dict[str, Any] = {}
    pending: list[dict] = [root]
    visited = 0
    while pending:
        node = pending.pop()
        visited += 1
        if visited > 2_000_000:
            raise _FileProblem(os.path.join(folder, "tree.json"), "more than 2,000,000 construct nodes")
        children = node.get("children")
        if not isinstance(children, dict):
            continue
        for key, child in list(children.items()):
            if not isinstance(child, dict):
                continue
            if isinstance(child.get("fileName"), str) and "children" not in child:
                child = _subtree(folder, child, files, max_file)
                children[key] = child
            pending.append(child)


def _subtree(folder: str, reference: dict, files: dict[str, Any], max_file: int) -> dict:
    name = reference["fileName"]
    path = _inside(folder, name)
    if path is None:
        raise _FileProblem(os.path.join(folder, "tree.json"), "a subtree reference leaves the assembly folder")
    if name not in files:
        if len(files) >= MAX_TREE_FILES:
            raise _FileProblem(path, f"more than {MAX_TREE_FILES} tree files referenced")
        files[name] = _read_json(path, max_file)
    document = files[name]
    tree_id = reference.get("treeId")
    if isinstance(tree_id, str):
        forest = document.get("forest") if isinstance(document, dict) else None
        node = forest.get(tree_id) if isinstance(forest, dict) else None
    else:
        node = document.get("tree") if isinstance(document, dict) else None
    if not isinstance(node, dict) or "fileName" in node:
        raise _FileProblem(path, "a subtree reference names no subtree in this file")
    return node


def _tree_node(tree: dict | None, path: str) -> dict | None:
    node = tree.get("tree") if isinstance(tree, dict) else None
    for part in path.split("/") if path else []:
        children = node.get("children") if isinstance(node, dict) else None
        node = children.get(part) if isinstance(children, dict) else None
    return node if isinstance(node, dict) else None


# --------------------------------------------------------------------------------------------------- stacks


def _read_stack(folder: str, artifact_id: str, artifact: dict, artifacts: dict, version: str | None,
                tree: dict | None, depth: int, reading: _Reading, max_template: int,
                max_file: int) -> AssemblyStack | None:
    warn = _warner(reading)
    manifest_path = os.path.join(folder, MANIFEST)
    properties = _properties(artifact)
    template_path = _inside(folder, properties.get("templateFile"))
    if template_path is None:
        warn(manifest_path, f"stack {_shown(artifact_id)}: templateFile is missing or leaves the assembly folder; "
             "stack not read", "error")
        return None
    stack_name = properties.get("stackName") if isinstance(properties.get("stackName"), str) else artifact_id
    account, region = _environment(artifact.get("environment"), artifact_id, manifest_path, warn)

    template: dict | None = None
    try:
        data = read_file(template_path, max_template)
        template = load_template(data.decode("utf-8-sig"), template_path, max_template)
    except InputProblem as problem:
        warn(template_path, problem.reason, "error")
    except UnicodeDecodeError:
        warn(template_path, "not UTF-8 text: template not read", "error")
    except TemplateError as error:
        warn(template_path, error.message, "error", error.line)

    metadata = _metadata(folder, artifact, warn, max_file)
    logical_ids = tuple(sorted(_resources(template)))
    paths = _construct_paths(template, metadata)
    display = artifact.get("displayName") if isinstance(artifact.get("displayName"), str) else None
    stack_path = _stack_path(artifact_id, stack_name, display, list(paths.values()) + list(metadata), tree, depth)
    # the stack's node reached by its path, not searched for: a large tree holds many stacks
    node = _tree_node(tree, stack_path) if stack_path is not None else None
    constructs = tuple(tree_constructs({"tree": node})) if node is not None else ()

    dependencies = []
    listed = artifact.get("dependencies")
    for dependency in listed if isinstance(listed, list) else []:
        if not isinstance(dependency, str):
            continue
        kind = artifacts.get(dependency, {}).get("type")
        if kind == STACK_ARTIFACT:
            dependencies.append(dependency)
        elif kind is None:
            warn(manifest_path, f"stack {_shown(artifact_id)} depends on {_shown(dependency)}, which the manifest "
                 "does not hold")
    return AssemblyStack(
        assembly=folder,
        artifact_id=artifact_id,
        stack_name=stack_name,
        account=account,
        region=region,
        template_path=os.path.abspath(template_path),
        template=template,
        dependencies=tuple(sorted(set(dependencies))),
        constructs=constructs,
        logical_ids=logical_ids,
        origin=stack_origin(template, constructs=list(constructs), stack_name=stack_name),
        construct_paths=paths,
        construct_path=stack_path,
        schema_version=version,
        display_name=display,
    )


_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


def _environment(value: Any, artifact_id: str, manifest_path: str, warn) -> tuple[str | None, str | None]:
    """(account, region) of `aws://ACCOUNT/REGION`; None for unknown-account/unknown-region, and for a value
    that is neither an account nor a region (then a warning: the stack matches as env-agnostic would)."""
    match = re.fullmatch(r"aws://([^/]*)/([^/]*)", value) if isinstance(value, str) else None
    if match is None:
        warn(manifest_path, f"stack {_shown(artifact_id)}: environment is not aws://ACCOUNT/REGION; "
             "read as env-agnostic")
        return None, None
    account, region = match.groups()
    if account != UNKNOWN_ACCOUNT and not _ACCOUNT.fullmatch(account):
        warn(manifest_path, f"stack {_shown(artifact_id)}: environment account is no account id; read as unknown")
        account = UNKNOWN_ACCOUNT
    if region != UNKNOWN_REGION and not _REGION.fullmatch(region):
        warn(manifest_path, f"stack {_shown(artifact_id)}: environment region is no region name; read as unknown")
        region = UNKNOWN_REGION
    return (None if account == UNKNOWN_ACCOUNT else account), (None if region == UNKNOWN_REGION else region)


def _metadata(folder: str, artifact: dict, warn, max_file: int) -> dict[str, str]:
    """Construct path (no leading slash) -> logical id, from the manifest's inline metadata and from the file
    `additionalMetadataFile` names (where CDK puts it since cloud-assembly schema ~30)."""
    sources = [artifact.get("metadata")]
    name = artifact.get("additionalMetadataFile")
    if name is not None:
        path = _inside(folder, name)
        if path is None:
            warn(os.path.join(folder, MANIFEST), "additionalMetadataFile leaves the assembly folder; not read")
        else:
            try:
                sources.append(_read_json(path, max_file))
            except _FileProblem as problem:
                warn(problem.path, f"{problem.message}; construct metadata not read", "error", problem.line)
    found: dict[str, str] = {}
    for metadata in sources:
        if not isinstance(metadata, dict):
            continue
        for path, entries in metadata.items():
            if not isinstance(path, str) or not isinstance(entries, list):
                continue
            for entry in entries:
                if (isinstance(entry, dict) and entry.get("type") == LOGICAL_ID_ENTRY
                        and isinstance(entry.get("data"), str)):
                    found[path.lstrip("/")] = entry["data"]
    return found


def _resources(template: dict | None) -> dict[str, dict]:
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        return {}
    return {k: v for k, v in resources.items() if isinstance(k, str) and isinstance(v, dict)}


def _construct_paths(template: dict | None, metadata: dict[str, str]) -> dict[str, str]:
    """Logical id -> construct path of each resource: the template's aws:cdk:path (the CLI turns it on), else the
    manifest's aws:cdk:logicalId metadata (which also names outputs and parameters: only resources are kept)."""
    paths = template_construct_paths(template)
    resources = _resources(template)
    for path, logical_id in sorted(metadata.items()):
        if logical_id in resources and logical_id not in paths:
            paths[logical_id] = path
    return dict(sorted(paths.items()))


def _stack_path(artifact_id: str, stack_name: str, display: str | None, paths: list[str], tree: dict | None,
                depth: int) -> str | None:
    """The stack's own construct path. `displayName` is it (aws-cdk-lib writes `stack.node.path`); older
    manifests have none, so it is the deepest common prefix of its constructs' paths that is provably the stack:
    the tree says `...Stack` there, or CDK's artifact id of that path (`makeUniqueId`, stack.ts) is this one."""
    prefix = _common_prefix([p.split("/") for p in paths if p])
    if display and (not prefix or prefix[: len(display.split("/"))] == display.split("/")):
        return display
    for size in range(len(prefix), 0, -1):
        candidate = prefix[:size]
        path = "/".join(candidate)
        info = (_tree_node(tree, path) or {}).get("constructInfo")
        fqn = info.get("fqn") if isinstance(info, dict) else None
        if isinstance(fqn, str) and fqn.endswith("Stack") and not fqn.endswith("NestedStack"):
            return path
        if artifact_id == _stack_artifact_id(candidate) or (size == 1 and candidate[0] == stack_name):
            return path
    if prefix and depth == 0 and tree is not None and _tree_node(tree, prefix[0]) is not None:
        # a stack of the root assembly sits right under the App unless a construct holds it, which is rare
        return prefix[0]
    return None


def _common_prefix(parts: list[list[str]]) -> list[str]:
    if not parts:
        return []
    prefix = parts[0]
    for other in parts[1:]:
        size = 0
        while size < min(len(prefix), len(other)) and prefix[size] == other[size]:
            size += 1
        prefix = prefix[:size]
    return prefix


def _stack_artifact_id(components: list[str]) -> str:
    """CDK's artifact id for a stack at this path: the id itself at the top, else makeUniqueId (core uniqueid.ts):
    the components without "Default", alphanumerics only, then the first 8 hex digits of the path's MD5."""
    if len(components) == 1:
        return components[0]
    kept = [c for c in components if c != "Default"]
    digest = hashlib.md5("/".join(kept).encode(), usedforsecurity=False).hexdigest()[:8].upper()
    human = [c for i, c in enumerate(kept) if i == 0 or c != kept[i - 1]]  # removeDupes: repeated neighbours
    text = "".join(re.sub(r"[^A-Za-z0-9]", "", c) for c in human if c != "Resource")[:240]
    return text + digest


# -------------------------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class AssemblyMatch:
    """Synthesized stacks against deployed ones (see match_assemblies)."""

    deployed: list[tuple[AssemblyStack, str]]  # (synthesized stack, deployed stack id)
    not_deployed: list[AssemblyStack]  # no deployed stack of that name in its (scanned) account and region
    orphans: list[str]  # deployed CDK stack ids no given assembly contains
    ambiguous: list[tuple[AssemblyStack, list[str]]]  # env-agnostic, deployed in several scanned regions
    resource_diffs: list[dict]  # {"stack_id", "logical_id", "type", "diff"} per matched stack
    not_scanned: list[AssemblyStack] = field(default_factory=list)  # its account or region was not scanned
    undiffed: list[tuple[str, str]] = field(default_factory=list)  # (deployed stack id, why no resource diff)


IN_CODE_NOT_DEPLOYED, DEPLOYED_NOT_IN_CODE = "in_code_not_deployed", "deployed_not_in_code"


def _is_cdk_stack(row: dict) -> bool:
    framework = row.get("framework")
    return isinstance(framework, str) and framework.startswith("cdk") and framework != "cdk-bootstrap"


def match_assemblies(stacks: list[AssemblyStack], deployed: list[dict],
                     deployed_resources: dict[str, list[tuple[str, str]]], account: str,
                     regions: list[str]) -> AssemblyMatch:
    """Each synthesized stack matched to the deployed stack of its name in its account and region.

    `deployed`: the stacks importer's rows (id, name, account, region, framework, parent_id, status);
    `deployed_resources`: stack id -> (logical id, type) pairs as ListStackResources gave them; `account` and
    `regions`: what the scan covered. An env-agnostic stack takes the scanned account and any scanned region: one
    region with its name matches, several are `ambiguous` (never guessed). A stack whose account or region was
    not scanned is `not_scanned`, neither deployed nor missing. Orphans are the deployed CDK stacks (framework
    cdk, cdk-v1, cdk-v2, cdk-migrate; not the bootstrap; not nested stacks, which belong to their root) that no
    synthesized stack matches or may match."""
    by_key: dict[tuple, list[str]] = {}
    for row in deployed:
        if row.get("status") == "DELETE_COMPLETE" or not isinstance(row.get("id"), str):
            continue
        by_key.setdefault((row.get("account"), row.get("region"), row.get("name")), []).append(row["id"])
    scanned = sorted(set(regions))
    matched: list[tuple[AssemblyStack, str]] = []
    not_deployed: list[AssemblyStack] = []
    not_scanned: list[AssemblyStack] = []
    ambiguous: list[tuple[AssemblyStack, list[str]]] = []
    claimed: set[str] = set()
    for stack in sorted(stacks, key=lambda s: (s.assembly, s.artifact_id)):
        stack_account = stack.account or account
        if stack_account != account or not scanned or (stack.region is not None and stack.region not in scanned):
            not_scanned.append(stack)
            continue
        candidates = sorted({stack_id for region in ([stack.region] if stack.region else scanned)
                             for stack_id in by_key.get((stack_account, region, stack.stack_name), [])})
        claimed.update(candidates)
        if not candidates:
            not_deployed.append(stack)
        elif len(candidates) == 1:
            matched.append((stack, candidates[0]))
        else:
            ambiguous.append((stack, candidates))
    orphans = sorted(row["id"] for row in deployed
                     if isinstance(row.get("id"), str) and row["id"] not in claimed and _is_cdk_stack(row)
                     and not row.get("parent_id") and row.get("status") != "DELETE_COMPLETE")
    diffs: list[dict] = []
    undiffed: list[tuple[str, str]] = []
    for stack, stack_id in matched:
        reason = _why_not_diffed(stack, deployed_resources.get(stack_id))
        if reason:
            undiffed.append((stack_id, reason))
        else:
            diffs += resource_diffs(stack.template, deployed_resources[stack_id], stack_id)
    return AssemblyMatch(deployed=matched, not_deployed=not_deployed, orphans=orphans, ambiguous=ambiguous,
                         resource_diffs=diffs, not_scanned=not_scanned, undiffed=undiffed)


def _why_not_diffed(stack: AssemblyStack, resources: list | None) -> str | None:
    if stack.template is None:
        return "the synthesized template could not be read"
    if resources is None:
        return "the deployed stack's resources were not listed"
    transform = stack.template.get("Transform")
    if transform:
        # the deployed resources are the macro's output (SAM makes roles, permissions...), not what the code declares
        return "the template has a Transform: its deployed resources are the transform's output"
    return None


def resource_diffs(template: dict | None, deployed: list[tuple[str, str]], stack_id: str) -> list[dict]:
    """Resources in the code but not deployed, and deployed but gone from the code, keyed on (logical id, type):
    a logical id whose type changed is both. Left out: CDK's bookkeeping (AWS::CDK::Metadata), rows without a
    logical id or type (moto lists skipped resources so), and, as not deployed, a resource under a `Condition`
    (the condition may rightly leave it out; its parameters' deployed values are not known here)."""
    code = {(lid, r.get("Type")) for lid, r in _resources(template).items()
            if isinstance(r.get("Type"), str) and r.get("Type") != CDK_METADATA_TYPE}
    conditional = {lid for lid, r in _resources(template).items() if "Condition" in r}
    live = {(lid, kind) for lid, kind in deployed
            if isinstance(lid, str) and lid and isinstance(kind, str) and kind and kind != CDK_METADATA_TYPE}
    diffs = [{"stack_id": stack_id, "logical_id": lid, "type": kind, "diff": IN_CODE_NOT_DEPLOYED}
             for lid, kind in sorted(code - live) if lid not in conditional]
    diffs += [{"stack_id": stack_id, "logical_id": lid, "type": kind, "diff": DEPLOYED_NOT_IN_CODE}
              for lid, kind in sorted(live - code)]
    return diffs
