"""The radio page in the system Chromium (tests/fixtures/browser.py): the audio element plays
the station's MP3 stream, and the timeline grows when the station renders its next clip."""

from __future__ import annotations

import asyncio

from playwright.async_api import Locator, Page, expect

from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness
from tests.fixtures.browser import screenshots
from tests.web.test_radio_page import station_on_air


async def test_the_radio_page_plays_and_its_timeline_grows_in_chromium(
    fake_discord: FakeDiscord, bot_harness: BotHarness, browser_page: Page
):
    page = browser_page
    async with station_on_air(fake_discord, bot_harness) as on_air:
        await page.goto(on_air.page)
        await expect(page.locator("h1")).to_contain_text("Riffusion radio")
        await expect(page.locator("#now")).to_contain_text("night drive")
        figures = page.locator("#timeline figure")
        await expect(figures.first.locator("img")).to_have_js_property("complete", True)
        before = await figures.count()
        assert before >= 2  # the clips rendered ahead before the page opened

        # The voice channel plays in real time from here on, and so does the browser.
        playing = asyncio.create_task(on_air.play(60, realtime=True))
        try:
            await listen_and_watch(page, figures)
        finally:
            playing.cancel()

        await fake_discord.response_message(
            await fake_discord.slash(fake_discord.member, "radio stop")
        )
        await expect(page.locator("#status")).to_contain_text("This station has ended")
        await expect(page.locator("#listen")).to_be_disabled()
        await page.reload()
        await expect(page.locator("#status")).to_contain_text("This station has ended")
        await screenshots(page, "radio-ended")


async def listen_and_watch(page: Page, figures: Locator) -> None:
    """Listen: the audio element plays the stream; the timeline grows as clips come."""
    await page.click("#listen")  # a user's click: the browser may play sound
    await expect(page.locator("#listen")).to_have_text("■ Stop")
    audio = page.locator("#audio")
    # The stream answers and plays: enough data to play on (HAVE_FUTURE_DATA or more),
    # and the playhead moves.
    await page.wait_for_function(
        "() => document.getElementById('audio').readyState >= 3", timeout=10_000
    )
    await page.wait_for_function(
        "() => document.getElementById('audio').currentTime > 0.2", timeout=10_000
    )
    assert await audio.evaluate("a => a.error") is None

    # The station renders its next clip as the channel plays on: a new image appears.
    newest = int(await figures.last.get_attribute("data-index") or -1)
    await page.wait_for_function(
        f"() => Number(document.querySelector('#timeline figure:last-child')"
        f".dataset.index) > {newest}",
        timeout=10_000,
    )
    added = figures.nth(newest + 1)
    assert await added.get_attribute("data-index") == str(newest + 1)
    await expect(added.locator("img")).to_have_js_property("naturalWidth", 128)
    await expect(page.locator("#timeline figure.playing")).to_have_count(1)
    await screenshots(page, "radio-live")
