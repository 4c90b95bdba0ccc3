"""Delivery of the weekly summary (driftgraph/weekly/1): a Slack incoming-webhook message and a GitHub issue in
Markdown. Names come from AWS and state files, so both show them as text: never a mention, a link or markup."""

from __future__ import annotations

import http.client
import json
import re
import socket
import urllib.error
import urllib.request
from typing import Any, Iterable
from urllib.parse import urlsplit

from driftgraph import __version__
from graph.redact import redact_text
from graph.report import printable

TOP_ITEMS = 5  # new items named in the Slack message; the rest are counted
NAME_LIMIT = 150  # characters of one name shown; a longer one is cut with an ellipsis
MESSAGE_LIMIT = 200  # characters of one error message shown
SLACK_TEXT_LIMIT = 3000  # Slack refuses a section whose text is longer
GITHUB_BODY_LIMIT = 60_000  # GitHub refuses an issue body over 65,536 characters
VISIBLE_ITEMS = 10  # items of a list shown before the rest fold into <details>
LIST_CAPS = (100, 50, 20, 10, 5)  # items per list, tried in turn until the issue body fits GitHub's limit

NEW_CHANGES = ("new_unmanaged", "new_missing", "new_conflict", "new_drift")
CHANGE_WORDS = {"new_unmanaged": "new unmanaged", "new_missing": "newly missing", "new_conflict": "new conflict",
                "new_drift": "new drift"}
CHANGE_TITLES = {"new_unmanaged": "New unmanaged resources", "new_missing": "Newly missing resources",
                 "new_conflict": "New conflicts", "new_drift": "New drift"}
CHANGE_HINTS = {"new_unmanaged": "No code owns these: adopt each into code (`driftgraph codify`), delete it, or "
                                 "ignore it on purpose.",
                "new_missing": "Code declares these but they were not found live.",
                "new_conflict": "More than one owner claims each of these.",
                "new_drift": "The live value differs from the declared one."}


class NotifyError(Exception):
    """The summary could not be delivered; the message never holds the webhook URL."""


# --- Slack ----------------------------------------------------------------------------------------------------


def slack_text(value: Any, limit: int = NAME_LIMIT) -> str:
    """`value` as Slack mrkdwn text: &, < and > escaped (so `<!channel>` or `<http://x|y>` stays text, as Slack
    asks), line breaks and acting characters made visible, cut to `limit` characters."""
    text = _one_line(value, limit)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_code(value: Any, limit: int = NAME_LIMIT) -> str:
    """`value` as inline code, so `*bold*` or `_x_` in a name stays literal; plain escaped text when it holds a
    backtick, which Slack cannot put inside code."""
    text = slack_text(value, limit)
    if not text.strip():
        return "_(none)_"
    return text if "`" in text else f"`{text}`"


