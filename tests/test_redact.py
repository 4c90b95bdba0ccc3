"""Redaction: the second wall between secrets and SQLite, reports and logs, tested both ways.

Every secret shape must be masked (the secret absent from the output), and ordinary values (environments,
git shas, ARNs, names that contain "token" or "password") must come out byte for byte as they went in.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
import sqlite_utils

from graph.redact import (
    REDACTED,
    is_secret_attribute,
    is_secret_key,
    may_hold_secret,
    redact,
    redact_tag_value,
    redact_tags,
    redact_text,
)
from graph.store import ScanWriter

GIT_SHA = "3d6e5b8f0a1c2d4e6f8091a2b3c4d5e6f708192a"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf"
ROLE_ARN = "arn:aws:iam::123456789012:role/token-refresher"
PEM_BODY = "MIIEowIBAAKCAQEAplantedPemBodyLine0123456789abcdefABCDEF"

# ------------------------------------------------------------------------------ secrets in free text

# (text, the secret that must not survive)
SECRET_TEXTS = [
    ("connect failed: db_password=hunter2-a", "hunter2-a"),
    ("DB_PASSWORD=hunter2-b", "hunter2-b"),
    ("export MYSQL_PWD=hunter2-c", "hunter2-c"),
    ("api_token=hunter2-d from env", "hunter2-d"),
    ("client_secret=hunter2-e", "hunter2-e"),
    ("header x-api-key: hunter2-f rejected", "hunter2-f"),
    ("header x-api-key:hunter2-ff rejected", "hunter2-ff"),
    ("db_password:hunter2-fff", "hunter2-fff"),
    ("pass=hunter2-g", "hunter2-g"),
    ("PGPASSWORD=hunter2-h psql", "hunter2-h"),
    ("--db-password=hunter2-i", "hunter2-i"),
    ("dbPassword: hunter2-j", "hunter2-j"),
    ("ApiToken=hunter2-k", "hunter2-k"),
    ("password.v2=hunter2-l", "hunter2-l"),
    ("password=hunter2-m", "hunter2-m"),
    ("token: hunter2-n", "hunter2-n"),
    ('{"password": "hunter2 o with spaces"}', "hunter2 o with spaces"),
    ('{"db_password":"hunter2-p"}', "hunter2-p"),
    ("{'client_secret': 'hunter2 q'}", "hunter2 q"),
    ('"{\\"db_password\\": \\"hunter2-r\\"}"', "hunter2-r"),  # JSON escaped inside JSON
    ("Server=db;User Id=sa;Password=hunter2-s;", "hunter2-s"),
    ("DbPassword: !!int 31415926", "31415926"),  # a YAML tag before the value does not shield it
    ("Authorization: Bearer hunter2t0k3nXYZ123", "hunter2t0k3nXYZ123"),
    ("sent Bearer abcdefghijklmnop1234XYZ to the API", "abcdefghijklmnop1234XYZ"),
    ("secret_access_key = hunter2-u", "hunter2-u"),
    ("preshared_key=hunter2-v", "hunter2-v"),
    ("secret: hunter2-x", "hunter2-x"),
    ("Key=DB_PASSWORD,Value=hunter2-xx", "hunter2-xx"),
    ('[{"Name": "DB_PASSWORD", "Value": "hunter2-xxx"}]', "hunter2-xxx"),
    ("user_data=IyEvYmluL3NoCmV4cG9ydA==", "IyEvYmluL3NoCmV4cG9ydA=="),
    ("postgres://admin:hunter2-y@db.internal:5432/app", "hunter2-y"),
    ("https://example.com/cb?code=1&access_token=hunter2-z&state=x", "hunter2-z"),
    ("GET https://b.s3.amazonaws.com/k?X-Amz-Signature=hunter2sig&X-Amz-Date=1", "hunter2sig"),
    ("key AKIAIOSFODNN7EXAMPLE was used", "AKIAIOSFODNN7EXAMPLE"),
    ("session ASIAIOSFODNN7EXAMPLE expired", "ASIAIOSFODNN7EXAMPLE"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F2024", "AKIAIOSFODNN7EXAMPLE"),
    (f"secret {AWS_SECRET} in a message", AWS_SECRET),
    (f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABCDEFG0123456789_abcdefghijklmnop"),
    ("slack xoxb-1234567890-abcdefghijkl", "xoxb-1234567890-abcdefghijkl"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
    ("https://x-access-token:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r", "ghp_abcdefghij"),
]

# A PEM private key loses every line, not only its BEGIN line.
PEM_TEXTS = [
    f"bad key -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\nsecondLine+/==\n-----END RSA PRIVATE KEY----- tail",
    f"-----BEGIN PRIVATE KEY-----\\n{PEM_BODY}\\nsecondLine+/==\\n-----END PRIVATE KEY-----",  # as JSON escapes it
    f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\nsecondLine+/==\n",  # truncated: no END line
    f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{PEM_BODY}\nsecondLine+/==\n-----END ENCRYPTED PRIVATE KEY-----",
]


@pytest.mark.parametrize(("text", "secret"), SECRET_TEXTS, ids=[t for t, _ in SECRET_TEXTS])
def test_every_secret_shape_in_free_text_is_masked(text, secret):
    masked = redact_text(text)
    assert secret not in masked
    assert REDACTED in masked


@pytest.mark.parametrize("text", PEM_TEXTS)
def test_a_pem_private_key_is_masked_whole(text):
    masked = redact_text(text)
    for part in ("BEGIN", PEM_BODY, "secondLine", "END"):
        assert part not in masked
    if text.endswith("tail"):
        assert masked == f"bad key {REDACTED} tail"


def test_masking_keeps_the_text_around_the_secret():
    assert redact_text("connect failed: db_password=hunter2 retrying") == f"connect failed: db_password={REDACTED} retrying"
    assert redact_text('{"password": "x y", "user": "bob"}') == f'{{"password": "{REDACTED}", "user": "bob"}}'
    assert redact_text("postgres://admin:pw@db:5432/app") == f"postgres://admin:{REDACTED}@db:5432/app"
    assert redact_text(f"commit {GIT_SHA} key AKIAIOSFODNN7EXAMPLE") == f"commit {GIT_SHA} key {REDACTED}"
    # a plain key's value is still read as text: a secret shape under it goes
    assert redact_text("note=AKIAIOSFODNN7EXAMPLE") == f"note={REDACTED}"


def test_masking_twice_changes_nothing_more():
    for text, _ in SECRET_TEXTS:
        once = redact_text(text)
        assert redact_text(once) == once


# ------------------------------------------------------------------------------ ordinary text is kept

CAMEL_40 = "PlatformOrdersProcessingRoleForApiLambda"  # 40 letters of the base64 alphabet, no digit
PATH_40 = "/aws/lambda/Platform2024OrdersHandlerFnX"
ORDINARY_TEXTS = [
    "Environment=production",
    "env: staging",
    "environment: production",
    GIT_SHA,
    GIT_SHA.upper(),  # a certificate thumbprint
    f"commit {GIT_SHA} on main",
    f"git_sha={GIT_SHA}",
    SHA256,
    f"sha256:{SHA256}",
    SECRET_ARN,
    ROLE_ARN,
    "arn:aws:ssm:us-east-1:123456789012:parameter/platform/db/password",
    "arn:aws:lambda:us-east-1:123456789012:function:token-refresh-lambda",
    f"secret_arn={SECRET_ARN}",
    f"cannot read {SECRET_ARN}: AccessDenied",
    "password-reset-queue",
    "token-refresh-lambda",
    "db-password-rotator",
    "https://sqs.us-east-1.amazonaws.com/123456789012/password-reset-queue",
    "https://sqs.us-east-1.amazonaws.com/123456789012/token-refresh-queue.fifo",
    "exports/2024/01/password-reset-report.csv",
    "s3://acme-logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/file.json.gz",
    "aws_ssm_parameter.db_password",
    "module.auth.aws_secretsmanager_secret.api_token",
    "rotates the password weekly",
    "Issues API tokens to partners; Bearer tokens expire after an hour",
    "Stores the DB password in Secrets Manager",
    "kms_key_id: 1234abcd-12ab-34cd-56ef-1234567890ab",
    "secret_name=platform/api-key",
    "password_policy: strict",
    "PasswordLastUsed: 2024-01-02T03:04:05Z",
    "bypass_mode=on compass=north passenger_count=3 pass_role=yes",
    "listing AWS::SQS::Queue in us-east-1: AccessDenied",
    "Action: secretsmanager:GetSecretValue",
    "ignored by .driftignore: AWS::SQS::Queue:password-*",
    "connect db.internal:5432 at 2024-01-02T03:04:05Z",
    '{"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}',
    "token.actions.githubusercontent.com:sub=repo:acme/app:ref:refs/heads/main",
    "i-0123456789abcdef0 ami-0abcdef1234567890 vpc-0a1b2c3d",
    CAMEL_40,
    PATH_40,
    "line 3, column 12: could not find expected ':'",
    "token-service.tfstate: invalid JSON at line 3, column 7: Expecting value",
    "secrets.yaml: line 3: mapping values are not allowed here",
    "Expecting value: line 1 column 1 (char 0)",
    "",
]


@pytest.mark.parametrize("text", ORDINARY_TEXTS)
def test_ordinary_text_is_kept_byte_for_byte(text):
    assert redact_text(text) == text


def test_the_lookalikes_in_the_ordinary_corpus_are_what_they_claim():
    """Guards the corpus itself: these must really be the shapes that redaction once destroyed."""
    assert len(GIT_SHA) == 40 and len(CAMEL_40) == 40 and len(PATH_40) == 40
    assert len(AWS_SECRET) == 40


# ------------------------------------------------------------------------------ keys (structure first)

SECRET_KEYS = [
    "password", "MasterUserPassword", "master_user_password", "secret_string", "SecretString", "value", "Values",
    "db_password", "DB_PASSWORD", "MYSQL_PWD", "dbPassword", "x-api-key", "X-API-KEY", "password.v2", "ApiToken",
    "PGPASSWORD", "client_secret", "ClientSecret", "api_key", "APIKEY", "apiKey", "private_key", "PrivateKey",
    "auth_key", "signing_key", "connection_string", "ConnectionString", "user_data", "UserData", "credentials",
    "pass", "db_pass", "secret_access_key", "preshared_key", "Authorization", "session_token", "auth_token",
    "secret", "token", "passphrase", "passwd", "github_token", "db:password",
]
PLAIN_KEYS = [
    "Environment", "env", "environment", "name", "description", "passenger", "compass", "bypass_mode",
    "pass_role", "PassthroughBehavior", "secret_arn", "SecretArn", "secret_id", "SecretId", "secret_name",
    "kms_key_id", "KmsKeyId", "key_id", "token_key", "password_policy", "PasswordLastUsed", "password_reset_required",
    "token_ttl", "token_type", "key_usage", "target_key_id", "hash_key", "auth_type",
    "token.actions.githubusercontent.com:aud", "aws:cloudformation:stack-name", "Key", "ParameterKey",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_secret_key_loses_its_value_whatever_the_value_looks_like(key):
    assert is_secret_key(key, "plain-looking")
    assert redact({key: "plain-looking"}) == {key: REDACTED}
    assert redact_tags({key: "plain-looking"}) == {key: REDACTED}


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_a_plain_key_keeps_its_value(key):
    assert not is_secret_key(key, "production")
    assert redact({key: "production"}) == {key: "production"}
    assert redact_tags({key: "production"}) == {key: "production"}


def test_an_environment_of_variables_goes_but_an_environment_tag_stays():
    data = {"environment": {"variables": {"LOG_LEVEL": "debug"}}, "Variables": {"A": "b"},
            "container_environment": [{"name": "LOG_LEVEL", "value": "debug"}], "Environment": "production",
            "env": "staging"}
    out = redact(data)
    assert out == {"environment": REDACTED, "Variables": REDACTED, "container_environment": REDACTED,
                   "Environment": "production", "env": "staging"}
    assert redact_tags({"Environment": "production", "env": "staging"}) == {"Environment": "production", "env": "staging"}


def test_nested_structures_are_judged_key_by_key():
    data = {"password": "x", "MasterUserPassword": "y", "secret_string": "z", "value": "v", "name": "keep-me",
            "kms_key_id": "key-1", "nested": {"api_key": "k", "arn": SECRET_ARN}, "commit": GIT_SHA,
            "empty_password": "", "count": 3, "flags": [True, None, "AKIAIOSFODNN7EXAMPLE"]}
    out = redact(data)
    assert out["password"] == out["MasterUserPassword"] == out["secret_string"] == out["value"] == REDACTED
    assert out["nested"] == {"api_key": REDACTED, "arn": SECRET_ARN}
    assert out["name"] == "keep-me" and out["kms_key_id"] == "key-1" and out["commit"] == GIT_SHA
    assert out["empty_password"] == "" and out["count"] == 3  # nothing to hide
    assert out["flags"] == [True, None, REDACTED]


def test_key_value_pairs_are_judged_by_their_key():
    tags = [{"Key": "DB_PASSWORD", "Value": "hunter2"}, {"Key": "Environment", "Value": "production"},
            {"key": "commit", "value": GIT_SHA}, {"TagKey": "api_token", "TagValue": "hunter3"}]
    assert redact(tags) == [{"Key": "DB_PASSWORD", "Value": REDACTED}, {"Key": "Environment", "Value": "production"},
                            {"key": "commit", "value": GIT_SHA}, {"TagKey": "api_token", "TagValue": REDACTED}]
    parameters = [{"ParameterKey": "AdminPassword", "ParameterValue": "hunter4"},
                  {"ParameterKey": "InstanceType", "ParameterValue": "t3.micro"}]
    assert redact(parameters) == [{"ParameterKey": "AdminPassword", "ParameterValue": REDACTED},
                                  {"ParameterKey": "InstanceType", "ParameterValue": "t3.micro"}]
    # a Name/Value pair (an SSM parameter, a container variable) keeps masking its value: names say too little
    assert redact({"name": "/app/db/url", "value": "hunter5"}) == {"name": "/app/db/url", "value": REDACTED}


def test_json_inside_a_value_is_judged_by_its_keys():
    definitions = json.dumps([{"name": "app", "environment": [{"name": "DB_PASSWORD", "value": "hunter6"}],
                               "image": f"acme/app@sha256:{SHA256}", "secrets": [{"name": "X", "valueFrom": SECRET_ARN}]}])
    out = redact({"container_definitions": definitions})["container_definitions"]
    assert "hunter6" not in out
    assert f"acme/app@sha256:{SHA256}" in out and '"name": "app"' in out
    policy = json.dumps({"Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:*"}}})
    assert redact({"assume_role_policy": policy}) == {"assume_role_policy": policy}


def test_iam_policy_condition_keys_are_judged_by_their_last_part():
    policy = {"Statement": [{"Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                                            "sts:ExternalId": "partner-7"}}}]}
    assert redact(policy) == policy


@pytest.mark.parametrize("text", ORDINARY_TEXTS)
def test_ordinary_values_survive_under_plain_keys_and_as_tags(text):
    assert redact({"description": text, "list": [text]}) == {"description": text, "list": [text]}
    assert redact_tags({"Name": text}) == {"Name": text}


# ------------------------------------------------------------------------------ tags and drift attributes


def test_tags_keep_keys_but_not_secret_values():
    assert redact_tags({"db_password": "p", "team": "a"}) == {"db_password": REDACTED, "team": "a"}
    assert redact_tags({"password.v2": "p", "note": "AKIAIOSFODNN7EXAMPLE"}) == {"password.v2": REDACTED, "note": REDACTED}
    assert redact_tags(None) is None


def test_a_tag_value_is_shown_safely_by_its_key():
    """What an ignore rule's reason (graph/reconcile.py) shows when it quotes a tag."""
    assert redact_tag_value("db_password", "correct horse battery staple") == REDACTED
    assert redact_tag_value("password.v2", "s3cret") == REDACTED
    assert redact_tag_value("Environment", "production") == "production"
    assert redact_tag_value("note", "key AKIAIOSFODNN7EXAMPLE") == f"key {REDACTED}"
    assert redact_tag_value("db_password", "") == ""


