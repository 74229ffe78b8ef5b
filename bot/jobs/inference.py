"""Riffusion's inference API as a job: the reference server's one call, on the bot's fair queue.

Riffusion's web app asks its server for one clip at a time: a point `alpha` of the way from one
(prompt, seed) to another, from a seed image (riffusion-format.md section 7). Here that request
is checked, recorded and queued like any Discord request, with no HTTP or Discord code: the web
side (bot/web/inference.py) parses the body, names the caller and maps the outcome to a status.

- Who asks: a `Caller`, one API key (bound to a server by WEB_API_KEYS: that server's rules
  apply, its pause holds the job) or this machine itself (a loopback web side without a key:
  the bot-wide limits only).
- Fairness: each caller is one user of the queue, in a lane of its own (`api_lane`): a negative
  id, so it never meets a Discord user (positive snowflakes) or a radio (minus a voice channel's
  snowflake, below -2**40). Per-user limits (MAX_JOBS_PER_USER, a server's queued jobs per
  member and jobs per day) count per key.
- The work: a BlendClipTask, one alpha between the two ends, which both queue modes run (a GPU
  worker rebuilds it from the row). The row's kind is "api": never resumed after a restart (the
  HTTP caller is gone; JobService.resume_unfinished cancels it), never in /history (no result
  row is written), and marked delivered once answered.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from bot.engine.job_queue import Handle
from bot.engine.queue import JobSuspended, QueueClosed, QueueFull
from bot.engine.tasks import BlendClipTask, MadeResult, RenderResult
from bot.jobs import specs
from bot.jobs.result_files import encode_result
from bot.jobs.service import API_KIND, JobEnd, JobService, with_seed_file
from bot.jobs.specs import JobSpec
from bot.limits import (
    CLIP_SECONDS,
    MAX_GUIDANCE,
    MAX_PROMPT,
    MAX_SEED,
    MAX_STEP_OPTION,
    MIN_DENOISING,
    MIN_STEPS,
)
from bot.params import RiffParams
from bot.policy.rules import Requester, refusal_kind
from bot.store import records
from bot.store.models import JobState
from riffusion_core.errors import GenerationCancelled, RiffusionError
from riffusion_core.loudness import LoudnessSettings

log = logging.getLogger(__name__)

LOCAL_LANE = -1  # a loopback caller without a key
API_FILESIZE_LIMIT = 8 * 1024 * 1024  # one clip's MP3 is far below; the worker's encode cap
DEFAULT_SEED_IMAGE = "og_beat"  # the reference's default seed_image_id


def api_lane(key: str | None) -> int:
    """The queue's user id for a caller: -1 for this machine without a key, else minus
    (2 + the first 5 bytes of the key's SHA-256): stable across restarts and bot processes,
    between -2 and -2**40 - 1, so never a Discord user nor a radio lane."""
    if key is None:
        return LOCAL_LANE
    digest = hashlib.sha256(b"riffusion-api:" + key.encode()).digest()
    return -(2 + int.from_bytes(digest[:5], "big"))


@dataclass(frozen=True)
class Caller:
    """Who calls the API: a key's server (its rules apply) or this machine (guild None)."""

    lane: int
    guild_id: int | None


class BadInput(RiffusionError):
    """The body is not an InferenceInput (the message names the reference's field)."""


class Refused(RiffusionError):
    """The request is fine but not taken now. `why`: "paused" (the server is paused or the
    bot stops), "limit" (the caller's share of the queue is used), "rule" (a server rule, e.g.
    blocked words, refuses it), "failed" (rendering failed)."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True)
class PromptInput:
    """One end, as the reference names its fields."""

    prompt: str
    seed: int
    denoising: float = 0.75
    guidance: float = 7.0
    negative_prompt: str | None = None


@dataclass(frozen=True)
class InferenceInput:
    """The reference's request body, checked."""

    start: PromptInput
    end: PromptInput
    alpha: float
    num_inference_steps: int = 50
    seed_image_id: str = DEFAULT_SEED_IMAGE
    mask_image_id: str | None = None

    def params(self) -> RiffParams:
        """The start end as the bot's parameters; guidance and denoising are interpolated
        between the ends at alpha, as the reference's pipeline does."""
        a = self.alpha
        return RiffParams(
            prompt=self.start.prompt,
            negative_prompt=self.start.negative_prompt or self.end.negative_prompt,
            seed=self.start.seed,
            seed_image=self.seed_image_id,
            steps=self.num_inference_steps,
            guidance=self.start.guidance * (1 - a) + self.end.guidance * a,
            denoising=self.start.denoising * (1 - a) + self.end.denoising * a,
            duration_s=CLIP_SECONDS,
        )

    def task(self) -> BlendClipTask:
        return BlendClipTask(
            params=self.params(),
            end_prompt=self.end.prompt,
            end_seed=self.end.seed,
            alpha=self.alpha,
        )


@dataclass(frozen=True)
class InferenceOutput:
    """The reference's answer: a JPEG of the spectrogram, the clip as MP3, its length."""

    jpeg: bytes
    mp3: bytes
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "image": "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii"),
            "audio": "data:audio/mpeg;base64," + base64.b64encode(self.mp3).decode("ascii"),
            "duration_s": self.duration_s,
        }


