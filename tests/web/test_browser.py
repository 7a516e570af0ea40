"""A person at a real (headless) Chromium: reads the dashboard, approves the pending proposal.

Chromium is Debian's (`make test` installs it); Playwright drives it, as a browser download is
impossible here. Screenshots land in artifacts/ui/ for a person to look at.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from dashboard_client import running_ui
from playwright.sync_api import Browser, expect, sync_playwright

from rsilab.experiment import Experiment

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"no browser at {CHROMIUM}: install Debian's chromium (`make test` does it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def hostile_page() -> Iterator[tuple[str, list[str]]]:
    """Another site's page (another port of the same host) that auto-posts an approval to the dashboard.

    Yields its base address and a list to put the dashboard's form target in before it is served.
    """
    target: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (
                f"<!doctype html><form id=f method=post action='{target[0]}'>"
                "<input name=verdict value=approve><input name=csrf value=guessed><input name=comment value=pwned></form>"
                "<script>document.getElementById('f').submit()</script>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", target
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_a_person_approves_the_pending_proposal_in_chromium_and_the_ledger_records_it_and_deploys(
    pending_experiment: Experiment, browser: Browser, hostile_page: tuple[str, list[str]],
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    points = {(e.payload["version"], e.payload["split"]) for e in pending_experiment.events("assessment.recorded")}
    with running_ui(pending_experiment.root) as url:
        base = url.split("?")[0]
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))

        # The address `rsilab ui` printed: the token becomes a cookie and leaves the address bar.
        page.goto(url)
        assert urlsplit(page.url).query == ""
        expect(page.locator("#deployed")).to_have_text("v1")
        page.wait_for_selector("#chart-accuracy .main-svg")
        expect(page.locator("#chart-accuracy .scatterlayer .point")).to_have_count(len(points))  # plotly drew every point
        page.screenshot(path=SCREENSHOTS / "overview.png", full_page=True)
        assert problems == [], problems  # no script error, nothing the CSP blocked, nothing missing

        # A page on another port of this host (the same site: the cookie goes along) tries to approve: refused.
        evil, target = hostile_page
        target.append(f"{base}versions/v4/decision")
        with page.expect_response(lambda response: response.url == target[0]) as attempt:
            page.goto(evil)
        assert attempt.value.status == 403
        assert [p["version"] for p in pending_experiment.pending_reviews()] == ["v4"]
        problems.clear()  # the browser logs the refusal it was meant to get

        # The queue: the diff side by side, the gates, the form.
        page.goto(base)
        page.click("nav >> text=Proposals")
        expect(page.locator("#proposal-v4 td.added.new", has_text="return sum(terms)")).to_be_visible()
        expect(page.locator("#proposal-v4 .gate", has_text="benchmark")).to_contain_text("pass")
        page.fill("#comment-v4", "fixes operator precedence; the held-out gain is clear")
        page.fill("#by-v4", "ada")
        page.screenshot(path=SCREENSHOTS / "proposals.png", full_page=True)

        page.click("#proposal-v4 button.approve")
        page.wait_for_url("**/versions/v4?outcome=deployed")
        expect(page.locator("#outcome")).to_contain_text("v4 is deployed")
        expect(page.locator("#pending-count")).to_have_text("0")
        page.screenshot(path=SCREENSHOTS / "approved.png", full_page=True)

        page.click("nav >> text=Ledger")
        expect(page.locator("#verification")).to_contain_text("verified")
        expect(page.locator("#events tr", has_text="decision.recorded").first).to_contain_text("person:ada")

    decisions = [e.payload for e in pending_experiment.events("decision.recorded") if e.payload["version"] == "v4"]
    assert decisions == [{"round": 3, "version": "v4", "approved": True, "by": "person:ada",
                          "comment": "fixes operator precedence; the held-out gain is clear"}]
    assert pending_experiment.events("version.deployed")[-1].payload["version"] == "v4"
    assert pending_experiment.events("round.completed")[-1].payload["outcome"] == "deployed"
    assert pending_experiment.versions.deployed() == pending_experiment.commit_of("v4")
    assert pending_experiment.ledger.verify().ok
    assert problems == [], problems
    for name in ("overview", "proposals", "approved"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_an_open_page_follows_the_ledger_and_never_drops_what_a_person_is_typing(
    pending_experiment: Experiment, browser: Browser,
):
    with running_ui(pending_experiment.root) as url:
        base = url.split("?")[0]
        context = browser.new_context()
        problems: list[str] = []
        watcher, reviewer = context.new_page(), context.new_page()
        for page in (watcher, reviewer):
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
        watcher.goto(url)  # the token becomes the context's cookie
        expect(watcher.locator("#deployed")).to_have_text("v1")
        reviewer.goto(base + "proposals")
        reviewer.fill("#comment-v4", "half-written: the gain looks real but")

        # Someone else decides, from another process (here: this test, through the experiment).
        pending_experiment.decide("v4", True, "person:bob", "ship it")

        # The page nobody is typing on reloads by itself and shows the new state...
        expect(watcher.locator("#deployed")).to_have_text("v4", timeout=15_000)
        expect(watcher.locator("#pending-count")).to_have_text("0")
        # ...the one with a half-written comment only says so, and keeps every word.
        expect(reviewer.locator("#live")).to_be_visible(timeout=15_000)
        expect(reviewer.locator("#live")).to_contain_text("moved on")
        expect(reviewer.locator("#live")).to_be_in_viewport()  # seen from the form, not only at the top
        expect(reviewer.locator("#comment-v4")).to_have_value("half-written: the gain looks real but")
        expect(reviewer.locator("#pending-count")).to_have_text("0")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        reviewer.screenshot(path=SCREENSHOTS / "moved-on.png")
        context.close()
    assert problems == [], problems
