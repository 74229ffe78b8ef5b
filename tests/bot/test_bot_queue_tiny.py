"""The queue driving the real pipeline (tiny random model): batching and cancel within a step.

Every job here is cancelled before its spectrogram is turned into audio (the slow part on a
CPU); test_bot_process.py renders a whole clip through the same renderer.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.engine.queue import GenerationQueue, JobState, QueuedJob
from bot.engine.renderer import PipelineRenderer
from bot.engine.tasks import RenderOutput, RenderTask
from bot.params import RiffParams
from riffusion_core.errors import GenerationCancelled

pytestmark = pytest.mark.slow
STEPS = 200


class CountingRenderer(PipelineRenderer):
    """The real renderer, remembering how many tasks each pipeline call carried."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[int] = []

    def __call__(self, tasks, on_step, should_cancel) -> list[RenderOutput]:
        self.calls.append(len(tasks))
        return super().__call__(tasks, on_step, should_cancel)


async def reach_step(job: QueuedJob, step: int) -> int:
    while job.progress is None or job.progress[0] < step:
        job.progress_changed.clear()
        await asyncio.wait_for(job.progress_changed.wait(), 60)
    return job.progress[0]


async def test_tiny_pipeline_batches_compatible_jobs_and_cancels_within_a_step(
    tiny_pipeline, tmp_path
):
    renderer = CountingRenderer("tiny", "cpu", tmp_path, loader=lambda *a, **k: tiny_pipeline)
    queue: GenerationQueue[RenderTask, RenderOutput] = GenerationQueue(
        renderer, prepare=renderer.prepare, max_batch_size=4
    )
    first = RenderTask(RiffParams(prompt="first", steps=STEPS, seed_image="og_beat", denoising=1.0))
    pair = [
        RenderTask(RiffParams(prompt=f"pair {i}", seed=i, steps=STEPS, duration_s=3.0))
        for i in range(2)
    ]
    queue.start()
    try:
        running = queue.submit(1, first, batch_key=first.batch_key)
        await reach_step(running, 1)
        a, b = (queue.submit(2 + i, t, batch_key=t.batch_key) for i, t in enumerate(pair))
        at_cancel = await reach_step(running, 2)
        queue.cancel(running)
        with pytest.raises(GenerationCancelled):
            await running.wait()
        await reach_step(a, 2)
        assert renderer.calls == [1, 2]  # the pair shares one call
        assert running.progress[0] <= at_cancel + 2  # stopped within a step or two

        # Cancelling one member of a batch does not stop the other...
        queue.cancel(a)
        at_b = await reach_step(b, b.progress[0] + 2)
        assert b.state is JobState.RUNNING
        # ...cancelling the last one stops the call within a step.
        queue.cancel(b)
        for _ in range(1200):
            if not queue.busy:
                break
            await asyncio.sleep(0.05)
        assert b.progress[0] <= at_b + 3 < STEPS
        assert renderer.calls == [1, 2]
    finally:
        await queue.shutdown(grace_s=10)
