"""Datasette plugin that makes a driftgraph server safe to leave running: it answers loopback Host names only,
bounds what one query may build and one response may send, and lets no connection write.

A module of @hookimpl functions, loaded from datasette/plugins by driftgraph/serve.py (plugins_dir), which
passes the address it binds as the plugin configuration `driftgraph-guard: {bound_host: ...}`.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sqlite3
import threading
import weakref

from datasette import hookimpl

LOG = logging.getLogger("driftgraph.serve")

# Names a browser may use to reach a server on loopback. Any other Host is refused: a page of evil.example
# whose name an attacker re-points at 127.0.0.1 (DNS rebinding) must not read the inventory.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# Generous for an inventory (a resource's attributes are kilobytes) and far below what would hurt the machine.
MAX_VALUE_BYTES = 16 * 2**20  # one string or blob SQLite builds (SQLITE_LIMIT_LENGTH)
MAX_RESULT_BYTES = 32 * 2**20  # the strings and blobs of all the rows one query fetches
MAX_RESPONSE_BYTES = 64 * 2**20  # one response body as built in memory; a CSV stream is sent in pieces


def host_name(header: str) -> str | None:
    """The name in a Host header ("[::1]:8001" -> "::1", "LocalHost.:80" -> "localhost"), None if malformed.
    A bare IPv6 address (a bound host, not a header) is itself."""
    header = header.strip().lower()
    if header.count(":") > 1 and not header.startswith("["):
        return header
    if header.startswith("["):
        name, bracket, port = header[1:].partition("]")
        if not bracket:
            return None
    else:
        name, _, port = header.partition(":")
        port = f":{port}" if _ else ""
    if port and not (port.startswith(":") and port[1:].isdigit()):
        return None
    return name.rstrip(".") or None


async def _refuse(send, status: int, message: str) -> None:
    body = message.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def allowed_hosts(bound_host: str | None) -> set[str]:
    """The Host names answered: the loopback names and the address the server binds. (A wildcard address such
    as 0.0.0.0 names nothing: serving beyond loopback would need the names the machine is reached by.)"""
    bound = host_name(bound_host) if bound_host else None
    return {*LOOPBACK_HOSTS, *([bound] if bound else [])}


@hookimpl
def asgi_wrapper(datasette):
    allowed = allowed_hosts((datasette.plugin_config("driftgraph-guard") or {}).get("bound_host"))
    shown = ", ".join(sorted(allowed))

    def wrap(app):
        async def guarded(scope, receive, send):
            if scope["type"] not in ("http", "websocket"):
                return await app(scope, receive, send)
            hosts = [value.decode("latin-1") for key, value in scope.get("headers") or [] if key == b"host"]
            if not hosts or any(host_name(host) not in allowed for host in hosts):
                return await _refuse(send, 421, f"421 Misdirected Request: this server answers {shown} only\n")
            if not scope.get("path", "/").startswith("/"):  # an absolute-form target (GET http://x/...): no page here
                return await _refuse(send, 400, "400 Bad Request: ask for a path on this server\n")
            send = _capped(send)
            if _is_csv(scope):
                send = _formulas_as_text(send)
            return await app(scope, receive, send)

        return guarded

    return wrap


def _capped(send):
    """`send` that replaces a response body larger than MAX_RESPONSE_BYTES with a short error. The status line
    waits for the first body piece; a streamed response (a CSV export) is checked piece by piece."""
    held_start = None
    refused = False

    async def send_capped(message):
        nonlocal held_start, refused
        if message["type"] == "http.response.start":
            held_start = message
            return
        if refused:
            return
        if message["type"] != "http.response.body":
            return await send(message)
        size = len(message.get("body", b""))
        if size > MAX_RESPONSE_BYTES:
            if held_start is None:  # mid-stream: the status is sent; cutting the connection is all that is left
                raise RuntimeError(f"response piece of {size} bytes is over the {MAX_RESPONSE_BYTES} byte cap")
            held_start, refused = None, True
            return await _refuse(
                send, 400,
                f"400 Response too large: {size / 2**20:.0f} MB, more than the {MAX_RESPONSE_BYTES // 2**20} MB a "
                "driftgraph server sends at once; select fewer rows or columns\n",
            )
        if held_start is not None:
            start, held_start = held_start, None
            await send(start)
        await send(message)

    return send_capped


@hookimpl
def prepare_connection(conn, database, datasette):
    # One value: SQLite refuses ("string or blob too big") before building it. Connection.setlimit exists
    # from Python 3.11; on 3.10 the serve process's SQLite heap limit (driftgraph/serve.py) bounds a value
    # instead ("out of memory"), and printf's %c spin below is not cut short.
    if hasattr(conn, "setlimit"):
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        for name in ("printf", "format"):  # format is printf's other name (SQLite 3.38+)
            conn.create_function(name, -1, _printf_within_limit, deterministic=True)
    # Files are read, never written (Datasette's own _internal database is in memory and must stay writable).
    served = datasette.databases.get(database)
    if served is not None and served.path:
        conn.execute("PRAGMA query_only = 1")
    conn.row_factory = _budgeted_rows(conn.row_factory)


def _budgeted_rows(make_row):
    """A row factory that counts the bytes of the strings and blobs each cursor fetched and refuses, as an SQL
    error, the row that takes them past MAX_RESULT_BYTES: many rows of values each within the length limit."""
    fetched = weakref.WeakKeyDictionary()  # cursor -> bytes so far; one connection is used by one thread

    def row(cursor, values):
        size = fetched.get(cursor, 0) + sum(len(v) for v in values if isinstance(v, (str, bytes)))
        if size > MAX_RESULT_BYTES:
            raise sqlite3.OperationalError(
                f"result too large: over {MAX_RESULT_BYTES // 2**20} MB of text and blobs; "
                "select fewer rows or columns"
            )
        fetched[cursor] = size
        return make_row(cursor, values) if make_row is not None else values

    return row


# printf conversions: %[flags][width][.precision][length]type, width and precision digits or * (an argument)
PRINTF_CONVERSION = re.compile(r"%([-+ #0!,]*)(\*|\d*)(?:\.(\*|\d*))?(l*)(.)", re.DOTALL)
_printf_helper = threading.local()


def _integer_argument(value) -> int:
    """An argument as SQLite's printf reads a width or precision: the leading integer of text, 0 if none."""
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    match = re.match(r"\s*[-+]?\d+", value) if isinstance(value, str) else None
    return int(match.group()) if match else 0