@pytest.mark.parametrize(
    ("attribute", "value", "secret"),
    [
        ("tags.password.v2", "s3cret", True),
        ("tags.db_password", "s3cret", True),
        ("tags.Environment", "production", False),
        ("tags.token-refresher", "", True),
        ("master_user_password", "s3cret", True),
        ("environment", {"variables": {"A": "b"}}, True),
        ("environment.variables.DB_HOST", "db.internal", True),
        ("environment.0.variables", {"A": "b"}, True),
        ("master_user_secret.0.secret_arn", SECRET_ARN, False),
        ("visibility_timeout", 30, False),
        ("instance_type", "t3.micro", False),
        ("user_data", "IyEvYmluL3No", True),
    ],
)
def test_a_drift_attribute_is_secret_by_its_path(attribute, value, secret):
    assert is_secret_attribute(attribute, value) is secret


# ------------------------------------------------------------------------------ disguised keys and prose shapes
# Where the line is drawn, in both directions:
# - a key is secret by its words (`Passcode`, `PIN`, `db_pass_word`, `sessionKey`, `cookie`) after the text is
#   normalised (NFKC width folding, format characters dropped, Cyrillic and Greek look-alikes of Latin letters
#   folded), and "password" in a few other languages counts as the English word does. `pin` and `cookie` are
#   secret only as the last word of a key (`PIN`, `card_pin`, `Set-Cookie`), never inside a longer word or in
#   front of another (`PINpoint`, `pinned`, `spinner`, `cookie-banner-service`, `cookie_name`).
# - in free text, a secret word followed by a value masks that value only when the value looks like a
#   credential (quoted, letters with digits or symbols, or a run of digits: `token SECRETTOKENWORD68`), so
#   prose (`rotates the password weekly`, `Secret Manager`, `Secret (NoEcho)`) stays; a command-line flag
#   named as a secret (`--password X`) masks its argument; mysql's `-pPASSWORD` is masked after a mysql command
#   only (`ssh -p2222`, `mkdir -p` stay). Encoded spellings (JSON `\u` escapes, URL encoding, full-width
#   punctuation) are read decoded; a text where one hid a secret is shown in that decoded, normalised form.

