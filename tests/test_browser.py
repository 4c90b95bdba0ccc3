"""`serve` in a real process, driven by Debian's headless chromium: the dashboard, resource pages, canned query and
table pages render without a console error, and markup planted in the data stays text.

Screenshots go to $DRIFTGRAPH_ARTEFACTS/browser (tests/artefacts/browser by default, ignored by git); the path is
printed at the end of the run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from driftgraph.demo import background_server, free_port
from graph_fixture import HOSTILE_ID, PLANTED, PLANTED_IMG, add_hostile_scans, build_fixture_db

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]
DB_NAME = "estate"
# What `driftgraph serve --db PATH --port N` does, without depending on the CLI wiring.
SERVE = "import sys; from driftgraph.serve import serve; serve(sys.argv[1], port=int(sys.argv[2]))"


@pytest.fixture(scope="module")
def artefacts(request) -> Path:
    """Where screenshots go, kept after the run for a person to look at; its path is printed at the end."""
    folder = Path(os.environ.get("DRIFTGRAPH_ARTEFACTS") or REPO / "tests" / "artefacts") / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # to the terminal, not to the captured output
        print(f"\nbrowser screenshots: {folder}")


def serving(db: Path, log_path: Path):
    base = f"http://127.0.0.1:{free_port()}"
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-c", SERVE, str(db), base.rsplit(":", 1)[1]]
    return background_server(command, f"{base}/-/versions.json", env, log_path=log_path), base


@pytest.fixture
def server(tmp_path):
    running, base = serving(build_fixture_db(tmp_path / f"{DB_NAME}.db"), tmp_path / "serve.log")
    with running:
        yield base


@pytest.fixture
def hostile_server(tmp_path):
    """The fixture graph and, in another account, a queue whose name, tags and reason are markup."""
    db = add_hostile_scans(build_fixture_db(tmp_path / f"{DB_NAME}.db"))
    running, base = serving(db, tmp_path / "serve.log")
    with running:
        yield base


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class CleanPage:
    """A browser tab that records console errors and uncaught exceptions, for `visit` to assert there are none."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def visit(self, url: str | None = None, click=None):
        """Open `url` (or click `click` and wait for the page it opens): it loads with status 200, no console
        error, no uncaught exception, and none of the planted markup ran."""
        self.errors.clear()
        if url is not None:
            response = self.page.goto(url)
        else:
            with self.page.expect_navigation() as navigation:
                click.click()
            response = navigation.value
        self.page.wait_for_load_state("load")
        assert response.status == 200, (self.page.url, response.status)
        assert self.errors == [], (self.page.url, self.errors)
        assert self.page.evaluate("window.dgPlanted") is None, self.page.url  # a planted script would set it
        return self.page


def test_canned_query_and_table_pages_render(server, browser, artefacts):
    tab = CleanPage(browser)
    page = tab.page

    # the unmanaged canned query: the latest scan's four unmanaged resources, as badges
    tab.visit(f"{server}/{DB_NAME}/unmanaged")
    assert page.locator("h1").inner_text().startswith("Unmanaged resources")
    body = page.locator("body").inner_text()
    for name in ("legacy-reports-queue", "payments-dlq", "acme-manual-uploads", "ci-deploy-role"):
        assert name in body
    assert "tmp-migration-queue" not in body  # only in the older scans
    assert page.locator("td span.dg-status-unmanaged").count() == 4
    page.screenshot(path=str(artefacts / "unmanaged.png"), full_page=True)

    # a drill-down link of the counts query opens the filtered list
    tab.visit(f"{server}/{DB_NAME}/unmanaged_counts")
    tab.visit(click=page.locator('a.dg-drill-down[href*="type=AWS::IAM::Role"]'))
    assert page.url.startswith(f"{server}/{DB_NAME}/unmanaged?")
    assert page.locator("td span.dg-status-unmanaged").count() == 1
    assert "ci-deploy-role" in page.locator("table.rows-and-columns").inner_text()

    # the resources table: its description, a column description, facets and every status
    tab.visit(f"{server}/{DB_NAME}/resources")
    body = page.locator("body").inner_text()
    assert "Every resource seen by any source (live AWS or IaC), one row per version" in body
    assert "acme-shared-artifacts" in body and "order-events" in body
    for status in ("managed", "unmanaged", "missing", "conflict", "child", "default", "ignored", "unknown"):
        assert page.locator(f"td span.dg-status-{status}").count() >= 1, status
    assert page.locator(".facet-info[data-column=status]").count() == 1
    page.screenshot(path=str(artefacts / "resources.png"), full_page=True)

    assert (artefacts / "unmanaged.png").stat().st_size > 10_000
    assert (artefacts / "resources.png").stat().st_size > 10_000


