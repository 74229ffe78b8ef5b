"""The radio in a browser, over HTTP: a station started in Discord has a page at
/radio/<token>, its clips as server-sent events, its audio as one MP3 stream, its spectrograms;
a stopped station's page says it ended; an unknown token is 404. The renderer is swapped for
tones with images, the voice connection for the fake of tests/bot/test_radio.py."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import av
import numpy as np
from PIL import Image

from bot.engine.radio_clips import RadioRender
from bot.voice.broadcast import Broadcast, Broadcasts
from bot.voice.radio import RadioClip
from bot.web.radio import Mp3Encoder
from tests.bot.test_radio import FakeVoiceClient, ToneRenderer, fake_voice, put_in_voice, tone
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer
from tests.fixtures.web import free_port

VOICE_CHANNEL = 9101


class PictureTones(ToneRenderer):
    """Tones with a spectrogram-like picture each (a bright band that moves with the index)."""

    async def __call__(self, clip: RadioClip) -> RadioRender:
        rendered = await super().__call__(clip)
        pixels = np.zeros((128, 128, 3), dtype=np.uint8)
        row = 8 + (clip.index * 13) % 112
        pixels[row : row + 8, :, :] = (255, 200, 40)
        pixels[:, :, 2] = np.linspace(40, 120, 128, dtype=np.uint8)[:, None]
        return RadioRender(rendered.audio, Image.fromarray(pixels))


@dataclass
class OnAirStation:
    bot: Any
    voice: FakeVoiceClient
    renderer: PictureTones
    base: str  # http://127.0.0.1:<port>
    token: str
    started: str  # what /radio start answered

    @property
    def page(self) -> str:
        return f"{self.base}/radio/{self.token}"

    async def play(self, seconds: float, *, realtime: bool = False) -> None:
        """The voice channel plays `seconds` (the station renders on as room frees up), at
        once or as discord.py's player thread would, in real time."""
        for _ in range(round(seconds * 10)):
            self.voice.pull(5)
            await asyncio.sleep(0.1 if realtime else 0.01)


@asynccontextmanager
async def station_on_air(
    fake: FakeDiscord, harness: BotHarness, *, clip_s: float = 1.0
) -> AsyncIterator[OnAirStation]:
    """The bot with its web side on a free port and a station started with /radio start."""
    port = free_port()
    tones = PictureTones(clip_samples=round(44_100 * clip_s))
    async with harness.running(FakeRenderer(), WEB_PORT=str(port)) as bot:
        clients = fake_voice(bot, idle_s=5)
        bot.services.radio.renderer = lambda guild_id, channel_id, steps: tones
        put_in_voice(bot, fake, fake.member.id, VOICE_CHANNEL)
        started = await fake.response_message(
            await fake.slash(fake.member, "radio start", {"prompt": "night drive", "seed": 4})
        )
        found = re.search(rf"http://127\.0\.0\.1:{port}/radio/([\w-]+)", started.content)
        assert found, started.content
        await fake.wait_until(lambda: clients and clients[0].playing, what="radio playing")
        yield OnAirStation(
            bot, clients[0], tones, f"http://127.0.0.1:{port}", found[1], started.content
        )


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[tuple[str, dict]]:
    """The next `count` events of a text/event-stream (comments and retry lines skipped)."""
    events: list[tuple[str, dict]] = []
    kind, data = "message", ""
    while len(events) < count:
        line = (await asyncio.wait_for(response.content.readline(), 10)).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            events.append((kind, json.loads(data)))
            kind, data = "message", ""
    return events


def decode_mp3(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data), format="mp3") as container:
        chunks = [f.to_ndarray() for f in container.decode(audio=0)]
    return np.concatenate(chunks, axis=1)


