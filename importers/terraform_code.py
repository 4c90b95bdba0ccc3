"""Terraform code (`.tf` files in HCL) read into what it declares: resources, import/moved/removed blocks, backends and
providers, and the records of what it declares that no state holds yet (`declared_not_applied`).

Reading happens at the edge, in `read_terraform_code`: files are found and read through importers.inputs (walks
that end, sizes capped), parsed with python-hcl2 in a process pool, and each parse is kept in a content-hash
cache so that a warm re-read of a large repository parses nothing. The rest (module expansion, provider
resolution, `code_records`) is pure. A file that does not parse is a SourceError naming it and its line; the
other files still load.

Terraform code owns nothing until it is applied: a code declaration that a state also holds adds nothing (the
state wins), and one that no state holds becomes a record marked `pending` ("create", or "import" when an import
block adopts it), which reconcile never counts as an owner (see graph/reconcile.py).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson

from graph.records import GLOBAL, TERRAFORM, Owner, Record, SourceError, source_row
from graph.redact import redact_text
from graph.resource_types import TERRAFORM_TYPES
from importers.inputs import InputProblem, MiB, find_files, read_file
from importers.limits import INPUT_TIME_BUDGET_S, MAX_INPUT_BYTES, BudgetExceeded, time_budget

SOURCE_KIND = "terraform_code"
CODE_FRAMEWORK = "terraform-code"  # Owner.framework of a declaration read from code rather than from a state
LOADED, ERROR = "loaded", "error"
PENDING_CREATE, PENDING_IMPORT = "create", "import"  # Record.pending of a code declaration no state holds

TF_SUFFIX = ".tf"  # `.tf.json` (JSON syntax) is not read yet
# What becomes of one parse. Bumped whenever the parsed shape changes, so that an older cache is never read.
PARSE_FORMAT = 1
# A module that calls itself through a chain of local sources would expand without end; Terraform refuses cycles.
MAX_MODULE_DEPTH = 32
CACHE_ENTRY_MAX_BYTES = 64 * MiB  # a cache entry larger than this is no entry we wrote from a capped input
# Below this many files to parse, starting worker processes costs more than it saves.
POOL_THRESHOLD = 4

# Meta-arguments: how Terraform handles a resource, not what the resource is.
META_ARGUMENTS = frozenset({"count", "for_each", "provider", "depends_on", "lifecycle", "provisioner", "connection"})
_INTERPOLATION = re.compile(r"(?<![$%])[$%]\{")  # `${` or `%{` not escaped as `$${` / `%%{`
_INDEX = re.compile(r"\[[^\]]*\]")
_ROLE_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):")
_ACCOUNT = re.compile(r"^\d{12}$")


# ------------------------------------------------------------------------------------------------ shapes


@dataclass(frozen=True)
class CodeResource:
    """One `resource` block as a root module declares it, at its base address (count/for_each not expanded)."""

    address: str  # module path + type.name: module.net.aws_vpc.main
    type: str  # aws_sqs_queue
    file: str
    line: int | None
    literal: dict  # the arguments whose values are literals (strings unquoted), meta-arguments left out
    provider: str | None  # the provider reference it uses: "aws" or "aws.west"
    region: str | None  # from its provider configuration, when that states one literally
    account: str | None  # from its provider's assume_role role_arn (or a single allowed_account_ids)
    count_or_for_each: str | None  # "count = 2", "for_each = ${var.x}", or the enclosing module call's
    root: str = ""  # the root module folder it was read under (as the sources row names it)


@dataclass(frozen=True)
class CodeReading:
    resources: list[CodeResource]
    imports: list[dict]  # {"to", "id", "file", "line", "root"}: id None when not a literal
    moved: list[dict]  # {"from", "to", "file", "line", "root"}: addresses with the module path
    removed: list[dict]  # {"from", "destroy", "file", "line", "root"}
    backends: list[dict]  # {"type", "config", "workspaces", "file", "line", "root"}
    providers: list[dict]  # {"name", "alias", "region", "assume_role_arn", "account", "module", "file", "line"}
    errors: list[SourceError]
    sources: list[dict]  # one `sources` row per root module folder
    parsed: int = 0  # files parsed by this reading
    cached: int = 0  # files whose parse came from the cache


# ------------------------------------------------------------------------------------------ parsing (pure)


def parse_hcl(text: str) -> dict:
    """One file's text as {"blocks": [{"type", "labels", "line", "body"}]} or {"error": {"message", "line",
    "column"}}: plain JSON data, so that it crosses processes and sits in the cache as it is.

    Strings come unquoted with their escapes resolved (python-hcl2's `strip_string_quotes`); an expression comes
    as "${...}". The error message names the place and the kind of token, never the text there (it may be a
    secret)."""
    import hcl2  # here, so that a worker process imports it once, and graph/ never sees it
    from hcl2.rules.base import BlockRule

    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, preserve_heredocs=False, strip_string_quotes=True
    )
    try:
        with time_budget(INPUT_TIME_BUDGET_S, "parsing"):
            try:
                tree = hcl2.parses(text, discard_comments=True)
            except Exception as error:
                joined = join_interpolation_lines(text)
                if joined is None:
                    raise
                try:
                    tree = hcl2.parses(joined, discard_comments=True)
                except Exception:
                    raise error from None  # the first error is the one about the file as written
    except BudgetExceeded as error:
        return _parse_error(str(error), None, None)
    except RecursionError:
        return _parse_error("nested too deeply to read", None, None)
    except Exception as error:  # lark's errors carry the line and column
        return _lark_error(error)
    blocks = []
    for child in tree.body._children:
        line = _line_of(child)
        if not isinstance(child, BlockRule):
            continue  # a top-level attribute is no Terraform construct (a .tfvars file has only those)
        try:
            labels = [label.serialize(options) for label in child.labels]
            body = child.body.serialize(options)
        except RecursionError:
            return _parse_error("nested too deeply to read", line, None)
        except Exception as error:  # python-hcl2 refuses some files only while serializing (duplicate names)
            return _parse_error(f"cannot be read ({_first_line(error)})", line, None)
        blocks.append({"type": str(labels[0]), "labels": [str(label) for label in labels[1:]], "line": line,
                       "body": body})
    return {"blocks": blocks}


def join_interpolation_lines(text: str) -> str | None:
    """The text with the newlines inside a quoted string's `${ ... }` moved to the end of the line the string
    ends on, or None when it has none.

    HCL allows them (Terraform 0.11 configurations are full of `tags = "${\n map(...)\n }"`), python-hcl2's
    grammar does not. Every newline is kept, only moved past the string, so every block keeps its line number.
    Comments and heredocs are skipped as they are; a string left open ends the scan with no change."""
    out: list[str] = []
    held = 0  # newlines taken out of interpolations, put back at the next newline outside any string
    modes: list[str] = []  # "string" or "interp" (with its brace depth in `depths`), innermost last
    depths: list[int] = []
    position, length = 0, len(text)
    while position < length:
        char = text[position]
        two = text[position:position + 2]
        mode = modes[-1] if modes else "code"
        if mode == "string":
            if char == "\\":
                out.append(text[position:position + 2])
                position += 2
                continue
            if two in ("$${", "%%{"):
                out.append(text[position:position + 3])
                position += 3
                continue
            if two in ("${", "%{"):
                modes.append("interp")
                depths.append(1)
                out.append(two)
                position += 2
                continue
            if char == '"':
                modes.pop()
            elif char == "\n":
                return None  # a newline in a string outside any interpolation: not ours to mend
            out.append(char)
            position += 1
            continue
        # code, at the top or inside an interpolation
        if char == '"':
            modes.append("string")
        elif char == "#" or two == "//":
            end = text.find("\n", position)
            end = length if end < 0 else end
            out.append(text[position:end])
            position = end
            continue
        elif two == "/*":
            end = text.find("*/", position + 2)
            end = length if end < 0 else end + 2
            chunk = text[position:end]
            if modes:
                held += chunk.count("\n")
                chunk = chunk.replace("\n", " ")
            out.append(chunk)
            position = end
            continue
        elif two == "<<" and not modes:
            heredoc = re.match(r"<<-?([A-Za-z_][A-Za-z0-9_-]*)\r?\n", text[position:])
            if heredoc:
                closing = re.compile(r"^[ \t]*" + re.escape(heredoc.group(1)) + r"[ \t]*\r?$", re.M)
                end_match = closing.search(text, position + heredoc.end())
                end = length if end_match is None else end_match.end()
                out.append(text[position:end])
                position = end
                continue
        elif mode == "interp" and char == "{":
            depths[-1] += 1
        elif mode == "interp" and char == "}":
            depths[-1] -= 1
            if depths[-1] == 0:
                modes.pop()
                depths.pop()
        elif char == "\n" and modes:
            held += 1
            out.append(" ")
            position += 1
            continue
        elif char == "\n" and held:
            out.append("\n" * held)
            held = 0
        out.append(char)
        position += 1
    if modes:
        return None
    joined = "".join(out) + "\n" * held
    return joined if joined != text else None


def _line_of(rule: Any) -> int | None:
    meta = getattr(rule, "_meta", None)
    line = getattr(meta, "line", None) if meta is not None and not getattr(meta, "empty", True) else None
    return line if isinstance(line, int) else None


def _parse_error(message: str, line: int | None, column: int | None) -> dict:
    return {"error": {"message": message, "line": line, "column": column}}


def _lark_error(error: Exception) -> dict:
    line, column = getattr(error, "line", None), getattr(error, "column", None)
    line = line if isinstance(line, int) and line > 0 else None
    column = column if isinstance(column, int) and column > 0 else None
    token = getattr(error, "token", None)
    if token is not None:
        kind = "the end of the file" if token.type == "$END" else f"a {token.type} token"
        expected = sorted(getattr(error, "expected", None) or getattr(error, "accepts", None) or ())
        wanted = f" (expected {', '.join(expected[:6])}{', ...' if len(expected) > 6 else ''})" if expected else ""
        return _parse_error(f"not valid HCL: unexpected {kind}{wanted}", line, column)
    if type(error).__name__ == "UnexpectedCharacters":
        return _parse_error("not valid HCL: unexpected character", line, column)
    return _parse_error(f"not valid HCL ({type(error).__name__})", line, column)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _valid_parse(result: Any) -> bool:
    """Whether a cache entry's result has the shape `parse_hcl` gives: anything else is re-parsed."""
    if not isinstance(result, dict):
        return False
    if "error" in result:
        error = result["error"]
        return (isinstance(error, dict) and isinstance(error.get("message"), str)
                and all(error.get(k) is None or type(error.get(k)) is int for k in ("line", "column")))
    blocks = result.get("blocks")
    return isinstance(blocks, list) and all(
        isinstance(b, dict) and isinstance(b.get("type"), str) and isinstance(b.get("labels"), list)
        and all(isinstance(label, str) for label in b["labels"]) and isinstance(b.get("body"), dict)
        and (b.get("line") is None or type(b.get("line")) is int)
        for b in blocks
    )


# ------------------------------------------------------------------------------------ literal values (pure)


def is_literal(value: Any) -> bool:
    """Whether a parsed value is known without evaluating anything: no reference, call or interpolation in it."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _INTERPOLATION.search(item):
                return False
        elif isinstance(item, dict):
            if any(not isinstance(k, str) or _INTERPOLATION.search(k) for k in item):
                return False
            pending += item.values()
        elif isinstance(item, list):
            pending += item
        elif not (item is None or isinstance(item, (bool, int, float))):
            return False
    return True


def literal_value(value: Any) -> Any:
    """A literal with HCL's template escapes undone (`$${` is a literal `${`)."""
    if isinstance(value, str):
        return value.replace("$${", "${").replace("%%{", "%{")
    if isinstance(value, dict):
        return {literal_value(k): literal_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal_value(v) for v in value]
    return value


def literal_text(value: Any) -> str | None:
    """A value that is a literal string (or number), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and value and is_literal(value):
        return literal_value(value)
    return None


def reference(value: Any) -> str | None:
    """A bare reference such as `aws.west` or `aws_sqs_queue.jobs["a"]`, which python-hcl2 gives as "${...}"."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}") and value.count("${") == 1:
        return value[2:-1].strip()
    return None


