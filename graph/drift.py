"""Drift, first cut: pick the catalog's comparable attributes out of each source and compare them.

Pure functions. Every normaliser hides one way sources spell the same value differently; anything a
declaration cannot pin down (an unresolved intrinsic, a value the source leaves out) is skipped, never guessed.
"""

from __future__ import annotations

import ipaddress
import json
import marshal
from functools import lru_cache
from typing import Any, Callable

import jmespath

from graph.records import CLOUDFORMATION, LIVE, TERRAFORM, UNRESOLVED, holds_unresolved
from graph.resource_types import Comparable, ResourceType

_MISSING = object()


@lru_cache(maxsize=None)
def _compiled(path: str):
    return jmespath.compile(path)


def search(path: str, data: Any) -> Any:
    """JMESPath search that tolerates unresolved markers and odd shapes (None when nothing is there)."""
    if not path or data is None:
        return None
    try:
        return _compiled(path).search(data)
    except (jmespath.exceptions.JMESPathError, TypeError, AttributeError):
        return None


def _path_for(comparable: Comparable, source_kind: str) -> str:
    return {LIVE: comparable.live, TERRAFORM: comparable.terraform, CLOUDFORMATION: comparable.cloudformation}[
        source_kind
    ]


def pick_values(row: ResourceType, source_kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The comparable attributes a source states, by our attribute name. Tags are handled on their own."""
    values: dict[str, Any] = {}
    for comparable in row.comparables:
        if comparable.kind == "tags":
            continue
        path = _path_for(comparable, source_kind)
        if not path:
            continue
        value = _search_keeping_unresolved(path, data)
        if value is None:
            continue
        values[comparable.name] = value
    return values


def _search_keeping_unresolved(path: str, data: dict[str, Any]) -> Any:
    """A simple dotted path that runs into an unresolved value reports it instead of None."""
    head = path.split(".", 1)[0].split("[", 1)[0]
    if isinstance(data, dict) and data.get(head) is UNRESOLVED:
        return UNRESOLVED
    return search(path, data)


# ------------------------------------------------------------------------------------------------ normalisers


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "enabled", "yes", "1"):
        return True
    if text in ("false", "disabled", "suspended", "no", "0", ""):
        return False
    return text


def _to_int(value: Any) -> Any:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # "1e400" is a float, not an integer
        return value


def _whole_number(value: Any) -> int:
    """30, "30" and 30.0 are 30; anything else ("1e999", "thirty", a list) raises: it cannot be compared."""
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"not a whole number: {value!r}")
    return int(number)


def _to_float(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _to_set(value: Any) -> frozenset:
    if value is None:
        return frozenset()
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(str(v) for v in value)
    return frozenset([str(value)])


def _to_retention(value: Any) -> Any:
    """CloudWatch Logs: no retention is 'never expire'; Terraform writes that as 0."""
    value = _to_int(value)
    return None if value in (0, None) else value


def _to_key_id(value: Any) -> Any:
    """A KMS key named by ARN or by id is the same key."""
    text = str(value)
    return text.rsplit("key/", 1)[-1] if ":key/" in text else text


def _to_name_tail(value: Any) -> Any:
    """A task definition named by ARN or by 'family:revision' is the same revision."""
    text = str(value)
    return text.rsplit("/", 1)[-1] if text.startswith("arn:") else text


def _to_scheme(value: Any) -> Any:
    """Terraform says internal = true/false; the API says 'internal' or 'internet-facing'."""
    if isinstance(value, bool):
        return "internal" if value else "internet-facing"
    return str(value).lower()


def canonical_policy(value: Any) -> Any:
    """A policy document with the spelling differences removed: JSON text or dict, one-item lists, order."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value

    # IAM holds no null in a policy: a null is an emulator's rendering of AWS::NoValue (moto keeps the item)
    def canon(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: canon(v) for k, v in sorted(node.items()) if v is not None}
        if isinstance(node, list):
            items = [canon(v) for v in node if v is not None]
            if len(items) == 1:
                return items[0]
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return node

    return canon(value)


_PROTOCOLS = {"-1": "-1", "all": "-1", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def _rule_key(protocol: Any, from_port: Any, to_port: Any) -> tuple:
    if isinstance(protocol, (list, dict, bool)):
        raise TypeError("a protocol is a name or a number")
    proto = str(protocol).lower()
    proto = _PROTOCOLS.get(proto, proto)
    if proto == "-1":
        return ("-1", 0, 0)
    return (proto, _whole_number(from_port) if from_port is not None else 0,
            _whole_number(to_port) if to_port is not None else 0)


def _cidr(value: Any) -> str:
    """A CIDR block in canonical form: `2001:DB8::/32` and `2001:db8::/32` are one block (EC2 writes lower case)."""
    return _canonical_cidr(str(value))


@lru_cache(maxsize=65536)
def _canonical_cidr(text: str) -> str:
    """(Remembered: an estate's rules name the same few hundred blocks over and over, and parsing one is 10 us.)"""
    try:
        return ipaddress.ip_network(text, strict=False).compressed
    except ValueError:
        return text.lower()


def _names_a_group_by_name(rule: dict) -> bool:
    """CloudFormation's SourceSecurityGroupName, or a Terraform `security_groups` entry that is a name (allowed in
    a default VPC): the API reports the group's id, which a name does not give."""
    if "SourceSecurityGroupName" in rule or "DestinationSecurityGroupName" in rule:
        return True
    groups = rule.get("security_groups") if "IpProtocol" not in rule else None
    return any(isinstance(g, str) and not g.startswith("sg-") for g in groups or [])


def normalize_rules(value: Any, own_group_id: str | None = None) -> Any:
    """Security group rules from any source as a set of (protocol, from, to, peer).

    The API nests peers under each permission, Terraform lists cidr_blocks/security_groups/self per rule,
    CloudFormation has one peer per rule; descriptions are not compared."""
    if value is None:
        return frozenset()
    if holds_unresolved(value):
        return UNRESOLVED
    rules: set[tuple] = set()
    for rule in value if isinstance(value, list) else [value]:
        if not isinstance(rule, dict):
            continue
        if _names_a_group_by_name(rule):
            return UNRESOLVED  # a peer named by group name: its id (what AWS reports) is not known here
        if "IpProtocol" in rule:
            key = _rule_key(rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"))
            peers = [f"cidr:{_cidr(r['CidrIp'])}" for r in rule.get("IpRanges", []) if "CidrIp" in r]
            peers += [f"cidr:{_cidr(r['CidrIpv6'])}" for r in rule.get("Ipv6Ranges", []) if "CidrIpv6" in r]
            peers += [f"sg:{r['GroupId']}" for r in rule.get("UserIdGroupPairs", []) if "GroupId" in r]
            peers += [f"pl:{r['PrefixListId']}" for r in rule.get("PrefixListIds", []) if "PrefixListId" in r]
            # CloudFormation spells a rule with one peer at top level
            for field, prefix in (
                ("CidrIp", "cidr"),
                ("CidrIpv6", "cidr"),
                ("SourceSecurityGroupId", "sg"),
                ("DestinationSecurityGroupId", "sg"),
                ("SourcePrefixListId", "pl"),
                ("DestinationPrefixListId", "pl"),
            ):
                if field in rule:
                    peers.append(f"{prefix}:{_cidr(rule[field]) if prefix == 'cidr' else rule[field]}")
        else:
            key = _rule_key(rule.get("protocol"), rule.get("from_port"), rule.get("to_port"))
            peers = [f"cidr:{_cidr(c)}" for c in rule.get("cidr_blocks") or []]
            peers += [f"cidr:{_cidr(c)}" for c in rule.get("ipv6_cidr_blocks") or []]
            peers += [f"sg:{g}" for g in rule.get("security_groups") or []]
            peers += [f"pl:{p}" for p in rule.get("prefix_list_ids") or []]
            if _to_bool(rule.get("self") or False) is True and own_group_id:
                peers.append(f"sg:{own_group_id}")
        for peer in peers or ["none"]:
            rules.add(key + (peer,))
    return frozenset(rules)


def _to_versioning(value: Any) -> Any:
    """'Enabled' or True is on; 'Suspended', False and 'Disabled' are off."""
    return _to_bool(value) is True


NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "versioning": _to_versioning,
    "scalar": lambda v: v,
    "int": lambda v: _whole_number(v),
    "float": _to_float,
    "bool": _to_bool,
    "lower": lambda v: str(v).lower(),
    "set": _to_set,
    "groups": _to_set,
    "policy": canonical_policy,
    "key_id": _to_key_id,
    "name_tail": _to_name_tail,
    "retention": _to_retention,
    "scheme": _to_scheme,
}


def normalize_tags(tags: dict[str, Any] | None) -> dict[str, str] | None:
    """Tags without the aws: ones AWS itself adds (CloudFormation, Auto Scaling), values as text."""
    if tags is None:
        return None
    return {str(k): "" if v is None else str(v) for k, v in tags.items() if not str(k).startswith("aws:")}


def tags_from_pairs(pairs: Any, key: str = "Key", value: str = "Value") -> dict[str, Any] | None:
    """Tags as a dict, from the API's list of pairs, a map, or CloudFormation's Tags property."""
    if pairs is None:
        return None
    if isinstance(pairs, dict):
        return dict(pairs)
    if pairs is UNRESOLVED:
        return None
    result: dict[str, Any] = {}
    for pair in pairs:
        if isinstance(pair, dict) and key in pair:
            result[str(pair[key])] = pair.get(value)
    return result


def _normalize(kind: str, value: Any, own_id: str | None) -> Any:
    """The value in the kind's canonical form; UNRESOLVED when it cannot be read as one (a rule whose port is
    "1e999", a policy with a numeric key): a value we cannot read is skipped, never guessed, never a crash."""
    try:
        if kind == "rules":
            return normalize_rules(value, own_id)
        if value is None:
            return None
        return NORMALIZERS[kind](value)
    except Exception:
        return UNRESOLVED


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted((list(v) if isinstance(v, tuple) else v for v in value), key=str)
    return value


def never_versioned(comparable: Comparable, live: dict[str, Any]) -> bool:
    """S3 versioning can be suspended but never removed: a bucket that was never versioned did not lose it
    by hand, its declaration was never applied (an emulator that ignores the property, a failed deploy)."""
    return comparable.kind == "versioning" and live.get(comparable.name) is None


def groups_not_reported(comparable: Comparable, live: dict[str, Any]) -> bool:
    """An instance always has at least one security group: an empty live list is missing data, not drift."""
    return comparable.kind == "groups" and not live.get(comparable.name)


def tags_never_applied(declared_tags: dict[str, Any], live_tags: dict[str, Any], declared_by: str | None) -> bool:
    """CloudFormation applies a template's tags at create: when none of the declared keys exist live, the
    deploying engine did not apply them (seen with emulators and with types that ignore Tags); not drift."""
    declared_keys = {k for k in declared_tags if not str(k).startswith("aws:")}
    return declared_by == CLOUDFORMATION and bool(declared_keys) and not declared_keys & set(live_tags)


_PLAIN = frozenset({str, int, float, bool})
_NESTED = frozenset({list, dict})


def _identical(declared: Any, live: Any) -> bool:
    """The same nested value to the last type and order (marshal writes `True` and `1`, `1` and `1.0` apart):
    whatever a kind's normaliser makes of one, it makes of the other, so there is nothing to compare. A value
    marshal cannot write (one holding UNRESOLVED) is never identical."""
    try:
        return marshal.dumps(declared) == marshal.dumps(live)
    except ValueError:
        return False


def _same_text_tags(declared: dict[str, Any], live: dict[str, Any]) -> bool:
    """Equal tags whose keys and values are all plain text: nothing to normalise, so no tag drift (most
    resources; a check before the comparison's copies)."""
    # equal to text, a live value is text too (a str equals no other type): the declared side tells
    return declared == live and all(k.__class__ is str and v.__class__ is str for k, v in declared.items())


def compare(
    row: ResourceType,
    declared: dict[str, Any],
    declared_tags: dict[str, Any] | None,
    live: dict[str, Any],
    live_tags: dict[str, Any] | None,
    own_id: str | None = None,
    declared_by: str | None = None,
) -> list[dict[str, Any]]:
    """The differences between one declaration and the live resource, as {attribute, declared, live}."""
    differences: list[dict[str, Any]] = []
    for comparable in row.comparables:
        if comparable.kind == "tags":
            continue
        if never_versioned(comparable, live) or groups_not_reported(comparable, live):
            continue
        if comparable.name not in declared or comparable.name not in live:
            continue  # a source that says nothing is no evidence of drift
        want_raw, have_raw = declared[comparable.name], live[comparable.name]
        if want_raw.__class__ is have_raw.__class__:
            if want_raw.__class__ in _PLAIN and want_raw == have_raw:
                continue  # the same value of the same plain type: no normaliser tells them apart (most attributes)
            if want_raw.__class__ in _NESTED and _identical(want_raw, have_raw):
                continue  # rules, lists of ids, policies written alike on both sides
        if holds_unresolved(want_raw):
            continue
        want = _normalize(comparable.kind, want_raw, own_id)
        have = _normalize(comparable.kind, live[comparable.name], own_id)
        if want is UNRESOLVED or have is UNRESOLVED or want is None:
            continue
        if want != have:
            differences.append({"attribute": comparable.name, "declared": _jsonable(want), "live": _jsonable(have)})
    if (
        any(c.kind == "tags" for c in row.comparables)
        and declared_tags is not None
        and live_tags is not None
        and not _same_text_tags(declared_tags, live_tags)
        and not tags_never_applied(declared_tags, live_tags, declared_by)
    ):
        want_tags = normalize_tags({k: v for k, v in declared_tags.items() if not holds_unresolved(v)})
        unresolved_keys = {k for k, v in declared_tags.items() if holds_unresolved(v)}
        have_tags = {k: v for k, v in (normalize_tags(live_tags) or {}).items() if k not in unresolved_keys}
        if want_tags != have_tags:
            for key in sorted(set(want_tags) | set(have_tags)):
                if want_tags.get(key) != have_tags.get(key):
                    differences.append(
                        {"attribute": f"tags.{key}", "declared": want_tags.get(key), "live": have_tags.get(key)}
                    )
    return differences
