"""The web side's lifecycle and /healthz: served on the bot's loop on a free port (never 8080),
a port in use is one warning and the bot runs on, and /healthz says which part is not fine."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer
from tests.fixtures.discord import ErrorCollector
from tests.fixtures.web import free_port


async def test_healthz_is_ok_then_names_what_broke(
    fake_discord: FakeDiscord, bot_harness: BotHarness, discord_errors: ErrorCollector
):
    port = free_port()
    async with (
        bot_harness.running(FakeRenderer(), WEB_PORT=str(port)) as bot,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
            body = await answer.json()
            assert answer.status == 200, body
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert body["ok"] is True
        assert set(body["checks"]) >= {"event_loop", "database", "gateway", "model"}
        bot.services.health.failed("disk", "the disk of DATA_DIR is full (test)")
        async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
            body = await answer.json()
            assert answer.status == 503
            assert body["checks"]["disk"] == "the disk of DATA_DIR is full (test)"
        bot.services.health.worked("disk")
    assert [r.getMessage() for r in discord_errors.unreported()] == [
        "Problem: the disk of DATA_DIR is full (test)"
    ]


@pytest.mark.allow_discord_errors
async def test_a_port_in_use_is_one_warning_and_the_bot_runs_on(
    fake_discord: FakeDiscord, bot_harness: BotHarness, caplog: pytest.LogCaptureFixture
):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with bot_harness.running(FakeRenderer(), WEB_PORT=str(port)) as bot:
            assert bot.is_ready()
    warnings = [r.getMessage() for r in caplog.records if "Web side off" in r.getMessage()]
    assert warnings == [
        f"Web side off: 127.0.0.1:{port} is already in use (set WEB_PORT to a "
        "free port, or empty for none)"
    ]