def base_address(address: str) -> str:
    """An address with every instance key dropped: module.a["x"].aws_b.c[0] -> module.a.aws_b.c."""
    return _INDEX.sub("", address)


def _expression_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode() if is_literal(value) else str(value)


# ------------------------------------------------------------------------------------ modules (pure)


@dataclass
class _File:
    path: str
    folder: str  # real path of the folder it is in: the module it belongs to
    result: dict  # parse_hcl's answer


@dataclass
class _Module:
    folder: str
    files: list[_File] = field(default_factory=list)

    def blocks(self, kind: str) -> Iterable[tuple[_File, dict]]:
        for file in self.files:
            for block in file.result.get("blocks", ()):
                if block["type"] == kind:
                    yield file, block


def _local_source(source: Any) -> bool:
    return isinstance(source, str) and (source.startswith("./") or source.startswith("../") or source in (".", ".."))


def _module_calls(module: _Module) -> list[tuple[_File, dict, str, str | None]]:
    """(file, block, name, local folder or None) for each `module` block."""
    calls = []
    for file, block in module.blocks("module"):
        if not block["labels"]:
            continue
        source = literal_text(block["body"].get("source"))
        folder = os.path.realpath(os.path.join(module.folder, source)) if _local_source(source) else None
        calls.append((file, block, block["labels"][0], folder))
    return calls


