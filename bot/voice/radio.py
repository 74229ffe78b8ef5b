"""The endless radio: the Riffusion web app's ever-morphing loop, as one gapless PCM stream.

Three parts, none of which knows about voice transport:

- `SeedWalk` decides what comes next, as the web app does: each transition renders alpha 0.25,
  0.5, 0.75 and 1.0 from (prompt, seed s) to (next prompt, seed s + 1), then starts from where it
  arrived; a prompt typed meanwhile (`steer`) becomes the end of the next transition.
- `PcmStream` holds rendered audio as one continuous 48 kHz stereo s16 byte stream. Clips are
  resampled once, as they arrive, by ONE stateful resampler, so the joins between clips are
  sample-continuous (no gap, no click from restarting a filter); discord.py's player thread reads
  it in 20 ms frames through `RadioSource`, which never blocks.
- `RadioStation` renders ahead of playback (a buffer of a few clips), starts playing once a
  couple are ready, measures render time against clip length, and when the device cannot render
  faster than real time it says so and stops instead of stuttering. Each clip it pushes also
  goes out on its `Broadcast` (bot/voice/broadcast.py) to web listeners (`listen`), with its
  spectrogram image.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import av
import discord
from pydub import AudioSegment

from bot.engine.radio_clips import RadioClip, RadioRender
from bot.voice.broadcast import Broadcast, Listener, new_token, pcm_frame
from riffusion_core.errors import RiffusionError
from riffusion_core.generation import next_seed
from riffusion_core.loudness import LoudnessSettings, StreamNormaliser

log = logging.getLogger(__name__)

PCM_RATE = 48_000  # what Discord voice (Opus) wants
PCM_CHANNELS = 2
FRAME_MS = 20
FRAME_SAMPLES = PCM_RATE * FRAME_MS // 1000  # 960 per channel
FRAME_BYTES = FRAME_SAMPLES * PCM_CHANNELS * 2  # 3840
SILENCE = bytes(FRAME_BYTES)
ALPHAS = (0.25, 0.5, 0.75, 1.0)
MAX_PENDING_PROMPTS = 5
REALTIME_MARGIN = 0.9  # render must take at most 90 % of the clip's length to keep ahead


class SeedWalk:
    """The web app's loop: transitions of four clips, seed s to s + 1, steered by new prompts."""

    def __init__(self, prompt: str, seed: int = 0) -> None:
        self.prompt = prompt
        self.seed = seed
        self.pending: deque[str] = deque(maxlen=MAX_PENDING_PROMPTS)
        self._transition: tuple[str, int, str, int] | None = None
        self._step = 0
        self._index = 0

    def steer(self, prompt: str) -> int:
        """Queue `prompt` as the end of an upcoming transition; returns its place (1 = next)."""
        self.pending.append(prompt)
        return len(self.pending)

    def next(self) -> RadioClip:
        if self._step == 0:
            end = self.pending.popleft() if self.pending else self.prompt
            self._transition = (self.prompt, self.seed, end, next_seed(self.seed))
        assert self._transition is not None
        start_prompt, start_seed, end_prompt, end_seed = self._transition
        clip = RadioClip(
            self._index, start_prompt, start_seed, end_prompt, end_seed, ALPHAS[self._step]
        )
        self._index += 1
        self._step += 1
        if self._step == len(ALPHAS):  # arrived: the end is where the next transition starts
            self._step = 0
            self.prompt, self.seed = end_prompt, end_seed
        return clip