def slack_message(weekly: dict) -> dict:
    """The Slack incoming-webhook payload (Block Kit, with a plain fallback) of a driftgraph/weekly/1 document:
    coverage and its change, the new findings and the first few of them, what could not be listed."""
    headline = weekly.get("headline") or {}
    scan = weekly.get("scan") or {}
    diff = weekly.get("diff")
    summary = (diff or {}).get("summary") or {}
    title = f"driftgraph weekly: {_percent(headline.get('managed_percent'))} managed"

    lines = [f"*Coverage:* {_percent(headline.get('managed_percent'))} managed {_coverage_change(weekly)}",
             "*Now:* " + " · ".join(f"{_count(headline.get(k))} {w}" for k, w in _NOW)]
    if diff:
        lines.append(f"*New since scan {_count((weekly.get('from_scan') or {}).get('id'))}:* "
                     + " · ".join(f"{_count(summary.get(k))} {w}" for k, w in _NEW)
                     + "   _resolved:_ " + " · ".join(f"{_count(summary.get(k))} {w}" for k, w in _RESOLVED))
    else:
        lines.append("*New:* no earlier scan of these accounts and regions to compare with")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": False}},
        _section("\n".join(lines)),
    ]

    new_items = _new_changes(diff)
    if new_items:
        shown = [f"• {CHANGE_WORDS[c['change']]}: {_slack_item(c)}" for c in new_items[:TOP_ITEMS]]
        if len(new_items) > TOP_ITEMS:
            shown.append(f"…and {len(new_items) - TOP_ITEMS} more (see the GitHub issue or `driftgraph diff`)")
        blocks.append(_section("\n".join(shown)))

    required = weekly.get("required_tags") or {}
    if required.get("tags"):
        blocks.append(_section(f"*Missing required tags* ({', '.join(slack_text(t, 60) for t in required['tags'])}):"
                               f" {_plural(required.get('count'), 'resource')}"))
    blocks.append(_section(_slack_not_listed(weekly.get("not_listed") or [], scan.get("status"))))
    blocks.append({"type": "context", "elements": [{
        "type": "mrkdwn", "verbatim": True,
        "text": f"scan {_count(scan.get('id'))}, finished {slack_text(scan.get('finished_at') or 'unknown', 40)}"
                f" · generated {slack_text(weekly.get('generated_at') or 'unknown', 40)} by driftgraph"}]})
    fallback = (f"{title} ({_coverage_change(weekly).strip('()')}); "
                + ", ".join(f"{_count(summary.get(k))} {CHANGE_WORDS[k]}" for k in NEW_CHANGES if diff))
    # no link or media preview: a URL inside a resource name must not make Slack fetch it
    return {"text": fallback.rstrip("; "), "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


_NOW = (("resources", "resources"), ("unmanaged", "unmanaged"), ("missing", "missing"), ("conflict", "conflict"),
        ("drifted", "drifted"), ("unknown", "unknown"))
_NEW = (("new_unmanaged", "unmanaged"), ("new_missing", "missing"), ("new_conflict", "conflict"),
        ("new_drift", "drift"))
_RESOLVED = (("resolved_unmanaged", "unmanaged"), ("resolved_missing", "missing"),
             ("resolved_conflict", "conflict"), ("resolved_drift", "drift"))


def _section(text: str) -> dict:
    # verbatim: Slack neither links URLs nor turns @here or #channel typed in a name into mentions
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SLACK_TEXT_LIMIT], "verbatim": True}}


def _slack_item(change: dict) -> str:
    where = f"{slack_text(change.get('account') or '?', 40)} {slack_text(change.get('region') or '?', 40)}"
    text = f"{slack_code(change.get('name') or change.get('id'))} ({slack_text(change.get('type'), 80)}, {where})"
    if change.get("change") == "new_drift" and change.get("attribute"):
        text += f" {slack_code(change['attribute'], 80)}"
    return text


def _slack_not_listed(not_listed: list[dict], status: str | None) -> str:
    if not not_listed:
        return "*Could not list:* nothing: every listing answered" + (
            "" if status in (None, "complete") else f" (scan {slack_text(status, 20)})")
    shown = "; ".join(f"{slack_text(n.get('type'), 80)} in {slack_text(n.get('account') or '?', 40)}/"
                      f"{slack_text(n.get('region') or '?', 40)}: {slack_text(n.get('outcome'), 40)}"
                      for n in not_listed[:3])
    more = f" and {len(not_listed) - 3} more" if len(not_listed) > 3 else ""
    return (f"*Could not list:* {_plural(len(not_listed), 'listing')} ({shown}{more}): what they hold is unknown "
            "this week")


def check_webhook_url(url: str) -> None:
    """An https URL (plain http only to this machine, as a test server is); the error never repeats the URL."""
    from importers.terraform_backends import is_loopback

    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise NotifyError("the webhook URL is not a URL") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and is_loopback(host):
        return
    raise NotifyError("the webhook URL is not an https:// URL")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would reach another address, or arrive as a GET without the message: never followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def post_slack(url: str, payload: dict, timeout: float = 10) -> None:
    """POST `payload` as JSON to a Slack incoming webhook. Anything but a 2xx answer, no answer within `timeout`
    seconds (for the connection and for each read), or a redirect is a NotifyError; the URL is never shown."""
    check_webhook_url(url)
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": f"driftgraph/{__version__}"})
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=timeout) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        detail = _answer_detail(error, url)
        if 300 <= error.code < 400:
            raise NotifyError(f"Slack answered HTTP {error.code}, a redirect (not followed): the message was not "
                              "delivered; check the webhook URL") from None
        raise NotifyError(f"Slack refused the message: HTTP {error.code}{detail}") from None
    except (TimeoutError, socket.timeout):
        raise NotifyError(f"no answer from Slack within {timeout:g} s: the message may not have been delivered") \
            from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, (TimeoutError, socket.timeout)):
            raise NotifyError(f"no answer from Slack within {timeout:g} s: the message was not delivered") from None
        raise NotifyError(f"could not reach Slack: {_scrub(str(error.reason), url)}") from None
    except (http.client.HTTPException, OSError) as error:
        raise NotifyError(f"could not reach Slack: {_scrub(str(error) or type(error).__name__, url)}") from None
    if not 200 <= status < 300:
        raise NotifyError(f"Slack answered HTTP {status}: the message was not delivered")


