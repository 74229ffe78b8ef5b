"""Result pages and the gallery in headless Chromium (the system's, through Playwright): the
spectrogram shows, the audio element loads the clip with its duration, the gallery links to
the page; screenshots at desktop and phone width go to test-screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer, generation_id
from tests.fixtures.browser import screenshots
from tests.fixtures.web import free_port
from tests.web.test_pages import answer, riff, row

pytestmark = pytest.mark.timeout(120)


async def test_a_result_page_plays_in_chromium_and_the_gallery_links_to_it(
    fake_discord: FakeDiscord, bot_harness: BotHarness, browser_page: Page
):
    fake = fake_discord
    port = free_port()
    async with bot_harness.running(FakeRenderer(), WEB_PORT=str(port)) as bot:
        said = await answer(fake, fake.admin, "admin web", {"state": "on"})
        gallery = re.search(r"/g/[A-Za-z0-9_-]{43}", said)
        assert gallery, said
        result = await riff(fake, fake.member, "lofi hip hop beat for the browser")
        generation = await row(bot.services.db, generation_id(result))
        click = await fake.click(result, f"riff:fav:{generation.id}", fake.member)
        await fake.interaction_response(click)
        page_url = f"http://127.0.0.1:{port}/r/{generation.web_token}"

        await browser_page.goto(page_url)
        await expect(browser_page.locator("h1")).to_contain_text("lofi hip hop beat")
        picture = browser_page.locator("img").first
        await expect(picture).to_be_visible()
        assert await picture.evaluate("img => img.complete && img.naturalWidth > 0")
        audio = browser_page.locator("audio")
        await audio.evaluate("a => a.load()")
        await browser_page.wait_for_function(
            "() => document.querySelector('audio').readyState >= 1", timeout=15000
        )
        duration = await audio.evaluate("a => a.duration")
        assert duration == pytest.approx(generation.audio_duration_s, abs=0.15)
        await screenshots(browser_page, "result-page")

        await browser_page.goto(f"http://127.0.0.1:{port}{gallery[0]}")
        card = browser_page.locator(f'a[href="/r/{generation.web_token}"]')
        await expect(card).to_be_visible()
        await screenshots(browser_page, "gallery")
        await card.click()
        await expect(browser_page).to_have_url(page_url)
