"""The accounts one scan covers, and a session in each: the caller's own, a profile's, or a role assumed there.

`--org` lists the organization's ACTIVE accounts (Organizations ListAccounts, answered in the management account
or a delegated administrator's) and assumes `--role-name` in each; the account the caller is in is scanned with the
caller's own credentials, never through a role assumed into itself (the management account has no
OrganizationAccountAccessRole). `--account-role ARN` and `--profile P` add one account each, and name how to reach
an organization's member in place of `--role-name`. `--exclude-account` leaves accounts out. An account that
cannot be reached (its role cannot be assumed, its profile gives no working credentials, its regions cannot be
read) is that account's failure, recorded and reported, never the scan's end.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Iterable

from botocore.exceptions import BotoCoreError, ClientError

from graph.records import GLOBAL, Listing
from graph.resource_types import CATALOG, RESOURCE_TYPES
from scanner.clients import ACCOUNT_ID, NOT_OPTED_IN, AwsSession, RegionError, home_region, region_problems
from scanner.live import Failure, classify_failure

log = logging.getLogger("driftgraph.scanner")

DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"  # what Organizations makes in the accounts it creates
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
# arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME (a path's parts are printable ASCII, IAM's own rule)
ROLE_ARN = re.compile(r"arn:(aws(?:-[a-z]+)*):iam::(\d{12}):role/((?:[\x21-\x2e\x30-\x7e]+/)*)([\w+=,.@-]{1,64})")
ACTIVE = "ACTIVE"

# How an account is reached: the call that failed when it is not.
ASSUME_ROLE, IDENTITY, REGIONS = "AssumeRole", "GetCallerIdentity", "DescribeRegions"
CALL_SOURCES = {ASSUME_ROLE: "aws:sts:AssumeRole", IDENTITY: "aws:sts:GetCallerIdentity",
                REGIONS: "aws:ec2:DescribeRegions"}


class AccountsError(ValueError):
    """The accounts to scan cannot be known (the organization cannot be listed, one account named twice): fatal,
    since no scan of an unknown set of accounts can say it is whole."""


@dataclass(frozen=True)
class AccountOptions:
    """The scan's account options as given; `several` when they name accounts beyond the caller's one."""

    org: bool = False
    role_name: str | None = None
    account_roles: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def several(self) -> bool:
        return self.org or bool(self.account_roles) or len(self.profiles) > 1


def role_arn_account(arn: str) -> str:
    """The account an IAM role ARN is in; ValueError when `arn` is not one."""
    match = ROLE_ARN.fullmatch(arn)
    if not match:
        raise ValueError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
    return match.group(2)


def option_problems(options: AccountOptions) -> list[str]:
    """What makes no sense in the account options, each said plainly (the CLI's usage errors)."""
    problems = []
    if options.role_name is not None:
        if not options.org:
            problems.append("--role-name names the role to assume in each account of --org: give --org too "
                            "(or --account-role ARN for one account)")
        if not ROLE_NAME.fullmatch(options.role_name):
            problems.append(f"--role-name {options.role_name!r} is not an IAM role name (letters, digits and +=,.@_-, "
                            "at most 64)")
    by_account: dict[str, str] = {}
    for arn in options.account_roles:
        try:
            account = role_arn_account(arn)
        except ValueError as error:
            problems.append(f"--account-role {error}")
            continue
        if account in by_account:
            problems.append(f"--account-role: account {account} is named twice ({by_account[account]} and {arn})"
                            if by_account[account] != arn else f"--account-role {arn} is given twice")
        by_account.setdefault(account, arn)
        if account in options.exclude:
            problems.append(f"account {account} is both given (--account-role {arn}) and excluded (--exclude-account)")
    seen = set()
    for profile in options.profiles:
        if profile in seen:
            problems.append(f"--profile {profile} is given twice")
        seen.add(profile)
    for account in options.exclude:
        if not ACCOUNT_ID.fullmatch(account):
            problems.append(f"--exclude-account {account!r} is not an account id (12 digits)")
    if options.exclude and not options.several:
        problems.append("--exclude-account leaves accounts out of a scan of several (--org, --account-role, or more "
                        "than one --profile)")
    return problems


@dataclass
class ScanAccount:
    """One account of the scan: how it is reached and, once tried, its session, identity and regions, or why not."""

    via: str  # "the caller's credentials", "profile NAME", "role ARN"
    account: str | None  # known before any call for a role (and a role or SSO profile); else from STS
    session: AwsSession | None = None
    identity: dict | None = None
    regions: list[str] = field(default_factory=list)
    failure: Failure | None = None
    failed_call: str | None = None  # AssumeRole, GetCallerIdentity or DescribeRegions
    # regions asked for (--region) that are not enabled in this account: not scanned there
    regions_not_enabled: list[str] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        return self.failure is None and self.session is not None

    @property
    def partition(self) -> str:
        return (self.identity or {}).get("partition", "aws")

    def why_not_reached(self) -> str:
        failure = self.failure
        return f"{self.failed_call} failed ({failure.code}: {failure.message}) for {self.via}" if failure else ""


def organization_accounts(session: AwsSession) -> list[dict]:
    """The organization's accounts (Id, Name, State), every page; AccountsError saying why when they cannot be
    listed."""
    try:
        pages = session.client("organizations").get_paginator("list_accounts").paginate()
        listed = [account for page in pages for account in page.get("Accounts") or []]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "AWSOrganizationsNotInUseException":
            raise AccountsError("--org: the caller's account is in no organization (AWSOrganizationsNotInUse)") from None
        if "AccessDenied" in code:
            raise AccountsError("--org: ListAccounts was denied: run it with credentials of the management account or "
                                "of a delegated administrator, allowed organizations:ListAccounts "
                                f"({classify_failure(error).message})") from None
        raise AccountsError(f"--org: ListAccounts failed ({classify_failure(error).code}: "
                            f"{classify_failure(error).message})") from None
    except BotoCoreError as error:
        raise AccountsError(f"--org: ListAccounts failed ({classify_failure(error).message})") from None
    if not listed:  # the management account is always one of its organization's: an answer that lists none is no answer
        raise AccountsError("--org: ListAccounts listed no account, not even the management account")
    accounts = []
    for account in listed:
        if not isinstance(account, dict) or not ACCOUNT_ID.fullmatch(str(account.get("Id") or "")):
            raise AccountsError("--org: ListAccounts answered an account without an account id")
        # `State` is the newer field; `Status` its deprecated form, all some answers carry
        accounts.append({"Id": account["Id"], "Name": account.get("Name"),
                         "State": account.get("State") or account.get("Status")})
    return accounts


def _fail(target: ScanAccount, call: str, failure: Failure | Exception) -> ScanAccount:
    target.failure = failure if isinstance(failure, Failure) else classify_failure(failure)
    target.failed_call, target.session = call, None
    log.warning("account %s not reached: %s", target.account or target.via, target.why_not_reached())
    return target


def _regions(target: ScanAccount, asked: tuple[str, ...]) -> None:
    """The account's regions: every enabled one, or those asked for that it has enabled. A name that is no region
    of the account's partition is the usage error it is in a scan of one account (RegionError); one this account
    has not enabled is left out here, and said (another account may have it)."""
    session = target.session
    if not asked:
        target.regions = session.enabled_regions()
        return
    asked = list(dict.fromkeys(asked))
    try:
        statuses: dict[str, str] | None = session.region_statuses()
    except (ClientError, BotoCoreError) as exc:
        log.warning("account %s: cannot list its regions (%s); checking region names by their shape only",
                    target.account, exc)
        statuses = None
    problems = region_problems([r for r in asked if statuses is not None and r not in statuses], statuses)
    if problems:
        raise RegionError("; ".join(problems))
    target.regions_not_enabled = [r for r in asked if statuses is not None and statuses[r] == NOT_OPTED_IN]
    target.regions = [r for r in asked if r not in target.regions_not_enabled]


def _reach(target: ScanAccount, asked_regions: tuple[str, ...]) -> ScanAccount:
    """Identity and regions of an account whose session is made; a failure is the account's."""
    try:
        target.identity = target.session.identity()
    except (ClientError, BotoCoreError) as error:
        return _fail(target, IDENTITY, error)
    if target.account is not None and target.identity["account"] != target.account:
        # a role ARN names its account: credentials for another would list that account as this one
        return _fail(target, IDENTITY, Failure("error", "WrongAccount", f"the credentials are for account "
                                                                        f"{target.identity['account']}"))
    target.account = target.identity["account"]
    try:
        _regions(target, asked_regions)
    except (ClientError, BotoCoreError) as error:
        return _fail(target, REGIONS, error)
    if not target.regions:
        return _fail(target, REGIONS, Failure("error", "RegionNotEnabled", "none of the regions asked for ("
                                              f"{', '.join(target.regions_not_enabled)}) is enabled in the account"))
    return target


def _assumed(base: AwsSession, target: ScanAccount, role_arn: str, asked_regions: tuple[str, ...]) -> ScanAccount:
    try:
        target.session = base.assume_role(role_arn)
    except (ClientError, BotoCoreError) as error:
        return _fail(target, ASSUME_ROLE, error)
    return _reach(target, asked_regions)


def reach_accounts(options: AccountOptions, base: AwsSession, asked_regions: tuple[str, ...] = ()) -> list[ScanAccount]:
    """Every account the options name, each with its session, identity and regions, or the failure that kept it
    out; in the order: the organization's accounts by id, then --account-role, then --profile.

    A scan of one account (no --org, no --account-role, at most one --profile) is `base` alone, and any failure
    there is fatal, as it always was. AccountsError when the accounts cannot be known or one is named twice."""
    if not options.several:
        target = ScanAccount(f"profile {options.profiles[0]}" if options.profiles else "the caller's credentials",
                             None, session=base)
        target.identity = base.identity()
        target.account = target.identity["account"]
        target.regions = base.check_regions(asked_regions) if asked_regions else base.enabled_regions()
        return [target]
    excluded = set(options.exclude)
    explicit: dict[str, ScanAccount] = {}

    def claim(target: ScanAccount) -> None:
        if target.account in explicit:
            raise AccountsError(f"account {target.account} is named twice: by {explicit[target.account].via} and by "
                                f"{target.via}; give one")
        explicit[target.account] = target

    profiles = []
    for profile in options.profiles:
        session = AwsSession(profile, home_region(asked_regions), base.call_timeout, base.max_pages, rates=base.rates)
        # the account a role or SSO profile names: known even if its credentials fail
        target = ScanAccount(f"profile {profile}", session.configured_account, session=session)
        _reach(target, asked_regions)
        if target.account is not None and target.account in excluded:
            continue
        if target.account is not None:
            claim(target)
        profiles.append(target)
    caller = base.identity() if options.org or options.account_roles else None
    roles = []
    for arn in options.account_roles:
        target = ScanAccount(f"role {arn}", role_arn_account(arn))
        claim(target)
        roles.append(_assumed(base, target, arn, asked_regions))
    members = []
    if options.org:
        listed = organization_accounts(base)
        inactive = sorted(a["Id"] for a in listed if a["State"] != ACTIVE)
        if inactive:
            log.info("--org: left out, not ACTIVE: %s", ", ".join(inactive))
        unknown_exclusions = excluded - {a["Id"] for a in listed} - {t.account for t in profiles}
        if unknown_exclusions:
            log.warning("--exclude-account %s: not an account of the organization", ", ".join(sorted(unknown_exclusions)))
        role_name = options.role_name or DEFAULT_ROLE_NAME
        for account in sorted(listed, key=lambda a: a["Id"]):
            number = account["Id"]
            if account["State"] != ACTIVE or number in excluded or number in explicit:
                continue
            if number == caller["account"]:
                target = ScanAccount("the caller's credentials", number, session=base)
                members.append(_reach(target, asked_regions))
                continue
            arn = f"arn:{caller['partition']}:iam::{number}:role/{role_name}"
            members.append(_assumed(base, ScanAccount(f"role {arn}", number), arn, asked_regions))
    return [*members, *roles, *profiles]


def unreached_listings(account: str, failure: Failure, failed_call: str, regions: Iterable[str],
                       types: Iterable[str] | None = None) -> list[Listing]:
    """A failed listing for every type the scan lists, in each region given (the global ones once, in `global`):
    what the account has there is unknown, and what an earlier scan saw there stays as last seen."""
    rows = [CATALOG[t] for t in dict.fromkeys(types)] if types else list(RESOURCE_TYPES)
    regions = list(dict.fromkeys(r for r in regions if r and r != GLOBAL))
    message = f"account not reached: {failed_call} failed ({failure.message})"
    listings = []
    for row in rows:
        for region in (regions if row.scope == "regional" else [GLOBAL]):
            listings.append(Listing(account, region, row.type, failure.outcome, 0, failure.code, message))
    return listings