def test_dashboard_and_resource_pages_render(server, browser, artefacts):
    tab = CleanPage(browser)
    page = tab.page

    # the database page: the dashboard above Datasette's lists, drawn without a script or a fetch elsewhere
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    tab.visit(f"{server}/{DB_NAME}")
    assert page.locator("#coverage").inner_text() == "50.0% managed"
    assert {u.split("/")[2] for u in requested} == {server.split("/")[2]}  # nothing from another host
    charts = page.locator("svg.dg-chart")
    assert charts.count() == 2
    for n in range(2):
        box = charts.nth(n).bounding_box()
        assert box["width"] > 300 and box["height"] > 100, box  # drawn, at a readable size
    assert page.locator("svg.dg-chart circle.dg-dot").count() == 15  # 3 scans: managed %, then 4 lines
    assert page.locator("h3.dg-change-kind").all_inner_texts() == [
        "New unmanaged (1)", "New drift (1)", "Deleted (1)", "Listings that newly failed (1)"]
    assert page.locator("h2#queries").is_visible()  # Datasette's own page goes on below
    page.screenshot(path=str(artefacts / "dashboard.png"), full_page=True)

    # a status count opens current_resources filtered on it, with as many rows
    count = page.locator('#status-counts tr[data-status="unmanaged"] td.dg-number a').inner_text()
    tab.visit(click=page.locator('#status-counts tr[data-status="unmanaged"] td.dg-number a'))
    assert page.url == f"{server}/{DB_NAME}/current_resources?status=unmanaged"
    assert page.locator("table.rows-and-columns tbody tr").count() == int(count) == 4

    # a resource from the week's changes, then along an edge: each id opens that resource's page
    tab.visit(f"{server}/{DB_NAME}")
    tab.visit(click=page.locator("table.dg-changes a.dg-resource-link", has_text="orders-queue"))
    assert page.locator("#resource-id").inner_text() == "arn:aws:sqs:us-east-1:123456789012:orders-queue"
    assert page.locator("#history-table tbody tr").count() == 3
    tab.visit(f"{server}/{DB_NAME}/current_resources?team=orders")
    tab.visit(click=page.locator("a.dg-resource-link", has_text="function:orders-processor"))
    assert page.locator("h1").inner_text().startswith("orders-processor")
    assert page.locator("#edges-out-table a.dg-resource-link").all_inner_texts() == [
        "/aws/lambda/orders-processor", "orders-processor-role"]
    page.screenshot(path=str(artefacts / "resource.png"), full_page=True)
    tab.visit(click=page.locator("#edges-out-table a.dg-resource-link", has_text="orders-processor-role"))
    assert page.locator("#edges-in-table a.dg-resource-link").all_inner_texts() == [
        "orders-processor-role/AWSLambdaBasicExecutionRole", "orders-processor"]

    for name in ("dashboard.png", "resource.png"):
        assert (artefacts / name).stat().st_size > 20_000, name


def test_planted_markup_stays_text(hostile_server, browser, artefacts):
    tab = CleanPage(browser)
    page = tab.page

    # the landing page lists the planted queue as new this week, by its name, as text
    tab.visit(f"{hostile_server}/{DB_NAME}")
    # the fixture's 5 under code over 12 code could own: the hostile account adds two unmanaged queues
    assert page.locator("#coverage").inner_text() == "41.7% managed"
    planted_link = page.locator("table.dg-changes a.dg-resource-link", has_text="window.dgPlanted")
    assert planted_link.inner_text() == PLANTED
    page.screenshot(path=str(artefacts / "planted-dashboard.png"), full_page=True)

    # its page: name, id, tags and reason shown as the characters they are
    tab.visit(click=planted_link)
    assert page.locator("#resource-id").inner_text() == HOSTILE_ID
    assert page.locator("h1").inner_text().startswith(PLANTED)
    tags = page.locator("#tags").inner_text()
    assert PLANTED in tags and PLANTED_IMG in tags
    assert page.locator("#fields").inner_text().count(PLANTED_IMG) == 1  # in the reason
    assert page.locator("#tags script, #tags img, h1 script, #fields img").count() == 0
    page.screenshot(path=str(artefacts / "planted-resource.png"), full_page=True)

    # the team facet and a table of tags: text too
    tab.visit(f"{hostile_server}/{DB_NAME}/current_resources")
    assert PLANTED in page.locator(".facet-info[data-column=team]").inner_text()
    assert page.locator("table.rows-and-columns script, table.rows-and-columns img").count() == 0
    page.screenshot(path=str(artefacts / "planted-team-facet.png"), full_page=True)


def test_the_weekly_html_report_renders_offline_and_planted_markup_stays_text(tmp_path, browser, artefacts):
    """`report --since --format html` of the hostile graph, opened from disk: no console error, no request
    anywhere (the page is self-contained), the chart drawn, and the planted queue's name shown as text."""
    from click.testing import CliRunner

    from driftgraph.cli import cli

    db = add_hostile_scans(build_fixture_db(tmp_path / f"{DB_NAME}.db"))
    page_file = tmp_path / "weekly.html"
    result = CliRunner().invoke(cli, ["--no-config", "report", "--db", str(db), "--since", "1d", "--format", "html",
                                      "-o", str(page_file)])
    assert result.exit_code == 0, result.output
    tab = CleanPage(browser)
    requested: list[str] = []
    tab.page.on("request", lambda request: requested.append(request.url))
    page = tab.visit(page_file.as_uri())
    assert requested == [page_file.as_uri()], "the page fetches nothing: it opens offline"
    assert page.locator("svg").count() >= 1 and page.locator("script").count() == 0
    body = page.locator("body").inner_text()
    assert PLANTED in body
    page.screenshot(path=str(artefacts / "weekly-report.png"), full_page=True)
