"""The `driftgraph` command: a thin click shell over the library; each command calls one library function."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sqlite3
import sys

import click

from driftgraph import __version__
from driftgraph.config import env_var_name, tag_key
from graph.records import STATUSES

# Exit codes (documented in the README).
EXIT_OK = 0
EXIT_ERROR = 1  # fatal: nothing was written (bad credentials, unreadable ignore file, ...)
EXIT_USAGE = 2  # click's own: a wrong option
EXIT_FINDINGS = 3  # report --fail-on found what it was told to fail on
EXIT_INTERRUPTED = 130  # Ctrl-C: the shell's 128 + SIGINT
EXIT_TERMINATED = 143  # SIGTERM (a service manager, `kill`, CI cancelling a job): 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: every worker stops at its next call, the database is left as it was."""


def _terminate(_signum, _frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process outright
    raise Terminated()


class RedactingFormatter(logging.Formatter):
    """Log lines pass the same redaction as the database (no secret reaches a log) and show terminal controls
    as text (no name in a log line rewrites the terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        from graph.redact import redact_text
        from graph.report import printable

        return printable(redact_text(super().format(record)))  # a name's ESC sequence never reaches a terminal


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("driftgraph")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING - 10 * min(verbose, 2))


@click.group()
@click.version_option(__version__, prog_name="driftgraph")
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-vv for debug).")
@click.option("--config", "config_file", metavar="FILE", envvar="DRIFTGRAPH_CONFIG", show_envvar=True,
              help="Read the commands' defaults from this TOML file instead of ./driftgraph.toml (flags still win).")
@click.option("--no-config", is_flag=True, help="Read no configuration file, not even ./driftgraph.toml.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, config_file: str | None, no_config: bool) -> None:
    """Inventory AWS and tell, for every resource, which code owns it, what no code owns and what drifted.

    \b
    Examples:
      driftgraph demo --no-serve                      # the embedded demo, no AWS account needed
      driftgraph iam-policy --tfstate s3://tf-states/prod/ > policy.json
      driftgraph scan --db estate.db --region us-east-1 --tfstate infra/ \\
          --tfstate s3://tf-states/prod/ --cfn-template templates/@eu-west-1
      driftgraph report --db estate.db --format markdown --fail-on unmanaged,drift
      driftgraph serve --db estate.db

    Defaults for every command can come from driftgraph.toml (see the README's Configuration file).
    """
    _setup_logging(verbose)
    if no_config:
        if ctx.get_parameter_source("config_file") is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--config and --no-config cannot be combined: give one")
        return
    _apply_config(ctx, config_file)


def _apply_config(ctx: click.Context, config_file: str | None) -> None:
    """Lay driftgraph.toml (or --config FILE) onto the commands' defaults, and say which file was read."""
    from driftgraph.config import find_config, load_config
    from graph.report import printable

    if ctx.resilient_parsing:  # shell completion: no defaults needed, and no error to show
        return
    path = find_config(config_file)
    if path is None:
        return
    ctx.default_map = load_config(path, cli.commands).default_map
    click.echo(f"config: {printable(os.path.abspath(path))}", err=True)


def _from_config(name: str) -> bool:
    """Whether the running command's parameter `name` came from the configuration file."""
    return click.get_current_context().get_parameter_source(name) is click.core.ParameterSource.DEFAULT_MAP


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (through symlinks and hard links too)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _plain(error: BaseException) -> str:
    """An exception as a reader needs it: the OS's words and the file for an OSError, else its message."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    if isinstance(error, sqlite3.OperationalError) and "disk I/O error" in str(error):
        return f"{error} (is the disk full, or the file too large for this system?)"
    return str(error)


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
@click.option("--tfstate", "tfstates", multiple=True, metavar="s3://BUCKET/PREFIX|s3+workspaces://BUCKET/KEY",
              help="Also grant reading Terraform state under this S3 location (repeatable).")
@click.option("--cloudtrail", "trails", multiple=True, metavar="s3://BUCKET/PREFIX",
              help="Also grant reading CloudTrail log files a trail delivers under this prefix (`scan --cloudtrail`).")
@click.option("--partition", default="aws", show_default=True,
              help="AWS partition of the state buckets' and roles' ARNs (aws-cn, aws-us-gov, ...).")
@click.option("--role-name", metavar="NAME",
              help="Also grant sts:AssumeRole on this role in every account (`scan --org --role-name`).")
@click.option("--account-role", "account_roles", multiple=True, metavar="ARN",
              help="Also grant sts:AssumeRole on this role (`scan --account-role`, repeatable).")
def iam_policy(tfstates, trails, partition, role_name, account_roles) -> None:
    """Print the minimal read-only IAM policy a scan needs (also shipped as docs/iam-policy.json).

    It grants no S3 object reads: add `--tfstate s3://bucket/prefix` for each S3 location `scan --tfstate`
    reads, and the policy grants s3:GetObject under that prefix and s3:ListBucket for it, nothing more;
    `--cloudtrail s3://bucket/prefix` likewise for a trail's log files (under the prefix's AWSLogs/).
    A scan of several accounts: this policy goes on the role in each account (the same policy: reads only),
    and the identity that scans needs sts:AssumeRole on those roles: `--role-name NAME` or `--account-role ARN`
    add that statement."""
    import botocore.session

    from scanner.accounts import ROLE_NAME, role_arn_account
    from scanner.permissions import log_location, member_role_arn, parse_state_location, policy_json

    partitions = botocore.session.get_session().get_available_partitions()
    if partition not in partitions:
        raise click.BadParameter(f"{partition!r} is not one of {', '.join(partitions)}", param_hint="--partition")
    try:
        locations = [parse_state_location(url) for url in tfstates]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--tfstate") from None
    try:
        logs = [log_location(url) for url in trails]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--cloudtrail") from None
    if role_name is not None and not ROLE_NAME.fullmatch(role_name):
        raise click.BadParameter(f"{role_name!r} is not an IAM role name", param_hint="--role-name")
    for arn in account_roles:
        try:
            role_arn_account(arn)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--account-role") from None
    roles = [*account_roles, *([member_role_arn(role_name, partition)] if role_name else [])]
    click.echo(policy_json(locations, partition, logs, roles), nl=False)


SCAN_EPILOG = """\b
Examples:
  driftgraph scan --db estate.db --region us-east-1 --region eu-west-1 --tfstate infra/
  driftgraph scan --db estate.db --tfstate 'states/**/*.tfstate' --tfstate s3://tf-states/prod/
  driftgraph scan --db estate.db --cfn-template templates/ --cfn-template-region eu-west-1 --no-stacks
  driftgraph scan --db estate.db --type AWS::SQS::Queue --type AWS::SNS::Topic --ignore-file ops.ignore
  driftgraph scan --db org.db --org --role-name OrganizationAccountAccessRole --exclude-account 111122223333
  driftgraph scan --db two.db --profile prod --profile staging

\b
Ignore file (--ignore-file, else ./.driftgraphignore), gitignore-style: # comments, the last match decides:
  AWS::SQS::Queue:tmp-*      a type (CloudFormation or Terraform name, globs allowed) and a glob
  aws_s3_bucket:scratch-*    over the resource's id, ARN or name (* spans / and : too)
  *:arn:aws:sqs:*:*:test-*   any type
  tag:lifecycle=ephemeral    a tag and a glob over its value (tag:KEY alone: any value)
  !AWS::SQS::Queue:tmp-keep  ! takes back what an earlier rule ignored
  AWS::ECS::Service:*:desired_count   only the drift of this attribute (the resource keeps its status)

\b
Exit codes: 0 done (also a partial scan: its report says what failed), 1 fatal (nothing written),
2 wrong usage, 130 interrupted by Ctrl-C, 143 by SIGTERM (either way the database is left as it was).
"""


def _seconds(ctx, param, value: float) -> float:
    """A number of seconds that bounds something: `nan` and `inf` would bound nothing."""
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds")
    return value



def _cloudtrail_source(ctx, param, value: str) -> str:
    """`lookup`, `off`, or the s3://bucket/prefix of a trail's log files (checked as the IAM policy reads it)."""
    from scanner.permissions import log_location

    if value in ("lookup", "off"):
        return value
    if not value.startswith("s3://"):
        raise click.BadParameter(f"{value!r}: give lookup, off or s3://BUCKET/PREFIX")
    try:
        log_location(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


def _template_locations(ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    """A file that exists followed by an @ and no region name is a typo in the region, not a missing file."""
    import os

    from driftgraph.scan import REGION_NAME

    for location in values:
        path, at, region = location.rpartition("@")
        if at and path and not os.path.lexists(location) and os.path.lexists(path) and not REGION_NAME.fullmatch(region):
            shown = f"{region!r} is not a region name" if region else "no region after the @"
            raise click.BadParameter(f"{location}: {path} exists, but {shown} (PATH@REGION, e.g. {path}@us-east-1)")
    return values


@cli.command(epilog=SCAN_EPILOG)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite database to write (appended).")
@click.option("--region", "regions", multiple=True, help="Region to scan (repeatable); default: every enabled region.")
@click.option("--tfstate", "tfstates", multiple=True,
              help="Terraform state (repeatable): file, directory, glob, s3://bucket/prefix, s3+workspaces://bucket/key, "
                   "an http backend's https:// URL, tfc://[host/]org/workspace, or - for stdin (`terraform state pull`); "
                   "without it, --tf-dir code's backend blocks say where.")
@click.option("--cfn-template", "cfn_templates", multiple=True, metavar="PATH[@REGION]", callback=_template_locations,
              help="CloudFormation template file or directory, optionally with the region it is deployed to (repeatable).")
@click.option("--cfn-template-region", metavar="REGION",
              help="Region of the templates given without @REGION; without either, their resources are matched in any scanned region and never reported missing.")
@click.option("--tf-dir", "tf_dirs", multiple=True, metavar="DIR",
              help="Terraform code folder (repeatable, recursive, local modules followed): code not yet applied, import blocks.")
@click.option("--cdk-out", "cdk_outs", multiple=True, metavar="DIR",
              help="CDK cloud assembly (cdk.out folder, repeatable): matched to the deployed stacks (see CDK audit).")
@click.option("--profile", "profiles", multiple=True, metavar="NAME",
              help="AWS profile (default: boto3's standard credential chain); repeatable: each another account.")
@click.option("--org", is_flag=True,
              help="Scan every ACTIVE account of the organization (ListAccounts, from the management or a delegated "
                   "administrator account), assuming --role-name in each.")
@click.option("--role-name", metavar="NAME",
              help="With --org: the role to assume in each member account [default: OrganizationAccountAccessRole].")
@click.option("--account-role", "account_roles", multiple=True, metavar="ARN",
              help="Scan the account of this IAM role, assuming it (repeatable; the caller's own account only "
                   "when --org or a --profile names it).")
@click.option("--exclude-account", "exclude_accounts", multiple=True, metavar="ID",
              help="Leave this account out of --org, --account-role or --profile (repeatable).")
@click.option("--ignore-file", type=click.Path(exists=True, dir_okay=False),
              help="Rules for resources (or drifted attributes) to mark ignored, one a line (see below); "
                   "default: .driftgraphignore in the working directory, when there is one.")
@click.option("--no-ignore-file", is_flag=True, help="Read no ignore file, not even ./.driftgraphignore.")
@click.option("--no-stacks", is_flag=True, help="Do not read CloudFormation stacks from the account.")
@click.option("--maintenance/--no-maintenance", default=True, show_default=True,
              help="Read pending RDS and ElastiCache maintenance in each region (DescribePendingMaintenanceActions, "
                   "DescribeUpdateActions).")
@click.option("--type", "types_", multiple=True, help="Only list this CloudFormation type (repeatable).")
@click.option("--workers", default=32, show_default=True, type=click.IntRange(min=1),
              help="Threads listing at once (and as many for per-item calls), per process; AWS's rates are kept by "
                   "token buckets whatever the count.")
@click.option("--processes", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes each account's regions are split across (boto3's CPU per call is bound to one core "
                   "per process).")
@click.option("--max-input-mb", type=click.IntRange(min=1), metavar="N",
              help="Largest state or template file read, in MiB (default: 256 for states, 10 for templates).")
@click.option("--call-timeout", default=60.0, show_default=True, type=click.FloatRange(min=1), callback=_seconds,
              help="Seconds one AWS call may spend across its retries, reading its answer included, before it counts as failed.")
@click.option("--cloudtrail", default="lookup", show_default=True, metavar="lookup|off|s3://BUCKET/PREFIX",
              callback=_cloudtrail_source,
              help="Who made each new unmanaged resource: CloudTrail's event history (90 days, 2 calls a second a "
                   "region), a trail's log files under this S3 prefix, or off (see Who made it).")
@click.option("-q", "--quiet", is_flag=True, help="No progress view on the terminal (there is none on a pipe or in CI).")
def scan(db, regions, tfstates, cfn_templates, cfn_template_region, tf_dirs, cdk_outs, profiles, org, role_name,
         account_roles, exclude_accounts, ignore_file, no_ignore_file, no_stacks, maintenance, types_, workers,
         processes, max_input_mb, call_timeout, cloudtrail, quiet) -> None:
    """Scan live AWS and the given IaC sources into the database (atomically: a failed scan writes nothing)."""
    from driftgraph.progress import scan_progress
    from driftgraph.scan import ScanOptions, find_ignore_file, run_scan, summary_line
    from graph.resource_types import CATALOG
    from scanner.accounts import option_problems
    from scanner.clients import RegionError, ScanCancelled, region_problems
    from scanner.live import orphan_types

    unknown = [t for t in types_ if t not in CATALOG]
    if unknown:
        raise click.BadParameter(f"not in the catalog: {', '.join(unknown)} (see `driftgraph types`)", param_hint="--type")
    orphans = orphan_types(types_)  # a type listed per parent lists nothing without its parent
    if orphans:
        raise click.BadParameter("; ".join(orphans), param_hint="--type")
    if ignore_file and no_ignore_file:
        raise click.UsageError("--ignore-file and --no-ignore-file cannot be combined: give one")
    if not ignore_file and not no_ignore_file:
        ignore_file = find_ignore_file()  # the summary line names it: a file picked up unasked is never a surprise
    regions = tuple(dict.fromkeys(regions))  # a region named twice is listed once
    problems = region_problems(regions)  # by shape, before any call; the account's own list is checked later
    if problems:
        raise click.BadParameter("; ".join(problems), param_hint="--region")
    options = ScanOptions(db=db, regions=regions, tfstates=tuple(tfstates), cfn_templates=tuple(cfn_templates),
                          cfn_template_region=cfn_template_region, profiles=tuple(profiles), ignore_file=ignore_file,
                          live_stacks=not no_stacks, types=tuple(types_), workers=workers, processes=processes,
                          max_input_mb=max_input_mb,
                          call_timeout=call_timeout, cdk_outs=tuple(cdk_outs), tf_dirs=tuple(tf_dirs),
                          maintenance=maintenance, cloudtrail=cloudtrail, org=org, role_name=role_name,
                          account_roles=tuple(account_roles), exclude_accounts=tuple(dict.fromkeys(exclude_accounts)))
    accounts = options.account_options()
    problems = option_problems(accounts)  # nonsense is a usage error before any call
    if accounts.several and cdk_outs:
        problems.append("--cdk-out matches a cloud assembly to one account's stacks: scan the accounts with cloud "
                        "assemblies one at a time")
    if problems:
        raise click.UsageError("; ".join(problems))
    signal.signal(signal.SIGTERM, _terminate)
    try:
        with scan_progress(quiet) as progress:
            result = run_scan(options, progress=progress)
    except (KeyboardInterrupt, ScanCancelled) as stop:
        terminated = isinstance(stop, Terminated)
        click.echo(f"{'terminated (SIGTERM)' if terminated else 'interrupted'}: the scan stopped, database left as "
                   "it was", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # Not sys.exit: at exit the interpreter joins the pool's worker threads, and a worker blocked in a socket
        # read would hold the exit for up to its read timeout. Nothing is left to clean up: the scan transaction
        # was rolled back on the way out of run_scan and the kernel releases the database lock.
        os._exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    except RegionError as exc:
        raise click.BadParameter(str(exc), param_hint="--region") from exc
    except Exception as exc:  # fatal: report it plainly, the previous database is untouched
        from botocore.exceptions import BotoCoreError, ClientError

        from graph.redact import redact_text

        if isinstance(exc, (BotoCoreError, ClientError, OSError, ValueError, sqlite3.Error)):
            raise click.ClickException(f"scan failed, database left as it was: {redact_text(_plain(exc))}") from exc
        raise
    click.echo(summary_line(result, db))


def _write_output(text: str, output: str, what: str = "the report") -> None:
    try:
        if output == "-":
            click.echo(text, nl=False)
        else:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {what}: {_plain(exc)}") from exc


def _stream_output(produce, output: str, what: str = "the report") -> None:
    """What `produce(write)` writes, piece by piece, to `output` (- for stdout); errors as _write_output's."""
    try:
        if output == "-":
            produce(sys.stdout.write)
            sys.stdout.flush()
        else:
            with open(output, "w", encoding="utf-8") as handle:
                produce(handle.write)
    except OSError as exc:
        raise click.ClickException(f"cannot write {what}: {_plain(exc)}") from exc
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(str(exc)) from exc


def _document(db: str, output: str, build, *args, **kwargs):
    """What `build(database, *args)` makes of the database, for a command that writes it to `output`: never onto
    the database itself, and a database it cannot read is one clear error."""
    from graph.store import open_database

    if output != "-" and _same_file(output, db):
        raise click.BadParameter(f"{output} is the database itself: writing there would destroy it",
                                 param_hint="-o/--output")
    try:
        return build(open_database(db), *args, **kwargs)
    except (ValueError, FileNotFoundError, sqlite3.DatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc


FAIL_ON_FINDINGS = ("drift", "errors")
# what is new since the previous scan of the same accounts and regions (driftgraph diff): a CI gate that turns red
# only for what appeared, never for what was already there last week
FAIL_ON_NEW = {"new-unmanaged": "new_unmanaged", "new-missing": "new_missing", "new-conflict": "new_conflict",
               "new-drift": "new_drift"}


def _known_words(*known: str):
    """A click callback reading a comma list of `known` words, any case; a typo is a usage error, never a
    silent pass."""

    def read(ctx, param, value: str) -> frozenset[str]:
        words = {w.strip().lower() for w in (value or "").split(",") if w.strip()}
        unknown = sorted(words - set(known))
        if unknown:
            raise click.BadParameter(f"unknown: {', '.join(unknown)} (known: {', '.join(known)})")
        return frozenset(words)

    return read


def _setting(check):
    """A click callback running `check` (from driftgraph.config, which checks the file's values alike) on one
    value or each of a repeated option's; its ValueError is a usage error."""

    def read(ctx, param, value):
        if value is None:
            return None
        try:
            if isinstance(value, tuple):
                return tuple(dict.fromkeys(check(v) for v in value))  # a tag named twice is one tag
            return check(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None

    return read


def _percent(ctx, param, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a percentage")
    return value


def _weekly_settings(db: str, output: str, team_tag: str, required_tags: tuple[str, ...],
                     min_managed_percent: float | None, slack_webhook_env: str | None, github_issue: str | None):
    """The weekly summary's settings; its GitHub issue file is never the database nor the report's own output."""
    from driftgraph.config import WeeklySettings

    if github_issue is not None:
        for other, what in ((db, "the database itself: writing there would destroy it"),
                            (output, "the report's own output (-o)")):
            if other != "-" and _same_file(github_issue, other):
                raise click.BadParameter(f"{github_issue} is {what}", param_hint="--github-issue")
    return WeeklySettings(team_tag=team_tag, required_tags=tuple(required_tags), min_managed_percent=min_managed_percent,
                          slack_webhook_env=slack_webhook_env, github_issue=github_issue)


def _duration(ctx, param, value: str | None):
    """`--since 7d` as a timedelta; anything else is a usage error."""
    from graph.diff import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


REPORT_EPILOG = """\b
Examples:
  driftgraph report --db estate.db --format markdown --fail-on unmanaged,drift
  driftgraph report --db estate.db --since 7d --format html -o weekly.html
"""


@cli.command(epilog=REPORT_EPILOG)
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["json", "markdown", "html"]), default="markdown", show_default=True,
              help="html is always the weekly report (with no comparison unless --since is given).")
@click.option("--scan", "scan_id", type=click.IntRange(min=1, max=2**63 - 1), help="Scan id (default: the latest).")
@click.option("--since", callback=_duration, metavar="7d|24h|2w",
              help="The weekly report (driftgraph/weekly/1): coverage and its trend, what changed since the latest "
                   "scan finished at least this long before, oldest unmanaged, breakdowns, required tags.")
@click.option("--fail-on", default="", callback=_known_words(*STATUSES, *FAIL_ON_FINDINGS, *FAIL_ON_NEW), metavar="LIST",
              help="Comma list of statuses (unmanaged,missing,conflict,unknown), 'drift', 'errors', or what is new since the "
                   "previous scan of the same accounts and regions (new-unmanaged,new-missing,new-conflict,new-drift): "
                   "exit 3 when any is found.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="A file `driftgraph baseline` wrote: new-* then means absent from it (not from the previous scan), "
                   "and the report marks what it lists as baselined.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write here instead of stdout (never the database itself).")
@click.option("--team-tag", default="team", show_default=True, metavar="KEY", callback=_setting(tag_key),
              help="Tag whose value names a resource's team (the weekly report's breakdown by team).")
@click.option("--required-tag", "required_tags", multiple=True, metavar="KEY", callback=_setting(tag_key),
              help="Tag every resource must carry (repeatable): the weekly report lists those without it.")
@click.option("--min-managed-percent", type=click.FloatRange(0, 100), metavar="PERCENT", callback=_percent,
              help="Exit 3 when the scan's managed percentage is below this (0-100).")
@click.option("--slack-webhook-env", metavar="VAR", callback=_setting(env_var_name),
              help="Post the weekly summary to the Slack incoming webhook whose URL this environment variable holds "
                   "(the URL is a secret: never on a command line or in a file).")
@click.option("--github-issue", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the weekly summary here as a GitHub issue: its title on the first line, then the body.")
def report(db, fmt, scan_id, since, fail_on, baseline, output, team_tag, required_tags, min_managed_percent,
           slack_webhook_env, github_issue) -> None:
    """Write the report of a scan as JSON (the driftgraph/report/1 contract) or Markdown; with --since (or
    --format html), the weekly report (driftgraph/weekly/1) as JSON, Markdown or one self-contained HTML page.
    With --since, --slack-webhook-env and --github-issue deliver the weekly summary (without it, nothing is sent:
    a configuration file naming them leaves a plain report run alone)."""
    from graph.baseline import mark_baselined, render_baseline_markdown
    from graph.report import build_report, render_markdown, stream_report, write_report_json

    settings = _weekly_settings(db, output, team_tag, required_tags, min_managed_percent, slack_webhook_env,
                                github_issue)
    accepted = _read_baseline(baseline) if baseline else None  # a broken baseline fails before anything is written
    weekly = None
    if since is not None or fmt == "html":
        from graph.weekly import build_weekly

        accepts = [(f.kind, f.id, f.attribute) for f in accepted.lines] if accepted is not None else ()
        weekly = _document(db, output, build_weekly, since, team_tag=settings.team_tag,
                           required_tags=settings.required_tags, scan_id=scan_id, baseline=accepts)
    data = None
    if since is not None or fmt == "html":
        from graph.weekly_render import render_weekly_html, render_weekly_markdown

        render = {"json": lambda d: json.dumps(d, indent=2) + "\n", "markdown": render_weekly_markdown,
                  "html": render_weekly_html}[fmt]
        _write_output(render(weekly), output)
    elif fmt == "json" and accepted is None:
        # streamed from the database's cursors: memory does not grow with the number of resources
        data = _document(db, output, stream_report, scan_id)
        _stream_output(lambda write: (write_report_json(data, write), write("\n")), output)
    else:
        data = _document(db, output, build_report, scan_id)
        if accepted is not None:
            mark_baselined(data, accepted)
        if fmt == "json":
            text = json.dumps(data, indent=2, sort_keys=False) + "\n"
        else:
            text = render_markdown(data) + (render_baseline_markdown(data) if accepted is not None else "")
        _write_output(text, output)
    if since is not None:
        _deliver(weekly, settings)
    if not fail_on and settings.min_managed_percent is None:
        return
    if data is None:  # --fail-on judges the scan's report, whatever was written
        data = _document(db, output, build_report, scan_id)
        if accepted is not None:
            mark_baselined(data, accepted)
    found = {s for s, n in data["summary"]["by_status"].items() if n and s in fail_on}
    if "drift" in fail_on and data["summary"]["drifted_resources"]:
        found.add("drift")
    if "errors" in fail_on and (data["summary"]["errors"] or data["summary"]["failed_listings"]):
        found.add("errors")
    if accepted is not None:
        found |= _new_since_baseline(data, fail_on & set(FAIL_ON_NEW))
    else:
        found |= _new_findings(db, data, fail_on & set(FAIL_ON_NEW))
    managed = data["summary"]["managed_percent"]
    if settings.min_managed_percent is not None and managed is not None and managed < settings.min_managed_percent:
        click.echo(f"managed {managed}% is below --min-managed-percent {settings.min_managed_percent:g}%", err=True)
        found.add("coverage")
    if found:
        click.echo(f"found: {', '.join(sorted(found))}", err=True)
        sys.exit(EXIT_FINDINGS)


BASELINE_MAX_BYTES = 64 << 20  # a list of findings, one a line: far more than any estate has


def _read_baseline(location: str):
    """The baseline file's findings; a clear error naming the file (and line) when it cannot be read as one."""
    from graph.baseline import parse_baseline
    from importers.inputs import InputProblem, read_file

    try:
        data = read_file(location, BASELINE_MAX_BYTES)  # regular files only: a FIFO or /dev/zero never hangs
    except InputProblem as problem:
        raise click.ClickException(f"{location}: cannot read the baseline: {problem.reason}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise click.ClickException(f"{location}:{line}: not UTF-8 text (byte {data[error.start]:#04x}); "
                                   "a baseline is the text `driftgraph baseline` writes") from None
    try:
        return parse_baseline(text.splitlines(), location)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


def _new_since_baseline(report: dict, wanted: set[str]) -> set[str]:
    """The `new-*` words of `wanted` with a finding the baseline does not list; each such finding is named on
    stderr, so a red CI run says what to fix or accept."""
    from graph.baseline import FAIL_ON_KIND, finding_text, new_findings
    from graph.redact import redact_text

    new = new_findings(report, wanted)
    shown = 50  # a CI log, not the report: the report lists them all
    for finding in new[:shown]:
        click.echo(f"new since the baseline: {redact_text(finding_text(finding))}", err=True)
    if len(new) > shown:
        click.echo(f"... and {len(new) - shown} more new findings (see the report's baseline.new)", err=True)
    resolved = report["baseline"]["resolved"]
    if resolved:
        click.echo(f"{len(resolved)} baselined findings are no longer found: their lines in "
                   f"{report['baseline']['file']} can go", err=True)
    kinds = {f["kind"] for f in new}
    return {word for word in wanted if FAIL_ON_KIND[word] in kinds}


def _deliver(weekly: dict, settings) -> None:
    """The weekly summary to Slack and to a GitHub-issue file, as the settings ask; a failed post is one clear
    error (exit 1) after the report itself was written."""
    from driftgraph.notify import NotifyError, github_issue_markdown, post_slack, slack_message

    if settings.github_issue:
        _write_output(github_issue_markdown(weekly), settings.github_issue)
    try:
        url = settings.slack_webhook_url()
        if url:
            post_slack(url, slack_message(weekly))
            click.echo("weekly summary posted to Slack", err=True)
    except NotifyError as error:
        raise click.ClickException(f"Slack: {error}") from None


def _new_findings(db: str, report: dict, wanted: set[str]) -> set[str]:
    """The `new-*` words of `wanted` whose change the diff against the previous scan of the same accounts and
    regions lists. With no earlier scan every finding of `report` is new: a first run has nothing to compare with."""
    if not wanted:
        return set()
    from graph.diff import build_diff
    from graph.store import open_database

    try:
        changes = {c["change"] for c in build_diff(open_database(db), None, report["scan"]["id"])["changes"]}
    except ValueError:
        click.echo("no earlier scan of these accounts and regions: every finding counts as new", err=True)
        summary = report["summary"]
        changes = {f"new_{s}" for s in ("unmanaged", "missing", "conflict") if summary["by_status"].get(s)}
        changes |= {"new_drift"} if summary["drifted_resources"] else set()
    return {word for word in wanted if FAIL_ON_NEW[word] in changes}


BASELINE_EPILOG = """\b
Examples:
  driftgraph baseline --db estate.db -o driftgraph.baseline     # review it, commit it
  driftgraph report --db estate.db --fail-on new-unmanaged,new-drift --baseline driftgraph.baseline
"""


@cli.command(epilog=BASELINE_EPILOG)
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--scan", "scan_id", type=click.IntRange(min=1, max=2**63 - 1), help="Scan id (default: the latest).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
              help="The baseline file to write (- for stdout); an existing file only with --force.")
@click.option("--force", is_flag=True, help="Replace an existing baseline file.")
def baseline(db, scan_id, output, force) -> None:
    """Write a scan's findings (unmanaged, missing and conflict resources, drift per attribute) to a reviewable
    baseline file, one a line: `report --fail-on new-... --baseline FILE` then fails only for findings not in it."""
    from graph.baseline import render_baseline, report_findings
    from graph.report import build_report

    if output != "-" and os.path.lexists(output) and not force:
        raise click.ClickException(f"{output} exists: give --force to replace it (what it accepts would become "
                                   "exactly this scan's findings)")
    data = _document(db, output, build_report, scan_id)
    _write_output(render_baseline(data), output, "the baseline")
    kinds = [finding.kind for finding, _ in report_findings(data)]
    counts = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds)) or "none"
    click.echo(f"{len(kinds)} findings of scan {data['scan']['id']} ({counts}) written to {output}", err=True)
    if data["scan"]["status"] != "complete":
        click.echo(f"scan {data['scan']['id']} is {data['scan']['status']}: what its failed listings or unread "
                   "sources hid is not in the baseline, so it will count as new once found", err=True)


@cli.command()
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--from", "from_scan", type=click.IntRange(min=1, max=2**63 - 1),
              help="Scan to compare from (default: the previous scan of the same accounts and regions).")
@click.option("--to", "to_scan", type=click.IntRange(min=1, max=2**63 - 1), help="Scan to compare to (default: the latest).")
@click.option("--since", callback=_duration, metavar="7d|24h|2w",
              help="Compare from the latest scan finished at least this long before --to (not with --from).")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="markdown", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write here instead of stdout (never the database itself).")
def diff(db, from_scan, to_scan, since, fmt, output) -> None:
    """What changed between two scans (driftgraph/diff/1 as JSON): unmanaged, missing and conflicts new and
    resolved, drift that appeared or went away, deleted resources, coverage then and now, newly failed listings.
    Only what both scans covered is compared; a failed listing never reads as a deletion.

    \b
    Example:
      driftgraph diff --db estate.db --since 7d --format markdown -o weekly-diff.md
    """
    from graph.diff import build_diff, render_diff_markdown

    if from_scan is not None and since is not None:
        # one from driftgraph.toml yields to the other given on the command line: flags win over the file
        from_file = {name for name in ("from_scan", "since") if _from_config(name)}
        if from_file == {"since"}:
            since = None
        elif from_file == {"from_scan"}:
            from_scan = None
        else:
            raise click.UsageError("--from and --since cannot be combined: give one")
    data = _document(db, output, build_diff, from_scan, to_scan, since)
    text = json.dumps(data, indent=2) + "\n" if fmt == "json" else render_diff_markdown(data)
    _write_output(text, output)


def _keep(ctx, param, value: str):
    """`--keep 12w` (a duration) or `--keep 20` (a number of scans)."""
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    return _duration(ctx, param, value)


@cli.command()
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--keep", required=True, callback=_keep, metavar="12w|90d|20",
              help="Keep the scans finished within this long of the latest, or this many latest scans.")
@click.option("--dry-run", is_flag=True, help="Say what would go; change nothing.")
def prune(db, keep, dry_run) -> None:
    """Bound the database: drop older scans' own rows and every resource version no kept scan shows. The latest
    scan of every account and region is always kept, and so is each dropped scan's row (its time, for ages).

    \b
    Example:
      driftgraph prune --db estate.db --keep 12w
    """
    from graph.store import open_database, prune as prune_database, scans_to_keep

    try:
        database = open_database(db)
        keep_scans = scans_to_keep(database, **({"keep": keep} if isinstance(keep, int) else {"within": keep}))
        database.close()
        counts = prune_database(db, keep_scans, dry_run=dry_run)
    except (ValueError, OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"prune failed, database left as it was: {_plain(exc)}") from exc
    verb = "would drop" if dry_run else "dropped"
    click.echo(f"{verb} {counts['scans']} scans and {counts['versions']} resource versions; kept {len(keep_scans)} scans")


MERGE_EPILOG = """\b
Example (two jobs, one per region, each with its own database; then the merge):
  driftgraph scan --db us.db --region us-east-1 --tfstate infra/
  driftgraph scan --db eu.db --region eu-west-1 --tfstate infra/
  driftgraph merge estate.db us.db eu.db
"""


@cli.command(epilog=MERGE_EPILOG)
@click.argument("out", type=click.Path(dir_okay=False))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def merge(out, inputs) -> None:
    """Merge the databases of a scan split into jobs (by region or account) into OUT as one scan, the one a single
    scan of every place would have written: the latest scan of each IN, each region from the job that scanned
    it. OUT is created when absent and keeps its history (merge each week's jobs into the same OUT).

    Jobs must read the same IaC inputs. Two jobs that scanned the same region of an account, a file that is not
    a driftgraph database, or jobs older than what OUT already holds are errors (exit 1, OUT left as it was)."""
    from driftgraph import __version__ as version
    from graph.merge import MergeError, merge_jobs, write_merged
    from graph.redact import redact_text
    from graph.report import printable

    for path in inputs:
        if os.path.lexists(out) and _same_file(out, path):
            raise click.BadParameter(f"{path} is OUT itself: merge into another database", param_hint="IN")
    try:
        merged = merge_jobs(inputs)
        scan_id = write_merged(out, merged, version)
    except (MergeError, ValueError, OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"merge failed, {out} left as it was: {redact_text(_plain(exc))}") from exc
    for warning in merged.warnings:
        click.echo(printable(redact_text(f"warning: {warning}")), err=True)
    summary = merged.finish["summary"]["by_status"]
    click.echo(printable(
        f"scan {scan_id} {merged.finish['status']}: {merged.finish['resource_count']} resources "
        f"({summary.get('unmanaged', 0)} unmanaged, {summary.get('missing', 0)} missing) from {len(inputs)} databases, "
        f"accounts {', '.join(merged.scan['accounts']) or '-'}, regions {', '.join(merged.scan['regions']) or '-'}, "
        f"{len(merged.warnings)} warnings -> {out}"))


AUDIT_FAIL_ON = ("v1", "cycles", "unmet")


@cli.command("cdk-audit")
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["json", "markdown", "html"]), default="markdown", show_default=True)
@click.option("--scan", "scan_id", type=click.IntRange(min=1, max=2**63 - 1), help="Scan id (default: the latest).")
@click.option("--fail-on", default="", callback=_known_words(*AUDIT_FAIL_ON), metavar="LIST",
              help="Comma list of v1 (a CDK v1 stack is left), cycles (stacks that import from each other), unmet "
                   "(a stack reads what no scanned stack provides): exit 3 when any is found.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write here instead of stdout (never the database itself).")
def cdk_audit(db, fmt, scan_id, fail_on, output) -> None:
    """The CDK v1 migration worksheet: every stack's framework with its evidence, the dependencies between
    stacks, the waves to upgrade them in, and what blocks each v1 stack (driftgraph/cdk-audit/1 as JSON).

    \b
    Example:
      driftgraph cdk-audit --db estate.db --format html -o cdk-audit.html
    """
    from graph.cdk_audit import build_audit, render_audit_html, render_audit_markdown

    data = _document(db, output, build_audit, scan_id)
    render = {"json": lambda d: json.dumps(d, indent=2) + "\n", "markdown": render_audit_markdown,
              "html": render_audit_html}[fmt]
    _write_output(render(data), output)
    found = set()
    if "v1" in fail_on and data["summary"]["v1_stacks"]:
        found.add("v1")
    if "cycles" in fail_on and data["cycles"]:
        found.add("cycles")
    if "unmet" in fail_on and data["unmet"]:
        found.add("unmet")
    if found:
        click.echo(f"found: {', '.join(sorted(found))}", err=True)
        sys.exit(EXIT_FINDINGS)


def _renderers() -> dict:
    """Format -> renderer(groups, blockers, codification) -> {relative path: text}."""
    from graph.codify_cloudformation import render_cdk, render_cloudformation
    from graph.codify_terraform import render_terraform

    return {"terraform": render_terraform, "cloudformation": render_cloudformation, "cdk": render_cdk}


def renderer_for(fmt: str, renderers: dict):
    """The writer of `fmt`; a usage error, before anything is read or written, when it is not built yet."""
    renderer = renderers.get(fmt)
    if renderer is None:
        built = ", ".join(sorted(k for k, v in renderers.items() if v))
        raise click.UsageError(f"--format {fmt}: not built yet (built: {built})")
    return renderer


CODIFY_TOOLS = {"terraform": "terraform", "cloudformation": "cloudformation", "cdk": "cloudformation"}


def _tag_filters(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, eq, wanted = value.partition("=")
        if not eq or not key:
            raise click.BadParameter(f"{value}: give KEY=VALUE")
        tags[key] = wanted
    return tags


def write_files(out: str, files: dict[str, str], force: bool) -> None:
    """Write `files` under `out`, never outside it; a non-empty `out` is refused unless `force`."""
    from pathlib import Path

    root = Path(out)
    if root.exists() and not root.is_dir():
        raise click.BadParameter(f"{out} is not a folder", param_hint="--out")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise click.BadParameter(f"{out} is not empty: give an empty or new folder, or --force to write over files "
                                 "of the same names", param_hint="--out")
    root.mkdir(parents=True, exist_ok=True)
    real_root = root.resolve()
    for relative, text in files.items():
        target = (root / relative)
        resolved = target.parent.resolve() / target.name
        if Path(relative).is_absolute() or ".." in Path(relative).parts or real_root not in resolved.parents:
            raise click.ClickException(f"refusing to write {relative}: outside {out}")
        resolved.parent.mkdir(parents=True, exist_ok=True)
        if resolved.is_symlink():
            raise click.ClickException(f"refusing to write {relative}: a symbolic link")
        resolved.write_text(text, encoding="utf-8")


CODIFY_EPILOG = """\b
Examples:
  driftgraph codify --db estate.db --format terraform --out codified/
  driftgraph codify --db estate.db --format terraform --out bastion/ --around i-0abc123 --depth 2
  driftgraph codify --db estate.db --format terraform --out ops/ --tag team=ops --group-by vpc
"""


@cli.command(epilog=CODIFY_EPILOG)
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["terraform", "cloudformation", "cdk"]), required=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write (new or empty).")
@click.option("--scan", "scan_id", type=click.IntRange(min=1, max=2**63 - 1), help="Scan id (default: the latest).")
@click.option("--status", "statuses", multiple=True, help="Codify resources of this status (repeatable; default unmanaged; also unknown, ignored, child).")
@click.option("--type", "types_", multiple=True, help="Only this type, CloudFormation or Terraform name (repeatable).")
@click.option("--tag", "tags", multiple=True, callback=_tag_filters, metavar="K=V", help="Only resources with this tag (repeatable: all must hold).")
@click.option("--account", "accounts", multiple=True, help="Only this account (repeatable).")
@click.option("--region", "regions", multiple=True, help="Only this region (repeatable; IAM and other global resources are region 'global').")
@click.option("--group-by", "by", default="component", show_default=True, metavar="component|vpc|tag:KEY|none",
              help="How resources are put in folders.")
@click.option("--around", metavar="ID", help="Only this resource (id, ARN, natural id or name) and its neighbours.")
@click.option("--depth", default=1, show_default=True, type=click.IntRange(min=0), help="Hops from --around.")
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
def codify(db, fmt, out, scan_id, statuses, types_, tags, accounts, regions, by, around, depth, force) -> None:
    """Write code that adopts the resources no code owns: per group a folder with Terraform `import` blocks and
    draft resources (never a resource owned by a tool, AWS-made, a child of an owned one; never a secret)."""
    from graph.codify import codify as plan_codify, written_counts
    from graph.store import open_database

    renderer = renderer_for(fmt, _renderers())
    try:
        result = plan_codify(open_database(db), scan_id, tool=CODIFY_TOOLS[fmt], statuses=statuses or ("unmanaged",),
                             types=types_, tags=tags, accounts=accounts, regions=regions, by=by, around=around,
                             depth=depth)
    except (ValueError, FileNotFoundError, sqlite3.DatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc
    files = renderer(result.groups, result.blockers, result)
    write_files(out, files, force)
    resources, blocked = written_counts(files, result)
    click.echo(f"{len(result.groups)} groups, {resources} resources, {blocked} blockers, "
               f"{len(result.pending)} pending written to {out}")


@cli.command()
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["json", "markdown", "html"]), default="markdown", show_default=True)
@click.option("--scan", "scan_id", type=click.IntRange(min=1, max=2**63 - 1), help="Scan id (default: the latest).")
@click.option("--group-by", "by", default="component", show_default=True, metavar="component|vpc|tag:KEY|none",
              help="Groups, as codify makes them.")