def _provider_config(file: _File, block: dict, module_path: str) -> dict:
    body = block["body"]
    name = block["labels"][0] if block["labels"] else ""
    alias = literal_text(body.get("alias"))
    role_arn = None
    roles = body.get("assume_role")
    for role in roles if isinstance(roles, list) else [roles] if isinstance(roles, dict) else []:
        if isinstance(role, dict):
            role_arn = literal_text(role.get("role_arn")) or role_arn
    account = None
    match = _ROLE_ARN_ACCOUNT.match(role_arn or "")
    if match:
        account = match.group(1)
    allowed = body.get("allowed_account_ids")
    if account is None and isinstance(allowed, list) and len(allowed) == 1 and _ACCOUNT.match(str(allowed[0])):
        account = str(allowed[0])  # the only account it may act in
    region = literal_text(body.get("region"))
    return {"name": name, "alias": alias, "region": region, "assume_role_arn": role_arn, "account": account,
            "module": module_path, "file": file.path, "line": block.get("line")}


class _Expansion:
    """Walks one root module and the local modules it calls, collecting what each declares at its address."""

    def __init__(self, modules: dict[str, _Module], root: str, reading: "_Collected"):
        self.modules = modules
        self.root = root
        self.out = reading

    def walk(self, folder: str, prefix: str, providers: dict[str, dict], repeat: str | None,
             chain: tuple[str, ...]) -> None:
        module = self.modules.get(folder)
        if module is None:
            return
        module_path = prefix.rstrip(".")
        own = {}
        for file, block in module.blocks("provider"):
            config = _provider_config(file, block, module_path)
            self.out.providers.append(config)
            own[config["name"] + (f".{config['alias']}" if config["alias"] else "")] = config
        providers = {**providers, **own}
        for file, block in module.blocks("resource"):
            self._resource(file, block, prefix, providers, repeat)
        for file, block in module.blocks("moved"):
            self.out.moved.append({"from": _address(block["body"].get("from"), prefix),
                                   "to": _address(block["body"].get("to"), prefix),
                                   "file": file.path, "line": block.get("line"), "root": self.root})
        for file, block in module.blocks("removed"):
            lifecycle = block["body"].get("lifecycle")
            destroy = None
            for item in lifecycle if isinstance(lifecycle, list) else [lifecycle]:
                if isinstance(item, dict) and isinstance(item.get("destroy"), bool):
                    destroy = item["destroy"]
            self.out.removed.append({"from": _address(block["body"].get("from"), prefix), "destroy": destroy,
                                     "file": file.path, "line": block.get("line"), "root": self.root})
        if not prefix:  # Terraform reads import, backend and cloud blocks in the root module only
            self._root_only(module)
        for file, block, name, child in _module_calls(module):
            body = block["body"]
            where = f"{file.path}:{block.get('line')}"
            if child is None:
                source = literal_text(body.get("source")) or "(not a literal)"
                self.out.warn(file.path, block.get("line"),
                              f"{where}: module \"{name}\" comes from {source}, which is not a local folder: not "
                              "read, so what it declares is not known from code")
                continue
            if child in chain or len(chain) >= MAX_MODULE_DEPTH:
                self.out.warn(file.path, block.get("line"),
                              f"{where}: module \"{name}\" calls {child} again (a cycle, or deeper than "
                              f"{MAX_MODULE_DEPTH} modules): not expanded further")
                continue
            if child not in self.modules:
                self.out.warn(file.path, block.get("line"),
                              f"{where}: module \"{name}\" names local folder {child}, which holds no readable "
                              ".tf file")
                continue
            meta = next((k for k in ("count", "for_each") if k in body), None)
            here = f"module.{name}: {meta} = {_expression_text(body[meta])}" if meta else None
            self.walk(child, f"{prefix}module.{name}.", _passed_providers(body, providers), here or repeat,
                      (*chain, child))

    def _resource(self, file: _File, block: dict, prefix: str, providers: dict[str, dict], repeat: str | None):
        if len(block["labels"]) < 2:
            return
        rtype, name = block["labels"][0], block["labels"][1]
        body = block["body"]
        provider = reference(body.get("provider")) or literal_text(body.get("provider")) or rtype.split("_", 1)[0]
        config = providers.get(provider) or {}
        meta = next((k for k in ("count", "for_each") if k in body), None)
        literal = {key: literal_value(value) for key, value in body.items()
                   if key not in META_ARGUMENTS and is_literal(value)}
        self.out.resources.append(CodeResource(
            address=f"{prefix}{rtype}.{name}",
            type=rtype,
            file=file.path,
            line=block.get("line"),
            literal=literal,
            provider=provider,
            region=config.get("region"),
            account=config.get("account"),
            count_or_for_each=f"{meta} = {_expression_text(body[meta])}" if meta else repeat,
            root=self.root,
        ))

    def _root_only(self, module: _Module) -> None:
        for file, block in module.blocks("import"):
            body = block["body"]
            self.out.imports.append({"to": _address(body.get("to"), ""), "id": literal_text(body.get("id")),
                                     "for_each": "for_each" in body, "file": file.path, "line": block.get("line"),
                                     "root": self.root})
        for file, block in module.blocks("terraform"):
            body = block["body"]
            for backend in body.get("backend") or []:
                for kind, config in (backend.items() if isinstance(backend, dict) else ()):
                    self.out.backends.append(_backend(kind, config, file, block, self.root))
            for cloud in body.get("cloud") or []:
                if isinstance(cloud, dict):
                    self.out.backends.append(_backend("cloud", cloud, file, block, self.root))


