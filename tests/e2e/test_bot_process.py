"""`python -m bot` as a real process against the fake Discord, with the tiny model.

The one place the whole stack runs as users run it: settings from the environment, logging,
the model loaded on the worker thread, /riff end to end, a SIGTERM, then a second process that
serves the buttons of the first one's result. Heartbeats are checked during generation and the
token is looked for in everything the processes logged.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BOT_TOKEN, is_result, process_env

pytestmark = pytest.mark.slow


@asynccontextmanager
async def bot_process(
    fake: FakeDiscord, env: dict[str, str], log: Path, codes: list[int]
) -> AsyncIterator[asyncio.subprocess.Process]:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=log.parent, env=env, stdout=out, stderr=out
        )
    try:
        await fake.wait_for_bot(timeout=90)
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                codes.append(await asyncio.wait_for(proc.wait(), 60))
            except asyncio.TimeoutError:
                proc.kill()
                codes.append(await proc.wait())


async def test_python_m_bot_end_to_end_and_after_restart(
    fake_discord: FakeDiscord, tiny_model_dir: Path, tmp_path: Path
):
    fake = fake_discord
    fake.token = BOT_TOKEN
    env = process_env(
        fake, tiny_model_dir, tmp_path / "data", PROGRESS_INTERVAL_S="1", LOG_LEVEL="DEBUG"
    )
    log = tmp_path / "bot.log"
    codes: list[int] = []

    async with bot_process(fake, env, log, codes):
        interaction = await fake.slash(fake.member, "riff", {"prompt": "jazz saxophone", "seed": 5})
        callback = await fake.interaction_response(interaction, timeout=3)
        assert callback.at - interaction.created_at < 3.0
        status = await fake.response_message(interaction)
        result = await fake.wait_for_message(is_result, timeout=240)
        finished = fake.now()
        # The event loop stayed free while the worker thread generated: no heartbeat was late.
        beats = [b.at for b in fake.heartbeats if callback.at <= b.at <= finished]
        gaps = [b - a for a, b in itertools.pairwise(beats)]
        assert len(beats) >= 2 and max(gaps) < 3.0, gaps
        assert fake.member.mention in result.content
        png = next(data for name, data in result.files.items() if name.endswith(".png"))
        mp3 = next(data for name, data in result.files.items() if name.endswith(".mp3"))
        assert png.startswith(b"\x89PNG") and len(mp3) > 10_000
        assert len(result.custom_ids()) == 8  # six result buttons, Remix and Play (cogs/voice.py)
        await fake.wait_until(lambda: "is ready" in status.content, what="status done")
    assert codes == [0]

    async with bot_process(fake, env, log, codes):
        gen = result.custom_ids()[0].rsplit(":", 1)[1]
        info = await fake.click(result, f"riff:info:{gen}", fake.member)
        reply = await fake.response_message(info, timeout=10)
        assert reply.ephemeral and "seed:5" in reply.content and "steps:2" in reply.content
        fav = await fake.click(result, f"riff:fav:{gen}", fake.member)
        assert "Added" in (await fake.response_message(fav, timeout=10)).content
    assert codes == [0, 0]

    text = log.read_text(errors="replace")
    assert BOT_TOKEN not in text
    assert "Can't keep up" not in text and "heartbeat blocked" not in text
    assert len(re.findall(r"Synced \d+ application command", text)) == 1  # not on the restart
