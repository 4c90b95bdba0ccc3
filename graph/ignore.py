"""Ignore rules (`.driftgraphignore`): gitignore-style lines that set resources, or single drifted attributes, aside.

One rule a line, read top to bottom; the last rule that matches decides, so a later `!rule` takes back what an
earlier rule set aside. A rule names a resource (`TYPE:ID`, `tag:KEY=GLOB`) or one attribute of it
(`TYPE:ID:attribute`): a resource rule makes the resource `ignored`; an attribute rule leaves its status alone
and marks only that attribute's drift ignored. Pure: no file is read here (driftgraph/scan.py reads the file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from graph.redact import redact_tag_value, redact_text
from graph.resource_types import CATALOG

if TYPE_CHECKING:  # reconcile imports this module: the node type is only named here
    from graph.reconcile import Node

DEFAULT_IGNORE_FILE = ".driftgraphignore"  # what `scan` reads from the working directory when given no file

_IGNORE_TYPE = re.compile(r"^(?:(?:[A-Za-z0-9*?]+::){2}[A-Za-z0-9*?]+|[a-z0-9_*?]+|\*)$")
_ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
TAGS = "tags"  # drift on a tag is the attribute `tags.KEY`; `tags` alone stands for every tag


def _unescaped_positions(text: str, char: str) -> list[int]:
    """Where `char` stands in `text` not escaped by a backslash."""
    found, index = [], 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == char:
            found.append(index)
        index += 1
    return found


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def compile_glob(pattern: str, where: str) -> re.Pattern[str]:
    """A glob as a regular expression matching a whole string: `*` (and `**`, the same) any run of characters,
    `/` and `:` included (an id is one string, not a path: `logs-*` matches `logs-2024`, and `arn:aws:sqs:*`
    every queue ARN), `?` one character, `[abc]`, `[a-z]`, `[!abc]` a set, `\\x` the character x itself.

    ValueError naming `where` for a pattern that could never be meant (empty, an unclosed `[`, a trailing
    backslash); the pattern itself is not quoted: it may hold what it was meant to match (a secret)."""
    if not pattern:
        raise ValueError(f"{where}: empty pattern")
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 == len(pattern):
                raise ValueError(f"{where}: a trailing '\\' escapes nothing")
            out.append(re.escape(pattern[index + 1]))
            index += 2
        elif char == "*":
            while index < len(pattern) and pattern[index] == "*":
                index += 1
            out.append(".*")
        elif char == "?":
            out.append(".")
            index += 1
        elif char == "[":
            index = _compile_set(pattern, index, out, where)
        else:
            out.append(re.escape(char))
            index += 1
    return re.compile("".join(out), re.DOTALL)


def _compile_set(pattern: str, start: int, out: list[str], where: str) -> int:
    """`[...]` from `start`; returns the index after its `]`. A `]` first in the set is one of its characters."""
    index = start + 1
    negated = index < len(pattern) and pattern[index] in "!^"
    index += negated
    members: list[str] = []
    first = True
    while index < len(pattern) and (pattern[index] != "]" or first):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            members.append(re.escape(pattern[index + 1]))
            index += 2
        elif char == "-" and members and index + 1 < len(pattern) and pattern[index + 1] != "]":
            members.append("-")
            index += 1
        else:
            members.append(re.escape(char))
            index += 1
        first = False
    if index >= len(pattern):
        raise ValueError(f"{where}: unclosed '[' in the pattern")
    out.append(f"[{'^' if negated else ''}{''.join(members)}]")
    return index + 1


def _trim(raw: str) -> str:
    """The line without its leading whitespace and its trailing whitespace, except a space escaped with `\\`."""
    line = raw.lstrip()
    stripped = line.rstrip()
    if len(stripped) < len(line):
        backslashes = len(stripped) - len(stripped.rstrip("\\"))
        if backslashes % 2:  # `\ ` keeps the escaped character and ends the line there
            stripped = line[: len(stripped) + 1]
    return stripped


@dataclass
class IgnoreRule:
    line: int
    kind: str  # "id" | "tag"
    type_or_key: str
    glob: str  # as written (escapes kept), over id, ARN or name; for a tag rule over the tag's value
    attribute: str | None = None  # an attribute rule: only drift on this attribute (`tags.KEY`, `tags`) is ignored
    negated: bool = False  # `!rule`: what it matches is not ignored, whatever an earlier rule said
    hits: int = 0
    _type: re.Pattern[str] | None = field(default=None, repr=False)
    _value: re.Pattern[str] | None = field(default=None, repr=False)
    _attribute: re.Pattern[str] | None = field(default=None, repr=False)
    _compared: tuple[str, ...] = field(default=(), repr=False)  # what the rule's types compare, for a hint

    def text(self) -> str:
        """The rule as a reason may quote it: a secret-looking tag key never shows its pattern."""
        bang = "!" if self.negated else ""
        if self.kind == "tag":
            return f"{bang}tag:{self.type_or_key}={redact_tag_value(self.type_or_key, self.glob)}"
        attribute = f":{self.attribute}" if self.attribute else ""
        return f"{bang}{self.type_or_key}:{redact_text(self.glob)}{attribute}"

    def matches_resource(self, node: Node) -> bool:
        if self.kind == "tag":
            tags = (node.live.tags if node.live else None) or {}
            return self.type_or_key in tags and bool(self._value.fullmatch(str(tags[self.type_or_key])))
        types = (node.type, *_TERRAFORM_NAMES.get(node.type, ()))
        return any(self._type.fullmatch(t) for t in types) and any(
            self._value.fullmatch(str(x)) for x in (node.natural_id, node.arn, node.name) if x
        )

    def matches_attribute(self, attribute: str) -> bool:
        """A resource rule covers every attribute of what it matches; an attribute rule its own."""
        return self._attribute is None or bool(self._attribute.fullmatch(attribute))

    def unused_message(self) -> str:
        """The warning for a rule that matched nothing, with a hint when its tail reads as a misspelt attribute."""
        message = f"ignore rule {self.text()} matched no resource"
        colons = _unescaped_positions(self.glob, ":") if self.kind == "id" and not self.attribute else []
        tail = self.glob[colons[-1] + 1:] if colons else ""
        if _ATTRIBUTE_NAME.match(tail) and self._compared and tail in message:  # never what text() masked
            message += (f" (if {tail} was meant as an attribute: {self.type_or_key} compares "
                        f"{', '.join(self._compared)}, or tags.KEY)")
        return message


def _compared_attributes(type_glob: re.Pattern[str]) -> tuple[str, ...]:
    """The attributes drift is computed on for every catalog type the type pattern names."""
    names = {c.name for row in CATALOG.values() if any(type_glob.fullmatch(t) for t in (row.type, *_TERRAFORM_NAMES[row.type]))
             for c in row.comparables}
    return tuple(sorted(names))


def _is_attribute(tail: str, compared: tuple[str, ...]) -> bool:
    if tail == TAGS or (tail.startswith(TAGS + ".") and len(tail) > len(TAGS) + 1):
        return True
    return tail in compared


def _attribute_pattern(attribute: str, where: str) -> re.Pattern[str]:
    """`tags` matches drift on any tag (`tags.KEY`); `tags.GLOB` on the tags whose key matches; a name itself."""
    if attribute == TAGS:
        return re.compile(r"tags(?:\..*)?", re.DOTALL)
    if attribute.startswith(TAGS + "."):
        return re.compile(re.escape(TAGS + ".") + compile_glob(attribute[len(TAGS) + 1:], where).pattern, re.DOTALL)
    return re.compile(re.escape(attribute))


def split_type(line: str) -> tuple[str | None, str]:
    """'AWS::S3::Bucket:logs-*' -> ('AWS::S3::Bucket', 'logs-*'): the type ends at the first ':' not in a '::'."""
    position = 0
    while True:
        colon = line.find(":", position)
        if colon < 0:
            return None, ""
        if line.startswith("::", colon):
            position = colon + 2
            continue
        return line[:colon], line[colon + 1:]


def split_attribute(rest: str, compared: tuple[str, ...]) -> tuple[str, str | None]:
    """The id pattern and the attribute of what follows the type: the attribute starts at the first unescaped
    ':' after which stands an attribute the type compares (`visibility_timeout`), `tags` or `tags.KEY` (a tag
    key may hold ':' itself); every other ':' belongs to the id, so ARNs need no quoting. `\\:` keeps a ':'
    in the id whatever follows it."""
    for colon in _unescaped_positions(rest, ":"):
        if colon and _is_attribute(_unescape(rest[colon + 1:]), compared):
            return rest[:colon], rest[colon + 1:]
    return rest, None


def parse_rule(raw: str, number: int, source: str) -> IgnoreRule | None:
    """One line as a rule, None for a blank line or a comment; ValueError naming source:line otherwise."""
    line = _trim(raw)
    if not line or line.startswith("#"):
        return None
    where = f"{source}:{number}"
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    if line.startswith("tag:"):
        key, equals, value = line[4:].partition("=")
        if not key.strip():
            raise ValueError(f"{where}: a tag rule names no key (want tag:KEY=GLOB)")
        glob = value.lstrip() if equals else "*"
        return IgnoreRule(number, "tag", key.strip(), glob, negated=negated, _value=compile_glob(glob, where))
    type_, rest = split_type(line)
    if type_ is None or not _IGNORE_TYPE.match(type_):
        # the line itself is not quoted: a broken rule may hold what it was meant to match (a secret)
        raise ValueError(f"{where}: cannot read the ignore rule (want TYPE:ID, TYPE:ID:attribute or tag:KEY=GLOB)")
    type_glob = compile_glob(type_, where)
    compared = _compared_attributes(type_glob)
    glob, attribute = split_attribute(rest.lstrip(), compared)
    return IgnoreRule(number, "id", type_, glob, attribute, negated, _type=type_glob,
                      _value=compile_glob(glob, where),
                      _attribute=_attribute_pattern(attribute, where) if attribute else None, _compared=compared)


class IgnoreRules:
    """The rules of one ignore file, in order (see the README's ignore-file section for the syntax)."""

    def __init__(self, lines: Iterable[str], source: str = DEFAULT_IGNORE_FILE):
        self.source = source
        self.rules: list[IgnoreRule] = [r for n, raw in enumerate(lines, 1) if (r := parse_rule(raw, n, source))]

    def _reason(self, rule: IgnoreRule) -> str:
        return f"ignored by {self.source}:{rule.line} ({rule.text()})"

    def match(self, node: Node) -> str | None:
        """Why the resource is ignored (the last resource rule that matches it, unless that one is a `!`), or
        None. Counts every rule that matches the resource, attribute rules too, for `unused()`."""
        decided = None
        for rule in self.rules:
            if rule.matches_resource(node):
                rule.hits += 1
                if rule.attribute is None:
                    decided = rule
        return self._reason(decided) if decided is not None and not decided.negated else None

    def match_drift(self, node: Node, attribute: str) -> str | None:
        """Why drift on `attribute` of a resource that is not itself ignored is set aside, or None: the last
        rule matching both decides (a resource rule covers all its attributes, so `!TYPE:ID` takes them back)."""
        decided = None
        for rule in self.rules:
            if rule.matches_resource(node) and rule.matches_attribute(attribute):
                decided = rule
        return self._reason(decided) if decided is not None and not decided.negated else None

    def unused(self) -> list[IgnoreRule]:
        """Rules that matched nothing in the last reconcile: most often a typo, worth a word."""
        return [rule for rule in self.rules if not rule.hits]


# Terraform type names a node answers to, so `aws_sqs_queue:legacy-*` ignores queues however they were found.
_TERRAFORM_NAMES: dict[str, tuple[str, ...]] = {
    row.type: tuple(t.type for t in row.terraform) for row in CATALOG.values()
}
