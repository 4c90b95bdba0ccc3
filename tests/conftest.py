"""Shared fixtures: a real moto server (server mode, loopback) and the demo estate scanned once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driftgraph.demo import aws_environment, moto_server
from edge_servers import aws_variables, point_boto3_at

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def needs_corpus(part: str = "") -> Path:
    """The third-party corpus folder `part`, or skip saying where it was looked for: those files are other
    people's data, read from ../shared beside the clone (CI has it), never copied into the repository."""
    folder = CORPUS / part
    if not folder.exists():
        pytest.skip(f"third-party corpus not present at {folder} (it lives outside the repo, in ../shared)")
    return folder


@pytest.fixture(scope="session")
def moto_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture()
def aws(moto_endpoint, monkeypatch):
    """boto3's standard chain pointed at the session's moto server, as a user's environment would be."""
    point_boto3_at(monkeypatch, moto_endpoint)
    return moto_endpoint


@pytest.fixture(scope="session")
def demo_estate(tmp_path_factory):
    """The demo estate in a moto server of its own, for tests that drive the CLI against it."""
    from driftgraph.demo_estate import build_estate

    workdir = tmp_path_factory.mktemp("estate")
    with moto_server() as endpoint:
        with aws_environment(endpoint):
            estate = build_estate(endpoint, workdir)
        yield {"endpoint": endpoint, "workdir": workdir, "estate": estate}


def run_cli(args, endpoint, check=True, **popen):
    """`driftgraph ARGS` in a subprocess with boto3's standard chain pointed at moto: the user's path.
    `popen` passes on to subprocess.run (preexec_fn to set a limit in the child, say)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(aws_variables(endpoint))
    result = subprocess.run([sys.executable, "-m", "driftgraph", *args], env=env, capture_output=True, text=True,
                            timeout=300, **popen)
    if check and result.returncode != 0:
        raise AssertionError(f"driftgraph {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def estate_scan(demo_estate, tmp_path_factory):
    """`driftgraph scan` then `driftgraph report --format json`, exactly as the README tells a user."""
    import json

    db = tmp_path_factory.mktemp("scan") / "estate.db"
    endpoint, workdir = demo_estate["endpoint"], demo_estate["workdir"]
    from driftgraph.demo_estate import CDK_OUTS

    cdk_outs = [argument for path in CDK_OUTS for argument in ("--cdk-out", path)]
    # --no-maintenance, --cloudtrail off: moto implements neither the pending-maintenance calls nor LookupEvents
    # (tests/test_maintenance.py and tests/test_cloudtrail.py fake them)
    scan = run_cli(["-v", "scan", "--db", str(db), "--region", "us-east-1", "--region", "eu-west-1",
                    "--tfstate", str(workdir / "terraform"), "--no-maintenance", "--cloudtrail", "off", *cdk_outs],
                   endpoint)
    report = run_cli(["report", "--db", str(db), "--format", "json"], endpoint)
    markdown = run_cli(["report", "--db", str(db), "--format", "markdown"], endpoint)
    return {"db": db, "scan": scan, "report": json.loads(report.stdout), "markdown": markdown.stdout,
            **demo_estate}