def _backend(kind: str, config: Any, file: _File, block: dict, root: str) -> dict:
    config = config if isinstance(config, dict) else {}
    settings = {k: literal_value(v) for k, v in config.items() if is_literal(v) and k != "workspaces"}
    workspaces = None
    if kind == "cloud":
        found = config.get("workspaces")
        found = found[0] if isinstance(found, list) and found else found
        if isinstance(found, dict):
            workspaces = {k: literal_value(v) for k, v in found.items() if is_literal(v)}
    elif "workspace_key_prefix" in settings:  # the S3 backend's other workspaces: <prefix>/<name>/<key>
        workspaces = {"key_prefix": settings["workspace_key_prefix"]}
    elif kind == "s3":
        workspaces = {"key_prefix": "env:"}  # the S3 backend's default
    elif kind == "remote":
        found = config.get("workspaces")
        found = found[0] if isinstance(found, list) and found else found
        if isinstance(found, dict):
            workspaces = {k: literal_value(v) for k, v in found.items() if is_literal(v)}
    return {"type": kind, "config": settings, "workspaces": workspaces, "file": file.path,
            "line": block.get("line"), "root": root}


def _passed_providers(body: dict, providers: dict[str, dict]) -> dict[str, dict]:
    """What a called module sees: the caller's default configurations, and those its `providers` map passes."""
    passed = {name: config for name, config in providers.items() if "." not in name}
    mapping = body.get("providers")
    for item in mapping if isinstance(mapping, list) else [mapping]:
        if isinstance(item, dict):
            for inner, outer in item.items():
                target = reference(outer) or literal_text(outer)
                if isinstance(inner, str) and target in providers:
                    passed[inner] = providers[target]
    return passed