def _repeats_past_the_limit(fmt: str, args: tuple) -> bool:
    """True when a %c asks for more repeats (its precision) than the length limit lets any value have."""
    next_argument = 0

    def size(spec: str) -> int:
        nonlocal next_argument
        if spec != "*":
            return int(spec) if spec else 0
        value = args[next_argument] if next_argument < len(args) else 0
        next_argument += 1
        return abs(_integer_argument(value))

    for _flags, width, precision, _length, kind in PRINTF_CONVERSION.findall(fmt):
        if kind == "%":
            continue
        size(width)  # a * width takes its argument first
        repeats = size(precision)
        next_argument += 1  # the value converted
        if kind == "c" and repeats > MAX_VALUE_BYTES:
            return True
    return False


def _printf_within_limit(fmt=None, *args):
    """SQLite's printf, except that a %c repeated past the length limit is NULL at once. SQLite's printf (3.40
    at least) repeats %c one character at a time, long after the length limit has failed the result: printf('%.*c', 1000000000, 'x') spins for
    ten seconds inside one function call, where no time limit reaches, to return the NULL a value over the
    length limit gets. Everything else is SQLite's own printf, run on a helper connection with the same limit."""
    if isinstance(fmt, str) and _repeats_past_the_limit(fmt, args):
        return None
    helper = getattr(_printf_helper, "connection", None)
    if helper is None:
        helper = _printf_helper.connection = sqlite3.connect(":memory:")
        helper.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    placeholders = ", ".join("?" * (1 + len(args)))
    return helper.execute(f"select printf({placeholders})", (fmt, *args)).fetchone()[0]


@hookimpl
def handle_exception(datasette, request, exception):
    """An error page without Datasette's default console dump (a rich traceback with every local variable) for
    each 404 and each bad query a browser sends: one log line instead, and the page Datasette would show."""
    from datasette import Response
    from datasette.utils.asgi import Base400
    from datasette.views.base import DatasetteError
    from markupsafe import Markup

    async def page():
        if isinstance(exception, Base400):
            status, message, title = exception.status, exception.args[0] if exception.args else "", None
        elif isinstance(exception, DatasetteError):
            status, title = exception.status, exception.title
            message = Markup(exception.message) if exception.message_is_html else exception.message
        else:
            status, message, title = 500, f"{type(exception).__name__}: {exception}", None
        LOG.warning("%s %s: %s %s", request.method, request.path, status, " ".join(str(message).split())[:300])
        info = {"ok": False, "error": message, "status": status, "title": title}
        if request.path.split("?")[0].endswith(".json"):
            return Response.json(info, status=status)
        template = datasette.jinja_env.select_template([f"{status}.html", "error.html"])
        context = dict(info, urls=datasette.urls, app_css_hash=datasette.app_css_hash(), menu_links=lambda: [])
        return Response.html(await template.render_async(context), status=status)

    return page


def _is_csv(scope) -> bool:
    return scope.get("path", "").endswith(".csv") or b"_format=csv" in (scope.get("query_string") or b"")


# A spreadsheet runs a cell that starts with one of these as a formula (`=HYPERLINK(...)` in a Name tag): an
# exported inventory must open as data. Numbers (-5) are left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _as_text(cell: str) -> str:
    if cell.startswith(_FORMULA_START):
        try:
            float(cell)
            return cell
        except ValueError:
            return "'" + cell
    return cell


def _formulas_as_text(send):
    """`send` that writes each CSV row with formula-looking cells prefixed by a quote. Datasette writes a CSV
    export a row per body piece; a piece that does not read as whole CSV rows passes as it is."""

    async def send_rows(message):
        body = message.get("body") if message["type"] == "http.response.body" else None
        if body:
            try:
                rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
            except (UnicodeDecodeError, csv.Error):
                rows = None
            if rows and any(cell.startswith(_FORMULA_START) for row in rows for cell in row):
                out = io.StringIO(newline="")
                csv.writer(out).writerows([[_as_text(cell) for cell in row] for row in rows])
                message = {**message, "body": out.getvalue().encode("utf-8")}
        await send(message)

    return send_rows