def _answer_detail(error: urllib.error.HTTPError, url: str) -> str:
    """Slack's short reason (`no_service`, `invalid_payload`) from the answer's first bytes, if any."""
    try:
        text = error.read(MESSAGE_LIMIT).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException):
        text = ""
    text = _scrub(text, url) if text else (error.reason or "")
    return f": {text}" if text else ""


def _scrub(text: str, url: str) -> str:
    """A message as shown: never the webhook URL or its path (the path is the secret), never a control."""
    parts = urlsplit(url)
    for secret in (url, parts.path, parts.path.lstrip("/")):
        if secret and secret != "/":
            text = text.replace(secret, "<webhook>")
    return _one_line(redact_text(text), MESSAGE_LIMIT)


# --- GitHub ---------------------------------------------------------------------------------------------------


def github_code(value: Any, limit: int = NAME_LIMIT, in_table: bool = False) -> str:
    """`value` as an inline code span: GitHub links no @mention, #123 or URL and renders no HTML or emphasis
    inside one. The fence is longer than any run of backticks in the text; a table cell's | is escaped."""
    text = _one_line(value, limit)
    if not text.strip():
        return "*(none)*"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " ") else ""
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def github_issue_parts(weekly: dict) -> tuple[str, str]:
    """(title, body) of the GitHub issue for a driftgraph/weekly/1 document; the body fits GitHub's limit."""
    title = _issue_title(weekly)
    for cap in LIST_CAPS:
        body = _issue_body(weekly, cap)
        if len(body) <= GITHUB_BODY_LIMIT:
            break
    return title, body


def github_issue_markdown(weekly: dict) -> str:
    """The issue as one file: its title on the first line, a blank line, then the Markdown body
    (`gh issue create --title "$(head -n 1 FILE)" --body "$(tail -n +3 FILE)"`)."""
    title, body = github_issue_parts(weekly)
    return f"{title}\n\n{body}"


def _issue_title(weekly: dict) -> str:
    headline = weekly.get("headline") or {}
    summary = (weekly.get("diff") or {}).get("summary")
    day = str(weekly.get("generated_at") or "")[:10]
    title = "driftgraph weekly" + (f", {day}" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else "")
    title += f": {_percent(headline.get('managed_percent'))} managed"
    change = _points(headline.get("managed_percent"), headline.get("managed_percent_before"))
    if change:
        title += f" ({change})"
    if summary:
        title += ", " + ", ".join(f"{_count(summary.get(k))} {CHANGE_WORDS[k]}" for k in NEW_CHANGES)
    return title


