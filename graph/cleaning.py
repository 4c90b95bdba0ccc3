"""How a row a scan gives becomes the row a database stores, and the digests that let a later scan skip it.

Every text is redacted for secret-looking spans (graph.redact), identifiers only for credentials, lists and dicts
stored as strict JSON, known secrets masked everywhere; a column of a million rows is cleaned a batch at a time,
its repeated values once. The digests: `digest` of what a version stores, `raw_digester` of what a scan gave,
keyed by `rules_digest`, which covers this module, graph.redact and the stored columns and no other code, so
that an upgrade that changes no rule leaves every stored raw digest good. Nothing here touches a database.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import math
import re
import sys
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate, islice
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import graph.redact
from graph.redact import (REDACTED, is_secret_attribute, redact, redact_identifier, redact_tags, redact_text,
                          texts_to_redact)

# json.dumps with these options, its encoder made once (json.dumps makes one a call for any non-default option)
_SORTED_JSON = json.JSONEncoder(sort_keys=True, default=str, allow_nan=False).encode


def json_text(value: Any) -> str | None:
    """Strict JSON: NaN and infinities (YAML `.nan`, a state's "1e999") are written as text, never as the bare
    `NaN` other JSON readers refuse."""
    if value is None:
        return None
    try:
        return _SORTED_JSON(value)
    except (TypeError, ValueError):  # a non-finite float, or keys of mixed types
        return json.dumps(_finite(value), default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_finite(v) for v in value]
    return value


def _redacted_drift(row: dict[str, Any]) -> dict[str, Any]:
    """A drift row keeps its attribute name; its values go if the attribute says secret (`tags.password.v2` by
    its whole tag key, `environment.variables.X` by lying in an environment), else are judged by shape."""
    attribute, declared, live = row["attribute"], row.get("declared"), row.get("live")
    secret = is_secret_attribute(attribute, declared) or is_secret_attribute(attribute, live)

    def shown(value: Any) -> str | None:
        if value is None:
            return None
        return REDACTED if secret else json_text(redact(value))

    return {**row, "attribute": redact_identifier(_storable(attribute)), "declared": shown(declared),
            "live": shown(live)}


# Identifier columns name things and join the tables: only credentials in them are masked, the same way
# wherever they stand (redact_identifier), since free-text masking of a span would break the graph.
IDENTIFIER_COLUMNS = frozenset(
    {"id", "arn", "natural_id", "type", "account", "region", "resource_id", "source_id", "target_id",
     "stack_id", "parent_id", "root_id", "exporting_stack_id", "export_name", "address", "source", "path",
     "stack_name", "declared_type", "relation", "status", "tool", "framework", "outcome", "rule", "service"}
)
# ...except these, which no table joins on and whose text can be anything a user wrote (a Terraform address
# quotes a for_each key; a name is often a `Name` tag): masked as free text.
FREE_IDENTIFIER_COLUMNS = frozenset({"address", "name"})


MAX_TEXT_CHARS = 65536  # one stored text value; Datasette pages and reports stay usable past a hostile name


def _storable(value: Any) -> Any:
    """Text SQLite can store and a page can show: a file name that is not UTF-8 comes from Python with lone
    surrogates (`st\udcffate.tfstate`), which SQLite refuses, so they are written as `\udcff`; a value longer
    than MAX_TEXT_CHARS (a 20 MB name in a state) is cut, with its length and a digest so that two long
    identifiers stay apart. One odd value never fails the whole scan."""
    if not isinstance(value, str):
        return value
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(value) > MAX_TEXT_CHARS:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
        value = f"{value[:MAX_TEXT_CHARS]}...[{len(value)} characters, sha256 {digest}]"
    return value


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """Text columns redacted for secret-looking spans; dict/list columns redacted and stored as JSON."""
    return {key: _column_cleaner(key)(value) for key, value in row.items()}


def _clean_value(value: Any) -> Any:
    """A value under a column with no rule of its own: lists and dicts redacted and stored as JSON, text redacted."""
    if isinstance(value, (dict, list, tuple)):
        return json_text(redact(value))
    if isinstance(value, str):
        return redact_text(_storable(value))
    return value


@lru_cache(maxsize=None)
def _column_cleaner(column: str) -> Callable[[Any], Any]:
    """How one column's values are cleaned, decided once for the column rather than again for every value."""
    if column in FREE_IDENTIFIER_COLUMNS:  # a Terraform address may quote a for_each key: any text at all
        def clean_free(value: Any) -> Any:
            value = _storable(value)
            if isinstance(value, str):
                return redact_text(value)
            return redact_identifier(value) if column in IDENTIFIER_COLUMNS else _clean_value(value)
        return clean_free
    if column in IDENTIFIER_COLUMNS:
        return lambda value: redact_identifier(_storable(value))
    if column == "tags":
        return lambda value: json_text(redact_tags(value))
    return _clean_value


_MEMO_LIMIT = 65536  # distinct values remembered per column: types, regions, statuses, states, and the attributes
# and tags a million resources share (bench/scale.py: 11k distinct attributes at 100k); a few MB a column
_MEMO_BYTES = 1024  # a list or dict is remembered by its marshal form up to this size
_AS_IS = (type(None), int, float, bool)  # what every column's cleaning gives back unchanged


def _remembered(clean: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`clean` for one write, remembering what it made of the values it saw: most columns hold a few values (a
    type, a region, a status, the same attributes) a million times. Texts are remembered by themselves, lists
    and dicts by their marshal form (equal bytes, equal value). A column of unique values fills the memory and
    then only asks."""
    memory: dict[Any, Any] = {}

    def clean_remembered(value: Any) -> Any:
        kind = value.__class__
        if kind is str:
            key = value
        elif kind is dict or kind is list or kind is tuple:
            try:
                key = marshal.dumps(value, 2)
            except ValueError:
                return clean(value)
            if len(key) > _MEMO_BYTES:
                return clean(value)
        elif kind in _AS_IS:
            return value
        else:
            return clean(value)
        done = memory.get(key, memory)
        if done is memory:
            done = clean(value)
            if len(memory) < _MEMO_LIMIT:
                memory[key] = done
        return done
    return clean_remembered


# Columns that name one resource: a value a resource, which remembering would only fill the memory with (and
# for aliases, cost a marshal a row).
_ONE_A_RESOURCE = {"resources": frozenset({"id", "arn", "natural_id", "name", "aliases", "import_id"}),
                   "owners": frozenset({"resource_id", "address"}), "edges": frozenset({"source_id"}),
                   "drift": frozenset({"resource_id"})}


def _cleaner_of(table: str, column: str) -> Callable[[Any], Any]:
    """How a versioned table's column is cleaned in one write: remembered, unless it names one resource."""
    clean = _column_cleaner(column)
    return clean if column in _ONE_A_RESOURCE.get(table, ()) else _remembered(clean)


def row_cleaner(table: str, columns: Sequence[str], cleaned: bool, mask: Callable[[Any], Any] | None,
                as_tuples: bool = False) -> Callable[[dict | tuple], tuple]:
    """A row of `table` (a dict, or with `as_tuples` a tuple of its content `columns`) as the tuple of its stored
    content columns: cleaned (redacted, JSON) unless it already is, then with the known secrets masked."""
    if as_tuples:
        if table == "drift":  # judged by its attribute, by name
            by_name = row_cleaner(table, columns, cleaned, mask)
            return lambda row: by_name(dict(zip(columns, row)))
        if cleaned:
            return (lambda row: row) if mask is None else (lambda row: tuple(map(mask, row)))
        cleaners = [_cleaner_of(table, c) for c in columns]

        def tuple_cleaned(row: tuple) -> tuple:
            values = [clean(value) for clean, value in zip(cleaners, row)]
            return tuple(values if mask is None else map(mask, values))
        return tuple_cleaned
    if cleaned:
        if mask is None:
            return lambda row: tuple(map(row.get, columns))
        return lambda row: tuple(map(mask, map(row.get, columns)))
    # a drift row's values are judged by its attribute (_redacted_drift), never again as free text
    cleaners = [(lambda value: value) if table == "drift" and c in ("declared", "live")
                else _cleaner_of(table, c) for c in columns]
    drift = table == "drift"

    def row_tuple(row: dict[str, Any]) -> tuple:
        if drift:
            row = _redacted_drift(row)
        values = [clean(value) for clean, value in zip(cleaners, map(row.get, columns))]
        return tuple(values if mask is None else map(mask, values))
    return row_tuple


def column_batcher(table: str, column: str) -> Callable[[Sequence[Any]], list[Any]]:
    """How one column of many rows is cleaned at once, giving what `_cleaner_of(table, column)` gives each value.
    Texts (and nulls) are searched together (redact.texts_to_redact: one search of a batch joined rather than
    one a value) and only those that may hold a secret are cleaned one by one; a column's repeated texts are
    searched once a write. Lists, dicts and anything else go through the value's own cleaner."""
    clean = _column_cleaner(column)
    one_by_one = _cleaner_of(table, column)
    identifiers = column in IDENTIFIER_COLUMNS and column not in FREE_IDENTIFIER_COLUMNS
    if column == "tags":  # dicts, remembered by their marshal form
        return lambda values: list(map(one_by_one, values))
    remembered = column not in _ONE_A_RESOURCE.get(table, ())
    memory: dict[Any, Any] = {None: clean(None)}

    def cleaned_texts(texts: Sequence[str]) -> list[str]:
        out = list(texts)
        for i in texts_to_redact(texts, identifiers) | {i for i, text in enumerate(texts) if len(text) > MAX_TEXT_CHARS}:
            out[i] = clean(texts[i])
        return out

    def clean_column(values: Sequence[Any]) -> list[Any]:
        kinds = set(map(type, values))
        if kinds <= _NUMBER_OR_NULL:  # counts: every cleaner gives a number back as it is
            return list(values)
        if clean is _clean_value and kinds <= _SEQUENCE_OR_NULL:
            return _cleaned_sequences(values, one_by_one)
        if not kinds <= _TEXT_OR_NULL:
            return list(map(one_by_one, values))
        if remembered:
            unseen = [value for value in set(values) if value not in memory]
            known = memory if len(memory) + len(unseen) <= _MEMO_LIMIT else dict(memory)
            known.update(zip(unseen, cleaned_texts(unseen)))
            return list(map(known.__getitem__, values))
        if kinds == _TEXT:
            return cleaned_texts(values)
        texts = [value if value.__class__ is str else "" for value in values]
        return [value if value is None else done for value, done in zip(values, cleaned_texts(texts))]
    return clean_column


_TEXT, _TEXT_OR_NULL, _NUMBER_OR_NULL = frozenset({str}), frozenset({str, type(None)}), frozenset(_AS_IS)
_SEQUENCE_OR_NULL = frozenset({list, tuple, type(None)})
# what JSON (ensure_ascii) writes escaped, besides non-ASCII (whose texts are always cleaned one by one)
_JSON_ESCAPED = re.compile(r'[\x00-\x1f"\\\x7f]')


def _cleaned_sequences(values: Sequence[Any], one_by_one: Callable[[Any], Any]) -> list[Any]:
    """A column of lists of texts (a resource's aliases) cleaned as `one_by_one` cleans each (JSON of the list,
    every text redacted), its texts searched together: a list none of whose texts may hold a secret or needs
    escaping is written as JSON directly."""
    items = [item for value in values if value is not None for item in value]
    if not set(map(type, items)) <= _TEXT:
        return list(map(one_by_one, values))
    plain = "".join(items)
    starts = list(accumulate(map(len, items), initial=0))
    flagged = texts_to_redact(items) | {bisect_right(starts, m.start()) - 1 for m in _JSON_ESCAPED.finditer(plain)}
    out: list[Any] = []
    position = 0
    for value in values:
        if value is None:
            out.append(None)
            continue
        end = position + len(value)
        if any(i in flagged for i in range(position, end)):
            out.append(one_by_one(value))
        else:
            out.append('["' + '", "'.join(value) + '"]' if value else "[]")
        position = end
    return out


def batch_cleaner(table: str, columns: Sequence[str], cleaned: bool, mask: Callable[[Any], Any] | None,
                  as_tuples: bool) -> Callable[[Sequence[dict | tuple]], list[tuple]]:
    """`row_cleaner` for many rows at once: cleaned column by column (column_batcher), the same tuples."""
    one_by_one = row_cleaner(table, columns, cleaned, mask, as_tuples)
    if cleaned or table == "drift":  # nothing to clean, or judged row by row (a drift row by its attribute)
        return lambda rows: list(map(one_by_one, rows))
    batchers = [column_batcher(table, column) for column in columns]

    def clean_rows(rows: Sequence[dict | tuple]) -> list[tuple]:
        if not rows:
            return []
        if not as_tuples:
            rows = [tuple(map(row.get, columns)) for row in rows]
        out = zip(*(batch(values) for batch, values in zip(batchers, zip(*rows))))
        return list(out if mask is None else (tuple(map(mask, row)) for row in out))
    return clean_rows


def legacy_digest(resource: tuple, children: tuple) -> int:
    """The digest versions written before raw digests carry (raw_digest null): repr, then BLAKE2b."""
    data = repr((resource, children)).encode("utf-8", "backslashreplace")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def digest(resource: tuple, children: tuple) -> int:
    """64 bits of BLAKE2b over what a version says (stored values: text, numbers, null; marshal writes them
    exactly); compared only between versions of one resource id, so a collision would need two different states
    of the same resource to meet (about 2**-64 a scan)."""
    try:
        data = marshal.dumps((resource, children), 2)
    except ValueError:  # a value no cleaning turns into text or a number (a Decimal in a count): read as repr
        data = repr((resource, children)).encode("utf-8", "backslashreplace")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def rules_digest(content: dict[str, Sequence[str]]) -> bytes:
    """What decides how a given row is stored: this module's code, graph.redact's, the versioned tables' content
    columns (`content`, the store's schema) and the Python that runs them. A raw digest taken under other rules
    never matches, so after an upgrade that changes them every row is cleaned again once (and re-versioned only
    where the stored content differs); an upgrade that leaves them alone costs the next scan nothing."""
    rules = hashlib.blake2b(digest_size=16)
    for module in (graph.redact, sys.modules[__name__]):
        try:
            rules.update(Path(module.__file__).read_bytes())
        except (OSError, TypeError):
            rules.update(module.__name__.encode())
    rules.update(repr((sorted(content.items()), sys.version_info[:2])).encode())
    return rules.digest()


def raw_digester(rules: bytes, cleaned: bool, secrets: Iterable[str]) -> Callable[[tuple], int | None]:
    """The digest of a resource's rows as the scan gave them (before cleaning), keyed by the cleaning `rules`
    (rules_digest) and the known secrets: equal means the stored version would come out the same, without
    cleaning it."""
    key = hashlib.blake2b(rules + (b"stored" if cleaned else b"raw") + repr(sorted(secrets)).encode(
        "utf-8", "backslashreplace"), digest_size=32).digest()
    keyed = hashlib.blake2b(digest_size=8, key=key).copy  # the key's block hashed once, not once a resource

    def raw_digest(given: tuple) -> int | None:
        try:
            data = marshal.dumps(given, 2)  # version 2: no back-references, so equal values give equal bytes
        except ValueError:
            return None  # a value marshal cannot write (a date, a subclass): compared once cleaned, every scan
        hasher = keyed()
        hasher.update(data)
        return int.from_bytes(hasher.digest(), "big", signed=True)
    return raw_digest


def cleaned_with_digests(givens: list[tuple], clean_resources: Callable,
                         clean_children: dict[str, Callable]) -> list[tuple]:
    """Resources as the scan gave them, each with its children (its owners, edges and drift: a list each, in
    `clean_children`'s order), cleaned together (column by column): (resource, children by table, digest) each."""
    cleaned = clean_resources([given[0] for given in givens])
    children_cleaned = []
    for position, table in enumerate(clean_children, 1):
        done = iter(clean_children[table]([row for given in givens for row in given[position]]))
        children_cleaned.append([tuple(islice(done, len(given[position]))) for given in givens])
    out = []
    for resource, *children_of in zip(cleaned, *children_cleaned):
        # in a stable order (of their text: the order the scan gave them in is no change), sorted only where there
        # is more than one (most resources have one owner, one edge at most)
        own = tuple(rows if len(rows) < 2 else tuple(sorted(rows, key=repr)) for rows in children_of)
        out.append((resource, own, digest(resource, own)))
    return out


def masker(secrets: list[str]) -> Callable[[Any], Any]:
    """Known secrets (longest first) masked in a stored text."""
    def masked(value: Any) -> Any:
        if isinstance(value, str):
            for secret in secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
        return value
    return masked