class PcmStream:
    """A thread-safe FIFO of 48 kHz stereo s16 PCM fed clip by clip, read frame by frame."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resampling = threading.Lock()  # push (a worker thread) vs finish (the loop)
        self._data = bytearray()
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=PCM_RATE)
        self._rate: int | None = None
        self._written = 0  # bytes ever pushed
        self._read = 0  # bytes ever read
        self._clip_ends: deque[tuple[int, RadioClip | None]] = deque()
        self.closed = False
        self.frames_read = 0
        self.underruns = 0
        self.now_playing: RadioClip | None = None
        self.on_consumed: Callable[[], None] | None = None  # called from the reading thread

    def push(self, segment: AudioSegment, clip: RadioClip | None = None) -> int:
        """Resample and append a clip (any thread); returns the bytes it added."""
        if self._rate is None:
            self._rate = segment.frame_rate
        elif segment.frame_rate != self._rate:
            segment = segment.set_frame_rate(self._rate)  # one stream, one input rate
        with self._resampling:
            if self.closed:
                return 0
            pcm = b"".join(
                bytes(f.to_ndarray()) for f in self._resampler.resample(pcm_frame(segment))
            )
            with self._lock:
                self._data += pcm
                self._written += len(pcm)
                self._clip_ends.append((self._written, clip))
        return len(pcm)

    def finish(self) -> None:
        """No more clips: flush the resampler's tail; reads end once the data is used up."""
        with self._resampling:
            if self.closed:
                return
            tail = b"".join(bytes(f.to_ndarray()) for f in self._resampler.resample(None))
            with self._lock:
                self._data += tail
                self._written += len(tail)
                self.closed = True

    def read(self) -> bytes:
        """One 20 ms frame; silence on an underrun (counted); b"" once finished and drained."""
        with self._lock:
            if len(self._data) >= FRAME_BYTES:
                frame = bytes(self._data[:FRAME_BYTES])
                del self._data[:FRAME_BYTES]
            elif self.closed:
                if not self._data:
                    return b""
                frame = bytes(self._data) + bytes(FRAME_BYTES - len(self._data))
                self._data.clear()
            else:
                self.underruns += 1
                return SILENCE
            self._read += len(frame)
            self.frames_read += 1
            while self._clip_ends and self._clip_ends[0][0] <= self._read:
                self._clip_ends.popleft()
            self.now_playing = self._clip_ends[0][1] if self._clip_ends else None
        if self.on_consumed is not None:
            self.on_consumed()
        return frame

    @property
    def buffered_s(self) -> float:
        with self._lock:
            return len(self._data) / (PCM_RATE * PCM_CHANNELS * 2)

    @property
    def clips_ahead(self) -> int:
        """Clips not yet completely played (the one playing counts)."""
        with self._lock:
            return len(self._clip_ends)


class RadioSource(discord.AudioSource):
    """What discord.py's player thread reads: 20 ms of 48 kHz stereo s16 PCM per call."""

    def __init__(self, stream: PcmStream) -> None:
        self.stream = stream

    def read(self) -> bytes:
        return self.stream.read()

    def is_opus(self) -> bool:
        return False


@dataclass
class RenderedClip:
    audio: AudioSegment
    render_s: float  # wall time from asking to having it (queue wait included)


RenderClip = Callable[[RadioClip], Awaitable[RadioRender]]
Announce = Callable[[str], Awaitable[None]]


class TooSlow(Exception):
    """The device renders slower than real time; the radio stops rather than stutter."""