# ---- checking the body ----------------------------------------------------------------------


def _number(
    data: Mapping[str, Any],
    name: str,
    path: str,
    low: float,
    high: float,
    default: float | None = None,
    *,
    low_open: bool = False,
) -> float:
    value = data.get(name, default)
    where = f"{path}{name}"
    if value is None:
        raise BadInput(f"{where} is required (a number)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{where} must be a number")
    number = float(value)
    too_low = number <= low if low_open else number < low
    if not math.isfinite(number) or too_low or number > high:
        bracket = "(" if low_open else "["
        raise BadInput(f"{where} must be in {bracket}{low:g}, {high:g}] (got {value!r})")
    return number


def _integer(
    data: Mapping[str, Any], name: str, path: str, low: int, high: int, default: int | None = None
) -> int:
    value = data.get(name, default)
    where = f"{path}{name}"
    if value is None:
        raise BadInput(f"{where} is required (a whole number)")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{where} must be a whole number")
    if not low <= value <= high:
        raise BadInput(f"{where} must be in [{low}, {high}] (got {value})")
    return value


def _text(data: Mapping[str, Any], name: str, path: str, *, required: bool) -> str | None:
    value = data.get(name)
    where = f"{path}{name}"
    if value is None:
        if required:
            raise BadInput(f"{where} is required (a string)")
        return None
    if not isinstance(value, str):
        raise BadInput(f"{where} must be a string")
    if required and not value.strip():
        raise BadInput(f"{where} must not be empty")
    if len(value) > MAX_PROMPT:
        raise BadInput(f"{where} is longer than {MAX_PROMPT} characters")
    return value


def _prompt_input(data: Mapping[str, Any], name: str) -> PromptInput:
    end = data.get(name)
    if end is None:
        raise BadInput(f"{name} is required (an object with prompt, seed, denoising, guidance)")
    if not isinstance(end, dict):
        raise BadInput(f"{name} must be an object")
    path = f"{name}."
    prompt = _text(end, "prompt", path, required=True)
    assert prompt is not None
    return PromptInput(
        prompt=prompt,
        seed=_integer(end, "seed", path, 0, MAX_SEED),
        denoising=_number(end, "denoising", path, MIN_DENOISING, 1.0, 0.75),
        guidance=_number(end, "guidance", path, 0.0, MAX_GUIDANCE, 7.0),
        negative_prompt=_text(end, "negative_prompt", path, required=False),
    )


def parse_input(data: object, seed_image_ids: list[str], max_steps: int) -> InferenceInput:
    """The body as an InferenceInput, or BadInput naming the first field that is wrong.

    `seed_image_ids`: the names a seed_image_id may take (a name, never a path: anything else
    is an unknown id). Unknown fields are ignored, as the reference does.
    """
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object (InferenceInput)")
    start = _prompt_input(data, "start")
    end = _prompt_input(data, "end")
    alpha = _number(data, "alpha", "", 0.0, 1.0)
    steps = _integer(
        data, "num_inference_steps", "", MIN_STEPS, min(max_steps, MAX_STEP_OPTION), 50
    )
    seed_image = data.get("seed_image_id", DEFAULT_SEED_IMAGE)
    if not isinstance(seed_image, str):
        raise BadInput("seed_image_id must be a string")
    if seed_image not in seed_image_ids:
        listed = ", ".join(seed_image_ids)
        shown = seed_image if len(seed_image) <= 100 else seed_image[:100] + "…"
        raise BadInput(f"seed_image_id {shown!r} is not known; known ids: {listed}")
    mask = data.get("mask_image_id")
    if mask is not None:
        raise BadInput("mask_image_id is not supported (send null)")
    return InferenceInput(
        start=start,
        end=end,
        alpha=alpha,
        num_inference_steps=steps,
        seed_image_id=seed_image,
    )


# ---- running it -------------------------------------------------------------------------------