def _issue_body(weekly: dict, cap: int) -> str:
    headline = weekly.get("headline") or {}
    scan = weekly.get("scan") or {}
    diff = weekly.get("diff")
    summary = (diff or {}).get("summary") or {}
    out = [f"**Coverage: {_percent(headline.get('managed_percent'))} managed** {_coverage_change(weekly)}.", "",
           f"Scan {_count(scan.get('id'))} ({github_code(scan.get('status') or 'unknown', 20)}), finished "
           f"{github_code(scan.get('finished_at') or 'unknown', 40)}; accounts "
           f"{_code_list(scan.get('accounts'))}; regions {_code_list(scan.get('regions'))}.", ""]
    rows = [("resources", "resources", None, None), ("unmanaged", "unmanaged", "new_unmanaged", "resolved_unmanaged"),
            ("missing", "missing", "new_missing", "resolved_missing"),
            ("conflict", "conflict", "new_conflict", "resolved_conflict"),
            ("drifted", "drifted", "new_drift", "resolved_drift"), ("unknown", "unknown", None, None),
            ("ignored", "ignored", None, None)]
    out += ["| | now | new | resolved |", "|---|---:|---:|---:|"]
    for word, key, new, resolved in rows:
        out.append(f"| {word} | {_count(headline.get(key))} | {_count(summary.get(new)) if diff and new else ''} "
                   f"| {_count(summary.get(resolved)) if diff and resolved else ''} |")
    if not diff:
        out += ["", "No earlier scan of these accounts and regions to compare with: nothing is counted as new."]

    changes = _new_changes(diff)
    for change in NEW_CHANGES:
        items = [c for c in changes if c["change"] == change]
        if items:
            out += ["", f"## {CHANGE_TITLES[change]} ({len(items)})", "", CHANGE_HINTS[change], ""]
            out += _folded([f"- [ ] {_issue_item(c)}" for c in items], cap, "items")

    oldest = weekly.get("oldest_unmanaged") or []
    if oldest:
        out += ["", f"## Oldest unmanaged ({len(oldest)})", ""]
        out += _folded([f"- {_issue_resource(r)}: {_count(r.get('age_days'))} days{_creator(r.get('creator'))}"
                        for r in oldest], cap, "resources")

    required = weekly.get("required_tags") or {}
    if required.get("tags"):
        violations = required.get("violations") or []
        out += ["", f"## Missing required tags ({_count(required.get('count'))})", "",
                f"Every resource must carry {_code_list(required['tags'])}.", ""]
        out += _folded([f"- {_issue_resource(v)}: missing {_code_list(v.get('missing'))}" for v in violations],
                       cap, "resources", total=required.get("count"))

    not_listed = weekly.get("not_listed") or []
    out += ["", f"## Could not be listed ({len(not_listed)})", ""]
    if not_listed:
        out += ["What these listings hold is unknown this week: nothing there is counted as new, resolved or "
                "deleted.", ""]
        out += _folded([f"- {github_code(n.get('type'), 80)} in {github_code(n.get('account') or '?', 40)} / "
                        f"{github_code(n.get('region') or '?', 40)}: {github_code(n.get('outcome'), 40)}"
                        + (f" {github_code(n['error_code'], 60)}" if n.get("error_code") else "")
                        + (f": {github_code(redact_text(str(n['message'])), MESSAGE_LIMIT)}" if n.get("message")
                           else "") for n in not_listed], cap, "listings")
    else:
        out.append("Nothing: every listing answered.")

    breakdowns = weekly.get("breakdowns") or {}
    for by in ("team", "account", "region", "service"):
        table = breakdowns.get(by) or []
        if table:
            out += ["", f"<details><summary>Coverage by {by} ({len(table)} rows)</summary>", "",
                    f"| {by} | resources | managed | unmanaged | missing | conflict | managed % |",
                    "|---|---:|---:|---:|---:|---:|---:|"]
            out += [f"| {github_code(r.get('key'), 80, in_table=True)} | {_count(r.get('resources'))} "
                    f"| {_count(r.get('managed'))} | {_count(r.get('unmanaged'))} | {_count(r.get('missing'))} "
                    f"| {_count(r.get('conflict'))} | {_percent(r.get('managed_percent'))} |" for r in table[:cap]]
            if len(table) > cap:
                out.append(f"\n…and {len(table) - cap} more rows.")
            out += ["", "</details>"]

    trend = weekly.get("trend") or []
    if trend:
        out += ["", f"<details><summary>Trend ({_plural(len(trend), 'scan')})</summary>", "",
                "| scan | finished | managed % | unmanaged | missing | drifted |", "|---:|---|---:|---:|---:|---:|"]
        out += [f"| {_count(t.get('scan'))} | {github_code(t.get('finished_at') or '', 40, in_table=True)} "
                f"| {_percent(t.get('managed_percent'))} | {_count(t.get('unmanaged'))} | {_count(t.get('missing'))} "
                f"| {_count(t.get('drifted'))} |" for t in trend[-cap:]]
        out += ["", "</details>"]

    maintenance = weekly.get("maintenance") or []
    if maintenance:
        out += ["", f"## Scheduled maintenance ({len(maintenance)})", ""]
        out += _folded([f"- {github_code(m.get('resource'), 100)} ({github_code(m.get('type'), 80)}, "
                        f"{github_code(m.get('account') or '?', 40)} / {github_code(m.get('region') or '?', 40)}): "
                        f"{github_code(m.get('action') or m.get('description'), MESSAGE_LIMIT)}"
                        + (f" after {github_code(m['apply_after'], 40)}" if m.get("apply_after") else "")
                        for m in maintenance], cap, "items")

    out += ["", f"<sub>Generated by driftgraph at {github_code(weekly.get('generated_at') or 'unknown', 40)}."
                "</sub>"]
    return "\n".join(out) + "\n"


