"""Secret redaction: applied to every value before it reaches SQLite, a report or a log.

Importers already keep only the catalog's comparable attributes, tags and names; this is the second wall.
A value is judged by structure first, the name it is filed under (an attribute, a tag key, a JSON key, the KEY
of `KEY=VALUE` in free text), and by its shape second (a private key, an access key, a token), so that secrets
go whatever they are called and ordinary values (`Environment=production`, a git sha, an ARN) stay as they are.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import urllib.parse
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate
from typing import Any, Sequence

REDACTED = "<redacted>"

# ------------------------------------------------------------------------------------------ keys (structure)

# A key's words: `DB_PASSWORD`, `dbPassword`, `x-api-key`, `password.v2`, `XMLHttpToken` split alike.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Runs of Latin letters and digits (split further by _WORD) or of letters of other scripts (one word each:
# `Описание_пароль` is two words, `数据库密码` one).
_SCRIPT_RUN = re.compile(r"[A-Za-z0-9]+|[^\W_A-Za-z0-9]+")

# Look-alikes of Latin letters in Cyrillic and Greek (after NFKC, which already folds full-width and
# mathematical letters): `pаssword` with a Cyrillic "а" is read as `password`. A small fold, not Unicode's
# whole confusables table: the letters a key can be disguised with.
_CONFUSABLES = str.maketrans(
    "аАвВеЕһНіІјЈкКмМоОрРсСтТуУхХѕЅԁԛԝүҮ"  # Cyrillic
    "αΑβΒεΕζΖηΗιΙκΚμΜνΝοΟρΡτΤυΥχΧ",  # Greek
    "aABBeEhHiIjJkKmMoOpPcCtTyYxXsSdqwyY"
    "aABBeEZZnHiIkKuMvNoOpPtTuYxX",
)


def _unicode_format(char: str) -> bool:
    return unicodedata.category(char) == "Cf"


def _readable(text: str) -> str:
    """NFKC (full-width and styled letters, full-width punctuation) without invisible format characters
    (zero-width spaces and joiners, soft hyphens)."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    return "".join(char for char in text if not _unicode_format(char))


def normalize_key(key: str) -> str:
    """A key as it reads, with Cyrillic and Greek look-alikes of Latin letters folded to Latin."""
    return _readable(key).translate(_CONFUSABLES)


def _words(key: str) -> list[str]:
    words: list[str] = []
    for run in _SCRIPT_RUN.findall(key):
        words += [w.lower() for w in _WORD.findall(run)] if run.isascii() else [run.lower()]
    return words

# A key holding one of these words holds a secret (`db_password`, `ApiToken`, `client_secret`, `MYSQL_PWD`).
SECRET_WORDS = frozenset(
    {
        "password", "passwords", "passwd", "passphrase", "pwd", "secret", "secrets", "token", "tokens",
        "credential", "credentials", "creds", "signature", "authorization", "psk",
        # the phrases below, written as one word (`APIKEY`, `privatekey`, `ConnectionString` is two words)
        "apikey", "apikeys", "privatekey", "authkey", "signingkey", "secretkey", "presharedkey",
        "connectionstring", "userdata", "sessionkey",
        "passcode", "passcodes", "pincode",
        # "password", "secret", "token" in the languages tag keys are most often written in besides English
        "passwort", "kennwort", "motdepasse", "contraseña", "contrasena", "senha", "wachtwoord", "lösenord",
        "passord", "adgangskode", "salasana", "hasło", "haslo", "heslo", "jelszó", "пароль", "секрет", "токен",
        "密码", "密碼", "パスワード", "비밀번호",
    }
)
# ...or one ending so, as one word: `PGPASSWORD`, `dbpassword`, `clientsecret`, `apitoken`, `mysqlpwd`,
# `数据库密码` (scripts without spaces run words together). English has no ordinary word with these endings;
# `pass` is not among them (compass, bypass), nor `pin` (spin, napkin).
SECRET_ENDINGS = ("password", "passwords", "passwd", "passphrase", "passcode", "pwd", "secret", "secrets", "token",
                  "tokens", "credential", "credentials", "passwort", "kennwort", "пароль", "密码", "密碼", "パスワード",
                  "비밀번호")
