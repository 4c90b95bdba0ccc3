"""`driftgraph demo`: moto in server mode on loopback, the demo estate, a scan, a summary, Datasette."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

from driftgraph.demo_estate import CDK_OUTS, PRIMARY, SECONDARY, a_week_later, build_estate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def background_server(command: list[str], ready_url: str, env: dict[str, str] | None = None,
                      log_path: Path | None = None, timeout: float = 30.0) -> Iterator[subprocess.Popen]:
    """A process serving HTTP on loopback for as long as the block runs, from the moment `ready_url` answers.

    Its output goes to `log_path` (quoted when it fails to start) or nowhere; it is stopped on the way out."""
    log = open(log_path or os.devnull, "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = Path(log_path).read_text() if log_path else ""
                    raise RuntimeError(f"{' '.join(command[:3])} did not answer {ready_url}\n{output}")
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def moto_server(port: int | None = None, env: dict[str, str] | None = None) -> Iterator[str]:
    """A moto server on loopback for as long as the block runs; yields its endpoint URL.

    `env` adds to the server's environment (INITIAL_NO_AUTH_ACTION_COUNT turns IAM enforcement on)."""
    endpoint = f"http://127.0.0.1:{port or free_port()}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", endpoint.rsplit(":", 1)[1]]
    with background_server(command, f"{endpoint}/moto-api/data.json", env):
        yield endpoint


@contextmanager
def aws_environment(endpoint: str) -> Iterator[None]:
    """Point boto3's standard chain at moto: the scanner runs its real code path, unchanged."""
    values = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": PRIMARY,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    saved = {k: os.environ.get(k) for k in [*values, "AWS_PROFILE"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


DEMO_META = ("demo", "built by `driftgraph demo`: replaced by the next demo run")
ESTATE_MARK = ".driftgraph-demo"  # in the estate folder: it is ours to rewrite


def estate_folder(db: Path) -> Path:
    """Where the demo writes its Terraform states: beside the database, named after it."""
    return db.with_name(db.stem + "-estate")


def claim_demo_paths(db: Path, force: bool) -> None:
    """Clear the way for a demo run, deleting only what an earlier demo made (or anything, with --force).

    A user who points `--db` at a real inventory must not lose it to a demo."""
    from graph.store import NotADriftgraphDatabase, read_meta

    folder = estate_folder(db)
    if folder.exists() and not (folder / ESTATE_MARK).exists() and not force:
        raise click.ClickException(f"{folder} exists and was not made by `driftgraph demo`; choose another --db, or --force")
    if db.exists() or db.is_symlink():
        try:
            is_demo = DEMO_META[0] in read_meta(db)
        except NotADriftgraphDatabase:
            is_demo = False
        if not is_demo and not force:
            raise click.ClickException(f"{db} exists and is not a demo database; choose another --db, or --force to replace it")
        db.unlink()  # the demo estate is new each run: start its history afresh
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ESTATE_MARK).write_text("made by driftgraph demo; rewritten by the next run\n")


def scan_demo(db: str | Path, workdir: Path) -> dict:
    """Build the estate in a fresh moto server and scan it exactly as a user would scan real AWS, twice: the
    first scan recorded a week back, then the changes of a week (`a_week_later`), then today's scan, so that
    the diff, the weekly report and the landing page have history to show."""
    import datetime as dt

    from driftgraph.scan import ScanOptions, run_scan

    def options(**extra) -> ScanOptions:
        # moto implements neither the pending-maintenance calls nor CloudTrail's LookupEvents: asked, they would
        # fail every demo scan's listings and warn of every creator
        return ScanOptions(str(db), regions=(PRIMARY, SECONDARY), tfstates=(str(workdir / "terraform"),),
                           cdk_outs=CDK_OUTS, meta=(DEMO_META,), maintenance=False, cloudtrail="off", **extra)

    with moto_server() as endpoint, aws_environment(endpoint):
        estate = build_estate(endpoint, workdir)
        week_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=7)
        first = run_scan(options(recorded_at=week_ago))
        changes = a_week_later(endpoint, workdir, estate)
        started = time.monotonic()
        result = run_scan(options())
        result["scan_wall_seconds"] = round(time.monotonic() - started, 2)
        result["estate"] = estate
        result["first_scan"] = first
        result["changes"] = changes
    return result