def _folded(lines: list[str], cap: int, noun: str, total: int | None = None) -> list[str]:
    """The first lines shown, the rest (up to `cap`) folded into <details>, and a count of any left out."""
    total = max(total or 0, len(lines))
    shown, folded = lines[:VISIBLE_ITEMS], lines[VISIBLE_ITEMS:cap]
    out = list(shown)
    if folded:
        out += ["", f"<details><summary>{len(folded)} more {noun}</summary>", "", *folded, "", "</details>"]
    left = total - len(shown) - len(folded)
    if left > 0:
        out += ["", f"…and {left} more {noun}, not listed here (see the report)."]
    return out


def _issue_resource(resource: dict) -> str:
    return (f"{github_code(resource.get('name') or resource.get('id'))} ({github_code(resource.get('type'), 80)}, "
            f"{github_code(resource.get('account') or '?', 40)} / {github_code(resource.get('region') or '?', 40)})")


def _issue_item(change: dict) -> str:
    text = _issue_resource(change)
    if change.get("change") == "new_drift" and change.get("attribute"):
        text += (f": {github_code(change['attribute'], 80)} declared {github_code(_json(change.get('declared')), 80)},"
                 f" live {github_code(_json(change.get('live')), 80)}")
    return text


def _creator(creator: dict | None) -> str:
    if not creator or not creator.get("principal"):
        return ""
    return f", created by {github_code(creator['principal'], 120)}"


def _code_list(values: Iterable[Any] | None) -> str:
    values = list(values or [])
    return ", ".join(github_code(v, 80) for v in values) if values else "none"


# --- shared ---------------------------------------------------------------------------------------------------


def _new_changes(diff: dict | None) -> list[dict]:
    """The diff's new findings, unmanaged first, then missing, conflicts and drift."""
    changes = (diff or {}).get("changes") or []
    return [c for kind in NEW_CHANGES for c in changes if c.get("change") == kind]


def _one_line(value: Any, limit: int) -> str:
    """`value` on one line, its acting characters (terminal, bidi, invisible) visible, cut to `limit`."""
    text = printable(str(value if value is not None else "").replace("\r", " ").replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _percent(value: Any) -> str:
    number = _number(value)
    return f"{number:g}%" if number is not None else "n/a"


def _count(value: Any) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


def _plural(count: Any, word: str) -> str:
    return f"{_count(count)} {word}{'' if count == 1 else 's'}"


def _points(now: Any, before: Any) -> str:
    now, before = _number(now), _number(before)
    if now is None or before is None:
        return ""
    delta = round(now - before, 1)
    return "unchanged" if delta == 0 else f"{delta:+g} points"


def _coverage_change(weekly: dict) -> str:
    headline = weekly.get("headline") or {}
    change = _points(headline.get("managed_percent"), headline.get("managed_percent_before"))
    from_scan = weekly.get("from_scan")
    if not from_scan:
        return "(no earlier scan to compare with)"
    if not change:  # the earlier scan counted nothing code could own
        return f"(scan {_count(from_scan.get('id'))}: no coverage to compare with)"
    return (f"({change} since scan {_count(from_scan.get('id'))}: "
            f"{_percent(headline.get('managed_percent_before'))})")

