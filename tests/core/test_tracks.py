"""Long audio: riff chains, blends and remixes have the right length, order and joins."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from PIL import Image

from riffusion_core import clips
from riffusion_core.audio import SAMPLE_RATE, AudioSegment, segment_to_samples
from riffusion_core.errors import AudioDecodeError, GenerationCancelled, RiffusionError
from riffusion_core.generation import MAX_SEED, GenerationRequest, PromptInput
from riffusion_core.pipeline import RenderInfo, RiffusionPipelineOutput
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE
from riffusion_core.tracks import (
    BLEND_CROSSFADE_MS,
    blend,
    blend_alphas,
    blend_requests,
    chain_requests,
    clip_ms,
    clips_needed,
    remix,
    remix_windows,
    riff_long,
)

CLIP = 441 * 511  # samples in one 512-px clip
STEPS = 3


def samples(segment: AudioSegment) -> np.ndarray:
    return segment_to_samples(segment)[0].astype(np.float64)


def tone_segment(seconds: float, freq: float = 220.0, phase: float = 0.0) -> AudioSegment:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pcm = np.round(20000 * np.sin(2 * np.pi * freq * t + phase)).astype("<i2")
    return AudioSegment(pcm.tobytes(), frame_rate=SAMPLE_RATE, sample_width=2, channels=1)


# ----------------------------------------------------------------------------- pure planning


def test_chain_walks_seed_to_seed_like_the_web_app():
    request = GenerationRequest(start=PromptInput("jazz", seed=7), num_inference_steps=STEPS)
    chain = chain_requests(request, 6)
    got = [(r.start.seed, r.end.seed if r.end else None, r.alpha) for r in chain]
    assert got == [
        (7, None, 0.0),
        (7, 8, 0.25),
        (7, 8, 0.5),
        (7, 8, 0.75),
        (7, 8, 1.0),
        (8, 9, 0.25),
    ]
    assert all(r.start.prompt == "jazz" and r.num_inference_steps == STEPS for r in chain)


def test_chain_wraps_after_the_largest_seed():
    request = GenerationRequest(start=PromptInput("jazz", seed=MAX_SEED), num_inference_steps=3)
    chain = chain_requests(request, 6)
    assert [(r.start.seed, r.end.seed) for r in chain[1:]] == [(MAX_SEED, 0)] * 4 + [(0, 1)]


def test_chain_goes_to_the_requested_end_first():
    request = GenerationRequest(
        start=PromptInput("jazz", seed=7), end=PromptInput("rock", seed=20), alpha=0.3
    )
    chain = chain_requests(request, 6)
    assert chain[0].end is None and chain[0].alpha == 0.0
    assert [(r.end.prompt, r.end.seed) for r in chain[1:5]] == [("rock", 20)] * 4
    assert (chain[5].start.prompt, chain[5].start.seed, chain[5].end.seed) == ("rock", 20, 21)


def test_plans():
    assert clip_ms(512) == 5110 and clip_ms(1024) == 10230
    assert clips_needed(5110, 5110, 20) == 1
    assert clips_needed(5111, 5110, 20) == 2
    assert clips_needed(12000, 5110, 20) == 3  # 5110 + 2 * 5090 = 15290
    assert clips_needed(15290, 5110, 20) == 3 and clips_needed(15291, 5110, 20) == 4
    assert blend_alphas(5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    hop = CLIP - 8820
    assert remix_windows(12 * SAMPLE_RATE, CLIP, 8820) == [0, hop, 2 * hop]
    assert remix_windows(CLIP, CLIP, 8820) == [0]
    assert remix_windows(1000, CLIP, 8820) == [0]


# ----------------------------------------------------------------------------- joins (stub)


class ToneStub:
    """Stands in for the pipeline and the image-to-audio step: each clip is a 220 Hz tone
    starting at a different phase, so joining clips end to start leaves a jump in the waveform
    (a click) unless it is smoothed."""

    model_id = "tone"

    def __init__(self, monkeypatch: pytest.MonkeyPatch | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.decoded = 0
        self.device = torch.device("cpu")
        self.interrupt = False
        self.num_timesteps = 0
        if monkeypatch is not None:
            monkeypatch.setattr(clips, "clip_audio", self.tone)

    def __call__(self, requests, *, max_batch_size=8, callback_on_step_end=None):
        batches = math.ceil(len(requests) / max_batch_size)
        self.calls.append((len(requests), max_batch_size))
        self.num_timesteps = 4 * batches  # 4 steps per UNet batch, counted over all
        for step in range(self.num_timesteps):
            if callback_on_step_end is not None:
                callback_on_step_end(self, step, 999, {})
        return RiffusionPipelineOutput(
            images=[Image.new("RGB", (r.width, 512), "white") for r in requests],
            renders=[RenderInfo((r.start.seed,), "stub", 4, 0, 1, 0.0) for r in requests],
        )

    def tone(self, image, seed, device) -> AudioSegment:
        self.decoded += 1
        return tone_segment(CLIP / SAMPLE_RATE, phase=1.0 + 2.1 * (self.decoded - 1))


def max_step(segment: AudioSegment) -> float:
    return float(np.abs(np.diff(samples(segment))).max())


def test_riff_joins_do_not_click(monkeypatch):
    smooth = 20000 * 2 * math.pi * 220 / SAMPLE_RATE  # steepest step of the tone itself
    request = GenerationRequest(start=PromptInput("x"), num_inference_steps=STEPS)
    joined = riff_long(ToneStub(monkeypatch), request, 15.0).audio
    assert joined.frame_count() == 15 * SAMPLE_RATE
    assert max_step(joined) < 1.5 * smooth
    # The measure does catch clicks: butt-joining the same clips jumps far more than the tone.
    butted = riff_long(ToneStub(monkeypatch), request, 15.0, crossfade_ms=0).audio
    assert max_step(butted) > 4 * smooth


def test_progress_and_batches_cover_all_clips(monkeypatch):
    stub = ToneStub(monkeypatch)
    seen: list[tuple[int, int]] = []
    request = GenerationRequest(start=PromptInput("x"), num_inference_steps=STEPS)
    result = riff_long(stub, request, 30.0, batch_size=4, on_step=lambda d, t: seen.append((d, t)))
    assert len(result.clips) == 6 and stub.calls == [(6, 4)]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1][0] == seen[-1][1] == 8 and {t for _, t in seen} == {8}
    assert stub.decoded == 6  # every clip's image was turned into audio


def test_bad_numbers_are_user_errors():
    request = GenerationRequest(start=PromptInput("x"))
    with pytest.raises(RiffusionError):
        riff_long(ToneStub(), request, 0)
    with pytest.raises(RiffusionError):
        riff_long(ToneStub(), request, float("nan"))
    with pytest.raises(RiffusionError, match="at most"):
        riff_long(ToneStub(), request, 3600)
    with pytest.raises(RiffusionError):
        blend(ToneStub(), PromptInput("a"), PromptInput("b"), 1)
    with pytest.raises(RiffusionError):
        remix(ToneStub(), tone_segment(3), PromptInput("a"), strength=1.5)
    with pytest.raises(AudioDecodeError):
        remix(ToneStub(), tone_segment(3), PromptInput("a"), start_s=5)


# ----------------------------------------------------------------------------- tiny pipeline


def test_cancel_reaches_the_pipeline(tiny_pipeline):
    request = GenerationRequest(start=PromptInput("x"), num_inference_steps=STEPS)
    with pytest.raises(GenerationCancelled):
        riff_long(tiny_pipeline, request, 12.0, should_cancel=lambda: True)
    with pytest.raises(GenerationCancelled):
        remix(tiny_pipeline, tone_segment(8), PromptInput("x"), should_cancel=lambda: True)


def no_gap(audio: AudioSegment, joins: list[int]) -> None:
    """Around every join the level stays close to the track's: nothing drops out."""
    x = samples(audio)
    rms = np.sqrt(np.mean(x**2))
    half = SAMPLE_RATE // 100  # 10 ms either side
    for j in joins:
        local = np.sqrt(np.mean(x[j - half : j + half] ** 2))
        assert local > 0.3 * rms, (j, local, rms)


