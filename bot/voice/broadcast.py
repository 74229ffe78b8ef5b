"""A station's clips handed to listeners outside the voice channel (the radio's web page).

Discord-free, so the web side (bot/web/radio.py) can import it: `RadioStation` pushes each clip
here as it enters the voice stream (its audio as played, its spectrogram image), and every
listener (`Broadcast.listen`) receives the clips from then on, in order, each through a small
queue of its own. A listener that falls that far behind is let go (its iteration ends) rather
than holding clips for it without bound. `Broadcasts` finds a station's broadcast by its token,
the unguessable part of its page's address, made when the station starts.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass

import av
import numpy as np
from pydub import AudioSegment

TOKEN_BYTES = 16  # 128 bits: the page's address is the only key to it
KEEP_IMAGES = 16  # clips a page that opens late shows on its timeline
KEEP_AUDIO = 3  # clips a new audio listener may start from (the one the page shows first)
LISTENER_BACKLOG = 6  # clips queued for a listener before it counts as gone
MAX_LISTENERS = 32  # per station: web listeners beyond this are turned away
KEEP_ENDED = 64  # ended stations whose page still says so (then: unknown)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class OnAir:
    """One clip as it goes out: `index` counts the station's clips from 0, `at_s` is where it
    starts in the station's stream, `png` its spectrogram (None where the renderer had none)."""

    index: int
    label: str
    prompt: str
    at_s: float
    audio: AudioSegment
    png: bytes | None

    @property
    def duration_s(self) -> float:
        return len(self.audio) / 1000


class ListenerGone(Exception):
    """No room for another listener of this station."""


class Broadcast:
    """One station's fan-out: clips in (`push`, on the event loop), to every listener."""

    def __init__(self, token: str, prompt: str) -> None:
        self.token = token
        self.prompt = prompt  # what the station started from
        self.recent: deque[OnAir] = deque(maxlen=KEEP_IMAGES)
        self.ended = False
        self.end_reason: str | None = None
        self._listeners: set[asyncio.Queue[OnAir | None]] = set()
        self._at_s = 0.0

    @property
    def latest(self) -> OnAir | None:
        return self.recent[-1] if self.recent else None

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def clip(self, index: int) -> OnAir | None:
        return next((c for c in self.recent if c.index == index), None)

    def push(
        self, index: int, label: str, prompt: str, audio: AudioSegment, png: bytes | None
    ) -> None:
        """A clip entered the station's stream: keep it for late pages and hand it out."""
        if self.ended:
            return
        clip = OnAir(index, label, prompt, self._at_s, audio, png)
        self._at_s += clip.duration_s
        self.recent.append(clip)
        # Old clips keep their image for the timeline, not their audio (memory).
        if len(self.recent) > KEEP_AUDIO:
            old = self.recent[-KEEP_AUDIO - 1]
            if len(old.audio):
                self.recent[-KEEP_AUDIO - 1] = OnAir(
                    old.index, old.label, old.prompt, old.at_s, AudioSegment.empty(), old.png
                )
        for queue in list(self._listeners):
            try:
                queue.put_nowait(clip)
            except asyncio.QueueFull:  # too far behind: let it go, don't hold clips for it
                self._drop(queue)

    def end(self, reason: str | None) -> None:
        """The station stopped: listeners' iterations end; late pages say it ended."""
        if self.ended:
            return
        self.ended = True
        self.end_reason = reason
        self.recent.clear()
        for queue in list(self._listeners):
            self._drop(queue)

    def _drop(self, queue: asyncio.Queue[OnAir | None]) -> None:
        self._listeners.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)

    def listen(self, start: int | None = None) -> Listener:
        """A listener of each clip from now on, as it is pushed; with `start`, first the kept
        clips from that index on (those that still have their audio), so a page starts where it
        shows. Its iteration ends when the station does, or when it falls too far behind; close
        it (or use it as a context manager) when done."""
        if not self.ended and len(self._listeners) >= MAX_LISTENERS:
            raise ListenerGone(f"this station has {MAX_LISTENERS} web listeners already")
        queue: asyncio.Queue[OnAir | None] = asyncio.Queue(maxsize=LISTENER_BACKLOG)
        if self.ended:
            queue.put_nowait(None)
            return Listener(self, queue)
        if start is not None:
            for clip in self.recent:
                if clip.index >= start and len(clip.audio) and not queue.full():
                    queue.put_nowait(clip)
        self._listeners.add(queue)
        return Listener(self, queue)


class Listener:
    """One listener's clips, in order (an async iterator)."""

    def __init__(self, broadcast: Broadcast, queue: asyncio.Queue[OnAir | None]) -> None:
        self.broadcast = broadcast
        self._queue = queue

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> OnAir:
        clip = await self._queue.get()
        if clip is None:
            self._queue.put_nowait(None)  # stays ended
            raise StopAsyncIteration
        return clip

    def close(self) -> None:
        self.broadcast._listeners.discard(self._queue)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Broadcasts:
    """Every station's broadcast by token: live ones, and the last ended ones (their pages say
    they ended; older tokens are unknown, like tokens never made)."""

    def __init__(self) -> None:
        self._all: OrderedDict[str, Broadcast] = OrderedDict()

    def open(self, prompt: str) -> Broadcast:
        """A new station's broadcast, under a new unguessable token."""
        ended = [token for token, b in self._all.items() if b.ended]
        for token in ended[: max(0, len(ended) - KEEP_ENDED + 1)]:
            del self._all[token]
        broadcast = Broadcast(new_token(), prompt)
        self._all[broadcast.token] = broadcast
        return broadcast

    def get(self, token: str) -> Broadcast | None:
        return self._all.get(token)

    def live(self) -> list[Broadcast]:
        return [b for b in self._all.values() if not b.ended]


def pcm_frame(segment: AudioSegment) -> av.AudioFrame:
    """A pydub segment as one packed s16 PyAV frame (mono or stereo)."""
    if segment.channels > 2:
        segment = segment.set_channels(2)
    if segment.sample_width != 2:
        segment = segment.set_sample_width(2)
    samples = np.frombuffer(segment.raw_data, dtype=np.int16)
    layout = "mono" if segment.channels == 1 else "stereo"
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout=layout)
    frame.sample_rate = segment.frame_rate
    return frame
