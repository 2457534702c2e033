"""The planner's page in a real browser: Debian's Chromium driven by Playwright.

Runs against `promoplan serve` on loopback with `promoplan demo` data. Set
PROMOPLAN_SAVE_SCREENSHOTS=1 to refresh the screenshots under docs/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import ROOT, LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'demo.db'}"
    env = {**os.environ, "PROMOPLAN_DATABASE_URL": url, "PROMOPLAN_LOG_LEVEL": "WARNING"}
    demo = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    key = demo.stdout.strip().splitlines()[-1]
    with LiveServer(url) as server:
        yield server, key


@pytest.fixture
def page(demo_server):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        # CI installs it (.ci/run) and allows no skips; on a laptop without it, say how.
        pytest.skip(f"Debian's Chromium is not at {CHROMIUM}: `apt-get install chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.errors = errors  # type: ignore[attr-defined]
        yield page
        browser.close()


def shot(page, name: str) -> None:
    if os.environ.get("PROMOPLAN_SAVE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, server: LiveServer, key: str) -> None:
    page.goto(server.base_url + "/")
    page.fill("#api-key", key)
    page.click("button[type=submit]")
    page.wait_for_selector("#year-view svg, #year-view p")


def first_event_id(server: LiveServer, key: str, name_part: str) -> int:
    events = httpx.get(
        server.base_url + "/api/v1/events",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {key}"},
    ).json()["items"]
    return next(e["id"] for e in events if name_part.lower() in e["name"].lower())


class TestPlannerPage:
    def test_sign_in_page_has_no_console_errors(self, page, demo_server):
        server, _key = demo_server
        page.goto(server.base_url + "/")
        page.wait_for_selector("#api-key")
        shot(page, "sign-in")
        assert page.errors == []

    def test_a_bad_key_is_refused_on_the_page(self, page, demo_server):
        server, _key = demo_server
        page.goto(server.base_url + "/")
        page.fill("#api-key", "pp_wrong")
        page.click("button[type=submit]")
        page.wait_for_selector("[role=alert]")
        assert "unknown or revoked" in page.inner_text("[role=alert]")

    def test_the_year_view_shows_the_demo_events(self, page, demo_server):
        server, key = demo_server
        sign_in(page, server, key)
        page.goto(server.base_url + "/#/year/2027")
        page.wait_for_selector("#year-view .event-name")
        names = page.locator("#year-view .event-name").all_text_contents()
        assert any("11" in name for name in names) and any("618" in name for name in names)
        assert page.locator("#year-view rect.phase").count() >= 4
        shot(page, "year")
        assert page.errors == []

    def test_the_gantt_chart_draws_the_critical_path_and_a_drag_saves(self, page, demo_server):
        server, key = demo_server
        event_id = first_event_id(server, key, "11")
        headers = {"Authorization": f"Bearer {key}"}
        sign_in(page, server, key)
        page.goto(f"{server.base_url}/#/events/{event_id}/gantt")
        page.wait_for_selector("#gantt-svg")
        assert page.locator("#gantt-svg g.task.is-critical").count() >= 1
        assert page.locator("#gantt-svg path.dep").count() >= 1
        assert (
            page.locator(".gantt-labels .task-name").count()
            == page.locator("#gantt-svg g.task").count()
        )
        shot(page, "gantt")

        bar = page.locator("#gantt-svg g.task:not(.is-critical) rect.bar").first
        task_id = bar.locator("xpath=..").get_attribute("data-task")
        before = httpx.get(
            f"{server.base_url}/api/v1/events/{event_id}/tasks/{task_id}", headers=headers
        ).json()
        bar.scroll_into_view_if_needed()
        box = bar.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + 5 + 36 * 2, box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        page.wait_for_selector("#flash .msg")
        after = httpx.get(
            f"{server.base_url}/api/v1/events/{event_id}/tasks/{task_id}", headers=headers
        ).json()
        assert after["starts_at"] != before["starts_at"]
        assert after["version"] == before["version"] + 1
        assert page.errors == []

    def test_the_slot_board_runs_an_allocation(self, page, demo_server):
        server, key = demo_server
        event_id = first_event_id(server, key, "11")
        sign_in(page, server, key)
        page.goto(f"{server.base_url}/#/events/{event_id}/slots")
        page.wait_for_selector("#run-allocation")
        page.click("#run-allocation")
        page.wait_for_function(
            "document.querySelector('#run-info .badge')?.textContent === 'solved'"
        )
        assert page.locator("#slot-board .chip").count() >= 1
        page.click("#publish-run")
        page.wait_for_function(
            "document.querySelector('#run-info .badge')?.textContent === 'published'"
        )
        shot(page, "slots")
        assert page.errors == []

    def test_the_quote_simulator_prices_a_cart(self, page, demo_server):
        server, key = demo_server
        event_id = first_event_id(server, key, "11")
        sign_in(page, server, key)
        page.goto(f"{server.base_url}/#/events/{event_id}/promotions")
        page.wait_for_selector("#price-it")
        page.click("#price-it")
        page.wait_for_selector("#quote-result .total, #quote-result .error")
        assert page.locator("#quote-result .total").count() == 1, page.inner_text("#quote-result")
        page.locator("#promotions button").first.click()
        page.wait_for_selector(".risk table")
        assert "floor 70.0%" in page.inner_text(".risk h3")
        shot(page, "promotions")
        assert page.errors == []

    def test_the_launch_view_shows_transitions(self, page, demo_server):
        server, key = demo_server
        event_id = first_event_id(server, key, "11")
        sign_in(page, server, key)
        page.goto(f"{server.base_url}/#/events/{event_id}/launch")
        page.wait_for_selector("#deliveries")
        assert page.locator(".card h2").count() >= 4
        shot(page, "launch")
        assert page.errors == []

    def test_english_labels(self, page, demo_server):
        server, key = demo_server
        sign_in(page, server, key)
        page.click("#lang")
        page.wait_for_selector("text=Sign out")
        assert page.evaluate("document.documentElement.lang") == "en"

    def test_a_viewer_sees_no_write_controls(self, page, demo_server):
        server, key = demo_server
        viewer = httpx.post(
            server.base_url + "/api/v1/keys",
            json={"name": "manager", "role": "viewer"},
            headers={"Authorization": f"Bearer {key}"},
        ).json()["key"]
        event_id = first_event_id(server, key, "11")
        sign_in(page, server, viewer)
        page.goto(f"{server.base_url}/#/events/{event_id}/slots")
        page.wait_for_selector("#slot-board")
        assert page.locator("#run-allocation").count() == 0
        page.goto(f"{server.base_url}/#/events/{event_id}/launch")
        page.wait_for_selector(".card h2")
        assert page.get_by_text("立即上线").count() == 0
        assert page.locator("#deliveries").count() == 0
        assert page.errors == []
