"""The radio as a service: makes a station for a voice channel, rendering on the shared queue.

Built once by the app; the voice cog asks it for a station when someone runs /radio start, and
the web side finds a station's broadcast by its page's token in `broadcasts`. The
walk starts as Riffusion's web app does, img2img from its seed image (og_beat: Riffusion's own
when SEED_IMAGES_DIR holds it, else the bundled loop that answers to that name) at 0.75.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.config import Settings
from bot.engine.job_queue import JobQueue
from bot.voice.broadcast import Broadcast, Broadcasts
from bot.voice.radio import RadioStation, RenderClip, SeedWalk
from bot.voice.sessions import radio_renderer
from riffusion_core.loudness import LoudnessSettings
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE
from riffusion_core.seed_images.catalogue import SeedImageCatalogue

RADIO_SEED_IMAGE = DEFAULT_INTERPOLATION_SEED_IMAGE
Announce = Callable[[str], Awaitable[None]]


class RadioStations:
    """Makes radio stations; `renderer` says how a station's clips are rendered (tests swap
    it for tones)."""

    def __init__(
        self,
        settings: Settings,
        queue: JobQueue,
        seed_images: SeedImageCatalogue,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.seed_images = seed_images
        self.renderer: Callable[[int, int, int], RenderClip] = self.queue_renderer
        self.broadcasts = Broadcasts()  # each station's web listeners, by its page's token

    def station(
        self,
        prompt: str,
        seed: int,
        *,
        guild_id: int,
        channel_id: int,
        steps: int,
        announce: Announce,
        on_air: Broadcast | None = None,
    ) -> RadioStation:
        """A station; `on_air` is its broadcast when the caller opened it already (to give its
        page's link first), else a new one."""
        return RadioStation(
            SeedWalk(prompt, seed),
            self.renderer(guild_id, channel_id, steps),
            announce,
            buffer_clips=self.settings.radio_buffer_clips,
            loudness=LoudnessSettings(target_rms_dbfs=self.settings.target_rms_dbfs),
            on_air=on_air if on_air is not None else self.broadcasts.open(prompt),
        )

    def queue_renderer(self, guild_id: int, channel_id: int, steps: int) -> RenderClip:
        """Clips rendered on the GPU queue, in a fairness lane of the voice channel's own."""
        seed_images = self.seed_images
        seed_image = (
            seed_images.request_value(RADIO_SEED_IMAGE) if RADIO_SEED_IMAGE in seed_images else None
        )
        return radio_renderer(
            self.queue, lane=-channel_id, group=guild_id, steps=steps, seed_image=seed_image
        )