DISGUISED_SECRET_KEYS = [
    "Passcode", "PIN", "db_pass_word", "sessionKey", "session_key", "cookie",
    "p\u0430ssword",  # a Cyrillic "а"
    "Описание_пароль",  # Russian: "description_password"
    "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44",  # full-width "password"
    "pass\u200bword",  # a zero-width space inside
    "\u03a4\u039f\u039a\u0395\u039d",  # Greek capitals that read TOKEN
    "card_pin", "Set-Cookie", "sessionkey", "Passwort", "数据库密码",
]
PLAIN_LOOKALIKE_KEYS = [
    "PINpoint", "pinned", "spinner", "Pinterest", "pin_policy", "cookie-banner-service", "cookie_name",
    "passcode_length", "session_key_id", "session_timeout", "Описание", "password_file", "Ｅｎｖｉｒｏｎｍｅｎｔ",
]


@pytest.mark.parametrize("key", DISGUISED_SECRET_KEYS)
def test_a_disguised_or_foreign_secret_key_loses_its_value(key):
    assert is_secret_key(key, "plain-looking")
    assert redact_tags({key: "plain-looking"}) == {key: REDACTED}
    assert is_secret_attribute(f"tags.{key}", "plain-looking")


@pytest.mark.parametrize("key", PLAIN_LOOKALIKE_KEYS)
def test_a_key_that_only_contains_a_secret_word_keeps_its_value(key):
    assert not is_secret_key(key, "production")
    assert redact_tags({key: "production"}) == {key: "production"}