def _address(value: Any, prefix: str) -> str | None:
    """An address in a moved/removed/import block, with the module path it is relative to."""
    text = reference(value) or literal_text(value)
    return f"{prefix}{text}" if text else None


@dataclass
class _Collected:
    resources: list[CodeResource] = field(default_factory=list)
    imports: list[dict] = field(default_factory=list)
    moved: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    backends: list[dict] = field(default_factory=list)
    providers: list[dict] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    _warned: set = field(default_factory=set)

    def warn(self, path: str, line: int | None, message: str) -> None:
        message = redact_text(message)
        if message not in self._warned:  # a module called from two roots is said once
            self._warned.add(message)
            self.errors.append(SourceError(path, message, kind="warning", line=line))


def find_roots(modules: dict[str, _Module], folders: list[str]) -> list[str]:
    """The root modules among `folders`: those no other module calls. A folder reached by no root (a cycle of
    modules calling each other) is a root too, so that nothing read goes unseen."""
    called = {child for folder in folders if folder in modules
              for _, _, _, child in _module_calls(modules[folder]) if child and child != folder}
    roots = [f for f in folders if f in modules and f not in called]
    reached = set(roots)
    pending = list(roots)
    while pending:
        for _, _, _, child in _module_calls(modules[pending.pop()]):
            if child in modules and child not in reached:
                reached.add(child)
                pending.append(child)
    return roots + [f for f in folders if f in modules and f not in reached]