# ...or these words in a row.
SECRET_PHRASES = (
    ("api", "key"), ("private", "key"), ("auth", "key"), ("signing", "key"), ("shared", "key"), ("preshared", "key"),
    ("connection", "string"), ("user", "data"), ("access", "key"), ("encryption", "key"), ("session", "key"),
    ("pass", "word"), ("pass", "phrase"), ("pass", "code"), ("pin", "code"),
)
# Secret only as the last word (`pass=`, `db_pass`, `proxy_auth`, `DB_PW`, `PIN`, `card_pin`, `Set-Cookie`):
# earlier they are verbs or kinds (`pass_role`, `pin_policy`, `cookie_banner`).
SECRET_LAST_WORDS = frozenset({"pass", "auth", "pw", "pin", "cookie", "cookies"})
# A key ending in one of these names or describes a secret instead of holding it: `secret_arn`, `SecretId`,
# `password_policy`, `PasswordLastUsed`, `token_ttl`, `master_user_secret.kms_key_id`.
IDENTIFIER_LAST_WORDS = frozenset(
    {
        "arn", "arns", "id", "ids", "name", "names", "policy", "policies", "type", "types", "ttl", "length", "age",
        "expiry", "expiration", "expires", "at", "version", "versions", "enabled", "required", "used", "date",
        "time", "timestamp", "count", "url", "uri", "endpoint", "status", "state", "path",
        # where a secret is read from, not the secret: `password_file`, `--password-stdin`
        "file", "stdin", "prompt",
    }
)
# A file name is no key (`secrets.tfstate: invalid JSON at line 3`, as importers word their messages).
FILE_EXTENSIONS = frozenset(
    {"json", "yaml", "yml", "template", "tfstate", "backup", "tf", "tfvars", "hcl", "txt", "log", "csv", "zip", "gz"}
)
# Keys that the rules above would call secret but that hold identifiers we need.
NOT_SECRET_KEYS = frozenset({"token_key"})
# A mapping or list filed under these is a set of environment variables (Lambda, ECS): all of it goes.
# A string under them is not (the tag `Environment=production`, `env: staging`).
CONTAINER_LAST_WORDS = frozenset({"environment", "variables", "env", "vars"})
# The value of a bare `value`/`values` key is a secret (an SSM parameter, a container env entry).
VALUE_KEYS = frozenset({"value", "values"})

_SECRET, _CONTAINER, _PLAIN = "secret", "container", "plain"


@lru_cache(maxsize=16384)
def _key_kind(key: str) -> str:
    """Whether a key names a secret, a container of environment variables, or neither (cached: keys repeat).

    Judged as written (NFKC: `пароль` is Russian) and, when that says plain, with look-alike letters folded
    (`pаssword` with a Cyrillic "а" is a disguise of the English word)."""
    readable = _readable(key)
    kind = _kind_of_key(readable)
    folded = readable.translate(_CONFUSABLES)
    return _kind_of_key(folded) if kind == _PLAIN and folded != readable else kind


def _kind_of_key(key: str) -> str:
    key = key.rsplit(":", 1)[-1]  # an IAM condition key (`token.actions.githubusercontent.com:aud`) by its last part
    words = _words(key)
    if not words:
        return _PLAIN
    if "_".join(words) in NOT_SECRET_KEYS:
        return _PLAIN
    if "." in key and key.rsplit(".", 1)[-1].lower() in FILE_EXTENSIONS:
        return _PLAIN
    last = words[-1]
    if key.rsplit(".", 1)[-1].lower() in VALUE_KEYS:
        return _SECRET
    if last in CONTAINER_LAST_WORDS:
        return _CONTAINER
    if last in IDENTIFIER_LAST_WORDS:
        return _PLAIN
    if last in SECRET_LAST_WORDS:
        return _SECRET
    for word in words:
        if word in SECRET_WORDS or word.endswith(SECRET_ENDINGS):
            return _SECRET
    for first, second in SECRET_PHRASES:
        for i in range(len(words) - 1):
            if words[i] == first and words[i + 1] == second:
                return _SECRET
    return _PLAIN