# (value under a plain key, the secret that must not survive)
SECRET_PROSE = [
    ("--password SECRETCLI61", "SECRETCLI61"),
    ("mysql -uroot -pSECRETMYSQL65", "SECRETMYSQL65"),
    ("token SECRETTOKENWORD68", "SECRETTOKENWORD68"),
    ('{"pass\\u0077ord":"SECRETJSONESC63"}', "SECRETJSONESC63"),
    ("Password\uff1aSECRETFULLWIDTH70", "SECRETFULLWIDTH70"),
    ("password%3DSECRETURLENC62", "SECRETURLENC62"),
    ("run: app --db-password 'Quoted Secret71' --verbose", "Quoted Secret71"),
    ("mysqldump -h db -u app -p'Hunter272' orders", "Hunter272"),
    ("my password is hunter273", "hunter273"),
    ("PIN 482915", "482915"),
    ("p\u0430ssword=SECRETHOMOGLYPH74", "SECRETHOMOGLYPH74"),
    ("пароль: СекретныйПароль75", "СекретныйПароль75"),
]
ORDINARY_PROSE = [
    "cookie-banner-service", "PINpoint", "pinned to v1.2.3", "spinner", "PIN code required at the door",
    "mysql -u app -h db.internal orders", "ssh -p2222 bastion", "mkdir -p /var/lib/app", "tar -xpf backup.tar",
    "docker login --password-stdin registry.example.com", "--password-file /run/secrets/db",
    "token expired for user alice", "the secret sauce", "Secret Manager rotation", "token bucket of size 64",
    "Описание заказа", "\uff30\uff52\uff4f\uff44\uff55\uff43\uff54\uff49\uff4f\uff4e", "naïve café", "100% done",
    "rotates the password every 30 days", "password policy v2", "Zugangsdaten im Tresor",
    "HasSecret reads Secret (NoEcho); Secret MyAppSecretName is rotated",
]


@pytest.mark.parametrize(("text", "secret"), SECRET_PROSE, ids=[t for t, _ in SECRET_PROSE])
def test_a_secret_in_prose_flags_or_encodings_is_masked(text, secret):
    masked = redact_text(text)
    assert secret not in masked and REDACTED in masked
    assert redact_text(masked) == masked
    assert secret not in json.dumps(redact_tags({"note": text}), ensure_ascii=False)


