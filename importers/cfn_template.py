"""CloudFormation templates as data: loading JSON/YAML (short-form tags included) and resolving intrinsics.

Pure functions, no AWS and no files: the importer hands in text and a `Context` of what it knows (parameter
values, pseudo parameters, physical ids of sibling resources, exports). Whatever the context cannot pin down
resolves to UNRESOLVED, which drift comparison skips: never guess, never crash.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from graph.records import UNRESOLVED, Unresolved
from graph.redact import is_secret_key
from importers.inputs import too_large
from importers.limits import MAX_INPUT_BYTES

SAM = "AWS::Serverless-2016-10-31"
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"


class TemplateError(Exception):
    """A template that cannot be read: names the file (or stack) and, when known, the line. `not_a_template`
    says why a document read whole is no template at all (empty, not a mapping, no Resources and no format
    version), as opposed to a template that is broken."""

    def __init__(self, source: str, message: str, line: int | None = None, not_a_template: str | None = None):
        self.source = source
        self.message = message
        self.line = line
        self.not_a_template = not_a_template
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")


class _NoValue:
    """What `Ref: AWS::NoValue` resolves to: the key (or list item) holding it is dropped."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()

# ------------------------------------------------------------------------------------------------ loading


def _short_form_name(tag: str) -> str:
    """'!Ref' -> 'Ref', '!Sub' -> 'Fn::Sub'; vendor tags that already carry '::' (rain's '!Rain::Embed')
    keep their name, so a template using a tag we do not know still loads (and resolves to UNRESOLVED)."""
    if tag in ("Ref", "Condition") or "::" in tag:
        return tag
    return "Fn::" + tag


