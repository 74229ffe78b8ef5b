"""The radio in a browser: a page per station, following it live, with its audio over HTTP.

A station (started in Discord with /radio start, one per guild) has an unguessable token, made
when it starts; its page is /radio/<token>:

- GET /radio/<token>: the page: what plays now, the timeline of the clips' spectrograms (those
  kept so far), a Listen button; radio.js follows the two streams below. An ended station's
  page says it ended; a token never made (or long gone) is 404.
- GET /radio/<token>/events: server-sent events (text/event-stream): `clip` for each clip (its
  index, label, prompt, start in the station's stream, length, image URL), the kept ones first,
  then each as the station pushes it; `ended` when the station stops. A comment every
  KEEPALIVE_S keeps proxies from closing it.
- GET /radio/<token>/stream[?from=<index>]: the station's audio as one continuous MP3 (what an
  <audio> element plays): the clips the voice channel plays, encoded as they are pushed by one
  stateful encoder per listener, so clips join without gaps; `from` starts at a kept clip (the
  one the page shows), else at the newest.
- GET /radio/<token>/clips/<index>.png: a kept clip's spectrogram.

The clips come from the station's Broadcast (bot/voice/broadcast.py); nothing here imports
discord. Open streams end with their station: the bot stops its stations (unloading the voice
cog) before its web server, which would otherwise wait for them.
"""

from __future__ import annotations

import asyncio
import html
import json
from dataclasses import dataclass
from typing import Any

import av
from aiohttp import web
from pydub import AudioSegment

from bot.config import Settings
from bot.voice.broadcast import Broadcast, Broadcasts, Listener, ListenerGone, OnAir, pcm_frame

KEEPALIVE_S = 15.0
RETRY_MS = 3000  # how soon EventSource reconnects after a dropped connection
MP3_RATE = 44_100
MP3_BITRATE = 128_000
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
ENDED_TEXT = "This station has ended. Start a new one with /radio start in Discord."


def public_base(settings: Settings) -> str | None:
    """Where people reach the web side: WEB_PUBLIC_URL, else http://WEB_HOST:WEB_PORT; None
    without a web side."""
    if settings.web_port is None:
        return None
    if settings.web_public_url:
        return settings.web_public_url.rstrip("/")
    return f"http://{settings.web_host}:{settings.web_port}"


def radio_link(settings: Settings, token: str) -> str | None:
    """A station's page, for /radio start and /radio now."""
    base = public_base(settings)
    return f"{base}/radio/{token}" if base else None


class Mp3Encoder:
    """Clips in, one continuous MP3 out: one resampler and one encoder for a listener's whole
    stream, so the joins between clips are sample-continuous (no gap, no click)."""

    def __init__(self, rate: int = MP3_RATE, bitrate: int = MP3_BITRATE) -> None:
        self._resampler = av.AudioResampler(format="s16p", layout="stereo", rate=rate)
        codec: Any = av.CodecContext.create("libmp3lame", "w")
        codec.sample_rate = rate
        codec.layout = "stereo"
        codec.format = "s16p"
        codec.bit_rate = bitrate
        codec.open()
        self._codec = codec

    def encode(self, segment: AudioSegment) -> bytes:
        return self._packets(self._resampler.resample(pcm_frame(segment)))

    def flush(self) -> bytes:
        return self._packets(self._resampler.resample(None)) + self._packets([None])

    def _packets(self, frames: Any) -> bytes:
        return b"".join(bytes(p) for f in frames for p in self._codec.encode(f))


def clip_event(token: str, clip: OnAir) -> bytes:
    data = {
        "index": clip.index,
        "label": clip.label,
        "prompt": clip.prompt,
        "at_s": round(clip.at_s, 3),
        "duration_s": round(clip.duration_s, 3),
        "image": f"{token}/clips/{clip.index}.png" if clip.png is not None else None,
    }
    return f"id: {clip.index}\nevent: clip\ndata: {json.dumps(data)}\n\n".encode()


def ended_event(broadcast: Broadcast) -> bytes:
    data = {"reason": broadcast.end_reason, "text": ENDED_TEXT}
    return f"event: ended\ndata: {json.dumps(data)}\n\n".encode()


def page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="stylesheet" href="../static/site.css">'
        '<script src="../static/radio.js" defer></script>'
        f"</head><body>{body}</body></html>\n"
    )


def figure(token: str, clip: OnAir) -> str:
    label = html.escape(clip.label)
    image = (
        f'<img src="{token}/clips/{clip.index}.png" alt="spectrogram of clip {clip.index}">'
        if clip.png is not None
        else '<div class="no-image"></div>'
    )
    return (
        f'<figure data-index="{clip.index}" data-at="{clip.at_s:.3f}" title="{label}">'
        f"{image}<figcaption>{label}</figcaption></figure>"
    )