@pytest.mark.parametrize("text", ORDINARY_PROSE)
def test_ordinary_prose_near_secret_words_is_kept(text):
    assert redact_text(text) == text
    assert redact_tags({"note": text}) == {"note": text}


def test_disguised_secrets_reach_neither_sqlite_nor_the_drift_table(tmp_path):
    tags = {key: f"planted-key-{n}" for n, key in enumerate(DISGUISED_SECRET_KEYS)}
    tags.update({f"note{n}": text for n, (text, _) in enumerate(SECRET_PROSE)})
    tags.update({"PINpoint": "kept-pinpoint", "cookie-banner-service": "kept-banner"})
    writer = ScanWriter(tmp_path / "g.db")
    writer.begin({"started_at": "now", "status": "running"})
    writer.write("resources", [{"id": "r", "name": "q", "tags": tags, "status": "managed"}])
    writer.write("drift", [{"resource_id": "r", "attribute": f"tags.{key}", "declared": value, "live": "other"}
                           for key, value in tags.items()])
    writer.commit()
    raw = (tmp_path / "g.db").read_bytes().decode("utf-8", "replace")
    for n, _ in enumerate(DISGUISED_SECRET_KEYS):
        assert f"planted-key-{n}" not in raw, DISGUISED_SECRET_KEYS[n]
    for _, secret in SECRET_PROSE:
        assert secret not in raw, secret
    assert "kept-pinpoint" in raw and "kept-banner" in raw


# ------------------------------------------------------------------------------ the database file


def test_nothing_secret_is_written_to_sqlite_and_nothing_ordinary_is_lost(tmp_path):
    writer = ScanWriter(tmp_path / "g.db")
    writer.begin({"started_at": "now", "status": "running", "options": {"password": "planted-1"}})
    writer.write("resources", [
        {"id": "r", "arn": SECRET_ARN, "name": "password-reset-queue",
         "tags": {"api_token": "planted-2", "password.v2": "planted-p v2", "Environment": "production",
                  "commit": GIT_SHA},
         "reason": "ignored by .driftignore: tag db_password=planted-3",
         "attributes": {"secret": "planted-4", "description": "rotates the password weekly",
                        "role": ROLE_ARN, "environment": {"variables": {"MYSQL_PWD": "planted-9"}}}},
    ])
    writer.write("drift", [
        {"resource_id": "r", "attribute": "tags.db_password", "declared": "planted-5", "live": "planted-6"},
        {"resource_id": "r", "attribute": "tags.password.v2", "declared": "planted-7", "live": "planted-8"},
        {"resource_id": "r", "attribute": "tags.Environment", "declared": "production", "live": "staging"},
        {"resource_id": "r", "attribute": "environment.variables.X", "declared": "planted-10", "live": None},
    ])
    writer.write("owners", [{"resource_id": "r", "tool": "terraform", "address": "aws_ssm_parameter.db_password"}])
    writer.write("scan_errors", [
        {"source": "t.yaml", "kind": "error",
         "message": f"bad: DB_PASSWORD=planted-11 x-api-key: planted-12 pass=planted-13 "
                    f"-----BEGIN RSA PRIVATE KEY-----\nplanted-14\n-----END RSA PRIVATE KEY----- at {GIT_SHA}"},
    ])
    writer.write("stacks", [{"id": "s", "name": "app", "description": "client_secret=planted-15",
                             "tags": {"x-api-key": "planted-16", "env": "staging"}}])
    writer.commit()
    raw = (tmp_path / "g.db").read_bytes()
    for n in range(1, 17):
        assert f"planted-{n}".encode() not in raw, n
    assert b"planted-p" not in raw

    db = sqlite_utils.Database(tmp_path / "g.db")
    resource = next(db["resources"].rows)
    assert resource["arn"] == SECRET_ARN and resource["name"] == "password-reset-queue"
    tags = json.loads(resource["tags"])
    assert tags["Environment"] == "production" and tags["commit"] == GIT_SHA
    attributes = json.loads(resource["attributes"])
    assert attributes["description"] == "rotates the password weekly" and attributes["role"] == ROLE_ARN
    drift = {row["attribute"]: row for row in db["drift"].rows}
    assert json.loads(drift["tags.Environment"]["declared"]) == "production"
    assert drift["tags.password.v2"]["declared"] == drift["tags.password.v2"]["live"] == REDACTED
    assert drift["environment.variables.X"]["live"] is None
    assert next(db["owners"].rows)["address"] == "aws_ssm_parameter.db_password"
    assert GIT_SHA in next(db["scan_errors"].rows)["message"]
    assert json.loads(next(db["stacks"].rows)["tags"])["env"] == "staging"


def test_log_lines_are_redacted(capsys):
    from driftgraph.cli import _setup_logging

    _setup_logging(1)
    logging.getLogger("driftgraph.test").warning("could not read: db_password=planted-7 at %s", GIT_SHA)
    err = capsys.readouterr().err
    assert "planted-7" not in err and GIT_SHA in err


# ------------------------------------------------------------------------------ cost


