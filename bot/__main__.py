"""`python -m bot` / `riffusion-bot`: read settings, set up logging, run until stopped.

Exit codes: 0 after a clean stop (Ctrl+C, SIGTERM), 1 when Discord refuses the login or the bot
crashes, 2 when the settings are unusable (each problem printed as one line).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.app.logs import setup_logging
from bot.config import PORTAL_URL, Settings, SettingsError, load_settings
from bot.engine.queue import leave_loading_worker_behind
from bot.process import EXIT_FAILED, EXIT_OK, EXIT_SETTINGS, stop_on_signals

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

log = logging.getLogger("bot")


def apply_endpoints(settings: Settings) -> None:
    """Point discord.py at a Discord-compatible server (tests, proxies) before it connects."""
    if settings.api_base:
        Route.BASE = settings.api_base
    if settings.gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


async def run_bot(
    settings: Settings, *, stop: asyncio.Event | None = None, bot: RiffusionBot | None = None
) -> int:
    """Run the bot until `stop` is set (or SIGTERM/SIGINT); returns the exit code.

    `bot` lets tests pass a RiffusionBot built with test options; `python -m bot` builds it here
    (sharded when SHARD_COUNT is set).
    """
    from bot.app.client import make_bot  # heavy imports (torch) after settings are known good

    apply_endpoints(settings)
    stop = stop or asyncio.Event()
    bot = bot or make_bot(settings)
    try:
        with stop_on_signals(stop):
            async with bot:
                runner = asyncio.create_task(bot.start(settings.discord_token), name="discord")
                stopper = asyncio.create_task(stop.wait(), name="stop")
                done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    log.info("Stopping: finishing the running generation, then closing")
                    await bot.close()
                stopper.cancel()
                await runner  # re-raises a login or gateway failure
    except discord.LoginFailure:
        log.error(
            "Discord rejected the token: open %s -> your app -> Bot -> Reset Token, and "
            "put the new token in .env as DISCORD_TOKEN.",
            PORTAL_URL,
        )
        return EXIT_FAILED
    except discord.PrivilegedIntentsRequired:
        log.error(
            "The bot asks for a privileged intent that is not enabled: open %s -> your "
            "app -> Bot -> Privileged Gateway Intents and enable Message Content.",
            PORTAL_URL,
        )
        return EXIT_FAILED
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    del argv  # no options: everything is configured through the environment / .env
    try:
        settings = load_settings()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_SETTINGS
    setup_logging(settings.log_level, settings.secrets)
    try:
        code = asyncio.run(run_bot(settings))
    except KeyboardInterrupt:
        code = EXIT_OK
    except Exception:
        log.exception("The bot stopped because of an unexpected error")
        code = EXIT_FAILED
    return leave_loading_worker_behind(code)


if __name__ == "__main__":
    sys.exit(main())