def is_secret_key(key: str, value: Any = None) -> bool:
    """Whether the value filed under `key` is a secret, judged by the key's words (and, for an environment
    key, by whether the value is a set of variables rather than a name)."""
    kind = _key_kind(key)
    return kind == _SECRET or (kind == _CONTAINER and isinstance(value, (dict, list, tuple)))


def is_secret_attribute(attribute: str, value: Any = None) -> bool:
    """Whether a drift row's attribute (`master_user_password`, `tags.password.v2`, `environment.variables.X`)
    holds a secret: a tag by its whole key, a path by its words or by lying inside an environment."""
    if attribute.startswith("tags."):
        return is_secret_key(attribute[len("tags."):], value)
    segments = attribute.split(".")
    if any(_key_kind(segment) == _CONTAINER for segment in segments[:-1]):
        return True
    return is_secret_key(attribute, value)


# ----------------------------------------------------------------------------------------------- free text

# Tokens that are secrets whatever precedes them.
_TOKENS = (
    r"(?=[AgxeBd])\b(?:"  # (the lookahead only makes the scan cheaper: it runs on every value written)
    r"A[KS]IA[A-Z0-9]{16}\b"  # an AWS access key id (AKIA long-term, ASIA temporary)
    r"|gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255}"  # GitHub tokens
    r"|xox[abposr]-[A-Za-z0-9\-]{10,255}"  # Slack tokens
    r"|eyJ[A-Za-z0-9_\-]{8,4096}\.eyJ[A-Za-z0-9_\-]{8,4096}\.[A-Za-z0-9_\-]{0,4096}"  # a JWT
    r"|da2-[a-z0-9]{26}\b"  # an AppSync API key
    r"|Bearer[ \t]+(?P<bearer>[A-Za-z0-9\-._~+/]{16,4096}=*))"  # a bearer token in prose
)
# what every match of _TOKENS starts with: a text holding none of them holds no such token (texts_to_redact)
_TOKEN_STARTS = ("AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "eyJ", "da2-", "Bearer")
_SHAPES = (
    r"(?P<shape>" + _TOKENS + ")"
    # 40 characters of the base64 alphabet: perhaps an AWS secret access key (judged in _aws_secret_shaped)
    r"|(?P<b64>(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=]))"
)
# A secret handed to a command or named in prose, its value after a space; read in redact_text.
_COMMANDS = (
    # mysql's password glued to its flag (`mysql -uroot -pS3cret`), after a mysql command on the same line only:
    # elsewhere `-p` is a port or a flag of its own (`ssh -p2222`, `mkdir -p`); `-p VALUE` makes mysql prompt
    r"(?P<mysql>\b(?:mysql|mariadb|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mysqlpump|mysqlslap)\b"
    r"[^\n]{0,300}?[ \t]-p(?=[^\s\-]))"
    # a command-line flag named as a secret, its argument after a space (`--password X`, `-token X`)
    r"|(?P<flag>(?<![\w\-])--?(?P<fkey>[A-Za-z][\w.\-]{0,100})[ \t]+(?=[^\s\-]))"
    # a secret word, perhaps `is`, then a value (`token X`, `my password is X`): masked when it looks like one
    r"|(?P<prose>(?<![\w\-.])(?P<pkey>(?i:pass(?:word|wd|phrase|code)|pwd|token|secret|api[ _\-]?key|pin))"
    r"(?:[ \t]+(?i:is|was))?[ \t]+(?=\S))"
)
# Text with structure in it (`=`, `:`, a PEM line); the first alternative that matches leftmost wins.
_STRUCTURED = re.compile(
    # a PEM private key, BEGIN through END (or to the end of the text when END is missing)
    r"(?P<pem>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z))"
    # a URL: its password and secret query parameters go, the rest stays
    r"|(?P<url>\b[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s\"'<>\\]+)"
    # an ARN names a thing (`...:secret:db-password-AbCdEf`, `...:role/token-refresher`): kept as it is
    r"|(?P<arn>(?=a)\barn:[\w\-]+:[^\s\"'<>\\,]*)"
    # KEY=VALUE, KEY: VALUE, "KEY": "VALUE" (also JSON escaped inside JSON). The key is whole: not the tail of
    # a path, an ARN or a longer name. The value is read in redact_text, once the key proved secret. A colon
    # with no space after it (`tight`) also joins `host:port` and `service:key`: see _tight_pair_is_secret.
    r"|(?P<pair>(?<![\w.\-])(?P<kq>\\?[\"']|)(?P<key>[\w.\-]++)(?P=kq)"
    r"[ \t]*+(?:=[ \t]*+|:[ \t]++|:(?=\\?[\"'])|(?P<tight>:)(?=[^\s:/])))"
    r"|" + _COMMANDS + "|" + _SHAPES
)
# Text without `=`, `:` or a PEM line (most names and descriptions) can only hold a shape or a command's secret.
_UNSTRUCTURED = re.compile(_COMMANDS + "|" + _SHAPES)

# Inside a URL: the password of `scheme://user:password@host`, and `?token=...&` query parameters.
_URL_PASSWORD = re.compile(r"(?<=://)([^/?#@:\s]*):([^/?#@\s]+)@")
_URL_QUERY_PAIR = re.compile(r"(?<=[?&;])([^=&#;\s]+)=([^&#;\s]*)")
_URL_TOKEN = re.compile(_TOKENS)  # not the 40-character rule: a URL's path is no secret key
# A secret pair's value, read only once its key proved secret (reading every pair's value would make a text
# like `a=a=a=...` quadratic): quoted whole, JSON-escaped quotes included, or up to the next space. A YAML tag
# or an auth scheme before it does not shield it.
_PAIR_VALUE = re.compile(
    r"(?:(?:![^\s\"]*|(?i:bearer|basic|digest|token))[ \t]+)?"
    r"(?P<text>\\\"(?:(?!\\\").)*(?:\\\")?|\"(?:[^\"\\\n]|\\.)*\"?|'(?:[^'\\\n]|\\.)*'?"
    r"|(?:[^\s\"\\]|\\(?!\"))+)"
)
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")


def _aws_secret_shaped(run: str) -> bool:
    """A secret access key is 40 random base64 characters: both cases and a digit or '+' (all but ~0.05% of
    keys). A git sha (hex), a CamelCase name without digits and a path (leading '/') do not qualify."""
    if run[0] == "/" or _HEX40.fullmatch(run):
        return False
    has_upper = has_lower = has_digit_or_plus = False
    for char in run:
        if char.isupper():
            has_upper = True
        elif char.islower():
            has_lower = True
        elif char.isdigit() or char == "+":
            has_digit_or_plus = True
    return has_upper and has_lower and has_digit_or_plus


def _tight_pair_is_secret(key: str) -> bool:
    """`KEY:VALUE` with no space is a secret pair only when the key ends in its secret word (`x-api-key:abc`,
    `db_password:abc`): a name that merely contains one (`token.actions.githubusercontent.com:aud`) is a
    condition key or a host, and what follows the colon is part of it."""
    if not is_secret_key(key):
        return False
    words = _words(normalize_key(key))
    return is_secret_key("_".join(words[-2:]))


def _pair_is_secret(key: str, match: re.Match) -> bool:
    if match.group("tight"):
        return _tight_pair_is_secret(key)
    if key.lower() in VALUE_KEYS and not match.group("kq") and "=" not in match.group(0):
        return False  # prose (`Expecting value: line 1 column 1`); `value=...` and `"Value": ...` still go
    return is_secret_key(key)


def _looks_like_credential(value: str, key: str) -> bool:
    """Whether the word after a secret word in prose is the secret (`token SECRETWORD68`, `PIN 482915`) rather
    than prose (`rotates the password weekly`, `Secret Manager`, `Secret (NoEcho)`, `password policy v2`):
    quoted, or six or more characters mixing letters with digits or symbols, or digits alone (four or more
    after `pin`, six after the others). A CamelCase word is a name, not a secret."""
    if value[:1] in ("'", '"'):
        return True
    if value[:1] in "([{<":
        return False  # an aside
    value = value.rstrip(".,;:!?)")
    if value.startswith("/") or "://" in value or value.lower().startswith("arn:"):
        return False  # a path, URL or ARN names where a secret is kept
    digits = sum(char.isdigit() for char in value)
    letters = sum(char.isalpha() for char in value)
    if letters == 0:
        return digits == len(value) and digits >= (4 if key.lower() == "pin" else 6)
    return len(value) >= 6 and any(char.isdigit() or char in "!@#$%^&*+=~" for char in value)


def _redact_url(url: str) -> str:
    url = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{REDACTED}@", url)
    if "=" in url:
        url = _URL_QUERY_PAIR.sub(
            lambda m: f"{m.group(1)}={REDACTED}" if m.group(2) and is_secret_key(m.group(1)) else m.group(0), url
        )
    return _URL_TOKEN.sub(REDACTED, url)


def _masked_value(value: str) -> str:
    """The masked form of a pair's value: its quotes stay, so JSON in the text stays JSON."""
    for quote in ('\\"', '"', "'"):
        if value.startswith(quote):
            closed = len(value) >= 2 * len(quote) and value.endswith(quote)
            return quote + REDACTED + (quote if closed else "")
    return REDACTED


# An XML element whose name says secret (`<Password>hunter2</Password>` in an error body botocore quotes).
_XML_ELEMENT = re.compile(r"<([A-Za-z_][\w.\-]{0,100})>([^<]{1,4096})</\1>")


def _redact_xml_elements(text: str) -> str:
    return _XML_ELEMENT.sub(lambda m: f"<{m.group(1)}>{REDACTED}</{m.group(1)}>" if is_secret_key(m.group(1))
                            else m.group(0), text)


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _decoded_view(text: str) -> str:
    """The text as it reads once decoded: JSON `\\u` escapes and URL encoding undone, NFKC, invisible
    characters dropped, look-alike letters folded (`pass\\u0077ord`, `password%3D`, `Password：`)."""
    if "\\u" in text:
        text = _JSON_ESCAPE.sub(
            lambda m: m.group(0) if 0xD800 <= int(m.group(1), 16) <= 0xDFFF else chr(int(m.group(1), 16)), text
        )
    if "%" in text:
        text = urllib.parse.unquote(text, errors="surrogateescape")
    return normalize_key(text)


# ------------------------------------------------------------------------------------- what can hold a secret

def _shortest_first(words) -> tuple[str, ...]:
    """The words no other word of them lies inside: a text holding none of these holds none of `words`."""
    words = sorted(set(words), key=len)
    kept: list[str] = []
    for word in words:
        if not any(shorter in word for shorter in kept):
            kept.append(word)
    return tuple(kept)


# Every rule of _mask_spans that can mask something needs one of these in the text, lower-cased: a key's secret
# word, ending or last word (pairs, flags, URL query keys, XML elements), a secret phrase's first word (a PEM
# line says PRIVATE KEY), a prose key, a token's prefix, a mysql command. Derived from the word lists above, so
# a word added there is looked for here too. (Non-ASCII, encoded and base64-shaped texts are judged in full.)
_SECRET_HINTS = _shortest_first(
    word for word in (*SECRET_WORDS, *SECRET_ENDINGS, *SECRET_LAST_WORDS, *VALUE_KEYS,
                      *(first for first, _ in SECRET_PHRASES),
                      "pass", "pwd", "token", "secret", "api", "pin",  # prose keys (_COMMANDS)
                      "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "eyj", "da2-",
                      "bearer",  # token prefixes (_TOKENS)
                      "mysql", "mariadb")
    if word.isascii()
)


def _trie(words: list[str]) -> str:
    """An alternation of `words` that branches letter by letter (`p(?:ass|in|w)`): the regex engine tries a
    letter once per position, not once per word (2.5 us a 130-character text instead of 6)."""
    if "" in words:
        return ""  # a shorter word already ends here: what follows it needs no matching
    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[0], []).append(word[1:])
    branches = []
    for first, tails in sorted(by_first.items()):
        rest = _trie(tails)
        branches.append(re.escape(first) + (f"(?:{rest})" if "|" in rest else rest))
    return "|".join(branches)


