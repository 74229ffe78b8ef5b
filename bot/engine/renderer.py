"""The queue's render function: RenderTasks in, finished audio and spectrograms out.

Runs only on the queue's worker thread, which owns the pipeline (loaded there by `prepare`).
Single-clip tasks (riff, variation, extend) share one `render_clips` call when the queue batches
them; a riff longer than one clip is a chain of clips rendered by `riff_long`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image

from bot.engine.tasks import CancelCheck, RenderOutput, RendersItself, RenderTask, StepCallback
from bot.params import RiffParams
from riffusion_core.audio import stitch
from riffusion_core.audio_decode import decode_audio
from riffusion_core.clips import render_clips
from riffusion_core.generation import GenerationRequest, GenerationResult
from riffusion_core.strip import side_by_side
from riffusion_core.tempo import bars_in, clip_grid
from riffusion_core.tracks import CHAIN_CROSSFADE_MS, chain_requests, riff_in_tempo, riff_long

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def base_request(params: RiffParams, init_image: str | None = None) -> GenerationRequest:
    return GenerationRequest(
        start=params.prompt_input(),
        num_inference_steps=params.steps,
        seed_image=init_image or params.seed_image,
        width=params.width,
    )


class Renderer(Protocol):
    """What the queue's worker runs: load once (`prepare`), then render batches of tasks."""

    @property
    def device_name(self) -> str | None:
        """The device the model was loaded on; None until it is loaded."""
        ...

    def prepare(self) -> None: ...

    def __call__(
        self, tasks: Sequence[RenderTask], on_step: StepCallback, should_cancel: CancelCheck
    ) -> list[RenderOutput]: ...


class PipelineRenderer:
    """Owns the diffusion pipeline; callable as the queue's render function."""

    def __init__(
        self,
        model: str,
        device: str,
        scratch_dir: Path,
        loader: Callable[..., object] | None = None,
    ) -> None:
        self.model = model
        self.device = device
        self.scratch_dir = Path(scratch_dir)
        self._loader = loader
        self.pipe: Any = None

    @property
    def device_name(self) -> str | None:
        return str(self.pipe.device) if self.pipe is not None else None

    def prepare(self) -> None:
        """Load the pipeline on the worker thread (the first run downloads about 5 GB)."""
        from riffusion_core.model import load_pipeline

        log.info(
            "Loading the model %s on %s (the first start downloads it)", self.model, self.device
        )
        started = time.perf_counter()
        loader = self._loader or load_pipeline
        self.pipe = loader(self.model, device=self.device, show_progress=False)
        log.info("Model ready in %.1f s", time.perf_counter() - started)

    def __call__(self, tasks: Sequence[RenderTask], on_step, should_cancel) -> list[RenderOutput]:
        if self.pipe is None:
            self.prepare()
        try:
            if len(tasks) == 1 and isinstance(tasks[0], RendersItself):
                return [tasks[0].render_on(self.pipe, on_step, should_cancel)]
            if len(tasks) == 1 and not tasks[0].single_clip:
                return [self._long(tasks[0], on_step, should_cancel)]
            return self._clips(tasks, on_step, should_cancel)
        except Exception as exc:
            if type(exc).__name__ == "OutOfMemoryError":
                import torch

                torch.cuda.empty_cache()
            raise

    def _clips(self, tasks: Sequence[RenderTask], on_step, should_cancel) -> list[RenderOutput]:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=self._scratch()) as scratch:
            requests = [self._clip_request(task, Path(scratch)) for task in tasks]
            results = render_clips(
                self.pipe, requests, on_step=on_step, should_cancel=should_cancel
            )
        elapsed = time.perf_counter() - started
        return [
            self._finish_clip(task, result, elapsed)
            for task, result in zip(tasks, results, strict=True)
        ]

    def _clip_request(self, task: RenderTask, scratch: Path) -> GenerationRequest:
        init = None
        if task.init_image is not None:
            init = str(self._first_clip(task.init_image, task.params.width, scratch))
        request = base_request(task.params, init)
        if task.extend is not None:
            # The next link of the same chain riff_long walks: it lines up with the last clip.
            request = chain_requests(request, task.extend.clips + 1)[-1]
        return request

    def _finish_clip(
        self, task: RenderTask, result: GenerationResult, elapsed: float
    ) -> RenderOutput:
        if task.extend is not None:
            previous = decode_audio(task.extend.master_path).segment
            master = stitch([previous, result.audio], CHAIN_CROSSFADE_MS)
            with Image.open(task.extend.image_path) as old:
                image = side_by_side([old.convert("RGB"), result.image])
            return RenderOutput(
                image=image,
                audio=master,
                master=master,
                clips=task.extend.clips + 1,
                elapsed_s=elapsed,
            )
        wanted_ms = round(task.params.duration_s * 1000)
        audio = result.audio
        if len(audio) > wanted_ms:
            audio = audio[:wanted_ms].fade_out(10)
        return RenderOutput(
            image=result.image, audio=audio, master=result.audio, clips=1, elapsed_s=elapsed
        )

    def _long(self, task: RenderTask, on_step, should_cancel) -> RenderOutput:
        with tempfile.TemporaryDirectory(dir=self._scratch()) as scratch:
            init = None
            if task.init_image is not None:
                init = str(self._first_clip(task.init_image, task.params.width, Path(scratch)))
            if task.params.bpm is not None and init is None:
                grid = clip_grid(task.params.bpm)
                result = riff_in_tempo(
                    self.pipe,
                    base_request(task.params),
                    grid,
                    bars_in(task.params.duration_s, task.params.bpm),
                    on_step=on_step,
                    should_cancel=should_cancel,
                )
                return RenderOutput(
                    image=result.image,
                    audio=result.audio,
                    master=result.audio,
                    clips=len(result.clips),
                    elapsed_s=result.elapsed_s,
                )
            result = riff_long(
                self.pipe,
                base_request(task.params, init),
                task.params.duration_s,
                on_step=on_step,
                should_cancel=should_cancel,
            )
        master = stitch([clip.audio for clip in result.clips], CHAIN_CROSSFADE_MS)
        return RenderOutput(
            image=result.image,
            audio=result.audio,
            master=master,
            clips=len(result.clips),
            elapsed_s=result.elapsed_s,
        )

    def _first_clip(self, path: Path, width: int, scratch: Path) -> Path:
        """A Variation of a long result starts from its first clip's spectrogram."""
        with Image.open(path) as image:
            if image.width <= width:
                return path
            crop = image.crop((0, 0, width, image.height))
            crop.info.pop("exif", None)
            target = scratch / "init.png"
            crop.save(target, exif=image.getexif())
        return target

    def _scratch(self) -> Path:
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        return self.scratch_dir
