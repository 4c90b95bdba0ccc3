"""Secret redaction: applied to every value before it reaches SQLite, a report or a log.

Importers already keep only the catalog's comparable attributes, tags and names; this is the second wall.
It removes values under secret-looking keys and values that look like secrets whatever their key.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "<redacted>"

# Keys whose value is a secret whatever it looks like. Matched against snake_case and CamelCase alike.
SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|private_?key|credential|api_?key|auth_?key|"
    r"access_?key_?secret|signing_?key|client_?secret|connection_?string|user_?data|"
    r"^value$|^values$|secret_?string|secret_?binary|master_?user_?password|environment|variables)",
    re.IGNORECASE,
)

# Values that are secrets whatever key they sit under.
SECRET_VALUE = re.compile(
    r"(-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"  # the shape of an AWS secret access key
    r"|\b(ASIA|AKIA)[A-Z0-9]{16}\b"
    r"|(?<![:/\w-])(password|passwd|pwd|secret|token|api[_-]?key)\s*[:=]\s*\S+"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}\b"
    r"|\bxox[baprs]-[A-Za-z0-9-]{10,}\b)",
    re.IGNORECASE,
)

# Keys that look secret but hold identifiers we need (names of things, not their values).
NOT_SECRET_KEYS = frozenset(
    {
        "token_key",
        "secret_arn",
        "secret_id",
        "secretarn",
        "secretid",
        "kms_key_id",
        "key_id",
        "secret_name",
        "password_policy",
    }
)


def is_secret_key(key: str) -> bool:
    return key.lower() not in NOT_SECRET_KEYS and bool(SECRET_KEY.search(key))


def redact_text(text: str) -> str:
    """Mask secret-looking spans inside free text (error messages, descriptions, tag values)."""
    return SECRET_VALUE.sub(REDACTED, text)


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of `value` with secrets masked; dict keys are kept, their values judged by key and shape."""
    if key is not None and is_secret_key(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_tags(tags: dict[str, Any] | None) -> dict[str, Any] | None:
    """Tags are compared by key and value; a tag whose key says secret keeps its key, never its value."""
    if tags is None:
        return None
    return {k: (REDACTED if is_secret_key(k) else redact(v)) for k, v in tags.items()}
