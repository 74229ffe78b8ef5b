"""Voice channels: one connection per guild, playing a result or the radio, leaving when idle.

Everything here talks to discord.py's VoiceClient through four methods (play, stop, is_playing,
disconnect, plus move_to/channel), so tests drive it with a fake client that pulls frames from the
AudioSource the way discord.py's player thread does; voice transport itself cannot run offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import discord

from bot.engine.job_queue import JobQueue
from bot.engine.radio_clips import RadioClip, RadioRender, RadioTask
from bot.voice.radio import RadioStation
from riffusion_core.audio import ffmpeg_executable
from riffusion_core.errors import RiffusionError

log = logging.getLogger(__name__)


class VoiceClientLike(Protocol):
    channel: Any

    def play(
        self, source: discord.AudioSource, *, after: Callable[[Exception | None], Any] | None = None
    ) -> None: ...
    def stop(self) -> None: ...
    def is_playing(self) -> bool: ...
    def is_connected(self) -> bool: ...
    async def disconnect(self, *, force: bool = False) -> None: ...
    async def move_to(self, channel: Any) -> None: ...


Connector = Callable[[Any], Awaitable[VoiceClientLike]]


async def connect_voice(channel: discord.VoiceChannel | discord.StageChannel) -> VoiceClientLike:
    """discord.py's own connection (needs the voice extra: PyNaCl and davey)."""
    return await channel.connect(self_deaf=True, timeout=20)


def ensure_opus() -> bool:
    """Load libopus for discord.py's encoder: the system's, else the one inside PyAV's wheel.

    discord.py encodes PCM sources to Opus itself and, on Linux, finds libopus only as a system
    library; PyAV (already a dependency) ships one, so no system package is needed.
    """
    if discord.opus.is_loaded():
        return True
    with contextlib.suppress(Exception):
        if discord.opus._load_default():
            return True
    import av

    libs = Path(av.__file__).resolve().parent.parent / "av.libs"
    for candidate in sorted(libs.glob("libopus*.so*")) + sorted(libs.glob("libopus*.dylib")):
        try:
            discord.opus.load_opus(str(candidate))
            return True
        except OSError:
            continue
    log.warning("No Opus library found: voice playback will not work (install libopus)")
    return False


def file_source(path: str) -> discord.AudioSource:
    """A stored result, decoded by the ffmpeg from the imageio-ffmpeg wheel."""
    return discord.FFmpegPCMAudio(path, executable=ffmpeg_executable())


@dataclass
class GuildVoice:
    client: VoiceClientLike
    what: str = ""
    radio: RadioStation | None = None
    text_channel: Any = None
    idle_task: asyncio.Task | None = field(default=None, repr=False)


class VoiceSessions:
    """The bot's voice connections by guild id."""

    def __init__(self, idle_s: float, connect: Connector = connect_voice) -> None:
        self.idle_s = idle_s
        self.connect = connect
        self.guilds: dict[int, GuildVoice] = {}

    def get(self, guild_id: int) -> GuildVoice | None:
        session = self.guilds.get(guild_id)
        if session is not None and not session.client.is_connected():
            # Disconnected from outside (kicked, channel deleted): stop rendering for nobody.
            self.guilds.pop(guild_id, None)
            if session.radio is not None:
                asyncio.get_running_loop().create_task(session.radio.stop("disconnected"))
            return None
        return session

    async def join(self, guild_id: int, channel: Any) -> GuildVoice:
        """Connect to `channel`, or move there from another channel of the same guild."""
        session = self.get(guild_id)
        if session is None:
            session = GuildVoice(await self.connect(channel))
            self.guilds[guild_id] = session
        elif getattr(session.client.channel, "id", None) != channel.id:
            await session.client.move_to(channel)
        return session

    def play(self, guild_id: int, source: discord.AudioSource, what: str) -> None:
        """Play `source` now (replacing what plays); leave after `idle_s` of silence."""
        session = self.guilds[guild_id]
        loop = asyncio.get_running_loop()
        if session.idle_task is not None:
            session.idle_task.cancel()
            session.idle_task = None
        if session.client.is_playing():
            session.client.stop()
        session.what = what

        def after(error: Exception | None) -> None:  # discord.py's player thread
            if error is not None:
                log.warning("Voice playback in guild %s ended with %s", guild_id, error)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._ended, guild_id, source)

        session.client.play(source, after=after)

    def _ended(self, guild_id: int, source: discord.AudioSource) -> None:
        session = self.guilds.get(guild_id)
        if session is None or session.client.is_playing():
            return
        if session.idle_task is None:
            session.idle_task = asyncio.create_task(
                self._leave_when_idle(guild_id), name=f"voice-idle-{guild_id}"
            )

    async def _leave_when_idle(self, guild_id: int) -> None:
        await asyncio.sleep(self.idle_s)
        session = self.guilds.get(guild_id)
        if session is not None and not session.client.is_playing():
            session.idle_task = None
            await self.leave(guild_id)

    async def leave(self, guild_id: int) -> None:
        session = self.guilds.pop(guild_id, None)
        if session is None:
            return
        if session.idle_task is not None and session.idle_task is not asyncio.current_task():
            session.idle_task.cancel()
        if session.radio is not None:
            await session.radio.stop("left the channel")
        with contextlib.suppress(Exception):
            session.client.stop()
        with contextlib.suppress(discord.HTTPException, asyncio.TimeoutError):
            await session.client.disconnect(force=True)

    async def close(self) -> None:
        for guild_id in list(self.guilds):
            await self.leave(guild_id)


def radio_renderer(
    queue: JobQueue, *, lane: int, group: int | None, steps: int, seed_image: str | None
) -> Callable[[RadioClip], Awaitable[RadioRender]]:
    """Render radio clips on the shared GPU queue, one at a time, in their own fairness lane.

    `lane` is the queue's "user" for the radio (e.g. minus the voice channel id), so listeners'
    own /riff requests take turns with it instead of waiting behind an endless stream; `group`
    is the guild, so /admin pause holds the radio too.
    """

    async def render(clip: RadioClip) -> RadioRender:
        if group is not None and queue.is_paused(group):
            raise RiffusionError("generation was paused by the server's admins.")
        task = RadioTask(clip, steps, seed_image)
        job = await queue.render_clip(lane, task, cost=task.cost, group=group)
        try:
            return await job.wait()
        finally:
            queue.cancel(job)  # nothing once finished; stops the render if the radio stopped

    return render
