"""Redaction: the second wall between secrets and SQLite, reports and logs."""

from __future__ import annotations

import logging

from graph.redact import REDACTED, redact, redact_tags, redact_text
from graph.store import ScanWriter


def test_secret_keys_lose_their_values_whatever_they_look_like():
    data = {"password": "x", "MasterUserPassword": "y", "secret_string": "z", "value": "v", "name": "keep-me",
            "environment": [{"variables": {"A": "b"}}], "kms_key_id": "key-1", "nested": {"api_key": "k"}}
    out = redact(data)
    assert out["password"] == out["MasterUserPassword"] == out["secret_string"] == out["value"] == REDACTED
    assert out["environment"] == REDACTED and out["nested"]["api_key"] == REDACTED
    assert out["name"] == "keep-me" and out["kms_key_id"] == "key-1"


def test_secret_shaped_values_are_masked_anywhere():
    text = ("failed: password=hunter2 key AKIAABCDEFGHIJKLMNOP secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "
            "-----BEGIN RSA PRIVATE KEY----- token: abc")
    masked = redact_text(text)
    for secret in ("hunter2", "AKIAABCDEFGHIJKLMNOP", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "BEGIN RSA PRIVATE KEY", "abc"):
        assert secret not in masked
    assert redact_text("arn:aws:sqs:us-east-1:123456789012:orders") == "arn:aws:sqs:us-east-1:123456789012:orders"


def test_tags_keep_keys_but_not_secret_values():
    assert redact_tags({"db_password": "p", "team": "a"}) == {"db_password": REDACTED, "team": "a"}


def test_nothing_secret_is_written_to_sqlite(tmp_path):
    writer = ScanWriter(tmp_path / "g.db")
    writer.begin({"started_at": "now", "status": "running", "options": {"password": "planted-1"}})
    writer.write("resources", [{"id": "r", "tags": {"api_token": "planted-2"}, "reason": "password: planted-3",
                                "attributes": {"secret": "planted-4"}}])
    writer.write("drift", [{"resource_id": "r", "attribute": "tags.db_password", "declared": "planted-5", "live": "planted-6"}])
    writer.commit()
    raw = (tmp_path / "g.db").read_bytes()
    for n in range(1, 7):
        assert f"planted-{n}".encode() not in raw


def test_log_lines_are_redacted(capsys):
    from driftgraph.cli import _setup_logging

    _setup_logging(1)
    logging.getLogger("driftgraph.test").warning("could not read: password=planted-7")
    assert "planted-7" not in capsys.readouterr().err