_HINT = re.compile(_trie(list(_SECRET_HINTS)))  # searched in the lower-cased text
# the shape of an AWS secret access key (_aws_secret_shaped), looked for only where a run starts
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}")


def may_hold_secret(text: str) -> bool:
    """False only when redact_text would give `text` back as it is: ASCII text, nothing encoded in it, no
    40-character base64 run, none of _SECRET_HINTS, and no `://...@` (a URL's password). Most names, reasons
    and tag values are plain: they skip the pattern scan, which costs ten times this check."""
    if not text.isascii() or "%" in text or "\\u" in text or ("@" in text and "://" in text):
        return True
    if _HINT.search(text.lower()) is not None:
        return True
    return len(text) >= 40 and _BASE64_RUN.search(text) is not None


def texts_to_redact(texts: Sequence[str], identifiers: bool = False) -> set[int]:
    """The positions, among many texts (a column of a million names), of those redact_text (with `identifiers`,
    redact_identifier) may change: the others come back whole. One search over all of them joined by line
    breaks rather than one a text, for what may_hold_secret looks for (with `identifiers`, the credential
    tokens' starts and `=`): none of it holds or reads a line break, so a match lies in one text and a line
    break reads as the text's start or end. Non-ASCII texts are always among them."""
    flagged: set[int] = set()
    joined = "\n".join(texts)
    if not joined.isascii():
        flagged = {i for i, text in enumerate(texts) if not text.isascii()}
        texts = ["" if i in flagged else text for i, text in enumerate(texts)]
        joined = "\n".join(texts)
    starts = list(accumulate((len(text) + 1 for text in texts), initial=0))

    def at(position: int) -> int:
        return bisect_right(starts, position) - 1

    def containing(substring: str) -> None:
        position = joined.find(substring)
        while position >= 0:
            flagged.add(at(position))
            position = joined.find(substring, position + 1)

    if identifiers:  # a credential token (redact_identifier), or `=` (a pair inside a name)
        for substring in ("=", *_TOKEN_STARTS):  # a few fast searches rather than the tokens' pattern
            containing(substring)
        return flagged
    for substring in ("%", "\\u", "@"):  # "@" stands for a URL's password: the text is then checked whole
        containing(substring)
    flagged.update(at(match.start()) for match in _HINT.finditer(joined.lower()))
    # 40 characters of the base64 alphabet in a row (_BASE64_RUN), found in bytes where the alphabet reads "a" and
    # every other character a line break: a plain search, eight times faster than the pattern
    runs = joined.encode("ascii").translate(_BASE64_ALPHABET)
    position = runs.find(_BASE64_FORTY)
    while position >= 0:
        flagged.add(at(position))
        end = runs.find(b"\n", position)
        position = -1 if end < 0 else runs.find(_BASE64_FORTY, end)
    return flagged