PROGRESS: list[tuple[int, int]] = []


@pytest.fixture(scope="module")
def long_riff(tiny_pipeline):
    request = GenerationRequest(
        start=PromptInput("lofi beat", seed=3), num_inference_steps=STEPS, seed_image="og_beat"
    )
    return riff_long(
        tiny_pipeline, request, 12.0, on_step=lambda done, total: PROGRESS.append((done, total))
    )


@pytest.mark.slow
def test_long_riff_is_exactly_as_long_as_asked(long_riff):
    assert long_riff.audio.frame_count() == 12 * SAMPLE_RATE
    assert long_riff.duration_s == pytest.approx(12.0)
    assert len(long_riff.clips) == 3
    assert [(c.request.start.seed, c.request.alpha) for c in long_riff.clips] == [
        (3, 0.0),
        (3, 0.25),
        (3, 0.5),
    ]
    assert long_riff.image.size == (3 * 512, 512)
    assert PROGRESS[-1][0] == PROGRESS[-1][1] and len({t for _, t in PROGRESS}) == 1
    assert [d for d, _ in PROGRESS] == list(range(1, len(PROGRESS) + 1))
    fade = 441  # CHAIN_CROSSFADE_MS in samples
    no_gap(long_riff.audio, [k * (CLIP - fade) + fade // 2 for k in (1, 2)])


@pytest.mark.slow
def test_long_riff_record_is_json(long_riff):
    record = json.loads(json.dumps(long_riff.to_dict()))
    assert record["task"] == "riff" and record["params"]["duration_s"] == 12.0
    assert [c["parameters"]["alpha"] for c in record["clips"]] == [0.0, 0.25, 0.5]


@pytest.mark.slow
def test_blend_crossfades_clips_and_marks_them(tiny_pipeline):
    result = blend(
        tiny_pipeline,
        PromptInput("jazz", seed=1),
        PromptInput("metal", seed=2),
        3,
        num_inference_steps=STEPS,
    )
    expected_ms = 3 * 5110 - 2 * BLEND_CROSSFADE_MS
    assert result.audio.frame_count() == expected_ms * SAMPLE_RATE // 1000
    assert result.alphas == [0.0, 0.5, 1.0]
    assert [c.request.alpha for c in result.clips] == [0.0, 0.5, 1.0]
    assert result.clip_x == [0, 512, 1024]
    strip = np.asarray(result.image)
    assert strip.shape == (512, 1536, 3)
    for x in (512, 1024):  # a red line at each boundary
        assert (strip[:, x] == (255, 0, 0)).all()
    # clip k of the strip is clip k's own image (apart from the marks)
    own = np.asarray(result.clips[1].image.convert("RGB"))
    assert (strip[100:, 520:1000] == own[100:, 8:488]).all()
    record = result.to_dict()
    assert record["task"] == "blend" and record["params"]["end"]["prompt"] == "metal"


@contextlib.contextmanager
def unet_calls(pipe) -> Iterator[list[int]]:
    """Counts UNet forward passes (each entry: the batch rows of one pass)."""
    calls: list[int] = []
    handle = pipe.unet.register_forward_hook(lambda _m, args, _out: calls.append(len(args[0])))
    try:
        yield calls
    finally:
        handle.remove()


class RecordingStub(ToneStub):
    """ToneStub that keeps the requests it was asked to render."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(monkeypatch)
        self.requests: list[GenerationRequest] = []

    def __call__(self, requests, **kwargs):
        self.requests.extend(requests)
        return super().__call__(requests, **kwargs)


def test_blends_start_from_riffusions_seed_image_by_default(monkeypatch):
    requests = blend_requests(PromptInput("a"), PromptInput("b", seed=2), blend_alphas(3), 8)
    assert [r.seed_image for r in requests] == [DEFAULT_INTERPOLATION_SEED_IMAGE] * 3
    assert [r.denoising for r in requests] == [0.75] * 3  # Riffusion's strength at both ends
    assert [r.denoising_passes for r in requests] == [6] * 3
    stub = RecordingStub(monkeypatch)
    result = blend(stub, PromptInput("a"), PromptInput("b"), 2, num_inference_steps=8)
    assert [r.seed_image for r in stub.requests] == [DEFAULT_INTERPOLATION_SEED_IMAGE] * 2
    assert result.params["seed_image"] == DEFAULT_INTERPOLATION_SEED_IMAGE
    stub = RecordingStub(monkeypatch)
    blend(stub, PromptInput("a"), PromptInput("b"), 2, num_inference_steps=8, seed_image=None)
    assert [(r.seed_image, r.denoising_passes) for r in stub.requests] == [(None, 8)] * 2


@pytest.mark.slow
def test_blend_clips_run_img2img_at_the_interpolated_strength(tiny_pipeline):
    """The clips of a blend run steps x strength UNet passes, the strength moving linearly from
    the start's denoising to the end's (as Riffusion interpolates it); text to audio runs them
    all."""
    steps = 8
    start = PromptInput("jazz", seed=1, denoising=0.5)
    end = PromptInput("metal", seed=2, denoising=1.0)
    requests = blend_requests(start, end, blend_alphas(3), steps)
    assert [r.denoising for r in requests] == [0.5, 0.75, 1.0]
    with unet_calls(tiny_pipeline) as img2img_calls:
        img2img = tiny_pipeline(requests).renders
    text_requests = blend_requests(start, end, blend_alphas(3), steps, seed_image=None)
    with unet_calls(tiny_pipeline) as text_calls:
        text = tiny_pipeline(text_requests).renders

    passes = [r.unet_steps for r in img2img]
    full = text[0].unet_steps
    assert [r.unet_steps for r in text] == [full] * 3 and len(text_calls) == full  # one batch
    assert len(img2img_calls) == sum(passes)  # each strength is a batch of its own
    assert passes[0] < passes[1] < passes[2] <= full
    for request, ran in zip(requests, passes, strict=True):
        # steps x strength, plus the one timestep PNDM repeats (as diffusers runs it)
        assert request.denoising_passes <= ran <= request.denoising_passes + 1
    assert sum(passes) < len(text) * full


@pytest.fixture(scope="module")
def input_12s() -> AudioSegment:
    from riffusion_core.seed_images.loops import loop_to_segment, render_loop

    loop = loop_to_segment(render_loop("backbeat"))
    return (loop + loop + loop).get_sample_slice(0, 12 * SAMPLE_RATE)


@pytest.mark.slow
def test_remix_keeps_the_input_length(tiny_pipeline, input_12s):
    result = remix(
        tiny_pipeline, input_12s, PromptInput("synthwave", seed=5), num_inference_steps=4
    )
    assert result.audio.frame_count() == 12 * SAMPLE_RATE
    assert len(result.clips) == 3 and len(result.window_images) == 3
    assert all(im.size == (512, 512) for im in result.window_images)
    assert {c.request.start.seed for c in result.clips} == {5}
    assert {c.request.start.denoising for c in result.clips} == {0.55}
    assert (result.input_start_s, result.input_end_s, result.truncated) == (0.0, 12.0, False)
    hop = CLIP - 8820
    no_gap(result.audio, [hop + 4410, 2 * hop + 4410])


@pytest.mark.slow
def test_remix_reports_truncation(tiny_pipeline, input_12s):
    result = remix(
        tiny_pipeline,
        input_12s.set_channels(2),
        PromptInput("synthwave", seed=5),
        num_inference_steps=4,
        max_input_s=6.0,
        start_s=1.0,
    )
    assert result.audio.frame_count() == 6 * SAMPLE_RATE
    assert result.audio.channels == 1
    assert (result.input_start_s, result.input_end_s) == (1.0, 7.0)
    assert result.truncated and result.source_duration_s == pytest.approx(12.0)
    assert len(result.clips) == 2
    assert result.to_dict()["truncated"] is True