# ------------------------------------------------------------------------------------ reading (the edge)


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "driftgraph", "hcl")


class ParseCache:
    """Parsed files by the sha256 of their bytes, one JSON file each. JSON, never pickle: an entry is data that
    anyone who can write the folder may have changed, so it is checked and re-parsed when it is not what we wrote."""

    def __init__(self, folder: str | None):
        self.folder = os.path.join(folder, f"v{PARSE_FORMAT}-hcl2-{_hcl2_version()}") if folder else None
        self.problem: str | None = None

    def _path(self, digest: str) -> str:
        return os.path.join(self.folder, digest[:2], f"{digest}.json")

    def get(self, digest: str) -> dict | None:
        if self.folder is None:
            return None
        try:
            entry = orjson.loads(read_file(self._path(digest), CACHE_ENTRY_MAX_BYTES))
        except (InputProblem, orjson.JSONDecodeError, OSError):
            return None  # absent, unreadable or corrupt: parsed again, and rewritten
        if not isinstance(entry, dict) or entry.get("sha256") != digest or not _valid_parse(entry.get("result")):
            return None
        return entry["result"]

    def put(self, digest: str, result: dict) -> None:
        if self.folder is None or self.problem is not None:
            return
        path = self._path(digest)
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            # the parse holds the code's literals, passwords among them if the code has any: readable by its owner only
            handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(orjson.dumps({"sha256": digest, "result": result}))
                os.replace(temporary, path)
            except BaseException:
                os.unlink(temporary)
                raise
        except (OSError, TypeError) as error:
            self.problem = f"the HCL parse cache {self.folder} cannot be written ({type(error).__name__}); " \
                           "every read parses again"


def _hcl2_version() -> str:
    try:
        from importlib.metadata import version

        return version("python-hcl2")
    except Exception:
        return "unknown"


def read_terraform_code(
    dirs: list[str],
    *,
    workers: int | None = None,
    cache_dir: str | None = None,
    use_cache: bool = True,
    max_bytes: int = MAX_INPUT_BYTES,
) -> CodeReading:
    """Read every `.tf` file under each folder (recursively; `.terraform` and hidden folders skipped), follow
    the local modules they call, and say what each root module declares.

    Files are parsed in `workers` processes (default: one per CPU) unless only a few need parsing; each parse is
    cached under `cache_dir` (default $XDG_CACHE_HOME/driftgraph/hcl) by the sha256 of the file's bytes. A file
    that cannot be read or parsed is an error naming it (and its line); the others still load."""
    errors: list[SourceError] = []
    cache = ParseCache((cache_dir or default_cache_dir()) if use_cache else None)
    counts = {"parsed": 0, "cached": 0}
    files: dict[str, _File] = {}  # by real path: a file reached twice (a link, two dirs) is read once
    walked: list[tuple[str, list[str]]] = []  # (dir as given, module folders under it in walk order)

    def load(paths: list[str]) -> None:
        todo: list[tuple[str, str, bytes, str]] = []
        for path in paths:
            real = os.path.realpath(path)
            if real in files:
                continue
            try:
                content = read_file(path, max_bytes)
            except InputProblem as problem:
                errors.append(SourceError(path, redact_text(f"{path}: {problem.reason}")))
                files[real] = _File(path, os.path.dirname(real), {"blocks": []})
                continue
            digest = hashlib.sha256(content).hexdigest()
            cached = cache.get(digest)
            if cached is not None:
                counts["cached"] += 1
                files[real] = _File(path, os.path.dirname(real), cached)
            else:
                todo.append((path, real, content, digest))
        texts = [_decode(content) for _, _, content, _ in todo]
        results = _parse_all([t for t in texts if isinstance(t, str)], workers)
        answers = iter(results)
        for (path, real, _, digest), text in zip(todo, texts):
            result = next(answers) if isinstance(text, str) else text
            counts["parsed"] += 1
            cache.put(digest, result)
            files[real] = _File(path, os.path.dirname(real), result)

    for location in dirs:
        found = find_files(location, lambda name: name.endswith(TF_SUFFIX),
                           skip_folder=lambda name: name == ".terraform" or name.startswith("."))
        good = [f for f in found if f.problem is None]
        for item in found:
            if item.problem is not None:
                errors.append(SourceError(item.path, redact_text(f"{item.path}: {item.problem}")))
        if not found:
            errors.append(SourceError(location, redact_text(f"{location}: no .tf file in this folder")))
        load([f.path for f in good])
        folders = list(dict.fromkeys(os.path.dirname(os.path.realpath(f.path)) for f in good))
        walked.append((location, folders))

    # local modules outside the folders walked: their own .tf files (a module is one folder, not its subfolders)
    seen_folders = {folder for _, folders in walked for folder in folders}
    pending = sorted(seen_folders)
    while pending:
        modules = _modules(files)
        called = {child for folder in pending if folder in modules
                  for _, _, _, child in _module_calls(modules[folder]) if child}
        pending = sorted(called - seen_folders)
        seen_folders |= set(pending)
        for folder in pending:
            if os.path.isdir(folder):
                found = find_files(folder, lambda name: name.endswith(TF_SUFFIX), skip_folder=lambda name: True)
                load([f.path for f in found if f.problem is None])

    for file in files.values():
        problem = file.result.get("error")
        if problem:
            line, column = problem.get("line"), problem.get("column")
            where = f"line {line}" + (f", column {column}" if column else "") if line else "an unknown line"
            errors.append(SourceError(file.path, redact_text(f"{file.path}: {where}: {problem['message']}"),
                                      line=line))

    modules = _modules(files)
    collected = _Collected()
    sources = []
    rooted: set[str] = set()
    for location, folders in walked:
        for root in find_roots(modules, folders):
            if root in rooted:
                continue  # a folder under two dirs given is one root
            rooted.add(root)
            before = len(collected.resources)
            shown = _shown_path(location, root)
            expansion = _Expansion(modules, shown, collected)
            expansion.walk(root, "", {}, None, (root,))
            sources.append(_root_row(shown, modules, root, collected.resources[before:], files))
    if cache.problem:
        errors.append(SourceError(cache.folder or "", redact_text(cache.problem), kind="warning"))
    return CodeReading(collected.resources, collected.imports, collected.moved, collected.removed,
                       collected.backends, collected.providers, errors + collected.errors, sources,
                       parsed=counts["parsed"], cached=counts["cached"])


