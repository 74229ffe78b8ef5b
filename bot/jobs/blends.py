"""A blend as a job: prompt A to prompt B over a number of clips, one crossfaded track."""

from __future__ import annotations

from dataclasses import replace

from bot.engine.tasks import BlendTask, blend_length_s
from bot.jobs.service import JobRequest
from bot.params import RiffParams
from bot.store.models import Generation
from riffusion_core.tracks import blend_alphas


def blend_request(
    params: RiffParams,
    *,
    prompt_b: str,
    seed_b: int,
    clips: int,
    parent: Generation | None = None,
) -> JobRequest:
    """/blend and Reroll seeds: the task, and what the result keeps about its two ends."""
    params = replace(params, duration_s=blend_length_s(clips, params.width))
    task = BlendTask(params=params, end_prompt=prompt_b, end_seed=seed_b, clips=clips)
    extra = {
        "blend": {
            "prompt_b": prompt_b,
            "seed_b": seed_b,
            "clips": clips,
            "alphas": blend_alphas(clips),
        }
    }
    return JobRequest(params=params, kind="blend", task=task, parent=parent, extra=extra)
