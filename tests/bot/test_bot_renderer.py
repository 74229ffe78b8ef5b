"""PipelineRenderer's own logic (trim, batch, long chain, Extend, Variation) with a fake pipe.

The fake pipe returns a flat image per request instantly, which "decodes" to a tone, so these
check what the renderer asks of the pipeline and what it makes of the answers; the real
pipeline is exercised in test_bot_queue_tiny.py and test_bot_process.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bot.engine.renderer import PipelineRenderer
from bot.engine.tasks import ExtendSource, RenderTask
from bot.params import RiffParams
from riffusion_core import clips
from riffusion_core.audio import encode_wav, samples_to_segment
from riffusion_core.generation import GenerationRequest
from riffusion_core.pipeline import RenderInfo, RiffusionPipelineOutput
from riffusion_core.tracks import CHAIN_CROSSFADE_MS

CLIP_SAMPLES = 441 * 511


class FakePipe:
    model_id = "fake"

    def __init__(self) -> None:
        self.calls: list[list[GenerationRequest]] = []
        self.seed_image_widths: list[int] = []
        self.device = torch.device("cpu")
        self.interrupt = False
        self.num_timesteps = 1

    def __call__(self, requests, *, callback_on_step_end=None, **options):
        self.calls.append(list(requests))
        for request in requests:
            if request.seed_image and Path(request.seed_image).is_file():
                with Image.open(request.seed_image) as image:
                    self.seed_image_widths.append(image.width)
        if callback_on_step_end is not None:
            callback_on_step_end(self, 0, 999, {})
        return RiffusionPipelineOutput(
            images=[self._image(r) for r in requests],
            renders=[
                RenderInfo((r.start.seed,), "fake", 1, 0, len(requests), 0.0) for r in requests
            ],
        )

    @staticmethod
    def _image(request: GenerationRequest) -> Image.Image:
        return Image.new("RGB", (request.width, 512), (request.start.seed % 256,) * 3)

    @staticmethod
    def tone(image: Image.Image, seed: int, device: object):
        """Stands in for clips.clip_audio: a tone of one clip's length, its pitch from the seed."""
        t = np.arange(CLIP_SAMPLES) / 44100
        tone = 6000 * np.sin(2 * np.pi * (200 + seed) * t)
        return samples_to_segment(tone[None, :].astype(np.float32))


@pytest.fixture
def renderer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineRenderer:
    pipe = FakePipe()
    monkeypatch.setattr(clips, "clip_audio", FakePipe.tone)
    renderer = PipelineRenderer("fake", "cpu", tmp_path / "scratch", loader=lambda *a, **k: pipe)
    renderer.prepare()
    return renderer


def run(renderer: PipelineRenderer, *tasks: RenderTask):
    return renderer(list(tasks), lambda k, n: None, lambda: False)


def test_single_clips_share_one_call_and_are_trimmed(renderer):
    short = RenderTask(RiffParams(prompt="a", seed=1, steps=10, duration_s=3.0))
    full = RenderTask(RiffParams(prompt="b", seed=2, steps=10))
    assert short.batch_key == full.batch_key
    out_short, out_full = run(renderer, short, full)
    assert len(renderer.pipe.calls) == 1 and len(renderer.pipe.calls[0]) == 2
    assert len(out_short.audio) == 3000
    assert len(out_short.master) == len(out_full.audio) == round(CLIP_SAMPLES / 44.1)
    assert out_short.clips == out_full.clips == 1
    assert renderer.pipe.calls[0][0].start.prompt == "a"


def test_clips_with_and_without_guidance_never_share_a_call():
    """Guidance at or below 1 skips classifier-free guidance: half the UNet batch per request,
    so such clips queue together and apart from guided ones (issue 12)."""
    guided = RenderTask(RiffParams(prompt="a", guidance=7.0, steps=10))
    also_guided = RenderTask(RiffParams(prompt="b", guidance=1.5, steps=10))
    plain = RenderTask(RiffParams(prompt="c", guidance=1.0, steps=10))
    below = RenderTask(RiffParams(prompt="d", guidance=0.5, steps=10))
    assert guided.batch_key == also_guided.batch_key
    assert plain.batch_key == below.batch_key
    assert guided.batch_key != plain.batch_key


def test_a_long_riff_is_a_chain_of_clips(renderer):
    task = RenderTask(RiffParams(prompt="long", seed=5, steps=10, duration_s=12.0))
    assert task.batch_key is None
    (out,) = run(renderer, task)
    requests = [r for call in renderer.pipe.calls for r in call]
    assert len(requests) == out.clips == 3
    assert [r.alpha for r in requests] == [0.0, 0.25, 0.5]  # the web app's walk to seed + 1
    assert len(out.audio) == 12000
    assert len(out.master) > len(out.audio)
    assert out.image.size == (3 * 512, 512)


def test_extend_appends_the_next_link_of_the_chain(renderer, tmp_path):
    (first,) = run(renderer, RenderTask(RiffParams(prompt="x", seed=9, steps=10)))
    master, image = tmp_path / "1.wav", tmp_path / "1.png"
    master.write_bytes(encode_wav(first.master))
    first.image.save(image)
    task = RenderTask(
        RiffParams(prompt="x", seed=9, steps=10),
        extend=ExtendSource(master_path=master, image_path=image, clips=1),
    )
    (out,) = run(renderer, task)
    request = renderer.pipe.calls[-1][0]
    assert request.alpha == 0.25 and request.end is not None and request.end.seed == 10
    assert out.clips == 2
    assert abs(len(out.audio) - (2 * len(first.master) - CHAIN_CROSSFADE_MS)) <= 2
    assert out.image.size == (1024, 512)


def test_variation_starts_from_the_first_clip_of_the_stored_spectrogram(renderer, tmp_path):
    stored = tmp_path / "3.png"
    Image.new("RGB", (1024, 512), "gray").save(stored)
    task = RenderTask(RiffParams(prompt="v", seed=3, steps=10, denoising=0.35), init_image=stored)
    run(renderer, task)
    assert renderer.pipe.seed_image_widths == [512]
    assert renderer.pipe.calls[0][0].start.denoising == 0.35