def test_pathological_text_does_not_hang():
    """Redaction runs on every row: long and adversarial inputs must stay linear. The bound is generous on
    purpose (a quadratic pass over these inputs takes minutes); it only proves "does not hang"."""
    inputs = [
        "a=" * 50_000,
        "password=" * 50_000,
        "x" * 200_000,
        "-----BEGIN PRIVATE KEY-----" * 5_000,
        '"k": "' * 20_000,
        "A1b/" * 50_000,
        "token.actions." * 20_000,
        "arn:aws:" * 30_000,
        "https://" * 30_000,
        "x." * 100_000,
        "eyJabcdefghij-" * 20_000,
        "xoxb-" * 40_000,
        "github_pat_" * 20_000,
        'password="' * 20_000,
        "a: " * 50_000,
        "a:b " * 50_000,
        "password:x " * 30_000,
        ("word " * 40_000) + "password=x",
        "mysql " * 50_000,
        "--password " * 30_000,
        "token " * 50_000,
        "p\u0430ssword=x " * 20_000,
        "%41" * 50_000,
        "\\u0041" * 30_000,
    ]
    started = time.monotonic()
    for text in inputs:
        redact_text(text)
    assert time.monotonic() - started < 30


def test_credentials_in_identifiers_are_masked_alike_wherever_they_stand(tmp_path):
    import sqlite3

    from graph.redact import redact_identifier

    access_key, appsync = "AKIAIOSFODNN7EXAMPLE", "da2-abcdefghijklmnopqrstuvwxyz"
    masked = redact_identifier(f"aws_iam_access_key:123456789012:global:{access_key}")
    assert access_key not in masked and masked == redact_identifier(f"aws_iam_access_key:123456789012:global:{access_key}")
    assert redact_identifier("AKIAIOSFODNN7EXAMPLF") != redact_identifier(access_key)
    for ordinary in ("arn:aws:iam::123456789012:role/token-refresher", "aws/lambda/SomeFunctionName1234567890abcd",
                     "sg-0123456789abcdef0", "/aws/lambda/password-reset"):
        assert redact_identifier(ordinary) == ordinary
    writer = ScanWriter(tmp_path / "g.db")
    writer.begin({"started_at": "now", "status": "running"})
    key_id = f"aws_appsync_api_key:123456789012:us-east-1:abcdefgh:{appsync}"
    writer.write("resources", [{"id": key_id, "name": f"abcdefgh:{appsync}", "status": "unmanaged"}])
    writer.write("owners", [{"resource_id": key_id, "tool": "terraform", "source": "s.tfstate",
                             "address": 'aws_sqs_queue.each["password=hunter2-planted"]'}])
    writer.commit()
    raw = (tmp_path / "g.db").read_bytes()
    assert appsync.encode() not in raw and b"hunter2-planted" not in raw
    joined = sqlite3.connect(tmp_path / "g.db").execute(
        "select count(*) from resources join owners on owners.resource_id = resources.id").fetchone()[0]
    assert joined == 1, "masked the same way in both tables, the join still holds"


@pytest.mark.parametrize("key", ["DB_PW", "access_key", "AccessKey", "encryption_key"])
def test_more_secret_key_names(key):
    from graph.redact import is_secret_key

    assert is_secret_key(key) and redact_tags({key: "s3cr3t-value"}) == {key: REDACTED}


@pytest.mark.parametrize("key", ["access_key_id", "encryption_key_arn", "pw_policy"])
def test_names_of_such_things_stay_plain(key):
    from graph.redact import is_secret_key

    assert not is_secret_key(key)


def test_a_name_taken_from_a_name_tag_is_masked_as_the_tag_is(tmp_path):
    writer = ScanWriter(tmp_path / "g.db")
    writer.begin({"started_at": "now", "status": "running"})
    writer.write("resources", [{"id": "vpc-1", "name": "app password=hunter2-planted AKIAIOSFODNN7EXAMPLE",
                                "tags": {"Name": "app password=hunter2-planted AKIAIOSFODNN7EXAMPLE"}, "status": "unmanaged"}])
    writer.commit()
    raw = (tmp_path / "g.db").read_bytes()
    assert b"hunter2-planted" not in raw and b"AKIAIOSFODNN7EXAMPLE" not in raw


def test_an_xml_element_named_as_a_secret_is_masked_and_others_kept():
    text = "AccessDenied: <Error><Password>xmlhunter2b</Password><Code>Denied</Code></Error>"
    masked = redact_text(text)
    assert "xmlhunter2b" not in masked and "<Code>Denied</Code>" in masked


def test_names_that_are_not_utf8_or_hold_secrets_never_fail_a_scan_nor_leak(tmp_path):
    import sqlite3

    db = tmp_path / "g.db"
    writer = ScanWriter(db)
    writer.begin({"started_at": "now", "status": "running"})
    odd = "states/st\udcffate.tfstate"  # what os.fsdecode makes of a file name that is not UTF-8
    secret_id = "TYPE:1:r:db_password=PLANT-ONE"
    writer.write("resources", [{"id": secret_id, "natural_id": "db_password=PLANT-ONE", "status": "unmanaged",
                                "tags": {"ghp_" + "A" * 36: "x", "AKIAPLANTDRIFTKEY001": "y"}},
                               {"id": "TYPE:1:r:db_password=PLANT-TWO", "natural_id": "db_password=PLANT-TWO",
                                "status": "unmanaged"}])
    writer.write("sources", [{"path": odd, "kind": "terraform_state", "status": "loaded"},
                             {"path": "states/token=PLANT-THREE/x.tfstate", "kind": "terraform_state", "status": "loaded"}])
    writer.write("owners", [{"resource_id": secret_id, "tool": "terraform", "source": odd, "address": "a.b"}])
    writer.write("drift", [{"resource_id": secret_id, "attribute": "tags.AKIAPLANTDRIFTKEY001", "declared": "a",
                            "live": "b", "tool": "terraform", "source": "token=PLANT-FOUR.tfstate", "address": "a.b"}])
    writer.commit()
    raw = db.read_bytes()
    for planted in (b"PLANT-ONE", b"PLANT-TWO", b"PLANT-THREE", b"PLANT-FOUR", b"ghp_AAAA", b"AKIAPLANTDRIFTKEY001"):
        assert planted not in raw, planted
    connection = sqlite3.connect(db)
    assert connection.execute("select count(distinct id) from resources").fetchone()[0] == 2, "masked ids stay apart"
    assert connection.execute("select count(*) from resources join owners on owners.resource_id = resources.id").fetchone()[0] == 1
    assert connection.execute("select path from sources order by path").fetchall()[0][0] == "states/st\\udcffate.tfstate"


