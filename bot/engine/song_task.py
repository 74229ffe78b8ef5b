"""/song as queue work: one clip a turn, so a song never holds the GPU while others wait.

A SongTask renders the next clip its folder does not have yet, keeps it there (WAV + PNG), and
returns Continue: the queue puts the job back in line behind the other users' turns (round-
robin), and the next turn renders the next clip. The turn that renders the last clip assembles
the song (riffusion_core/songs.py). The folder is the job's own (DATA_DIR/jobs/<id>/song), so
a restart resumes where it was; on the postgres queue the clips travel with the job instead.
"""

from __future__ import annotations

import io
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image
from pydub import AudioSegment

from bot.engine.queue import Continue
from bot.engine.tasks import CancelCheck, RenderOutput, StepCallback, WholeTrackTask
from bot.limits import MAX_PROMPT
from bot.params import RiffParams
from riffusion_core.audio import encode_wav
from riffusion_core.songs import (
    SongClip,
    SongPlan,
    SongSpec,
    assemble,
    plan_song,
    render_song_clip,
    tempo_loop_name,
)
from riffusion_core.tempo import clip_grid

SONG_FOLDER = "song"  # under the job's folder


def song_params(spec: SongSpec, title: str) -> RiffParams:
    """The song's request as the jobs and results tables keep every request: `title` (what
    the user typed) is its prompt, its length the duration; the rest is the song's own."""
    grid = clip_grid(spec.bpm)
    return RiffParams(
        prompt=" ".join(title.split())[:MAX_PROMPT],
        negative_prompt=spec.negative_prompt,
        seed=spec.seed,
        seed_image=tempo_loop_name(spec.loop, spec.bpm) if spec.loop else None,
        steps=spec.steps,
        guidance=spec.guidance,
        denoising=spec.denoising,
        duration_s=spec.length_s,
        width=grid.width,
    )


def clip_names(index: int) -> tuple[str, str]:
    return f"clip-{index:03d}.wav", f"clip-{index:03d}.png"


@dataclass(frozen=True)
class SongTask(WholeTrackTask):
    """A whole song, rendered one clip per queue turn (see the module docstring)."""

    song: SongSpec | None = None
    # Where finished clips are kept between turns, and its path relative to DATA_DIR (what a
    # GPU worker elsewhere uploads with the job). Set once the job has its row (for_job).
    folder: Path | None = field(default=None, compare=False)
    relative_folder: str | None = None

    @property
    def spec(self) -> SongSpec:
        if self.song is None:
            raise ValueError("a SongTask needs its song")
        return self.song

    @cached_property
    def plan(self) -> SongPlan:
        return plan_song(self.spec)

    @property
    def batch_key(self) -> Hashable | None:
        return None

    @property
    def cost(self) -> float:
        """One turn's work (one clip): what the queue measures its speed by."""
        return float(self.spec.steps)

    @property
    def clip_count(self) -> int:
        return len(self.plan.clips)

    def other_prompts(self) -> dict[str, str]:
        return {f"{s.label} prompt": s.prompt for s in self.spec.sections}

    def for_job(self, folder: Path, relative: str) -> SongTask:
        return replace(
            self, folder=folder / SONG_FOLDER, relative_folder=f"{relative}/{SONG_FOLDER}"
        )

    def done_clips(self) -> int:
        """Clips already made (kept in the folder), counted from the first."""
        if self.folder is None:
            return 0
        count = 0
        while all((self.folder / name).is_file() for name in clip_names(count)):
            count += 1
        return count

    def turns_left(self, progress: tuple[int, int] | None) -> int:
        done = progress[0] // self.spec.steps if progress else 0
        return max(1, len(self.plan.clips) - done)

    def progress_detail(self, progress: tuple[int, int] | None) -> str | None:
        """'section 2/5 (chorus), clip 7/24' for the status line."""
        plan = self.plan
        steps = self.spec.steps
        # Steps run 1..N within a clip: the clip under way (or, between turns, the last made).
        index = min(len(plan.clips) - 1, max(progress[0] - 1, 0) // steps if progress else 0)
        clip = plan.clips[index]
        return (
            f"section {clip.section + 1}/{len(plan.sections)} ({clip.label}), "
            f"clip {index + 1}/{len(plan.clips)}"
        )

    def render_on(
        self, pipe: Any, on_step: StepCallback, should_cancel: CancelCheck
    ) -> RenderOutput | Continue:
        if self.folder is None:
            raise ValueError("a SongTask renders into its job's folder")
        plan = self.plan
        total = len(plan.clips)
        steps = self.spec.steps
        index = self.done_clips()

        def overall(step: int, _total: int) -> None:
            on_step(index * steps + step, total * steps)

        if index < total:
            clip = render_song_clip(pipe, plan, index, on_step=overall, should_cancel=should_cancel)
            self._keep(index, clip)
            index += 1
            if index < total:
                names = clip_names(index - 1)
                return Continue(
                    progress=(index * steps, total * steps),
                    files=tuple(f"{self.relative_folder}/{name}" for name in names),
                )
        clips = [self._load(plan, i) for i in range(total)]
        # Loudness is set once for the whole song when the result is encoded (result_files).
        result = assemble(plan, clips, normalised=False)
        return RenderOutput(
            image=result.image,
            audio=result.audio,
            master=result.audio,
            clips=total,
            elapsed_s=result.elapsed_s,
        )

    def _keep(self, index: int, clip: SongClip) -> None:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        wav, png = clip_names(index)
        # The PNG second: a clip counts as made once both are there (done_clips).
        (self.folder / wav).write_bytes(encode_wav(clip.stored_audio))
        buffer = io.BytesIO()
        clip.image.save(buffer, format="PNG")
        (self.folder / png).write_bytes(buffer.getvalue())

    def _load(self, plan: SongPlan, index: int) -> SongClip:
        assert self.folder is not None
        wav, png = clip_names(index)
        audio = AudioSegment.from_wav(io.BytesIO((self.folder / wav).read_bytes()))
        with Image.open(self.folder / png) as image:
            return SongClip.from_stored(plan, index, image.convert("RGB"), audio)