def _construct_short_form(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict:
    name = _short_form_name(tag_suffix)
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            # '!GetAtt Res.Attr' splits at the first dot only: 'App.Outputs.X' is attribute 'Outputs.X'
            logical, _, attribute = str(value).partition(".")
            value = [logical, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1 safe loading as CloudFormation reads it, with its short-form tags.

    CloudFormation resolves plain scalars with SnakeYAML's YAML 1.1 rules: unquoted `yes` is the boolean it
    writes as "true", `0300` the octal number it writes as "192". PyYAML applies the same rules, except
    that its floats need a dot, so a plain scalar whose reading could differ between the two (or whose text
    CloudFormation makes of it we cannot be sure of: `1_000`, `12:30`, `0x1F`, `.inf`, `012345678901`, `1e5`)
    loads as UNRESOLVED and is never compared. Dates stay text: CloudFormation has no timestamps."""


# SnakeYAML's YAML 1.1 int and float resolvers (org.yaml.snakeyaml.resolver.Resolver), which CloudFormation uses...
_YAML11_INT = r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"
_YAML11_FLOAT = (
    r"[-+]?(?:\.[0-9]+|[0-9_]+(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
# ...and the spellings both libraries read alike, to a value whose text CloudFormation writes as Python does:
# decimal and octal integers, plain decimal floats.
_SURE_NUMBER = r"[-+]?(?:0|[1-9][0-9]*)|[-+]?0[0-7]+|[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?|\.[0-9]+(?:[eE][-+][0-9]+)?"
_UNSURE_NUMBER = re.compile(rf"^(?!(?:{_SURE_NUMBER})$)(?:{_YAML11_INT}|{_YAML11_FLOAT})$")
_UNSURE_TAG = "tag:driftgraph,2024:unsure-number"

_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "-+0123456789.":  # tried before PyYAML's own int and float resolvers
    _TemplateLoader.yaml_implicit_resolvers[_first] = [
        (_UNSURE_TAG, _UNSURE_NUMBER), *_TemplateLoader.yaml_implicit_resolvers.get(_first, [])
    ]
_TemplateLoader.add_constructor(_UNSURE_TAG, lambda loader, node: UNRESOLVED)
_TemplateLoader.add_multi_constructor("!", _construct_short_form)


def _checked_scalar(kind: str):
    """PyYAML's constructor for `!!kind`, except that a value it cannot read (`!!bool maybe`, `!!timestamp
    not-a-date`) is a YAML error with its line, whose message never quotes the value: it may be a secret."""
    construct = getattr(yaml.constructor.SafeConstructor, f"construct_yaml_{kind}")

    def construct_checked(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        try:
            value = construct(loader, node)
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError, IndexError):
            raise yaml.constructor.ConstructorError(
                None, None, f"a value tagged or read as {kind} is not a valid {kind}", node.start_mark
            ) from None
        return _finite(value)

    return construct_checked


for _kind in ("bool", "int", "float", "timestamp"):
    _TemplateLoader.add_constructor(f"tag:yaml.org,2002:{_kind}", _checked_scalar(_kind))
# YAML's sets, byte strings and ordered pairs are no CloudFormation value (Python would make a set whose order
# varies between runs, bytes, tuples): never compared
for _kind in ("set", "binary", "omap", "pairs"):
    _TemplateLoader.add_constructor(f"tag:yaml.org,2002:{_kind}", lambda loader, node: UNRESOLVED)

# Bounds on what one template may expand to. Every walk (resolving, conditions, imports) expands YAML aliases
# as a tree, so a 500-byte "billion laughs" is a billion values to them: refuse it once composed, before any
# walk. The walks recurse per level, so depth is bounded well below Python's recursion limit. The largest
# real templates are tens of levels deep and a few hundred thousand values at most.
MAX_DEPTH = 100
MAX_VALUES = 1_000_000


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_node_graph(root: yaml.Node, source: str) -> None:
    """Refuse a composed YAML document whose aliases make it recursive, or which, aliases expanded, is
    deeper than MAX_DEPTH or holds more than MAX_VALUES values. Iterative and memoised: linear in the
    nodes as written, whatever they expand to."""
    sizes: dict[int, int] = {}  # id(node) -> values once aliases are expanded (capped)
    depths: dict[int, int] = {}
    on_path: set[int] = set()  # nodes whose subtree is being measured: meeting one again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, measured_children = stack.pop()
        key = id(node)
        if measured_children:
            children = _children(node)
            sizes[key] = min(1 + sum(sizes[id(child)] for child in children), MAX_VALUES + 1)
            depths[key] = 1 + max((depths[id(child)] for child in children), default=0)
            on_path.discard(key)
            line = node.start_mark.line + 1
            if depths[key] > MAX_DEPTH:
                raise TemplateError(source, f"nested deeper than {MAX_DEPTH} levels; refused", line)
            if sizes[key] > MAX_VALUES:
                # every node measured so far is a distinct value as written: past the bound without aliases
                # there are that many of them, else aliases made up the difference
                if len(sizes) > MAX_VALUES:
                    raise TemplateError(source, f"holds more than {MAX_VALUES:,} values; refused", line)
                raise TemplateError(
                    source,
                    f"YAML aliases expand this document past {MAX_VALUES:,} values (an alias bomb); refused",
                    line,
                )
            continue
        if key in sizes:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise TemplateError(
                    source, "a YAML alias refers to its own anchor (a recursive document); refused",
                    child.start_mark.line + 1,
                )
            if id(child) not in sizes:
                stack.append((child, False))


def _finite(value: Any) -> Any:
    """A number as it can be used: an infinite or NaN float (`!!float .inf`, JSON `1e999`) is no value any
    property takes, and arithmetic on it fails, so it is UNRESOLVED."""
    return UNRESOLVED if isinstance(value, float) and not math.isfinite(value) else value


def _without_non_finite(document: Any) -> Any:
    """A decoded document with its infinite and NaN floats UNRESOLVED (depth already bounded)."""
    if isinstance(document, dict):
        return {key: _without_non_finite(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_without_non_finite(value) for value in document]
    return _finite(document)


def _check_bounds(document: Any, source: str) -> None:
    """The same bounds for a document already decoded (JSON, or a body boto3 decoded): no aliases there,
    but depth and size still bound every later walk."""
    values = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        values += 1
        if depth > MAX_DEPTH:
            raise TemplateError(source, f"nested deeper than {MAX_DEPTH} levels; refused")
        if values > MAX_VALUES:
            raise TemplateError(source, f"holds more than {MAX_VALUES:,} values; refused")
        if isinstance(value, dict):
            stack += [(item, depth + 1) for pair in value.items() for item in pair]
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value]


def _load_yaml(text: str, source: str) -> Any:
    loader = _TemplateLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node_graph(node, source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _yaml_error(source: str, text: str, error: yaml.YAMLError) -> TemplateError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    message = " ".join(part for part in (context, problem) if part) or str(error).splitlines()[0]
    line = None
    if mark is not None:
        # "unexpected end of stream" marks the line after the last one; name the last line instead
        line = max(1, min(mark.line + 1, len(text.splitlines())))
    return TemplateError(source, f"invalid YAML: {message}", line)


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _json_float(text: str) -> Any:
    return _finite(float(text))


def _json_constant(name: str) -> Any:
    return UNRESOLVED  # NaN, Infinity, -Infinity: Python's decoder takes them, CloudFormation does not


def load_template(text: str, source: str, max_bytes: int | None = MAX_INPUT_BYTES) -> dict:
    """A template (JSON or YAML) as plain data, short-form tags rewritten to their long form.

    Raises TemplateError naming `source` and the line for anything CloudFormation would reject as a
    document (bad JSON/YAML, a document that is not a mapping, no Resources section) and for anything
    past our bounds (`max_bytes` of text, MAX_DEPTH, MAX_VALUES, a recursive alias). Messages never quote
    a value of the document."""
    if max_bytes is not None and (len(text) > max_bytes or _text_size(text) > max_bytes):
        raise TemplateError(source, too_large(None, max_bytes))
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise TemplateError(source, "empty file: not a CloudFormation template", not_a_template="empty file")
    document: Any
    if stripped.startswith("{"):
        try:
            document = json.loads(text.lstrip("\ufeff"), parse_float=_json_float, parse_constant=_json_constant)
        except RecursionError:
            raise TemplateError(source, f"nested deeper than {MAX_DEPTH} levels; refused") from None
        except json.JSONDecodeError as json_error:
            # CloudFormation also accepts YAML flow style that JSON rejects; only report JSON if both fail
            try:
                document = _load_yaml(text, source)
            except TemplateError:
                raise  # it was YAML after all (JSON has no aliases), and past a bound
            except (yaml.YAMLError, TypeError, ValueError, RecursionError):
                raise TemplateError(source, f"invalid JSON: {json_error.msg}", json_error.lineno) from None
        except ValueError:  # an integer past Python's digit limit; the message would quote it
            raise TemplateError(source, "invalid JSON: a number too long to read") from None
        else:
            _check_bounds(document, source)
    else:
        try:
            document = _load_yaml(text, source)
        except yaml.YAMLError as error:
            raise _yaml_error(source, text, error) from None
        except RecursionError:  # the pure-Python parser, where libyaml is missing, recurses per level
            raise TemplateError(source, f"nested deeper than {MAX_DEPTH} levels; refused") from None
        except (TypeError, ValueError):  # e.g. a mapping used as a key; the message could quote a value
            raise TemplateError(source, "invalid YAML: a value that cannot be read as data") from None
    return _check_shape(document, source)


def check_template(document: Any, source: str) -> dict:
    """A document someone else decoded (boto3 decodes a JSON template body) checked as `load_template`
    checks text: the same bounds and the same shape, and the same numbers."""
    _check_bounds(document, source)
    return _check_shape(_without_non_finite(document), source)


def _check_shape(document: Any, source: str) -> dict:
    if not isinstance(document, dict):
        because = "the document is not a mapping"
        raise TemplateError(source, f"not a CloudFormation template: {because}", not_a_template=because)
    if "Resources" not in document:
        # a format version says it was meant as a template: a broken one
        because = None if "AWSTemplateFormatVersion" in document else "no Resources section"
        raise TemplateError(source, "not a CloudFormation template: no Resources section", not_a_template=because)
    if not isinstance(document["Resources"], dict) or not document["Resources"]:
        raise TemplateError(source, "the Resources section is empty or not a mapping")
    return document


# ------------------------------------------------------------------------------------------------ context

_URL_SUFFIXES = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}


def _as_parameter_text(value: Any) -> Any:
    """Ref to a parameter gives text, whatever YAML made of the default (Number parameters included)."""
    return cfn_text(value) if isinstance(value, (bool, int, float)) else value


def _is_no_echo(declaration: Any) -> bool:
    """NoEcho true, or a NoEcho we cannot read (a list, an unsure number): a secret either way."""
    if not isinstance(declaration, dict):
        return False
    no_echo = cfn_text(declaration.get("NoEcho", ""))
    return no_echo is UNRESOLVED or no_echo.lower() == "true"


def _declared_parameters(template: dict) -> dict:
    declared = template.get("Parameters")
    return declared if isinstance(declared, dict) else {}


def is_secret_parameter(template: dict, name: Any) -> bool:
    """A parameter whose value is never read nor stored: NoEcho, or named as a secret (`DbPassword`,
    `ApiToken`), whatever the template says about echoing it."""
    return isinstance(name, str) and (is_secret_key(name) or _is_no_echo(_declared_parameters(template).get(name)))


def reads_secret(template: dict, expression: Any) -> bool:
    """Whether `expression` reads a secret anywhere in it: a secret parameter (a Ref, or a ${Name} of an
    Fn::Sub), an Fn::Sub variable named as a secret, or a mapping value filed under a secret name."""
    for node in _walk(expression):
        for key, argument in node.items():
            if key == "Ref" and is_secret_parameter(template, argument):
                return True
            if key == "Fn::Sub":
                text = argument[0] if isinstance(argument, list) and argument else argument
                if isinstance(text, str) and any(
                    is_secret_parameter(template, name.strip()) or is_secret_key(name.strip())
                    for name in _SUB_VARIABLE.findall(text)
                ):
                    return True
            if key == "Fn::FindInMap" and isinstance(argument, list) and any(
                isinstance(name, str) and is_secret_key(name) for name in argument[:3]
            ):
                return True
    return False


def unknown_parameter_reason(template: dict, name: str, deployed: bool) -> str:
    """Why a parameter's value is unknown, in a few words: for a deployed stack or for a template file."""
    declaration = _declared_parameters(template).get(name)
    kind = str(declaration.get("Type", "")) if isinstance(declaration, dict) else ""
    if _is_no_echo(declaration):
        return "NoEcho"
    if is_secret_key(name):
        return "a secret, by its name"
    if kind.startswith("AWS::SSM::Parameter::Value"):
        return "SSM, without a resolved value" if deployed else "SSM, known once deployed"
    if deployed:
        return "not shown by DescribeStacks"
    return "a default of uncertain reading" if isinstance(declaration, dict) and "Default" in declaration else "no default"


@dataclass
class Context:
    """What a resolution may rely on. Build it with `make_context`."""

    template: dict = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)  # name -> value; UNRESOLVED when unknown
    pseudo: dict[str, Any] = field(default_factory=dict)  # AWS::Region ... -> value or UNRESOLVED
    physical_ids: dict[str, str] = field(default_factory=dict)  # logical id -> physical id
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)  # (logical id, GetAtt name) -> value
    exports: dict[str, Any] = field(default_factory=dict)  # export name -> value
    _conditions: dict[str, Any] = field(default_factory=dict, repr=False)


def make_context(
    template: dict,
    *,
    parameters: dict[str, Any] | None = None,
    account: str | None = None,
    region: str | None = None,
    partition: str | None = "aws",
    stack_name: str | None = None,
    stack_id: str | None = None,
    physical_ids: dict[str, str] | None = None,
    attributes: dict[tuple[str, str], Any] | None = None,
    exports: dict[str, Any] | None = None,
    use_defaults: bool = True,
) -> Context:
    """A context for one template. `parameters` are values a deployment chose; the others take their
    defaults, unless `use_defaults` is false (a deployed stack: DescribeStacks shows every value it used, so
    a parameter it does not show is unknown, never its default). Secret parameters (NoEcho, or named as a
    secret), SSM-typed parameters without a resolved value, and parameters with neither value nor default
    are UNRESOLVED."""
    given = parameters or {}
    values: dict[str, Any] = {}
    for name, declaration in _declared_parameters(template).items():
        declaration = declaration if isinstance(declaration, dict) else {}
        kind = str(declaration.get("Type", "String"))
        if is_secret_parameter(template, name):
            values[name] = UNRESOLVED  # a secret: never read, never stored
            continue
        if name in given:
            value = given[name]
        elif not use_defaults:
            value = UNRESOLVED
        elif kind.startswith("AWS::SSM::Parameter::Value"):
            value = UNRESOLVED  # the default names an SSM parameter; its value is only known once deployed
        else:
            value = declaration.get("Default", UNRESOLVED)
        value = _as_parameter_text(value)
        if isinstance(value, str) and (kind.startswith("List<") or kind == "CommaDelimitedList" or "<List<" in kind):
            value = [item.strip() for item in value.split(",")] if value else []
        values[name] = value
    pseudo = {
        "AWS::Region": region or UNRESOLVED,
        "AWS::AccountId": account or UNRESOLVED,
        "AWS::Partition": partition or UNRESOLVED,
        "AWS::URLSuffix": _URL_SUFFIXES.get(partition or "", UNRESOLVED),
        "AWS::StackName": stack_name or UNRESOLVED,
        "AWS::StackId": stack_id or UNRESOLVED,
        "AWS::NotificationARNs": UNRESOLVED,
    }
    return Context(
        template=template,
        parameters=values,
        pseudo=pseudo,
        physical_ids=dict(physical_ids or {}),
        attributes=dict(attributes or {}),
        exports=dict(exports or {}),
    )


# ------------------------------------------------------------------------------------------------ resolving

# A single-key mapping is an intrinsic when its key is Ref, Fn::*, or a vendor 'Name::Function' tag
# (rain's Rain::Embed); anything we do not implement resolves to UNRESOLVED.
_VENDOR_INTRINSIC = re.compile(r"^[A-Za-z0-9]+(::[A-Za-z0-9]+)+$")


def is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return isinstance(key, str) and (key == "Ref" or key.startswith("Fn::") or bool(_VENDOR_INTRINSIC.match(key)))


def resolve(value: Any, context: Context) -> Any:
    """`value` with every intrinsic replaced by what it evaluates to, UNRESOLVED where that is unknown.

    Keys and list items that resolve to AWS::NoValue are dropped; a bare AWS::NoValue resolves to NO_VALUE."""
    if isinstance(value, dict):
        if is_intrinsic(value):
            name, argument = next(iter(value.items()))
            handler = _FUNCTIONS.get(name)
            if handler is None:
                return UNRESOLVED  # Fn::Base64, Fn::GetAZs, Fn::Cidr, Fn::Transform, Rain::Embed, ...
            try:
                return handler(argument, context)
            except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError, RecursionError):
                return UNRESOLVED  # a malformed intrinsic is CloudFormation's error to report, not ours
        out = {}
        for key, item in value.items():
            resolved = resolve(item, context)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out
    if isinstance(value, list):
        return [r for r in (resolve(item, context) for item in value) if r is not NO_VALUE]
    return value


def cfn_text(value: Any) -> Any:
    """A scalar as CloudFormation writes it where text is wanted (a tag value, a name, a Sub): booleans as
    "true"/"false", numbers as Java prints them. UNRESOLVED where that spelling is not certain (a float
    Java would print in exponent form, an infinity) and for anything that is not a scalar."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and (value == 0 or 1e-3 <= abs(value) < 1e7):
        return repr(value)  # Java's Double.toString spells this range as Python's repr does: 1.5, 0.001, 100.0
    return UNRESOLVED


def _ref(argument: Any, context: Context) -> Any:
    name = resolve(argument, context)
    if not isinstance(name, str):
        return UNRESOLVED
    if name == "AWS::NoValue":
        return NO_VALUE
    if name in context.pseudo:
        return context.pseudo[name]
    if name in context.parameters:
        return context.parameters[name]
    return context.physical_ids.get(name, UNRESOLVED)


def _get_att(argument: Any, context: Context) -> Any:
    if isinstance(argument, str):
        logical, _, attribute = argument.partition(".")
    else:
        logical, attribute = argument[0], resolve(argument[1], context)
    if not isinstance(logical, str) or not isinstance(attribute, str):
        return UNRESOLVED
    return context.attributes.get((logical, attribute), UNRESOLVED)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _sub(argument: Any, context: Context) -> Any:
    if isinstance(argument, list):
        template, variables = argument[0], argument[1] if len(argument) > 1 else {}
    else:
        template, variables = argument, {}
    template = resolve(template, context)
    if not isinstance(template, str) or not isinstance(variables, dict):
        return UNRESOLVED
    # a variable named as a secret is never read, as a parameter so named is not: structure first
    values = {
        name: UNRESOLVED if isinstance(name, str) and is_secret_key(name.strip()) else resolve(value, context)
        for name, value in variables.items()
    }
    unknown = False

    def replace(match: re.Match) -> str:
        nonlocal unknown
        name = match.group(1).strip()
        if name.startswith("!"):
            return "${" + name[1:] + "}"  # '${!Literal}' is the escape for a literal '${Literal}'
        if name in values:
            value = values[name]
        elif "." in name and not name.startswith("AWS::"):
            logical, _, attribute = name.partition(".")
            value = context.attributes.get((logical, attribute), UNRESOLVED)
        else:
            value = _ref(name, context)
        text = cfn_text(value)
        if text is UNRESOLVED:
            unknown = True
            return ""
        return text

    result = _SUB_VARIABLE.sub(replace, template)
    return UNRESOLVED if unknown else result


def _join(argument: Any, context: Context) -> Any:
    delimiter, items = resolve(argument[0], context), resolve(argument[1], context)
    if not isinstance(delimiter, str) or not isinstance(items, list):
        return UNRESOLVED
    texts = [cfn_text(item) for item in items]
    if any(text is UNRESOLVED for text in texts):
        return UNRESOLVED
    return delimiter.join(texts)


def _select(argument: Any, context: Context) -> Any:
    index, items = resolve(argument[0], context), resolve(argument[1], context)
    if isinstance(index, Unresolved) or not isinstance(items, list):
        return UNRESOLVED
    index = int(index)
    if not 0 <= index < len(items):
        return UNRESOLVED
    return items[index]


def _split(argument: Any, context: Context) -> Any:
    delimiter, source = resolve(argument[0], context), resolve(argument[1], context)
    if not isinstance(delimiter, str) or not isinstance(source, str) or not delimiter:
        return UNRESOLVED
    return source.split(delimiter)


def _find_in_map(argument: Any, context: Context) -> Any:
    if not isinstance(argument, list) or len(argument) < 3:
        return UNRESOLVED
    default = UNRESOLVED
    if len(argument) > 3 and isinstance(argument[3], dict) and "DefaultValue" in argument[3]:
        default = resolve(argument[3]["DefaultValue"], context)  # AWS::LanguageExtensions
    keys = [cfn_text(resolve(key, context)) for key in argument[:3]]
    # a map or key named as a secret (Passwords, DbPassword, apikey) holds one: never read, default or not
    if any(key is UNRESOLVED or is_secret_key(key) for key in keys):
        return UNRESOLVED
    node: Any = context.template.get("Mappings") or {}
    for key in keys:
        if not isinstance(node, dict):
            return default
        match = [v for k, v in node.items() if cfn_text(k) == key]
        if not match:
            return default
        node = match[0]
    return _mapping_value(node)


def _mapping_value(value: Any) -> Any:
    """A copy of a Mappings value; UNRESOLVED when it holds an intrinsic. CloudFormation rejects intrinsics
    in Mappings, and resolving them could expand exponentially (a FindInMap chain that doubles per level)."""
    if isinstance(value, dict):
        if is_intrinsic(value) or any(isinstance(key, str) and is_secret_key(key) for key in value):
            return UNRESOLVED
        items = {key: _mapping_value(item) for key, item in value.items()}
        return UNRESOLVED if any(item is UNRESOLVED for item in items.values()) else items
    if isinstance(value, list):
        items = [_mapping_value(item) for item in value]
        return UNRESOLVED if any(item is UNRESOLVED for item in items) else items
    return value


def _import_value(argument: Any, context: Context) -> Any:
    name = resolve(argument, context)
    if not isinstance(name, str):
        return UNRESOLVED
    return context.exports.get(name, UNRESOLVED)


def _if(argument: Any, context: Context) -> Any:
    condition, when_true, when_false = argument
    holds = evaluate_condition(condition, context)
    if holds is UNRESOLVED:
        return UNRESOLVED
    return resolve(when_true if holds else when_false, context)


def _condition_function(argument: Any, context: Context, name: str) -> Any:
    return _evaluate({name: argument}, context)


_FUNCTIONS = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::FindInMap": _find_in_map,
    "Fn::ImportValue": _import_value,
    "Fn::If": _if,
    "Fn::Equals": lambda a, c: _condition_function(a, c, "Fn::Equals"),
    "Fn::And": lambda a, c: _condition_function(a, c, "Fn::And"),
    "Fn::Or": lambda a, c: _condition_function(a, c, "Fn::Or"),
    "Fn::Not": lambda a, c: _condition_function(a, c, "Fn::Not"),
}

# Intrinsics we know and deliberately leave unresolved: their values are only known once deployed.
DEPLOY_TIME_FUNCTIONS = frozenset({"Fn::Base64", "Fn::GetAZs", "Fn::Cidr", "Fn::Transform", "Condition"})


def unsupported_intrinsics(template: dict) -> list[tuple[str, str]]:
    """(path, function) for every intrinsic in Resources that we do not know: the values that depend on it
    are never compared, and the reader is told so."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            if is_intrinsic(value):
                name, argument = next(iter(value.items()))
                if name not in _FUNCTIONS and name not in DEPLOY_TIME_FUNCTIONS and not name.startswith("Fn::ForEach"):
                    found.append((path, name))
                walk(argument, path)
                return
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for number, item in enumerate(value):
                walk(item, f"{path}[{number}]")

    for logical, declaration in resource_entries(template):
        if isinstance(declaration, dict):
            walk(declaration.get("Properties"), f"Resources.{logical}.Properties")
    return found


# ------------------------------------------------------------------------------------------------ conditions


def evaluate_condition(name: Any, context: Context) -> Any:
    """True, False, or UNRESOLVED for a named condition of the template."""
    if not isinstance(name, str):
        return UNRESOLVED
    if name in context._conditions:
        return context._conditions[name]
    conditions = context.template.get("Conditions") or {}
    if not isinstance(conditions, dict) or name not in conditions:
        return UNRESOLVED
    context._conditions[name] = UNRESOLVED  # a condition that refers to itself stays unresolved
    try:
        outcome = _evaluate(conditions[name], context)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError, RecursionError):
        outcome = UNRESOLVED
    context._conditions[name] = outcome
    return outcome


def undecided_conditions(context: Context) -> list[tuple[str, list[str]]]:
    """(name, the parameters with unknown values it reads) for each condition consulted so far under this
    context that could not be decided: what depends on it is unknown, never taken as false."""
    conditions = context.template.get("Conditions") or {}
    undecided = []
    for name, outcome in context._conditions.items():
        if outcome is UNRESOLVED:
            unknown = sorted(_unknown_parameters(conditions.get(name), context, conditions, {name}))
            undecided.append((name, unknown))
    return sorted(undecided)


def _unknown_parameters(expression: Any, context: Context, conditions: dict, seen: set[str]) -> set[str]:
    """Parameters `expression` refers to (through other conditions too) whose value is unknown."""
    found: set[str] = set()
    for node in _walk(expression):
        if len(node) != 1:
            continue
        (key, argument), = node.items()
        if key == "Ref" and isinstance(argument, str) and context.parameters.get(argument, 0) is UNRESOLVED:
            found.add(argument)
        elif key == "Condition" and isinstance(argument, str) and argument not in seen:
            seen.add(argument)
            found |= _unknown_parameters(conditions.get(argument), context, conditions, seen)
    return found


def _evaluate(expression: Any, context: Context) -> Any:
    if isinstance(expression, dict) and len(expression) == 1:
        name, argument = next(iter(expression.items()))
        if name == "Condition":
            return evaluate_condition(argument, context)
        if name == "Fn::Equals":
            left, right = (resolve(side, context) for side in argument)
            if isinstance(left, Unresolved) or isinstance(right, Unresolved):
                return UNRESOLVED
            if isinstance(left, list) or isinstance(right, list):
                return UNRESOLVED if _has_unresolved(left) or _has_unresolved(right) else left == right
            left, right = cfn_text(left), cfn_text(right)
            return UNRESOLVED if left is UNRESOLVED or right is UNRESOLVED else left == right
        if name in ("Fn::And", "Fn::Or"):
            outcomes = [_evaluate(item, context) for item in argument]
            decisive = name == "Fn::Or"  # Or: one True decides; And: one False decides
            if any(outcome is decisive for outcome in outcomes):
                return decisive
            if any(outcome is UNRESOLVED for outcome in outcomes):
                return UNRESOLVED
            return not decisive
        if name == "Fn::Not":
            outcome = _evaluate(argument[0] if isinstance(argument, list) else argument, context)
            return UNRESOLVED if outcome is UNRESOLVED else not outcome
    value = resolve(expression, context)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return UNRESOLVED


def _has_unresolved(value: Any) -> bool:
    if value is UNRESOLVED:
        return True
    if isinstance(value, dict):
        return any(_has_unresolved(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unresolved(v) for v in value)
    return False


# ------------------------------------------------------------------------------------------------ template facts


def transforms(template: dict) -> tuple[str, ...]:
    """The template-level Transform names (a string, a list, or {Name: AWS::Include, ...} entries)."""
    declared = template.get("Transform")
    items = declared if isinstance(declared, list) else [declared] if declared else []
    names = []
    for item in items:
        name = item.get("Name") if isinstance(item, dict) else item
        if isinstance(name, str):
            names.append(name)
    return tuple(names)


def _walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def inline_transforms(template: dict) -> tuple[str, ...]:
    """Macro names of `Fn::Transform` snippets (AWS::Include, custom macros) anywhere in the template."""
    names = []
    for node in _walk(template):
        if "Fn::Transform" in node:
            spec = node["Fn::Transform"]
            for item in spec if isinstance(spec, list) else [spec]:
                name = item.get("Name") if isinstance(item, dict) else item
                names.append(name if isinstance(name, str) else "?")
    return tuple(dict.fromkeys(names))


def resource_entries(template: dict) -> Iterator[tuple[str, Any]]:
    """(logical id, declaration) for every entry of Resources, without LanguageExtensions loops
    (`Fn::ForEach::Name`) and inline transforms, which are not resources until CloudFormation expands them."""
    for logical_id, declaration in (template.get("Resources") or {}).items():
        if isinstance(logical_id, str) and logical_id.startswith("Fn::"):
            continue
        yield str(logical_id), declaration


def declared_resources(template: dict, context: Context) -> dict[str, dict]:
    """Resources that exist under this context: well-formed entries whose Condition is not false.
    (A condition we cannot evaluate keeps its resource; `evaluate_condition` tells the caller.)"""
    declared = {}
    for logical_id, declaration in resource_entries(template):
        if not isinstance(declaration, dict) or not isinstance(declaration.get("Type"), str):
            continue
        if "Condition" in declaration and evaluate_condition(declaration["Condition"], context) is False:
            continue
        declared[logical_id] = declaration
    return declared


def _condition_holds(declaration: dict, context: Context) -> Any:
    """True when a declaration has no Condition, else its condition's outcome (True, False or UNRESOLVED)."""
    return evaluate_condition(declaration["Condition"], context) if "Condition" in declaration else True


def _outputs(template: dict, context: Context) -> Iterator[tuple[dict, bool]]:
    """(output, whether it certainly exists): outputs whose condition is false are left out; an undecided
    condition makes the output uncertain."""
    outputs = template.get("Outputs") or {}
    if not isinstance(outputs, dict):
        return
    for output in outputs.values():
        if not isinstance(output, dict):
            continue
        holds = _condition_holds(output, context)
        if holds is not False:
            yield output, holds is True


def _import_arguments(node: Any, context: Context, certain: bool) -> Iterator[tuple[Any, bool]]:
    """(argument, whether it is certainly evaluated) of each Fn::ImportValue under `node`. An Fn::If follows
    the branch its condition takes; when the condition is undecided, imports in either branch are uncertain."""
    if isinstance(node, dict):
        if len(node) == 1 and "Fn::ImportValue" in node:
            yield node["Fn::ImportValue"], certain
        if len(node) == 1 and isinstance(node.get("Fn::If"), list) and len(node["Fn::If"]) == 3:
            condition, when_true, when_false = node["Fn::If"]
            holds = evaluate_condition(condition, context)
            if holds is UNRESOLVED:
                branches = [(when_true, False), (when_false, False)]
            else:
                branches = [(when_true if holds else when_false, certain)]
            for branch, branch_certain in branches:
                yield from _import_arguments(branch, context, branch_certain)
            return
        for value in node.values():
            yield from _import_arguments(value, context, certain)
    elif isinstance(node, list):
        for value in node:
            yield from _import_arguments(value, context, certain)


def imported_names(template: dict, context: Context, deployed: set[str] | None = None) -> list[Any]:
    """Export names the template reads with Fn::ImportValue: resolved names, UNRESOLVED for the others and
    for imports that may or may not happen (under an undecided condition). `deployed`, the logical ids a
    stack reports, settles those resources' conditions: they exist. (The others keep their condition: an
    emulator may leave out a resource it does not support.)"""
    scopes: list[tuple[Any, bool]] = []
    for logical_id, declaration in resource_entries(template):
        if not isinstance(declaration, dict) or not isinstance(declaration.get("Type"), str):
            continue
        if deployed is not None and logical_id in deployed:
            scopes.append((declaration, True))
            continue
        holds = _condition_holds(declaration, context)
        if holds is not False:
            scopes.append((declaration, holds is True))
    scopes += list(_outputs(template, context))
    names: list[Any] = []
    for scope, certain in scopes:
        for argument, argument_certain in _import_arguments(scope, context, certain):
            name = resolve(argument, context) if argument_certain else UNRESOLVED
            names.append(name if isinstance(name, str) else UNRESOLVED)
    unique = list(dict.fromkeys(n for n in names if isinstance(n, str)))
    return unique + [UNRESOLVED] * sum(1 for n in names if not isinstance(n, str))


def exported_names(template: dict, context: Context) -> list[Any]:
    """The Export names of the template's Outputs: resolved names, UNRESOLVED for the others and for
    outputs under an undecided condition."""
    names: list[Any] = []
    for output, certain in _outputs(template, context):
        export = output.get("Export")
        if isinstance(export, dict) and "Name" in export:
            name = resolve(export["Name"], context) if certain else UNRESOLVED
            names.append(name if isinstance(name, str) else UNRESOLVED)
    return names


def resources_left_out_by_conditions(template: dict, context: Context) -> list[tuple[str, str]]:
    """(logical id, condition) for each resource whose condition is false under this context."""
    return [
        (logical_id, str(declaration["Condition"]))
        for logical_id, declaration in resource_entries(template)
        if isinstance(declaration, dict)
        and isinstance(declaration.get("Type"), str)
        and _condition_holds(declaration, context) is False
    ]