def live_page(broadcast: Broadcast) -> str:
    token = broadcast.token
    latest = broadcast.latest
    now = html.escape(latest.label) if latest else "starting… (rendering the first clips)"
    timeline = "".join(figure(token, clip) for clip in broadcast.recent)
    body = (
        f'<main class="radio" data-radio data-events="{token}/events" '
        f'data-stream="{token}/stream">'
        "<h1>📻 Riffusion radio</h1>"
        f'<p class="now">Now: <span id="now">{now}</span></p>'
        '<p class="controls"><button id="listen" type="button">▶ Listen</button> '
        '<span id="status" class="status" role="status">Live</span></p>'
        '<audio id="audio" preload="none"></audio>'
        f'<section id="timeline" class="timeline" aria-label="spectrograms">{timeline}</section>'
        '<p class="hint">Steer it from Discord: <code>/radio next</code> in the voice '
        "channel.</p>"
        "</main>"
    )
    return page(f"Riffusion radio: {broadcast.prompt}", body)


def ended_page(broadcast: Broadcast) -> str:
    body = (
        '<main class="radio ended">'
        "<h1>📻 Riffusion radio</h1>"
        f'<p class="now">Was: <span id="now">{html.escape(broadcast.prompt)}</span></p>'
        f'<p id="status" class="status" role="status">{html.escape(ENDED_TEXT)}</p>'
        "</main>"
    )
    return page("Riffusion radio (ended)", body)


def html_response(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )


@dataclass
class RadioRoutes:
    """The radio's pages and streams, for every station the bot runs."""

    broadcasts: Broadcasts

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/radio/{token}", self.page),
            web.get("/radio/{token}/events", self.events),
            web.get("/radio/{token}/stream", self.stream),
            web.get(r"/radio/{token}/clips/{index:\d{1,9}}.png", self.image),
        ]

    def _broadcast(self, request: web.Request) -> Broadcast:
        broadcast = self.broadcasts.get(request.match_info["token"])
        if broadcast is None:
            raise web.HTTPNotFound(text="No such radio station.")
        return broadcast

    async def page(self, request: web.Request) -> web.Response:
        broadcast = self.broadcasts.get(request.match_info["token"])
        if broadcast is None:
            body = (
                '<main class="radio"><h1>📻 Riffusion radio</h1>'
                "<p>No such station. Its link comes with <code>/radio start</code> and "
                "<code>/radio now</code> in Discord.</p></main>"
            )
            return html_response(page("Riffusion radio: not found", body), status=404)
        if broadcast.ended:
            return html_response(ended_page(broadcast))
        return html_response(live_page(broadcast))

    async def image(self, request: web.Request) -> web.Response:
        clip = self._broadcast(request).clip(int(request.match_info["index"]))
        if clip is None or clip.png is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=clip.png, content_type="image/png", headers={"Cache-Control": "max-age=3600"}
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        broadcast = self._broadcast(request)
        last_seen = request.headers.get("Last-Event-ID", "")
        after = int(last_seen) if last_seen.isdigit() else -1
        # Kept clips and the listener in one step on the loop: no clip missed, none twice.
        kept = [clip for clip in broadcast.recent if clip.index > after]
        listener = broadcast.listen() if not broadcast.ended else None
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            for old in kept:
                await response.write(clip_event(broadcast.token, old))
            if listener is not None:
                while (clip := await self._next(listener, response)) is not None:
                    await response.write(clip_event(broadcast.token, clip))
            if broadcast.ended:
                await response.write(ended_event(broadcast))
        except ConnectionError:
            pass  # the page went away
        finally:
            if listener is not None:
                listener.close()
        return response

    @staticmethod
    async def _next(listener: Listener, response: web.StreamResponse) -> OnAir | None:
        """The next clip, writing a keep-alive comment while none comes; None at the end."""
        while True:
            try:
                return await asyncio.wait_for(anext(listener, None), KEEPALIVE_S)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        broadcast = self._broadcast(request)
        if broadcast.ended:
            raise web.HTTPGone(text=ENDED_TEXT)
        start_text = request.query.get("from", "")
        latest = broadcast.latest
        start = int(start_text) if start_text.isdigit() else (latest.index if latest else None)
        try:
            listener = broadcast.listen(start)
        except ListenerGone as exc:
            raise web.HTTPServiceUnavailable(text=f"Too many listeners: {exc}.") from exc
        response = web.StreamResponse(
            headers={"Content-Type": "audio/mpeg", "Cache-Control": "no-store"}
        )
        encoder = Mp3Encoder()
        try:
            await response.prepare(request)
            async for clip in listener:
                await response.write(await asyncio.to_thread(encoder.encode, clip.audio))
            await response.write(await asyncio.to_thread(encoder.flush))
        except ConnectionError:
            pass  # the listener went away
        finally:
            listener.close()
        return response