def codify_demo(db: Path) -> str:
    """`driftgraph codify` of the demo's unmanaged resources, Terraform and CloudFormation, into the estate folder
    (ours, marked: an earlier run's output is replaced); returns what to tell the user."""
    import shutil

    from driftgraph.cli import write_files
    from graph.codify import codify, written_counts
    from graph.codify_cloudformation import render_cloudformation
    from graph.codify_terraform import render_terraform
    from graph.store import open_database

    root = estate_folder(db) / "codify"
    if root.exists():
        shutil.rmtree(root)
    lines = []
    for fmt, tool, render in (("terraform", "terraform", render_terraform),
                              ("cloudformation", "cloudformation", render_cloudformation)):
        plan = codify(open_database(db), tool=tool)
        files = render(plan.groups, plan.blockers, plan)
        write_files(str(root / fmt), files, force=False)
        resources, blocked = written_counts(files, plan)
        lines.append(f"codify --format {fmt}: {resources} resources to import in {len(plan.groups)} groups, "
                     f"{blocked} blockers -> {root / fmt}")
    return "\n".join(lines)


def run_demo(db: str, serve: bool = True, port: int = 8001, force: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from graph.cdk_audit import audit_summary, build_audit
    from graph.report import build_report
    from graph.store import open_database

    from driftgraph.serve import listen

    db_path = Path(db)
    sock = listen("127.0.0.1", port) if serve else None  # a port in use fails now, not after the build
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        claim_demo_paths(db_path, force)
    except OSError as error:
        if sock is not None:
            sock.close()
        raise click.ClickException(f"cannot make the demo at {db_path}: {error.strerror or error}") from error
    console = Console()
    console.print("[bold]driftgraph demo[/bold]: building the estate in moto (server mode, loopback) ...")
    result = scan_demo(db_path, estate_folder(db_path))
    report = build_report(open_database(db_path))
    table = Table(title=f"scan {result['id']}: {result['resource_count']} resources, regions {', '.join(result['regions'])}")
    table.add_column("status")
    table.add_column("resources", justify="right")
    for status, count in report["summary"]["by_status"].items():
        table.add_row(status, str(count))
    console.print(table)
    console.print(
        f"drift: {report['summary']['drifted_attributes']} attributes on {report['summary']['drifted_resources']} resources; "
        f"managed {report['summary']['managed_percent']}%; failed listings {report['summary']['failed_listings']}; "
        f"scan took {result['scan_wall_seconds']} s"
    )
    for note in result["estate"].notes:
        console.print(f"  planted: {escape(note)}")
    console.print(f"scan {result['first_scan']['id']} is recorded a week back; between it and scan {result['id']}:")
    for change in result["changes"]:
        console.print(f"  changed: {escape(change)}")
    from graph.diff import build_diff

    summary = build_diff(open_database(db_path))["summary"]
    console.print("diff: " + ", ".join(f"{count} {change}" for change, count in summary.items()
                                       if isinstance(count, int) and count), markup=False)
    console.print(audit_summary(build_audit(open_database(db_path))), markup=False)
    console.print(codify_demo(db_path), markup=False)
    shown = escape(str(db_path))  # a path is text, not rich markup: `[bold]` in a folder name stays as written
    console.print(f"database: {shown}  (report: driftgraph report --db {shown} --format markdown; "
                  f"CDK audit: driftgraph cdk-audit --db {shown} --format html -o cdk-audit.html)")
    if serve:
        from driftgraph.serve import serve as serve_datasette

        serve_datasette(str(db_path), port=port, sock=sock)  # prints the URL it serves, the real port included
    else:
        click.echo("done (--no-serve)")