def _shown_path(location: str, root: str) -> str:
    """The root folder as the user would name it: under the dir they gave, relative to it."""
    given = os.path.realpath(location)
    if root == given:
        return location
    if root.startswith(given + os.sep):
        return os.path.join(location, os.path.relpath(root, given))
    return root


def _modules(files: dict[str, _File]) -> dict[str, _Module]:
    modules: dict[str, _Module] = {}
    for real in sorted(files):
        file = files[real]
        modules.setdefault(file.folder, _Module(file.folder)).files.append(file)
    return modules


def _root_row(shown: str, modules: dict[str, _Module], root: str, resources: list[CodeResource],
              files: dict[str, _File]) -> dict:
    """The root's `sources` row: the files of it and of its local modules, and how they went."""
    folders = {root} | _reached(modules, root)
    own = [f for f in files.values() if f.folder in folders]
    failed = [f for f in own if "error" in f.result]
    message = f"{len(own)} .tf files, {len(resources)} resources"
    if failed:
        message += f"; {len(failed)} could not be parsed ({', '.join(os.path.basename(f.path) for f in failed[:5])}" \
                   f"{', ...' if len(failed) > 5 else ''}): what they declare is not known"
    return source_row(shown, SOURCE_KIND, ERROR if failed else LOADED, len(resources), redact_text(message))


def _reached(modules: dict[str, _Module], root: str) -> set[str]:
    reached: set[str] = set()
    pending = [root]
    while pending:
        folder = pending.pop()
        if folder not in modules:
            continue
        for _, _, _, child in _module_calls(modules[folder]):
            if child and child not in reached and child != root:
                reached.add(child)
                pending.append(child)
    return reached


def _decode(content: bytes) -> str | dict:
    """A file's text, or parse_hcl's error shape when it is not UTF-8 (Terraform reads UTF-8 only)."""
    try:
        return content.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as bad:
        line = content.count(b"\n", 0, bad.start) + 1
        return _parse_error(f"not UTF-8 text: byte {content[bad.start]:#04x} is not valid UTF-8 (Terraform reads "
                            "UTF-8)", line, None)