_BASE64_ALPHABET = bytes(ord("a") if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "/+") else ord("\n")
                         for c in range(256))
_BASE64_FORTY = b"a" * 40


def redact_text(text: str) -> str:
    """Mask secret spans inside free text (error messages, reasons, descriptions, values under plain keys).

    A text that spells a secret in disguise (encoded, full-width, with look-alike letters) is read decoded too;
    when that shows a secret, the decoded text is what comes out, masked: ordinary text keeps its bytes."""
    if not text or not may_hold_secret(text):
        return text
    masked = _mask_spans(text)
    if masked.isascii() and "%" not in masked and "\\u" not in masked:
        return masked
    view = _decoded_view(masked)
    if view == masked:
        return masked
    revealed = _mask_spans(view)
    return masked if revealed == view else revealed


def _mask_spans(text: str) -> str:
    if "</" in text:
        text = _redact_xml_elements(text)
    structured = "=" in text or ":" in text or "-----" in text
    search = (_STRUCTURED if structured else _UNSTRUCTURED).search
    out: list[str] = []
    position = 0
    while match := search(text, position):
        start, end = match.span()
        kind = match.lastgroup  # the outermost group that matched: pem, url, arn, pair, shape or b64
        if kind == "pem":
            replacement = REDACTED
        elif kind == "url":
            replacement = _redact_url(match.group(0))
        elif kind == "arn":
            replacement = match.group(0)
        elif kind == "pair":
            # a plain key's value is read on as text (it may hold a URL, an access key id or another pair)
            replacement = match.group(0)
            key = match.group("key")
            if _pair_is_secret(key, match):
                value = _PAIR_VALUE.match(text, end)
                if value is not None:
                    replacement += text[end : value.start("text")] + _masked_value(value.group("text"))
                    end = value.end()
        elif kind in ("mysql", "flag", "prose"):
            key = match.group("fkey") or match.group("pkey") or "p"
            replacement = match.group(0)
            value = _PAIR_VALUE.match(text, end) if kind != "flag" or is_secret_key(key) else None
            if value is not None and (kind != "prose" or _looks_like_credential(value.group("text"), key)):
                replacement += text[end : value.start("text")] + _masked_value(value.group("text"))
                end = value.end()
            elif kind != "mysql":
                # not a secret: only the key is passed over, and what follows is read on as text
                end = match.end("fkey" if kind == "flag" else "pkey")
                replacement = text[start:end]
        elif kind == "shape":
            bearer = match.start("bearer")
            replacement = (text[start:bearer] if bearer >= 0 else "") + REDACTED
        else:
            replacement = REDACTED if _aws_secret_shaped(match.group(0)) else match.group(0)
        out.append(text[position:start])
        out.append(replacement)
        position = end  # every alternative matches at least one character, so the loop moves on
    if not out:
        return text
    out.append(text[position:])
    return "".join(out)