# ---------------------------------------------------------------------------------- secrets AWS made into data


SECRET_TEMPLATE = """\
Parameters:
  Hidden: {Type: String, NoEcho: true, Default: hidden-default}
  DbPassword: {Type: String, Default: pw-default}
  Plain: {Type: String, Default: plainvalue}
Resources:
  Tagged:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "tagged-${Plain}"
      Tags:
        - {Key: Note, Value: !Ref Hidden}
        - {Key: Other, Value: !Sub "conn=${DbPassword}"}
  Named:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Join ["-", ["named", !Ref Hidden]]}
"""


@pytest.mark.parametrize("stacks", [True, False], ids=["deployed-stack", "template-file-only"])
def test_a_secret_parameter_s_value_is_masked_wherever_aws_put_it(tmp_path, stacks):
    """A NoEcho (or secret-named) parameter's value that AWS made into a tag or a name is never stored: known from
    DescribeStacks (which shows it for a secret-named one, and moto for any) or from the template's defaults."""
    import sqlite3

    import boto3

    from conftest import run_cli
    from driftgraph.demo import aws_environment, moto_server

    hidden, password = (("noecho-deployed-8k2", "dbpw-deployed-8k2") if stacks
                        else ("hidden-default", "pw-default"))
    path = tmp_path / "secret.yaml"
    path.write_text(SECRET_TEMPLATE if stacks else SECRET_TEMPLATE.replace("named", "filenamed").replace("tagged", "filetagged"))
    with moto_server() as endpoint, aws_environment(endpoint):  # a server of its own: its stack is no one else's
        cloudformation = boto3.client("cloudformation")
        if stacks:
            cloudformation.create_stack(StackName="secretive", TemplateBody=path.read_text(),
                                        Parameters=[{"ParameterKey": "Hidden", "ParameterValue": hidden},
                                                    {"ParameterKey": "DbPassword", "ParameterValue": password}])
        else:  # made by hand with the template's default values: only the file knows they are secrets
            sqs = boto3.client("sqs")
            sqs.create_queue(QueueName="filetagged-plainvalue", tags={"Note": hidden, "Other": f"conn={password}"})
            sqs.create_queue(QueueName=f"filenamed-{hidden}")
        db = tmp_path / "s.db"
        args = ["scan", "--db", str(db), "--region", "us-east-1", "--type", "AWS::SQS::Queue",
                "--type", "AWS::CloudFormation::Stack", "--cfn-template", f"{path}@us-east-1"]
        scan = run_cli(args if stacks else [*args, "--no-stacks"], endpoint)
        report = run_cli(["report", "--db", str(db), "--format", "json"], endpoint)
        with sqlite3.connect(db) as connection:
            dump = "\n".join(connection.iterdump())
        for text in (dump, report.stdout, scan.stdout, scan.stderr):
            assert hidden not in text and password not in text
    assert "plainvalue" in dump  # what is not secret stays


# ------------------------------------------------------------------------- the check before the pattern scan

def _every_secret_word() -> list[str]:
    from graph import redact as rules

    return sorted({*rules.SECRET_WORDS, *rules.SECRET_ENDINGS, *rules.SECRET_LAST_WORDS, *rules.VALUE_KEYS,
                   *("_".join(phrase) for phrase in rules.SECRET_PHRASES), *("".join(p) for p in rules.SECRET_PHRASES)})


def _texts_around(word: str) -> list[str]:
    """A secret word in every place the patterns read one: a pair, a JSON pair, a tight pair, a flag, prose, a
    URL query, an XML element, a camel-cased and an upper-cased key."""
    value = "Hunter2Zebra77"
    camel = "db" + word[:1].upper() + word[1:]
    return [f"{word}={value}", f"db_{word}: {value}", f'{{"{word}": "{value}"}}', f"x-{word}:{value}",
            f"--{word} {value}", f"the {word} is {value}", f"https://h.example/p?{word}={value}",
            f"<{word}>{value}</{word}>", f"{camel}={value}", f"{word.upper()}={value}", f"{word} {value}"]


def test_every_text_the_patterns_would_mask_is_one_the_check_lets_through():
    """may_hold_secret is false only where redact_text gives the text back whole: every secret word the rules
    know, in every place the patterns read one, and every secret text above, reach the patterns."""
    from graph.redact import _mask_spans

    texts = [text for word in _every_secret_word() for text in _texts_around(word)]
    texts += [text for text, _ in SECRET_TEXTS] + PEM_TEXTS + [text for text, _ in SECRET_PROSE]
    texts += ["key AKIAIOSFODNN7EXAMPLE", f"aws_secret {AWS_SECRET}", "Authorization: Bearer abcdefghijklmnop1234",
              "ghp_" + "a" * 36, "xoxb-1234567890-abcdef", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig",
              "da2-" + "a" * 26, "postgres://app:hunter2zebra@db.internal/orders", "ASIAIOSFODNN7EXAMPLE",
              "Bearer abcdefghijklmnop1234", "mariadb -uroot -pHunter2Zebra", "github_pat_" + "b" * 22,
              *(f"gh{kind}_" + "c" * 36 for kind in "pousr")]
    masked = [text for text in texts if _mask_spans(text) != text]
    assert len(masked) > 300, "the corpus exercises the patterns"
    assert [text for text in masked if not may_hold_secret(text)] == []