async def test_a_station_page_follows_the_clips_streams_audio_and_ends(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with (
        station_on_air(fake, bot_harness) as on_air,
        aiohttp.ClientSession() as http,
    ):
        assert "Listen and watch the spectrograms in a browser" in on_air.started
        now = await fake.response_message(await fake.slash(fake.member, "radio now"))
        assert on_air.page in now.content

        async with http.get(on_air.page) as answer:
            text = await answer.text()
            assert answer.status == 200 and answer.content_type == "text/html"
            assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
            assert answer.headers["X-Frame-Options"] == "DENY"
        assert "night drive" in text and 'id="timeline"' in text and "Listen" in text
        async with http.get(f"{on_air.base}/static/site.css") as css:
            assert css.status == 200 and css.content_type == "text/css"
        async with http.get(f"{on_air.base}/static/..%2Fradio.py") as sneaky:
            assert sneaky.status == 404

        async with http.get(f"{on_air.page}/events") as events:
            assert events.content_type == "text/event-stream"
            kept = await read_events(events, 2)  # rendered ahead before the page opened
            assert [k for k, _ in kept] == ["clip", "clip"]
            assert [e["index"] for _, e in kept] == [0, 1]
            first, second = kept[0][1], kept[1][1]
            assert "night drive" in first["label"] and first["at_s"] == 0
            assert second["at_s"] == first["duration_s"] > 0.5  # where it starts in the stream
            async with http.get(f"{on_air.base}/radio/{first['image']}") as png:  # relative
                assert png.content_type == "image/png"
                assert Image.open(io.BytesIO(await png.read())).size == (128, 128)
            async with http.get(f"{on_air.page}/stream?from=1") as stream:
                assert stream.content_type == "audio/mpeg"
                mp3 = await asyncio.wait_for(stream.content.readexactly(8 * 1024), 10)
                # The newest clip kept, then each one the station pushes as the channel plays.
                await on_air.play(2.5)
                clip_events = [e for _, e in await read_events(events, 2)]
                assert [e["index"] for e in clip_events] == [2, 3]  # in order, none missed
                mp3 += await asyncio.wait_for(stream.content.readexactly(24 * 1024), 10)
            audio = decode_mp3(mp3)
            assert audio.shape[1] > 44_100 * 1.5 and np.abs(audio).max() > 0.2  # music, not 0

            stopped = await fake.response_message(await fake.slash(fake.member, "radio stop"))
            assert "stopped" in stopped.content
            rest = await read_events(events, 1)
            while rest[-1][0] == "clip":  # a clip pushed as it stopped, then the end
                rest = await read_events(events, 1)
            assert rest[-1][0] == "ended" and "has ended" in rest[-1][1]["text"]

        async with http.get(on_air.page) as answer:
            assert answer.status == 200 and "This station has ended" in await answer.text()
        async with http.get(f"{on_air.page}/stream") as gone:
            assert gone.status == 410
        async with http.get(f"{on_air.base}/radio/not-a-station") as unknown:
            assert unknown.status == 404 and "No such station" in await unknown.text()
        async with http.get(f"{on_air.base}/radio/not-a-station/events") as unknown:
            assert unknown.status == 404


async def test_broadcast_fans_clips_out_in_order_and_lets_a_laggard_go():
    broadcasts = Broadcasts()
    on_air: Broadcast = broadcasts.open("jazz")
    assert broadcasts.get(on_air.token) is on_air and len(on_air.token) >= 22
    early = on_air.listen()
    for index in range(3):
        on_air.push(index, f"clip {index}", "jazz", tone(index * 441, 441), None)
    late = on_air.listen(start=1)  # from a kept clip on: 1, 2, then live
    on_air.push(3, "clip 3", "jazz", tone(3 * 441, 441), b"png")
    assert [c.index for c in [await anext(early) for _ in range(4)]] == [0, 1, 2, 3]
    assert [c.index for c in [await anext(late) for _ in range(3)]] == [1, 2, 3]
    assert on_air.recent[0].at_s == 0 and on_air.clip(3).at_s == 0.03
    assert len(on_air.recent[0].audio) == 0 and len(on_air.clip(3).audio) == 10  # audio: newest
    for index in range(4, 4 + 7):  # `late` keeps up; `early` does not: past its backlog, let go
        on_air.push(index, "x", "jazz", tone(0, 441), None)
        assert (await anext(late)).index == index
    assert on_air.listeners == 1
    assert [c async for c in early] == []
    on_air.end("stopped")
    assert on_air.ended and on_air.listen().__aiter__() is not None
    assert [c async for c in on_air.listen()] == []


def test_mp3_stream_joins_clips_without_a_gap():
    encoder = Mp3Encoder()
    data = b"".join(encoder.encode(tone(k * 22_050, 22_050)) for k in range(4)) + encoder.flush()
    audio = decode_mp3(data)[0]
    assert abs(audio.shape[0] - 2 * 44_100) < 3000  # all four half-seconds (codec padding aside)
    body = audio[3000:-3000]
    # A 441 Hz sine throughout: every period at full level (no gap at the joins, every half
    # second) and no jump bigger than the sine's own steepest step (no click).
    peaks = np.abs(body[: len(body) // 100 * 100]).reshape(-1, 100).max(axis=1)
    level = np.median(peaks)
    assert level > 0.2 and peaks.min() > 0.9 * level
    assert np.abs(np.diff(body)).max() < 2 * np.pi * 441 / 44_100 * level * 1.2


async def test_open_streams_do_not_hold_up_the_bot_stopping(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    async with aiohttp.ClientSession() as http:
        async with station_on_air(fake_discord, bot_harness) as on_air:
            events = await http.get(f"{on_air.page}/events")
            stream = await http.get(f"{on_air.page}/stream")
            await read_events(events, 1)
            await stream.content.readexactly(1024)
            began = asyncio.get_running_loop().time()
        # Stopping the bot stops its stations before its web server: open streams end with them
        # (aiohttp would wait up to a minute for them).
        assert asyncio.get_running_loop().time() - began < 10
        assert await asyncio.wait_for(events.content.read(), 5) is not None
        events.release()
        stream.release()
