"""The console in a real browser (Chromium, headless) after a detention intake through
the simulators: log in as a new user would, see the flow on the flows page, follow a
decision to its trace, and find no BSN or name on any page an operator opens. The
screenshots in ``docs/screenshots/`` are made by this test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from hub.connectors.testing.harness import wait_until
from hub.console import accounts
from hub.console.accounts import Role
from hub.settings import KafkaSettings
from hub.state import dead_letters
from hub.state.database import sessionmaker
from hub.state.dead_letters import LetterQuery
from tests.data import TEST_BSNS, TEST_NAMES
from tests.integration.simulated_chain import Chain, simulated_chain

pytestmark = pytest.mark.integration
INCLUDED = "111222333"
PASSWORD = "correct-horse-battery-staple"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


@pytest.fixture
async def chain(kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[Chain]:
    async with simulated_chain(kafka_settings, tmp_path) as running:
        async with sessionmaker(running.hub.engine).begin() as session:
            await accounts.create(session, "ops", PASSWORD, Role.OPERATOR)
        await running.send("injus", {"kind": "START", "bsn": INCLUDED, "event_id": "BROWSER-1"})
        await running.until("llc", 1, INCLUDED)
        await running.until("pi", 1, INCLUDED)
        yield running


async def _log_in(page: Page) -> None:
    """Fill the login form as a person would; the console lands on the flows page."""
    await page.fill("input[name=username]", "ops")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/flows")


async def _clean(page: Page) -> str:
    text = await page.content()
    leaked = [v for v in (*TEST_BSNS, *TEST_NAMES, "Demo-Jansen") if v in text]
    assert not leaked, f"{page.url} showed personal data: {leaked}"
    return text


async def test_an_operator_logs_in_sees_the_intake_and_traces_it(
    chain: Chain, chromium: Path
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(f"{chain.hub.http_url}/console/flows")
            assert page.url.endswith("/console/login"), "the console asks for a login first"
            await page.screenshot(path=SCREENSHOTS / "login.png")
            await _log_in(page)
            row = page.locator("tr", has_text="llz:fivoor")
            assert "dji" in await row.first.inner_text()
            titles = await page.locator("#flow-graph line title").evaluate_all(
                "titles => titles.map(t => t.textContent)"
            )
            assert any(t.startswith("dji → llz:fivoor") for t in titles), titles
            await _clean(page)
            await page.screenshot(path=SCREENSHOTS / "flows.png", full_page=True)
            await page.click("text=Decisions")
            await page.wait_for_url("**/console/decisions")
            await _clean(page)
            await page.screenshot(path=SCREENSHOTS / "decisions.png", full_page=True)
            await page.locator("a[href*='correlation_id=']").first.click()
            await page.wait_for_url("**/console/trace?correlation_id=*")
            trace = await _clean(page)
            for stage in ("received", "decided", "delivered"):
                assert f"<td>{stage}</td>" in trace
            await page.screenshot(path=SCREENSHOTS / "trace.png", full_page=True)
            for name in ("Labels", "Connectors"):
                await page.click(f"text={name}")
                await page.wait_for_url(f"**/console/{name.lower()}")
                await _clean(page)
        finally:
            await browser.close()


@pytest.fixture
async def failing_llc(kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[Chain]:
    """An intake whose delivery to the LLC was dead-lettered: the LLC was down, and the
    connector's small budget ran out."""
    fast = {"max_attempts": 2, "backoff_initial_s": 0.05, "backoff_max_s": 0.1}
    async with simulated_chain(
        kafka_settings, tmp_path, connectors={"llc-communication": fast}
    ) as running:
        async with sessionmaker(running.hub.engine).begin() as session:
            await accounts.create(session, "ops", PASSWORD, Role.OPERATOR)
        await running.faults("llc", down=True)
        await running.send("injus", {"kind": "START", "bsn": INCLUDED, "event_id": "BROWSER-DLQ"})

        async def dead_lettered() -> bool:
            async with sessionmaker(running.hub.engine)() as session:
                return bool(await dead_letters.find(session, LetterQuery()))

        await wait_until(dead_lettered)
        await running.faults("llc", down=False)
        yield running


async def test_an_operator_replays_a_dead_letter_after_seeing_the_new_outcome(
    failing_llc: Chain, chromium: Path
) -> None:
    chain = failing_llc
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(f"{chain.hub.http_url}/console/login")
            await _log_in(page)
            await page.click("text=Dead letters")
            await page.wait_for_url("**/console/dead-letters")
            row = page.locator("tr", has_text="llz:fivoor")
            assert "gave up after 2 attempts" in await row.first.inner_text()
            await _clean(page)
            await page.screenshot(path=SCREENSHOTS / "dead-letters.png", full_page=True)
            await row.first.locator("a").click()
            await page.wait_for_url("**/console/dead-letters/*")
            plan = await page.locator("#plan").inner_text()
            assert "send" in plan
            assert "PERMIT" in plan
            assert await chain.received("llc", INCLUDED) == [], "nothing goes before the click"
            await _clean(page)
            await page.screenshot(path=SCREENSHOTS / "dead-letter-replay.png", full_page=True)
            await page.click("#replay")
            await page.wait_for_url("**/console/dead-letters/*")
            assert await page.locator("#state").inner_text() == "replayed"
            await _clean(page)
            (delivered,) = await chain.until("llc", 1, INCLUDED)
            async with sessionmaker(chain.hub.engine)() as session:
                (letter,) = await dead_letters.find(session, LetterQuery(state=None))
            assert letter.settled_by == "console:ops"
            assert delivered["idempotency_key"]
        finally:
            await browser.close()