@pytest.mark.parametrize("text", ["declared by Terraform state s3://acme/prod/001.tfstate (module.q.aws_sqs_queue.q)",
                                  "fn-0000123", "owner@acme.example", "payments", "10.0.0.0/8", "app.handler",
                                  "arn:aws:sqs:us-east-1:123456789012:orders", "service 12 ingress"])
def test_plain_names_and_reasons_skip_the_pattern_scan(text):
    assert may_hold_secret(text) is False and redact_text(text) == text


def test_the_check_sends_encoded_non_ascii_and_base64_shaped_text_to_the_patterns():
    assert may_hold_secret("caf\u00e9") and may_hold_secret("a%3Db") and may_hold_secret("naïve")
    assert may_hold_secret(AWS_SECRET) and may_hold_secret("https://u:p@h.example")
    assert not may_hold_secret("https://h.example/path") and not may_hold_secret("owner@acme.example")


def _column_corpus() -> list[str]:
    """Texts for the batch checks: every secret text and word place above, plain names and reasons, and the odd
    ones (non-ASCII, line breaks inside, encoded, empty, a credential at a text's very start or end)."""
    from graph.redact import _mask_spans

    texts = [text for word in _every_secret_word() for text in _texts_around(word)]
    texts += [text for text, _ in SECRET_TEXTS] + PEM_TEXTS + [text for text, _ in SECRET_PROSE]
    texts += ["AKIAIOSFODNN7EXAMPLE", "x AKIAIOSFODNN7EXAMPLE", "role/AKIAIOSFODNN7EXAMPLE", AWS_SECRET,
              "Bearer abcdefghijklmnop1234", "da2-" + "a" * 26, "name=db_password=hunter2zebra", "café-orders",
              "line one\nline two token x", "a%3Db", "x\\u0041", "https://u:p@h.example", "", "orders",
              "arn:aws:sqs:us-east-1:123456789012:orders", "declared by Terraform state s3://acme/x.tfstate (q)",
              "ghp_" + "a" * 36 + "\n", "\u3000token\u3000x", "fn-0000123", "payments-api", "shipping"]
    assert sum(_mask_spans(text) != text for text in texts) > 300
    return texts


@pytest.mark.parametrize("identifiers", [False, True])
def test_the_batch_check_finds_every_text_the_value_by_value_cleaning_changes(identifiers):
    """texts_to_redact reads a column joined: every text redact_text (or redact_identifier) would change is
    among the positions it gives, wherever the text stands in the column."""
    from graph.redact import redact_identifier, texts_to_redact

    texts = _column_corpus()
    clean = redact_identifier if identifiers else redact_text
    changed = {i for i, text in enumerate(texts) if clean(text) != text}
    assert len(changed) > (40 if identifiers else 300)
    assert changed <= texts_to_redact(texts, identifiers)
    reversed_texts = texts[::-1]
    assert {len(texts) - 1 - i for i in changed} <= texts_to_redact(reversed_texts, identifiers)
    plain = ["orders", "payments", "fn-0000123", "10.0.0.0/8", "arn:aws:sqs:us-east-1:123456789012:orders"]
    assert texts_to_redact(plain, identifiers) == set()


def test_rows_cleaned_in_a_batch_are_those_cleaned_one_by_one():
    """The store cleans many rows column by column (batch_cleaner); each comes out as row_cleaner makes it,
    with known secrets masked, for texts, nulls, numbers, tags and attributes in every column."""
    import random

    from graph.cleaning import batch_cleaner, row_cleaner
    from graph.store import CONTENT

    texts = _column_corpus()
    pools = {"text": texts, "text or null": texts + [None] * 50, "counts": [0, 3, None],
             "mixed": texts + [None, 3, {"Password": "hunter2zebra", "Name": "x"}, ["a", "token abc123def456"]],
             "tags": [None, {}, {"Team": "payments", "db_password": "hunter2zebra"}, {"AKIAIOSFODNN7EXAMPLE": "x"}],
             "lists": [None, (), ("arn:aws:sqs:us-east-1:123456789012:orders",), ("a", "token abc123def456"),
                       ["https://u:p@h.example/q", "ok"], ('say "hi"',), ("back\\slash",), ("tab\there",), ("caf\u00e9",),
                       ("\x7f",), tuple(texts[:3]), ("AKIAIOSFODNN7EXAMPLE",)]}
    chooser = random.Random(7)
    for table in ("resources", "owners", "edges"):
        kinds = [("tags" if column == "tags" else "lists" if column == "aliases"
                  else chooser.choice(["text", "text or null", "counts", "mixed", "lists"]))
                 for column in CONTENT[table]]
        kinds[0] = "text or null"
        rows = [tuple(chooser.choice(pools[kind]) for kind in kinds) for _ in range(3000)]
        for mask in (None, lambda value: value.replace("orders", "<redacted>") if isinstance(value, str) else value):
            one_by_one = row_cleaner(table, CONTENT[table], False, mask, as_tuples=True)
            expected = [one_by_one(row) for row in rows]
            assert batch_cleaner(table, CONTENT[table], False, mask, as_tuples=True)(rows) == expected
            as_dicts = [dict(zip(CONTENT[table], row)) for row in rows]
            assert batch_cleaner(table, CONTENT[table], False, mask, as_tuples=False)(as_dicts) == expected