def _parse_all(texts: list[str], workers: int | None) -> list[dict]:
    """parse_hcl of each text, in worker processes when there are enough to be worth starting them."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(texts) < POOL_THRESHOLD:
        return [parse_hcl(text) for text in texts]
    results: list[dict | None] = [None] * len(texts)
    try:
        # not fork: a scan has threads running (AWS calls), and a forked child may inherit a lock one of them held
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(max_workers=min(workers, len(texts)),
                                 mp_context=multiprocessing.get_context(method)) as pool:
            chunk = max(1, len(texts) // (workers * 4))
            for position, result in enumerate(pool.map(parse_hcl, texts, chunksize=chunk)):
                results[position] = result
    except BrokenProcessPool:
        pass  # a worker died (killed, out of memory): what it left undone is parsed here, one by one
    return [result if result is not None else parse_hcl(text) for result, text in zip(results, texts)]


# ------------------------------------------------------------------------------------ records (pure)


def planned_addresses(states_addresses: set[str], moved: list[dict]) -> set[str]:
    """The base addresses states hold, and the addresses `moved` blocks move them to (state from -> code to)."""
    held = {base_address(a) for a in states_addresses}
    changed = True
    while changed:  # chains of moves: a -> b -> c
        changed = False
        for move in moved:
            source, target = move.get("from"), move.get("to")
            if source and target and base_address(source) in held and base_address(target) not in held:
                held.add(base_address(target))
                changed = True
    return held


def code_records(reading: CodeReading, states_addresses: set[str], account: str,
                 default_region: str | None) -> list[Record]:
    """Records of the catalogued resources code declares, with a literal identity, that no state holds.

    A declaration a state holds (by base address, after `moved` blocks) adds nothing: the state says more. One no
    state holds is marked `pending` "create", or "import" when an import block targets its address (the block's
    literal id then identifies it even if the code names nothing). Nothing but identifiers and literal tags is
    kept: a declaration that was never applied is compared with nothing."""
    held = planned_addresses(states_addresses, reading.moved)
    imports: dict[tuple[str, str], dict] = {}
    for block in reading.imports:
        if block.get("to"):
            imports.setdefault((block["root"], base_address(block["to"])), block)
    records = []
    for resource in reading.resources:
        if resource.address in held or resource.type not in TERRAFORM_TYPES:
            continue
        imported = imports.get((resource.root, resource.address))
        record = _code_record(resource, imported, account, default_region)
        if record is not None:
            records.append(record)
    return records


# Types whose natural id is an ARN that the code's literal name and the provider's account and region give.
_ARN_FROM_NAME = {
    "aws_sns_topic": lambda literal, name, region, account: f"arn:aws:sns:{region}:{account}:{name}" if region else None,
    "aws_iam_policy": lambda literal, name, region, account: (
        f"arn:aws:iam::{account}:policy{literal_text(literal.get('path')) or '/'}{name}"
        if "path" not in literal or literal_text(literal.get("path")) else None
    ),
}


def _code_record(resource: CodeResource, imported: dict | None, account: str,
                 default_region: str | None) -> Record | None:
    row, tf = TERRAFORM_TYPES[resource.type]
    literal = resource.literal
    account = resource.account or account
    region = GLOBAL if row.is_global else resource.region or default_region
    natural_id = literal_text(literal.get(tf.id_attribute)) if tf.id_attribute not in ("id", "arn") else None
    name = literal_text(literal.get("name")) or (natural_id if tf.id_attribute != "id" else None)
    builder = _ARN_FROM_NAME.get(resource.type)
    if natural_id is None and builder is not None and name and account:
        natural_id = builder(literal, name, None if region == GLOBAL else region, account)
    aliases: tuple[str, ...] = ()
    import_id = imported.get("id") if imported else None
    if import_id:
        if tf.import_id in ("{id}", "{" + tf.id_attribute + "}") and natural_id is None:
            natural_id = import_id
        elif import_id != natural_id:
            aliases = (import_id,)  # a queue's URL, a composite id: reconcile maps what it can
        if natural_id is None:
            natural_id = import_id
    if natural_id is None:
        return None
    if row.lowercase_id:
        natural_id = natural_id.lower()
    tags = literal.get("tags")
    place = f"{resource.file}:{resource.line}" if resource.line else resource.file
    if imported:
        note = f"import pending: an import block at {imported['file']}:{imported.get('line')} adopts it at the next apply"
    else:
        note = f"declared_not_applied: declared at {place} but in no state read"
    return Record(
        source_kind=TERRAFORM,
        type=row.type,
        account=account,
        region=region,
        natural_id=natural_id,
        name=name,
        aliases=aliases,
        tags=tags if isinstance(tags, dict) else None,
        owner=Owner(tool="terraform", source=resource.root, address=resource.address, framework=CODE_FRAMEWORK),
        raw_type=resource.type,
        note=redact_text(note),
        pending=PENDING_IMPORT if imported else PENDING_CREATE,
    )