class InferenceService:
    """Checks, records, queues and awaits API requests on the job service's queue and rules."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.settings = jobs.settings
        self.db = jobs.db
        self.queue = jobs.queue
        self.policy = jobs.policy
        self._active: dict[int, int] = {}  # lane -> requests queued or running here
        self._tasks: set[asyncio.Task[None]] = set()

    def seed_image_ids(self) -> list[str]:
        """The ids a request may name: the bundled seed images, SEED_IMAGES_DIR's, and the
        reference's default og_beat (a former name of a bundled loop)."""
        names = self.jobs.seed_images.names()
        if DEFAULT_SEED_IMAGE in self.jobs.seed_images and DEFAULT_SEED_IMAGE not in names:
            names = sorted([*names, DEFAULT_SEED_IMAGE])
        return names

    def parse(self, data: object) -> InferenceInput:
        return parse_input(data, self.seed_image_ids(), self.settings.max_steps)

    async def run(self, caller: Caller, request: InferenceInput) -> InferenceOutput:
        """Queue the request in the caller's lane and wait for its clip; Refused when it is
        not taken. Cancelled (the HTTP client went away): the job is cancelled too."""
        handle, job_id = await self._queue(caller, request)
        began = time.monotonic()
        self._active[caller.lane] = self._active.get(caller.lane, 0) + 1
        outcome = "failed"
        try:
            try:
                result: RenderResult = await handle.wait()
            except asyncio.CancelledError:
                outcome = "cancelled"
                self.queue.cancel(handle)
                self._after(job_id, JobState.CANCELLED)
                raise
            except JobSuspended as exc:
                outcome = "suspended"
                self._after(job_id, JobState.CANCELLED)
                raise Refused(str(exc), "paused") from exc
            except GenerationCancelled as exc:
                outcome = "cancelled"
                self._after(job_id, JobState.CANCELLED)
                raise Refused("the request was cancelled", "paused") from exc
            except RiffusionError as exc:
                self._after(job_id, JobState.FAILED, error=str(exc))
                raise Refused(str(exc), "failed") from exc
            try:
                output = await asyncio.to_thread(self._encode, result)
            except Exception as exc:
                log.exception("API job %s: encoding the answer failed", job_id)
                self._after(job_id, JobState.FAILED, error="encoding the answer failed")
                raise Refused("encoding the answer failed", "failed") from exc
            outcome = "done"
            await self.queue.saved(job_id)  # the postgres queue may drop its copy
            await records.update_job(self.db, job_id, state=JobState.DELIVERED)
            return output
        finally:
            self._active[caller.lane] -= 1
            if not self._active[caller.lane]:
                del self._active[caller.lane]
            self.jobs.ended(JobEnd(API_KIND, outcome, time.monotonic() - began))

    async def _queue(self, caller: Caller, request: InferenceInput) -> tuple[Handle, int]:
        requester = Requester(
            user_id=caller.lane,
            guild_id=caller.guild_id,
            channel_id=None,
            filesize_limit=API_FILESIZE_LIMIT,
            outside_discord=True,
        )
        task = request.task()
        async with self.queue.admission(caller.lane):
            if self.queue.closed:
                raise Refused(str(QueueClosed()), "paused")
            held = await self.queue.held_by(caller.lane)
            active = self._active.get(caller.lane, 0) if held is None else held
            refusal = await self.policy.check(
                requester, task.params, task=task, kind=API_KIND, active_jobs=active
            )
            if refusal:
                raise Refused(refusal, refusal_kind(refusal))
            spec = JobSpec(
                task=specs.describe(task, self.jobs.files),
                extra={},
                filesize_limit=API_FILESIZE_LIMIT,
            )
            job_id = await records.create_job(
                self.db,
                kind=API_KIND,
                user_id=caller.lane,
                guild_id=caller.guild_id,
                channel_id=None,
                params=task.params.to_json(),
                parent_generation_id=None,
                task=spec.to_json(),
            )
            try:
                handle = await self.queue.enqueue(
                    job_id,
                    caller.lane,
                    with_seed_file(task, self.jobs.seed_images),
                    batch_key=task.batch_key,
                    cost=task.cost,
                    group=caller.guild_id,
                )
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    await records.delete_job(self.db, job_id)
                if isinstance(exc, QueueFull):
                    raise Refused(str(exc), "limit") from exc
                if isinstance(exc, QueueClosed):
                    raise Refused(str(exc), "paused") from exc
                if isinstance(exc, RiffusionError):
                    raise Refused(str(exc), "rule") from exc
                raise
        return handle, job_id

    def _after(self, job_id: int, state: JobState, **values: Any) -> None:
        """Record how the job ended, without holding up (or being cancelled with) the answer."""
        task = asyncio.create_task(self._record(job_id, state, **values), name=f"api-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, job_id: int, state: JobState, **values: Any) -> None:
        try:
            await records.update_job(self.db, job_id, state=state, **values)
        except Exception:
            log.exception("Could not record how API job %s ended", job_id)

    def _encode(self, result: RenderResult) -> InferenceOutput:
        """JPEG and MP3 of a result: encoded here (local queue) or by the worker (postgres)."""
        if isinstance(result, MadeResult):
            with Image.open(io.BytesIO(result.png)) as picture:
                image = picture.convert("RGB")
            return InferenceOutput(jpeg=_jpeg(image), mp3=result.mp3, duration_s=result.duration_s)
        loudness = LoudnessSettings(target_rms_dbfs=self.settings.target_rms_dbfs)
        encoded = encode_result(result.image, result.audio, API_FILESIZE_LIMIT, loudness)
        return InferenceOutput(
            jpeg=_jpeg(result.image), mp3=encoded.mp3, duration_s=result.duration_s
        )


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()
