"""Remix, Discord-free: check the request, read the upload safely, queue one job.

Four ways in (a reply, /remix, the message menu, the Remix button: bot/ui/remix_paths.py) end
in `RemixService.submit`, which queues a RemixTask through the same JobService as /riff, so
fairness, limits, progress, cancel and posting are shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from bot.config import Settings
from bot.engine.tasks import RemixTask
from bot.jobs.origin import Origin
from bot.jobs.service import JobRequest, JobService
from bot.jobs.uploads import AttachmentLike, UploadedAudio, UploadError, UploadLimits, fetch_audio
from bot.limits import DEFAULT_GUIDANCE, DEFAULT_STRENGTH, MAX_PROMPT, MAX_SEED, MIN_STRENGTH
from bot.params import RiffParams, random_seed
from bot.policy.user_settings import Limits, UserDefaults, pick, remix_steps_problem
from bot.store.files import Storage
from bot.store.models import Generation


def upload_limits(settings: Settings) -> UploadLimits:
    return UploadLimits(
        max_bytes=int(settings.max_upload_mb * 1024 * 1024),
        max_duration_s=settings.max_remix_input_s,
        decode_timeout_s=settings.decode_timeout_s,
    )


@dataclass
class RemixRequest:
    """A remix as the user asked for it, before the upload is read."""

    prompt: str
    strength: float = DEFAULT_STRENGTH
    seed: int = field(default_factory=random_seed)
    parent: Generation | None = None
    steps: int | None = None  # None: the bot's default
    negative_prompt: str | None = None
    guidance: float = DEFAULT_GUIDANCE


class RemixService:
    """Reads uploads safely and queues remix jobs."""

    def __init__(self, settings: Settings, jobs: JobService, files: Storage) -> None:
        self.settings = settings
        self.jobs = jobs
        self.files = files
        self.limits = upload_limits(settings)
        self._session: aiohttp.ClientSession | None = None
        self._reading: set[int] = set()  # users with an upload being downloaded or decoded

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def check_request(
        self,
        prompt: str | None,
        strength: float | None,
        seed: int | None,
        parent: Generation | None,
        mine: UserDefaults | None = None,
        limits: Limits | None = None,
    ) -> RemixRequest:
        """Fill defaults (the user's /settings, then the bot's); raises UploadError (a
        user-facing line) for unusable options."""
        mine = mine or UserDefaults()
        text = (prompt or "").strip() or (parent.prompt if parent else "")
        if not text:
            raise UploadError(
                "Please describe the style to remix into, e.g. 'lofi hip hop, warm piano'."
            )
        if len(text) > MAX_PROMPT:
            raise UploadError(f"The prompt is too long (at most {MAX_PROMPT} characters).")
        strength = pick(strength, mine.remix_strength, DEFAULT_STRENGTH)
        if not MIN_STRENGTH <= strength <= 1.0:
            raise UploadError(
                f"The strength must be between {MIN_STRENGTH:g} and 1 (got {strength:g})."
            )
        own_steps = mine.steps if mine.steps is None or limits is None else limits.steps(mine.steps)
        steps = pick(None, own_steps, self.settings.default_steps)
        problem = remix_steps_problem(steps, strength)
        if problem:
            raise UploadError(problem)
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise UploadError(f"The seed must be between 0 and {MAX_SEED}.")
        return RemixRequest(
            prompt=text,
            strength=strength,
            seed=random_seed() if seed is None else seed,
            parent=parent,
            steps=steps,
            negative_prompt=mine.negative_prompt,
            guidance=pick(None, mine.guidance, DEFAULT_GUIDANCE),
        )

    async def read(self, user_id: int, attachment: AttachmentLike) -> UploadedAudio:
        """fetch_audio, one upload at a time per user (a burst of big files cannot pile up)."""
        if user_id in self._reading:
            raise UploadError(
                "Your previous file is still being read; wait a moment and try again."
            )
        self._reading.add(user_id)
        try:
            return await fetch_audio(attachment, self.files.uploads_dir, self.limits, self.session)
        finally:
            self._reading.discard(user_id)

    async def submit(
        self,
        origin: Origin,
        request: RemixRequest,
        audio: UploadedAudio,
        defaults: UserDefaults | None = None,
    ) -> None:
        """Queue the remix through the job service (status, progress, cancel, result)."""
        params = RiffParams(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            seed=request.seed,
            steps=request.steps or self.settings.default_steps,
            guidance=request.guidance,
            denoising=request.strength,
            duration_s=round(audio.used_s, 2),
        )
        task = RemixTask(
            params=params,
            audio=audio.segment,
            source_duration_s=audio.source_duration_s,
            max_input_s=self.limits.max_duration_s,
        )
        extra = {
            "remix": {
                "used": audio.used_text(),
                "input_s": round(audio.used_s, 3),
                "source_duration_s": audio.source_duration_s,
                "truncated": audio.truncated,
            }
        }
        await self.jobs.start(
            origin,
            JobRequest(params=params, kind="remix", task=task, parent=request.parent, extra=extra),
            defaults,
        )
