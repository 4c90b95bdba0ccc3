"""Shared fixtures: a real moto server (server mode, loopback) and the demo estate scanned once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driftgraph.demo import aws_environment, moto_server

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def moto_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture()
def aws(moto_endpoint, monkeypatch):
    """boto3's standard chain pointed at the session's moto server, as a user's environment would be."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(key, value)
    return moto_endpoint


@pytest.fixture(scope="session")
def demo_scan(tmp_path_factory):
    """The demo estate in its own moto server, scanned through the real CLI path; shared by the e2e tests."""
    from driftgraph.demo import scan_demo

    workdir = tmp_path_factory.mktemp("demo")
    db = workdir / "driftgraph.db"
    result = scan_demo(db, workdir)
    return {"db": db, "workdir": workdir, **result}


@pytest.fixture(scope="session")
def demo_report(demo_scan):
    from graph.report import build_report
    from graph.store import open_database

    return build_report(open_database(demo_scan["db"]))