# ------------------------------------------------------------------------------------------ structured data

_EMPTY = (None, "", [], {})


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of `value` with secrets masked: dict keys are kept and their values judged by key, then by shape."""
    if key is not None and value not in _EMPTY and is_secret_key(key, value):
        return REDACTED
    if isinstance(value, dict):
        return _redact_mapping(value)
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _pair_fields(mapping: dict) -> tuple[Any, str] | None:
    """A `{"Key": "DB_PASSWORD", "Value": ...}` pair (also `TagKey`/`TagValue`, `ParameterKey`/`ParameterValue`):
    the value field, and the name its value is filed under."""
    for field, name in mapping.items():
        if isinstance(field, str) and isinstance(name, str) and field[-3:].lower() == "key":
            stem = field[:-3]
            for value_field in (stem + "Value", stem + "value", stem + "VALUE"):
                if value_field in mapping:
                    return value_field, name
    return None


def _redact_mapping(mapping: dict) -> dict:
    pair = _pair_fields(mapping)
    out = {}
    for field, value in mapping.items():
        if pair is not None and field == pair[0]:
            out[field] = redact_tag_value(pair[1], value)
        else:
            out[field] = redact(value, str(field))
    return out


_CREDENTIAL = re.compile(_TOKENS)


def redact_identifier(text: str) -> str:
    """An identifier with the credentials in it masked: an access key id, an API key (an AppSync key's id is
    the key). Identifiers join tables, so each credential becomes the same `<redacted:HASH>` wherever it
    stands, and two different ones stay different; nothing else of an identifier is touched (an ARN, a name
    with "token" in it, a 40-character path stay as they are)."""
    if not isinstance(text, str) or not text:
        return text
    masked = _CREDENTIAL.sub(lambda m: f"<redacted:{_digest(m.group(0))}>", text)
    if "=" in masked:
        # `db_password=...` inside a name or a file name: masked as free text, then made unique again by a
        # digest of the whole, so two such identifiers never collapse into one
        free = redact_text(masked)
        if free != masked:
            masked = f"{free}#{_digest(text)}"
    return masked


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def redact_tag_value(key: str, value: Any) -> Any:
    """A tag's value as it may be shown or stored: masked whole when the tag key says secret, else by shape.
    Anything that quotes a tag (an ignore rule's reason, a report) shows `redact_tag_value(key, value)`."""
    if value not in _EMPTY and is_secret_key(key, value):
        return REDACTED
    return redact(value)


def redact_tags(tags: dict[str, Any] | None) -> dict[str, Any] | None:
    """Tags are compared by key and value; a tag whose key says secret keeps its key, never its value. A key
    that is itself a credential (a token pasted as a key) is masked as identifiers are, keeping keys apart."""
    if tags is None:
        return None
    return dict(_redacted_tag(str(k), v) if v.__class__ is str else (redact_identifier(str(k)), redact_tag_value(str(k), v))
                for k, v in tags.items())


@lru_cache(maxsize=65536)
def _redacted_tag(key: str, value: str) -> tuple[str, str]:
    """One tag as stored, remembered: a million resources carry a few thousand distinct tags."""
    return redact_identifier(key), redact_tag_value(key, value)