@click.option("--around", metavar="ID", help="Only this resource (id, ARN, natural id or name) and its neighbours.")
@click.option("--depth", default=1, show_default=True, type=click.IntRange(min=0), help="Hops from --around.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write here instead of stdout (never the database itself).")
def plan(db, fmt, scan_id, by, around, depth, output) -> None:
    """The migration worksheet (driftgraph/plan/1 as JSON): what no code owns, in the groups codify writes, each
    resource's import id and owner hints, what cannot be imported, and the files codify writes per group."""
    from graph.migration_plan import build_plan, render_plan_html, render_plan_markdown

    data = _document(db, output, build_plan, scan_id, by=by, around=around, depth=depth)
    render = {"json": lambda d: json.dumps(d, indent=2) + "\n", "markdown": render_plan_markdown,
              "html": render_plan_html}[fmt]
    _write_output(render(data), output)


@cli.command()
@click.option("--db", required=True, type=click.Path(), help="The database `driftgraph scan` wrote.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1; 0 takes a free one (the URL printed says which).")
def serve(db, port) -> None:
    """Browse the database in Datasette, read-only, on 127.0.0.1; a new scan shows on the next page load."""
    from driftgraph.serve import ServeError, serve as serve_datasette

    try:
        serve_datasette(db, port=port)
    except (FileNotFoundError, ValueError, ServeError) as exc:  # NotADriftgraphDatabase is a ValueError
        raise click.ClickException(str(exc)) from exc


@cli.command()
@click.option("--db", default=".demo/driftgraph.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--no-serve", is_flag=True, help="Exit after writing the database instead of serving it.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Datasette port (0: any free port).")
@click.option("--force", is_flag=True, help="Replace --db even when it is not a demo database.")
def demo(db, no_serve, port, force) -> None:
    """Build the embedded demo estate in moto (server mode, loopback), scan it, summarise, and serve it.

    A database an earlier demo made is replaced; any other file at --db is refused unless --force."""
    from driftgraph.demo import run_demo
    from driftgraph.serve import ServeError

    try:
        run_demo(db, serve=not no_serve, port=port, force=force)
    except ServeError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":  # pragma: no cover
    cli()
