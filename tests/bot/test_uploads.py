"""Upload safety: checks before download, a hard byte cap, our own file names, decoding off the
event loop with a time limit, and a corpus of bad uploads over the fake Discord after which the
bot still serves /riff.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

import bot.jobs.uploads as uploads
from bot.config import load_settings
from bot.jobs.uploads import UploadError, UploadLimits, check_declared, download, fetch_audio
from tests.fakediscord import FakeDiscord
from tests.fixtures.audio import write_audio_bytes
from tests.fixtures.bot import BotHarness
from tests.fixtures.mixing import is_result

pytestmark = pytest.mark.timeout(180)
MB = 1024 * 1024


@dataclass
class Att:
    """What bot.uploads reads from a discord.Attachment."""

    filename: str
    size: int
    url: str = "http://127.0.0.1:9/never"
    content_type: str | None = None


class ExplodingSession:
    """A session that fails the test if anything tries to download."""

    def get(self, *args, **kwargs):
        raise AssertionError("downloaded although the declared size or type was refused")


def silent_flac(seconds: float, rate: int = 8000) -> bytes:
    """A genuine FLAC of `seconds` of silence (tiny however long), written frame by frame."""
    buf = io.BytesIO()
    block = 8192
    zeros = np.zeros((1, block), dtype=np.int16)
    with av.open(buf, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        for start in range(0, int(seconds * rate), block):
            frame = av.AudioFrame.from_ndarray(zeros, format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def empty_wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"")
    return buf.getvalue()


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


# ---- checks before downloading ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("att", "message"),
    [
        (Att("song.mp3", 30 * MB, content_type="audio/mpeg"), "up to 25 MB"),
        (Att("photo.png", 1000, content_type="image/png"), "not audio"),
        (Att("notes.txt", 1000, content_type="text/plain; charset=utf-8"), "not audio"),
        (Att("song.mp3", 0, content_type="audio/mpeg"), "empty"),
        (Att("blob", 1000, content_type="application/octet-stream"), "not audio"),
    ],
)
async def test_refused_before_any_download(att: Att, message: str, tmp_path: Path):
    with pytest.raises(UploadError, match=message):
        await fetch_audio(att, tmp_path, UploadLimits(), ExplodingSession())  # type: ignore[arg-type]
    assert not (tmp_path / "uploads").exists()


def test_declared_audio_is_accepted():
    limits = UploadLimits()
    check_declared(Att("a.mp3", 10, content_type="audio/mpeg"), limits)
    check_declared(Att("b.webm", 10, content_type="video/webm"), limits)
    check_declared(Att("c.ogg", 10, content_type=None), limits)
    check_declared(Att("d.flac", 10, content_type="application/octet-stream"), limits)


def test_settings_defaults_and_env():
    settings = load_settings({"DISCORD_TOKEN": "x"}, dotenv_path=None)
    assert (settings.max_upload_mb, settings.max_remix_input_s) == (25.0, 60.0)
    settings = load_settings(
        {
            "DISCORD_TOKEN": "x",
            "MAX_UPLOAD_MB": "8",
            "MAX_REMIX_INPUT_S": "30",
            "DECODE_TIMEOUT_S": "5",
        },
        dotenv_path=None,
    )
    assert (settings.max_upload_mb, settings.max_remix_input_s, settings.decode_timeout_s) == (
        8.0,
        30.0,
        5.0,
    )


# ---- the download ----------------------------------------------------------------------------


@pytest.fixture
async def cdn():
    """A CDN that streams `body` chunked (no Content-Length), whatever the attachment says."""
    state = {"body": b""}

    async def serve(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        body = state["body"]
        for start in range(0, len(body), 32 * 1024):
            await response.write(body[start : start + 32 * 1024])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/{name:.*}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, state
    finally:
        await server.close()


async def test_download_stops_at_the_declared_size_and_cleans_up(cdn, tmp_path: Path):
    import aiohttp

    server, state = cdn
    state["body"] = b"\0" * (2 * MB)
    liar = Att(
        "small.wav", 1000, url=str(server.make_url("/a/small.wav")), content_type="audio/wav"
    )
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UploadError, match="larger than it claims"):
            await download(liar, tmp_path, UploadLimits(), session)
    assert list(tmp_path.iterdir()) == []


async def test_download_is_named_by_us_inside_the_folder(cdn, tmp_path: Path):
    import aiohttp

    server, state = cdn
    state["body"] = write_audio_bytes("wav", 0.5)
    sneaky = Att(
        "../../etc/passwd.wav",
        len(state["body"]),
        url=str(server.make_url("/x.wav")),
        content_type="audio/wav",
    )
    folder = tmp_path / "uploads"
    async with aiohttp.ClientSession() as session:
        path = await download(sneaky, folder, UploadLimits(), session)
        assert path.parent == folder and path.suffix == ".upload"
        assert path.read_bytes() == state["body"]
        audio = await fetch_audio(sneaky, folder, UploadLimits(), session)
    assert audio.used_s == pytest.approx(0.5, abs=0.01) and not audio.truncated
    assert audio.used_text() == "used all of 0:00"
    assert [p.name for p in folder.iterdir()] == [path.name]  # fetch_audio removed its own


async def test_a_stuck_decoder_neither_stalls_the_loop_nor_the_user(monkeypatch, tmp_path: Path):
    def stuck(*args, **kwargs):
        time.sleep(1.5)
        raise AssertionError("should have been abandoned")

    monkeypatch.setattr(uploads, "decode_audio", stuck)
    monkeypatch.setattr(uploads, "DECODE_GRACE_S", 0.0)
    path = tmp_path / "x.upload"
    path.write_bytes(b"whatever")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    with pytest.raises(UploadError, match="took too long"):
        await uploads.decode_file(path, UploadLimits(decode_timeout_s=0.3))
    task.cancel()
    assert time.monotonic() - started < 1.2
    assert ticks >= 3  # the event loop kept running while the decoder was stuck


# ---- bad uploads over the fake Discord ---------------------------------------------------------


async def test_bad_uploads_get_clear_errors_and_the_bot_keeps_serving(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer
):
    fake = fake_discord
    mp3 = write_audio_bytes("mp3", 2.0)
    corpus = [
        (("empty.mp3", b""), "empty"),
        (("cut.mp3", mp3[: len(mp3) // 2]), "damaged or cut off"),
        (("notes.mp3", b"this is a text file, not audio\n" * 40), "isn't audio"),
        (("picture.wav", png_bytes()), "is an image"),
        (("huge.wav", b"\0" * (MB + MB // 2)), "up to 1 MB"),
        (("silence.wav", empty_wav()), "0 seconds"),
        (("photo.png", png_bytes()), "not audio"),
    ]
    async with bot_harness.running(pipe_renderer, MAX_UPLOAD_MB="1", MAX_REMIX_INPUT_S="8"):
        for upload, expected in corpus:
            interaction = await fake.slash(
                fake.member, "remix", {"audio": upload, "prompt": "jazz"}
            )
            reply = await fake.response_message(interaction, timeout=30)
            assert reply.ephemeral, upload[0]
            assert expected in reply.content, (upload[0], reply.content)
            assert "Traceback" not in reply.content

        # A bad file in a reply gets its answer in the channel.
        riff = await fake.slash(fake.member, "riff", {"prompt": "first"})
        result = await fake.wait_for_message(is_result, timeout=30)
        await fake.user_message(
            fake.member, reply_to=result, attachments=[("fake.mp3", b"not audio at all" * 10)]
        )
        answer = await fake.wait_for_message(
            lambda m: "⚠️" in m.content and not m.ephemeral, timeout=15
        )
        assert "isn't audio" in answer.content

        # An hour-long file: its first part is used, and the reply says so.
        hour = silent_flac(3600)
        assert len(hour) < MB
        await fake.slash(fake.member, "remix", {"audio": ("hour.flac", hour), "prompt": "drone"})
        long = await fake.wait_for_message(is_result, timeout=60)
        assert "used 0:00-0:08 of 1:00:00" in long.content

        # ... and the bot still serves the next /riff.
        await fake.slash(fake.admin, "riff", {"prompt": "still here"})
        after = await fake.wait_for_message(is_result, timeout=30)
        assert "still here" in after.content
        assert riff.response is not None
    uploads_dir = bot_harness.data_dir / "uploads"
    assert not uploads_dir.exists() or not list(uploads_dir.iterdir())


async def test_one_upload_at_a_time_per_user(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, monkeypatch
):
    import bot.jobs.remix as remixes

    release = asyncio.Event()
    real_fetch = remixes.fetch_audio

    async def slow_fetch(*args, **kwargs):
        await release.wait()
        return await real_fetch(*args, **kwargs)

    monkeypatch.setattr(remixes, "fetch_audio", slow_fetch)
    fake = fake_discord
    wav = write_audio_bytes("wav", 1.0)
    async with bot_harness.running(pipe_renderer):
        first = await fake.slash(fake.member, "remix", {"audio": ("a.wav", wav), "prompt": "a"})
        await fake.interaction_response(first)
        second = await fake.slash(fake.member, "remix", {"audio": ("b.wav", wav), "prompt": "b"})
        refused = await fake.response_message(second, timeout=10)
        assert refused.ephemeral and "still being read" in refused.content
        other = await fake.slash(fake.admin, "remix", {"audio": ("c.wav", wav), "prompt": "c"})
        await fake.interaction_response(other)
        release.set()
        results = [await fake.wait_for_message(is_result, timeout=30) for _ in range(2)]
        assert sorted(m.content.split("**")[1] for m in results) == ["a", "c"]
