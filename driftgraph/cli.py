"""The `driftgraph` command: a thin click shell over the library; each command calls one library function."""

from __future__ import annotations

import json
import logging
import os
import sys

import click

from driftgraph import __version__

# Exit codes (documented in the README).
EXIT_OK = 0
EXIT_ERROR = 1  # fatal: nothing was written (bad credentials, unreadable ignore file, ...)
EXIT_USAGE = 2  # click's own: a wrong option
EXIT_FINDINGS = 3  # report --fail-on found what it was told to fail on
EXIT_INTERRUPTED = 130  # Ctrl-C: the shell's 128 + SIGINT


class RedactingFormatter(logging.Formatter):
    """Log lines pass the same redaction as the database: no secret reaches a log."""

    def format(self, record: logging.LogRecord) -> str:
        from graph.redact import redact_text

        return redact_text(super().format(record))


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("driftgraph")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING - 10 * min(verbose, 2))


@click.group()
@click.version_option(__version__, prog_name="driftgraph")
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """Inventory AWS and tell, for every resource, which code owns it, what no code owns and what drifted."""
    _setup_logging(verbose)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def types(fmt: str) -> None:
    """List the resource-type catalog: what is listed, how, and how Terraform names it."""
    from graph.resource_types import catalog_as_dicts

    rows = catalog_as_dicts()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        tf = ", ".join(t["type"] for t in row["terraform_types"])
        click.echo(f"{row['type']:<45} {row['scope']:<11} {row['service']}.{row['list_call']:<32} {tf}")
    click.echo(f"{len(rows)} resource types")


@cli.command("iam-policy")
def iam_policy() -> None:
    """Print the minimal read-only IAM policy a scan needs (also shipped as docs/iam-policy.json)."""
    from scanner.permissions import policy_json

    click.echo(policy_json(), nl=False)


@cli.command()
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite database to write (appended).")
@click.option("--region", "regions", multiple=True, help="Region to scan (repeatable); default: every enabled region.")
@click.option("--tfstate", "tfstates", multiple=True, help="Terraform state: file, directory, glob or s3://bucket/prefix (repeatable).")
@click.option("--cfn-template", "cfn_templates", multiple=True, type=click.Path(exists=True),
              help="CloudFormation template file or directory (repeatable).")
@click.option("--profile", help="AWS profile (default: boto3's standard credential chain).")
@click.option("--ignore-file", type=click.Path(exists=True, dir_okay=False), help="Rules for resources to mark ignored.")
@click.option("--no-stacks", is_flag=True, help="Do not read CloudFormation stacks from the account.")
@click.option("--type", "types_", multiple=True, help="Only list this CloudFormation type (repeatable).")
@click.option("--workers", default=16, show_default=True, help="Concurrent listings.")
@click.option("--call-timeout", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds one AWS call may spend across its retries before it counts as failed.")
@click.option("-q", "--quiet", is_flag=True, help="No progress view on the terminal (there is none on a pipe or in CI).")
def scan(db, regions, tfstates, cfn_templates, profile, ignore_file, no_stacks, types_, workers, call_timeout,
         quiet) -> None:
    """Scan live AWS and the given IaC sources into the database (atomically: a failed scan writes nothing)."""
    from driftgraph.progress import scan_progress
    from driftgraph.scan import ScanOptions, run_scan
    from graph.resource_types import CATALOG
    from scanner.clients import RegionError, ScanCancelled, region_problems

    unknown = [t for t in types_ if t not in CATALOG]
    if unknown:
        raise click.BadParameter(f"not in the catalog: {', '.join(unknown)} (see `driftgraph types`)", param_hint="--type")
    regions = tuple(dict.fromkeys(regions))  # a region named twice is listed once
    problems = region_problems(regions)  # by shape, before any call; the account's own list is checked later
    if problems:
        raise click.BadParameter("; ".join(problems), param_hint="--region")
    options = ScanOptions(db, regions, tuple(tfstates), tuple(cfn_templates), profile, ignore_file,
                          not no_stacks, tuple(types_), workers, call_timeout)
    try:
        with scan_progress(quiet) as progress:
            result = run_scan(options, progress=progress)
    except (KeyboardInterrupt, ScanCancelled):
        click.echo("interrupted: the scan stopped, database left as it was", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # Not sys.exit: at exit the interpreter joins the pool's worker threads, and a worker blocked in a socket
        # read would hold the exit for up to its read timeout. Nothing is left to clean up: the scan transaction
        # was rolled back on the way out of run_scan and the kernel releases the database lock.
        os._exit(EXIT_INTERRUPTED)
    except RegionError as exc:
        raise click.BadParameter(str(exc), param_hint="--region") from exc
    except Exception as exc:  # fatal: report it plainly, the previous database is untouched
        from botocore.exceptions import BotoCoreError, ClientError

        from graph.redact import redact_text

        if isinstance(exc, (BotoCoreError, ClientError, OSError, ValueError)):
            raise click.ClickException(f"scan failed, database left as it was: {redact_text(str(exc))}") from exc
        raise
    click.echo(
        f"scan {result['id']} {result['status']}: {result['resource_count']} resources in account {result['account']}, "
        f"{len(result['regions'])} regions, {result['duration_seconds']} s; "
        f"{result['failed_listings']} failed listings, {result['errors']} errors/warnings -> {db}"
    )


@cli.command()
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="markdown", show_default=True)
@click.option("--scan", "scan_id", type=int, help="Scan id (default: the latest).")
@click.option("--fail-on", default="", help="Comma list of statuses (unmanaged,missing,conflict,unknown) or 'drift','errors': exit 3 when any is found.")
@click.option("-o", "--output", type=click.File("w"), default="-", help="Write here instead of stdout.")
def report(db, fmt, scan_id, fail_on, output) -> None:
    """Write the report of a scan as JSON (the driftgraph/report/1 contract) or Markdown."""
    from graph.report import build_report, render_markdown
    from graph.store import open_database

    try:
        data = build_report(open_database(db), scan_id)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    output.write(json.dumps(data, indent=2, sort_keys=False) + "\n" if fmt == "json" else render_markdown(data))
    wanted = {w.strip() for w in fail_on.split(",") if w.strip()}
    found = {s for s, n in data["summary"]["by_status"].items() if n and s in wanted}
    if "drift" in wanted and data["summary"]["drifted_resources"]:
        found.add("drift")
    if "errors" in wanted and (data["summary"]["errors"] or data["summary"]["failed_listings"]):
        found.add("errors")
    if found:
        click.echo(f"found: {', '.join(sorted(found))}", err=True)
        sys.exit(EXIT_FINDINGS)


@cli.command()
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--port", default=8001, show_default=True)
def serve(db, port) -> None:
    """Browse the database in Datasette, read-only, on 127.0.0.1."""
    from driftgraph.serve import serve as serve_datasette

    try:
        serve_datasette(db, port=port)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command()
@click.option("--db", default=".demo/driftgraph.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--no-serve", is_flag=True, help="Exit after writing the database instead of serving it.")
@click.option("--port", default=8001, show_default=True, help="Datasette port.")
def demo(db, no_serve, port) -> None:
    """Build the embedded demo estate in moto (server mode, loopback), scan it, summarise, and serve it."""
    from driftgraph.demo import run_demo

    run_demo(db, serve=not no_serve, port=port)


if __name__ == "__main__":  # pragma: no cover
    cli()