class RadioStation:
    """Renders the walk ahead of playback into one PcmStream; steered; stops cleanly."""

    def __init__(
        self,
        walk: SeedWalk,
        render: RenderClip,
        announce: Announce,
        *,
        buffer_clips: int = 3,
        prefill_clips: int = 2,
        slow_window: int = 3,
        loudness: LoudnessSettings | None = None,
        on_air: Broadcast | None = None,
    ) -> None:
        self.walk = walk
        # Where clips go out to web listeners; its token is the station's page address.
        self.on_air = on_air if on_air is not None else Broadcast(new_token(), walk.prompt)
        # The stream is one endless track: its loudness glides from clip to clip, no pumping.
        # None leaves clips as rendered.
        self.level = StreamNormaliser(loudness) if loudness is not None else None
        self.render = render
        self.announce = announce
        self.buffer_clips = max(1, buffer_clips)
        self.prefill_clips = max(1, min(prefill_clips, self.buffer_clips))
        self.slow_window = slow_window
        self.stream = PcmStream()
        self.source = RadioSource(self.stream)
        self.rendered: list[RadioClip] = []
        self.ratios: deque[float] = deque(maxlen=slow_window)
        self.stopped = asyncio.Event()
        self.stop_reason: str | None = None
        self._space = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self, play: Callable[[RadioSource], None]) -> asyncio.Task:
        loop = asyncio.get_running_loop()

        def consumed() -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._space.set)

        self.stream.on_consumed = consumed
        self._task = asyncio.create_task(self._run(play), name="radio")
        return self._task

    def steer(self, prompt: str) -> int:
        return self.walk.steer(prompt)

    def listen(self, start: int | None = None) -> Listener:
        """Each clip's audio (as the voice stream plays it) and image, as it is pushed."""
        return self.on_air.listen(start)

    async def stop(self, reason: str = "stopped") -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopped.set()
        self._space.set()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    @staticmethod
    def too_slow_text(
        render_s: float, clip_s: float, outcome: str = "It stops here instead"
    ) -> str:
        return (
            f"⚠️ This bot's device needs {render_s:.1f} s to render {clip_s:.1f} s of music, "
            "not fast enough to stay ahead of playback, so the radio would stutter. "
            f"{outcome}; /riff still works (it just takes a while); fewer steps or a GPU "
            "make the radio possible."
        )

    async def _run(self, play: Callable[[RadioSource], None]) -> None:
        playing = False
        try:
            while not self.stopped.is_set():
                if self.stream.clips_ahead >= self.buffer_clips:
                    self._space.clear()
                    if self.stream.clips_ahead >= self.buffer_clips:
                        await self._space.wait()
                    continue
                clip = self.walk.next()
                started = time.monotonic()
                rendered = await self.render(clip)
                render_s = time.monotonic() - started
                clip_s = len(rendered.audio) / 1000
                self.ratios.append(render_s / max(clip_s, 1e-6))
                if self._too_slow(playing):
                    self.stop_reason = "too slow"
                    await self.announce(self.too_slow_text(render_s, clip_s))
                    break
                await self._push_whole(rendered, clip)
                if not playing and self.stream.clips_ahead >= self.prefill_clips:
                    play(self.source)
                    playing = True
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # a render failure ends the radio with a message, not silence
            log.exception("The radio stopped after an error")
            self.stop_reason = "error"
            reason = (
                str(exc)
                if isinstance(exc, RiffusionError)
                else ("something went wrong; the bot's log has the details.")
            )
            with contextlib.suppress(Exception):
                await self.announce(f"📻 The radio stopped: {reason}")
        finally:
            tail = self.level.flush() if self.level is not None else None
            if tail is not None:
                self.stream.push(tail)
            self.stream.finish()
            self.on_air.end(self.stop_reason or "stopped")
            self.stopped.set()

    async def _push_whole(self, rendered: RadioRender, clip: RadioClip) -> None:
        """Push a clip on a thread, whole even when a stop comes meanwhile (a stop cancels the
        waiting, not the thread): what is counted as rendered is what the stream holds, and
        what web listeners get."""
        push = asyncio.ensure_future(asyncio.to_thread(self._push, rendered, clip))
        try:
            await asyncio.shield(push)
        finally:
            await asyncio.wait({push})
            if not push.cancelled() and push.exception() is None:
                self.rendered.append(clip)
                audio, png = push.result()
                self.on_air.push(clip.index, clip.label, clip.end_prompt, audio, png)

    def _push(self, rendered: RadioRender, clip: RadioClip) -> tuple[AudioSegment, bytes | None]:
        audio = self.level(rendered.audio) if self.level is not None else rendered.audio
        self.stream.push(audio, clip)
        png = None
        if rendered.image is not None:
            buffer = io.BytesIO()
            rendered.image.save(buffer, format="PNG")
            png = buffer.getvalue()
        return audio, png

    def _too_slow(self, playing: bool) -> bool:
        """The first clip decides before anything plays; later, a moving average of the last
        few (one slow clip, e.g. behind someone's /riff, is absorbed by the buffer)."""
        if not playing and len(self.rendered) == 0:
            return self.ratios[-1] > REALTIME_MARGIN
        window = list(self.ratios)[-self.slow_window :]
        return len(window) >= self.slow_window and sum(window) / len(window) > 1.0
