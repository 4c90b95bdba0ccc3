"""`serve` in a real process, driven by Debian's headless chromium: the canned query and table pages render."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from driftgraph.demo import background_server, free_port
from graph_fixture import build_fixture_db

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


@pytest.fixture
def server(tmp_path):
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    base = f"http://127.0.0.1:{free_port()}"
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-c", SERVE, str(db), base.rsplit(":", 1)[1]]
    with background_server(command, f"{base}/-/versions.json", env, log_path=tmp_path / "serve.log"):
        yield base


def test_canned_query_and_table_pages_render(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})

            # the unmanaged canned query: the latest scan's four unmanaged resources, as badges
            page.goto(f"{server}/{DB_NAME}/unmanaged")
            assert page.locator("h1").inner_text().startswith("Unmanaged resources")
            body = page.locator("body").inner_text()
            for name in ("legacy-reports-queue", "payments-dlq", "acme-manual-uploads", "ci-deploy-role"):
                assert name in body
            assert "tmp-migration-queue" not in body  # only in the older scan
            assert page.locator("td span.dg-status-unmanaged").count() == 4
            page.screenshot(path=str(tmp_path / "unmanaged.png"), full_page=True)

            # a drill-down link of the counts query opens the filtered list
            page.goto(f"{server}/{DB_NAME}/unmanaged_counts")
            page.locator('a.dg-drill-down[href*="type=AWS::IAM::Role"]').click()
            page.wait_for_load_state()
            assert page.url.startswith(f"{server}/{DB_NAME}/unmanaged?")
            assert page.locator("td span.dg-status-unmanaged").count() == 1
            assert "ci-deploy-role" in page.locator("table.rows-and-columns").inner_text()

            # the resources table: its description, a column description, facets and every status
            page.goto(f"{server}/{DB_NAME}/resources")
            body = page.locator("body").inner_text()
            assert "Every resource seen by any source (live AWS or IaC), one row per version" in body
            assert "acme-shared-artifacts" in body and "order-events" in body
            for status in ("managed", "unmanaged", "missing", "conflict", "child", "default", "ignored", "unknown"):
                assert page.locator(f"td span.dg-status-{status}").count() >= 1, status
            assert page.locator(".facet-info[data-column=status]").count() == 1
            page.screenshot(path=str(tmp_path / "resources.png"), full_page=True)
        finally:
            browser.close()

    assert (tmp_path / "unmanaged.png").stat().st_size > 10_000
    assert (tmp_path / "resources.png").stat().st_size > 10_000
